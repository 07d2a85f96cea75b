"""``$Session{a}{b}`` and ``$Now()`` placeholders: finding them at any depth, substituting them by type."""

from __future__ import annotations

from typing import Any

import pytest

from ductape_jobs.workflows.placeholders import PlaceholderError, has_placeholders, substitute, uses_session

NOW_MS = 1_795_000_000_000
SESSION: dict[str, Any] = {
    "details": {"id": 7, "email": "john@example.com", "admin": False, "profile": {"n": 1, "tags": ["a"]}},
    "items": ["first", {"sku": "B-2"}, 3],
    "name": "Jöhn",
    "nothing": None,
}


@pytest.mark.parametrize(
    ("value", "any_placeholder", "session"),
    [
        ("$Now()", True, False),
        ("$Session{details}{id}", True, True),
        ("id: $Session{details}{id}!", True, True),
        ({"a": {"b": {"c": ["x", "$Session{items}{1}"]}}}, True, True),
        ([[["$Now()"]]], True, False),
        ({"when": "$Now()", "who": "$Session{name}"}, True, True),
        (("tuple", "$Session{name}"), True, True),
        ({"price": "$5", "s": "$Session", "t": "$Session{}x", "n": 3, "none": None}, True, True),
        ({"price": "$5", "s": "$Session", "n": 3, "ok": True, "list": [1, 2.5]}, False, False),
        ("$Now", False, False),
        ("$now()", False, False),
        ("Session{details}", False, False),
        ({}, False, False),
        (42, False, False),
    ],
)
def test_placeholders_are_found_at_any_depth(value: Any, any_placeholder: bool, session: bool) -> None:
    assert has_placeholders(value) is any_placeholder
    assert uses_session(value) is session


SUBSTITUTIONS = [
    # (id, value, expected)
    ("whole int keeps its type", "$Session{details}{id}", 7),
    ("whole bool keeps its type", "$Session{details}{admin}", False),
    ("whole dict keeps its type", "$Session{details}{profile}", {"n": 1, "tags": ["a"]}),
    ("whole list keeps its type", "$Session{items}", ["first", {"sku": "B-2"}, 3]),
    ("whole null keeps its type", "$Session{nothing}", None),
    ("whole string", "$Session{details}{email}", "john@example.com"),
    ("list index", "$Session{items}{1}", {"sku": "B-2"}),
    ("list index then key", "$Session{items}{1}{sku}", "B-2"),
    ("list index 0", "$Session{items}{0}", "first"),
    ("whole $Now() is the int", "$Now()", NOW_MS),
    ("embedded number is digits", "user-$Session{details}{id}", "user-7"),
    ("embedded string as is", "Dear $Session{name},", "Dear Jöhn,"),
    ("embedded dict is compact JSON", "p=$Session{details}{profile}", 'p={"n":1,"tags":["a"]}'),
    ("embedded bool is JSON", "admin=$Session{details}{admin}", "admin=false"),
    ("embedded null is JSON", "x=$Session{nothing}", "x=null"),
    ("embedded $Now() is digits", "at $Now() ms", f"at {NOW_MS} ms"),
    ("two placeholders", "$Session{details}{id}$Session{details}{id}", "77"),
    ("spaces make it embedded", " $Now()", f" {NOW_MS}"),
    ("no placeholder", "plain $5", "plain $5"),
    (
        "nested structures",
        {"to": ["$Session{details}{email}", {"cc": "$Session{items}{0}"}], "n": 3, "at": ["$Now()"], "ok": True},
        {"to": ["john@example.com", {"cc": "first"}], "n": 3, "at": [NOW_MS], "ok": True},
    ),
    ("tuples become lists", ("$Session{details}{id}", 1), [7, 1]),
    ("other values untouched", 2.5, 2.5),
]


@pytest.mark.parametrize(("value", "expected"), [pytest.param(*case[1:], id=case[0]) for case in SUBSTITUTIONS])
def test_substitute(value: Any, expected: Any) -> None:
    result = substitute(value, SESSION, NOW_MS)
    assert result == expected
    assert type(result) is type(expected)


def test_substitute_returns_a_copy() -> None:
    value = {"a": ["$Now()"], "b": {"c": 1}}
    result = substitute(value, None, NOW_MS)
    assert value == {"a": ["$Now()"], "b": {"c": 1}}
    assert result == {"a": [NOW_MS], "b": {"c": 1}}
    assert result["b"] is not value["b"]


def test_now_needs_no_session() -> None:
    assert substitute({"at": "$Now()", "text": "t=$Now()"}, None, 5) == {"at": 5, "text": "t=5"}


def test_a_session_value_is_not_substituted_again() -> None:
    assert substitute("$Session{raw}", {"raw": "$Now()"}, NOW_MS) == "$Now()"
    assert substitute("x $Session{raw}", {"raw": "$Session{raw}"}, NOW_MS) == "x $Session{raw}"


@pytest.mark.parametrize(
    ("value", "code", "path"),
    [
        ({"x": "$Session{details}{id}"}, "SESSION_REQUIRED", "{details}{id}"),
        (["ok", "id=$Session{details}{id}"], "SESSION_REQUIRED", "{details}{id}"),
    ],
)
def test_session_placeholder_without_a_session(value: Any, code: str, path: str) -> None:
    with pytest.raises(PlaceholderError) as err:
        substitute(value, None, NOW_MS)
    assert err.value.code == code
    assert f"$Session{path}" in str(err.value)
    assert "no `session`" in str(err.value)


@pytest.mark.parametrize(
    ("placeholder", "walked"),
    [
        ("$Session{details}{nope}", "{details}{nope}"),
        ("$Session{nope}{deeper}", "{nope}"),
        ("$Session{details}{email}{x}", "{details}{email}{x}"),  # into a string
        ("$Session{details}{id}{0}", "{details}{id}{0}"),  # into a number
        ("$Session{items}{3}", "{items}{3}"),  # past the end
        ("$Session{items}{-1}", "{items}{-1}"),  # no negative indexes
        ("$Session{items}{sku}", "{items}{sku}"),  # a key on a list
        ("mail: $Session{details}{nope}", "{details}{nope}"),
    ],
)
def test_missing_path_names_the_path_never_the_data(placeholder: str, walked: str) -> None:
    with pytest.raises(PlaceholderError) as err:
        substitute({"x": placeholder}, SESSION, NOW_MS)
    assert err.value.code == "SESSION_PATH_MISSING"
    assert f"the session data has no {walked}" in str(err.value)
    for secret in ("john@example.com", "Jöhn", "B-2", "first"):
        assert secret not in str(err.value)


def test_placeholder_error_is_a_value_error() -> None:
    assert issubclass(PlaceholderError, ValueError)
    assert PlaceholderError("SESSION_REQUIRED", "m").code == "SESSION_REQUIRED"


def test_nothing_is_left_to_resolve_after_substitution() -> None:
    value = {"$Session{field}": 1, "at": "$Now()"}
    assert not has_placeholders(substitute(value, {"field": "name"}, NOW_MS))
