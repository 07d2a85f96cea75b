"""Activity building blocks without a server: secrets, config, error types, requests, tokens, placeholders."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from activities.errors import JobFailure, error_type_for_status
from activities.http_action import fill_path, shape_request
from activities.product_config import ActionDef, ConfigError, load_product_config, parse_product_config
from activities.secrets import SecretMissingError, SecretStore
from activities.session_tokens import check_unverified, issue_session_token, verify_session
from tests.conftest import SECRETS, SESSION_KEY, product_config_for
from workflows.contracts import ErrorRules, ISession
from workflows.placeholders import PlaceholderError, has_placeholders, substitute, uses_session

ROOT = Path(__file__).resolve().parent.parent


def test_secrets_resolve_at_any_depth_and_name_the_missing_one(tmp_path: Path) -> None:
    store = SecretStore({"A": "1", "B": "two"})
    assert store.resolve({"h": ["x $Secret{A} y", {"k": "$Secret{B}"}], "n": 3}) == {
        "h": ["x 1 y", {"k": "two"}],
        "n": 3,
    }
    with pytest.raises(SecretMissingError) as err:
        store.resolve("Bearer $Secret{NOPE}")
    assert "NOPE" in str(err.value)
    file = tmp_path / "secrets"
    file.write_text("# comment\nA = from-file\n")
    assert SecretStore.from_sources({"A": "env", "C": "c"}, file).resolve("$Secret{A}$Secret{C}") == "from-filec"
    assert "two" not in repr(store)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"products": {"p": {"envs": ["dev"], "apps": {"a": {"envs": {"dev": {}}}}}}},
         "products.p.apps.a.envs.dev.base_url: is required"),
        ({"products": {"p": {"envs": ["dev"], "colour": "red"}}}, "products.p.colour: is not a known key"),
        ({"products": {"p": {"envs": ["dev"], "apps": {"a": {"envs": {"stg": {"base_url": "http://x"}}}}}}},
         "env 'stg' is not one of the product's envs"),
        ({"products": {"p": {"envs": ["dev"], "apps": {"a": {"envs": {"dev": {"base_url": "ftp://x"}}}}}}},
         "must start with http:// or https://"),
        ({"products": {"p": {"envs": []}}}, "products.p.envs"),
        ({"products": {"p": {"envs": ["dev"], "sessions": {"s": {"algorithm": "none", "key": "k"}}}}},
         "products.p.sessions.s.algorithm"),
    ],
)  # fmt: skip
def test_config_errors_name_the_key_path(document: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_product_config(document)
    assert message in str(err.value)


def test_config_files(tmp_path: Path) -> None:
    example = load_product_config(ROOT / "examples" / "product.yaml")
    assert example.action("my-product", "dev", "email-service", "send_welcome_email")[1].path == "/v1/welcome"
    with pytest.raises(ConfigError, match="cannot read"):
        load_product_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("products: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_product_config(bad)


@pytest.mark.parametrize(
    ("status", "kind", "retryable"),
    [(400, "BAD_REQUEST", False), (401, "UNAUTHORIZED", False), (404, "NOT_FOUND", False),
     (418, "CLIENT_ERROR", False), (422, "VALIDATION_ERROR", False), (408, "TIMEOUT", True),
     (429, "RATE_LIMITED", True), (500, "SERVER_ERROR", True), (502, "BAD_GATEWAY", True),
     (503, "SERVICE_UNAVAILABLE", True), (504, "TIMEOUT", True), (599, "SERVER_ERROR", True)],
)  # fmt: skip
def test_http_status_error_types(status: int, kind: str, retryable: bool) -> None:
    assert error_type_for_status(status) == kind
    assert JobFailure(kind, "x").to_application_error().non_retryable is not retryable


def test_retry_rules_override_defaults_but_never_retry_session_errors() -> None:
    only_rate = ErrorRules(retryable_errors=["RATE_LIMITED", "SESSION_EXPIRED"])
    assert JobFailure("SERVER_ERROR", "x").to_application_error(only_rate).non_retryable
    assert not JobFailure("RATE_LIMITED", "x").to_application_error(only_rate).non_retryable
    assert JobFailure("SESSION_EXPIRED", "x").to_application_error(only_rate).non_retryable
    assert (
        not JobFailure("NOT_FOUND", "x").to_application_error(ErrorRules(retryable_errors=["NOT_FOUND"])).non_retryable
    )
    assert JobFailure("TIMEOUT", "x").to_application_error(ErrorRules(non_retryable_errors=["TIMEOUT"])).non_retryable


@pytest.mark.parametrize(
    ("method", "data", "expected"),
    [
        ("POST", {"body": {"a": 1}, "headers": {"X": "y"}}, {"body": {"a": 1}, "headers": {"X": "y"}}),
        ("POST", {"id": 7, "name": "n"}, {"params": {"id": 7}, "body": {"name": "n"}}),
        ("GET", {"id": 7, "page": 2}, {"params": {"id": 7}, "query": {"page": 2}}),
        ("GET", {"body:x": 1, "query:q": "s", "headers:H": "v", "params:id": 3},
         {"body": {"x": 1}, "query": {"q": "s"}, "headers": {"H": "v"}, "params": {"id": 3}}),
    ],
)  # fmt: skip
def test_flat_and_structured_action_input(method: str, data: dict[str, Any], expected: dict[str, Any]) -> None:
    shaped = shape_request(data, ActionDef(method=method, path="/users/:id"))
    full = {"query": {}, "params": {}, "body": {}, "headers": {}} | expected
    assert shaped.model_dump() == full


def test_path_parameters_are_quoted_and_required() -> None:
    assert fill_path("/users/:id/files/:name", {"id": 7, "name": "a b/c"}) == "/users/7/files/a%20b%2Fc"
    with pytest.raises(JobFailure) as err:
        fill_path("/users/:id", {})
    assert err.value.kind == "INVALID_INPUT"


def _token(**changes: Any) -> str:
    args: dict[str, Any] = {"tag": "user-session", "data": {"id": "u"}, "key": SESSION_KEY, "now": datetime.now(UTC)}
    return issue_session_token(**(args | changes))


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _alg_none() -> str:
    now = int(datetime.now(UTC).timestamp())
    claims = {"tag": "user-session", "data": {"id": "admin"}, "iat": now, "exp": now + 3600}
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."


@pytest.mark.parametrize(
    ("session", "secrets", "kind"),
    [
        (ISession(tag="nope", token="x"), SECRETS, "SESSION_UNKNOWN_TYPE"),
        (ISession(tag="user-session", token="x"), {}, "SECRET_MISSING"),
        (ISession(tag="user-session", token="garbage"), SECRETS, "SESSION_INVALID"),
        (ISession(tag="user-session", token=_alg_none()), SECRETS, "SESSION_INVALID"),
        (ISession(tag="user-session", token=_token(key="some-other-key-0123456789")), SECRETS, "SESSION_INVALID"),
        (ISession(tag="user-session", token="a" * 20_000), SECRETS, "SESSION_INVALID"),
        (ISession(tag="user-session", token=_token(now=datetime.now(UTC) - timedelta(hours=2))), SECRETS,
         "SESSION_EXPIRED"),
        (ISession(tag="user-session", token=_token(tag="admin")), SECRETS, "SESSION_WRONG_TAG"),
    ],
)  # fmt: skip
def test_every_bad_token_is_refused_with_its_own_type(session: ISession, secrets: dict[str, str], kind: str) -> None:
    config = product_config_for("http://127.0.0.1:9")
    with pytest.raises(JobFailure) as err:
        verify_session(session, product="my-product", config=config, secrets=SecretStore(secrets))
    assert err.value.kind == kind
    assert session.token not in str(err.value)


def test_valid_token_gives_its_data_and_unverified_check_sees_expiry() -> None:
    config = product_config_for("http://127.0.0.1:9")
    claims = verify_session(
        ISession(tag="user-session", token=_token(data={"details": {"id": 5}})),
        product="my-product",
        config=config,
        secrets=SecretStore(SECRETS),
    )
    assert claims.data == {"details": {"id": 5}}
    with pytest.raises(JobFailure) as err:
        check_unverified(
            ISession(tag="user-session", token=_token(ttl=timedelta(seconds=1))), datetime(2100, 1, 1, tzinfo=UTC)
        )
    assert err.value.kind == "SESSION_EXPIRED"


def test_placeholders_found_at_any_depth() -> None:
    assert has_placeholders({"a": [{"b": "x $Now() y"}]})
    assert uses_session(["$Session{a}"])
    assert not uses_session({"t": "$Now()"})
    assert not has_placeholders({"price": "$5", "s": "$Session", "n": 3})


def test_substitution_keeps_types_whole_and_embeds_text() -> None:
    data = {"user": {"id": 7, "tags": ["a", "b"], "ok": True, "profile": {"n": 1}}}
    value = {
        "id": "$Session{user}{id}",
        "tags": "$Session{user}{tags}",
        "second": "$Session{user}{tags}{1}",
        "ok": "$Session{user}{ok}",
        "line": "user $Session{user}{id} at $Now() is $Session{user}{ok} with $Session{user}{profile}",
        "now": ["$Now()"],
    }
    assert substitute(value, data, 1_700_000_000_000) == {
        "id": 7,
        "tags": ["a", "b"],
        "second": "b",
        "ok": True,
        "line": 'user 7 at 1700000000000 is true with {"n":1}',
        "now": [1_700_000_000_000],
    }


def test_substitution_errors_name_the_path_not_the_data() -> None:
    with pytest.raises(PlaceholderError) as err:
        substitute({"x": "$Session{details}{id}"}, None, 0)
    assert err.value.code == "SESSION_REQUIRED"
    with pytest.raises(PlaceholderError) as err:
        substitute({"x": "$Session{details}{nope}"}, {"details": {"id": "secret-value"}}, 0)
    assert err.value.code == "SESSION_PATH_MISSING"
    assert "{details}{nope}" in str(err.value)
    assert "secret-value" not in str(err.value)
