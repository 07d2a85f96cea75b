"""Activity building blocks without a server: secrets, product config, error types, requests, session tokens."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ductape_jobs.activities.action.activity import fill_path, shape_request
from ductape_jobs.activities.config.product_config import (
    ActionDef,
    ConfigError,
    load_product_config,
    parse_product_config,
)
from ductape_jobs.activities.config.secrets import SecretMissingError, SecretStore
from ductape_jobs.activities.errors import NEVER_RETRIED, JobFailure, error_type_for_status
from ductape_jobs.activities.session.crypto import SigningKey, sign
from ductape_jobs.activities.session.tokens import check_unverified, issue_session_token, verify_session
from ductape_jobs.workflows.contracts.job import ErrorRules, ISession
from tests.conftest import SECRETS, SESSION_KEY, product_config_for

ROOT = Path(__file__).resolve().parents[2]
CONFIG = product_config_for("http://127.0.0.1:9")

# ------------------------------------------------------------------------------------------------
# Secrets


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("$Secret{A}", "1"),
        ("Bearer $Secret{B}", "Bearer two"),
        ("$Secret{A}$Secret{B}", "1two"),
        ({"h": ["x $Secret{A} y", {"k": "$Secret{B}"}], "n": 3}, {"h": ["x 1 y", {"k": "two"}], "n": 3}),
        ({"$Secret{A}": "key untouched"}, {"$Secret{A}": "key untouched"}),
        ("$Secret{} $Secret{1A} $secret{A}", "$Secret{} $Secret{1A} $secret{A}"),
        (None, None),
        (7, 7),
    ],
)
def test_secrets_resolve_at_any_depth(value: Any, expected: Any) -> None:
    assert SecretStore({"A": "1", "B": "two"}).resolve(value) == expected


@pytest.mark.parametrize("value", ["$Secret{NOPE}", {"a": ["ok", "Bearer $Secret{NOPE}"]}])
def test_missing_secret_is_named(value: Any) -> None:
    with pytest.raises(SecretMissingError) as err:
        SecretStore({"A": "1"}).resolve(value)
    assert err.value.name == "NOPE"
    assert "'NOPE'" in str(err.value)


def test_secrets_file_overrides_the_environment(tmp_path: Path) -> None:
    file = tmp_path / "dev.secrets"
    file.write_text("# a comment\n\nA = from-file\nD=x=y\n")
    store = SecretStore.from_sources({"A": "from-env", "C": "c"}, file, names=["A", "C", "D"])
    assert store.resolve("$Secret{A}|$Secret{C}|$Secret{D}") == "from-file|c|x=y"
    assert SecretStore.from_sources({"A": "from-env"}, names=["A"]).get("A") == "from-env"
    assert "from-file" not in repr(store)


# ------------------------------------------------------------------------------------------------
# Product config


def _product(**product: Any) -> dict[str, Any]:
    return {"products": {"p": {"envs": ["dev"], **product}}}


def _app(env: dict[str, Any], envs: str = "dev") -> dict[str, Any]:
    return _product(apps={"a": {"envs": {envs: env}}})


CONFIG_ERRORS = [
    ("missing base_url", _app({}), "products.p.apps.a.envs.dev.base_url: is required"),
    ("unknown key", _product(colour="red"), "products.p.colour: is not a known key"),
    ("unknown action key", _product(apps={"a": {"envs": {}, "actions": {"x": {"verb": "GET"}}}}),
     "products.p.apps.a.actions.x.verb: is not a known key"),
    ("env not in the product's envs", _app({"base_url": "http://x"}, envs="stg"),
     "apps.a.envs.stg: env 'stg' is not one of the product's envs ['dev']"),
    ("database env not in the product's envs",
     _product(databases={"d": {"envs": {"stg": {"url": "sqlite+aiosqlite:///x.db"}}}}),
     "databases.d.envs.stg: env 'stg' is not one of the product's envs ['dev']"),
    ("notification env not in the product's envs", _product(notifications={"n": {"envs": {"prd": {}}}}),
     "notifications.n.envs.prd: env 'prd' is not one of the product's envs ['dev']"),
    ("base_url not http", _app({"base_url": "ftp://x"}), "base_url: must start with http:// or https://"),
    ("no envs", _product(envs=[]), "products.p.envs"),
    ("bad method", _product(apps={"a": {"envs": {}, "actions": {"x": {"method": "FETCH"}}}}),
     "products.p.apps.a.actions.x.method"),
    ("bad session algorithm", _product(sessions={"s": {"algorithm": "none", "key": "k"}}),
     "products.p.sessions.s.algorithm"),
    ("session without key", _product(sessions={"s": {}}), "a session type needs a key"),
    ("products a list", {"products": []}, "products: Input should be a valid dictionary"),
    ("top level a list", [1], "product config: "),
]  # fmt: skip


@pytest.mark.parametrize(("document", "message"), [pytest.param(*case[1:], id=case[0]) for case in CONFIG_ERRORS])
def test_config_errors_name_the_key_path(document: Any, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_product_config(document)
    assert message in str(err.value)


def test_config_defaults_and_normalisation() -> None:
    app = {"envs": {"dev": {"base_url": "http://x/"}}, "actions": {"go": {"method": "get", "path": "v1/go"}}}
    config = parse_product_config(_product(apps={"a": app}))
    app_env, action = config.action("p", "dev", "a", "go")
    assert (app_env.base_url, app_env.timeout_ms) == ("http://x", 30_000)
    assert (action.method, action.path) == ("GET", "/v1/go")
    assert parse_product_config(None).products == {}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("nope", "dev", "email-service", "send_welcome_email"), "product 'nope' is not in the product config"),
        (("my-product", "stg", "email-service", "send_welcome_email"), "env 'stg' is not one of"),
        (("my-product", "dev", "sms", "send_welcome_email"), "app 'sms' is not in product"),
        (("my-product", "prd", "email-service", "send_welcome_email"), "has no settings for env 'prd'"),
        (("my-product", "dev", "email-service", "nope"), "action 'nope' is not defined on app 'email-service'"),
    ],
)
def test_action_lookup_names_the_missing_piece(args: tuple[str, str, str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        CONFIG.action(*args)


def test_config_files(tmp_path: Path) -> None:
    example = load_product_config(ROOT / "examples" / "product.yaml")
    assert example.action("my-product", "dev", "email-service", "send_welcome_email")[1].path == "/v1/welcome"
    assert example.find_action_app("my-product", "get_user") == "email-service"
    with pytest.raises(ConfigError, match=r"cannot read product config .*missing\.yaml"):
        load_product_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("products: [unclosed")
    with pytest.raises(ConfigError, match=r"bad\.yaml is not valid YAML"):
        load_product_config(bad)
    invalid = tmp_path / "invalid.yaml"
    invalid.write_text("products:\n  p:\n    envs: [dev]\n    apps: {a: {envs: {dev: {}}}}\n")
    with pytest.raises(ConfigError, match=r"invalid\.yaml: products\.p\.apps\.a\.envs\.dev\.base_url: is required"):
        load_product_config(invalid)
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert load_product_config(empty).products == {}


# ------------------------------------------------------------------------------------------------
# Error types and retryability


@pytest.mark.parametrize(
    ("status", "kind", "retryable"),
    [(400, "BAD_REQUEST", False), (401, "UNAUTHORIZED", False), (403, "FORBIDDEN", False), (404, "NOT_FOUND", False),
     (409, "CONFLICT", False), (418, "CLIENT_ERROR", False), (422, "VALIDATION_ERROR", False), (408, "TIMEOUT", True),
     (429, "RATE_LIMITED", True), (500, "SERVER_ERROR", True), (502, "BAD_GATEWAY", True),
     (503, "SERVICE_UNAVAILABLE", True), (504, "TIMEOUT", True), (599, "SERVER_ERROR", True)],
)  # fmt: skip
def test_http_status_error_types_and_default_retryability(status: int, kind: str, retryable: bool) -> None:
    assert error_type_for_status(status) == kind
    error = JobFailure(kind, "boom", details={"status": status}, retry_after=timedelta(seconds=3))
    app_error = error.to_application_error()
    assert (app_error.type, app_error.message, app_error.non_retryable) == (kind, "boom", not retryable)
    assert app_error.details == ({"status": status},)
    assert app_error.next_retry_delay == (timedelta(seconds=3) if retryable else None)


RULES = [
    # (id, kind, rules, retryable)
    ("no rules", "SERVER_ERROR", ErrorRules(), True),
    ("allow-list without it", "SERVER_ERROR", ErrorRules(retryable_errors=["RATE_LIMITED"]), False),
    ("allow-list with it", "RATE_LIMITED", ErrorRules(retryable_errors=["RATE_LIMITED"]), True),
    ("allow-list makes a 4xx retryable", "NOT_FOUND", ErrorRules(retryable_errors=["NOT_FOUND"]), True),
    ("empty allow-list", "TIMEOUT", ErrorRules(retryable_errors=[]), False),
    ("deny-list", "TIMEOUT", ErrorRules(non_retryable_errors=["TIMEOUT"]), False),
    ("deny-list wins", "TIMEOUT", ErrorRules(retryable_errors=["TIMEOUT"], non_retryable_errors=["TIMEOUT"]), False),
    ("deny-list of another type", "TIMEOUT", ErrorRules(non_retryable_errors=["CONFLICT"]), True),
    *[(f"{kind} never", kind, ErrorRules(retryable_errors=[kind]), False) for kind in sorted(NEVER_RETRIED)],
]


@pytest.mark.parametrize(("kind", "rules", "retryable"), [pytest.param(*case[1:], id=case[0]) for case in RULES])
def test_retry_rules_override_the_defaults(kind: str, rules: ErrorRules, retryable: bool) -> None:
    assert JobFailure(kind, "x").to_application_error(rules).non_retryable is not retryable


# ------------------------------------------------------------------------------------------------
# Action requests


ROUTES = [
    # (id, method, input, expected parts)
    ("structured kept", "POST", {"body": {"a": 1}, "headers": {"X": "y"}}, {"body": {"a": 1}, "headers": {"X": "y"}}),
    ("structured GET kept", "GET", {"query": {"q": 1}, "params": {"id": 2}}, {"query": {"q": 1}, "params": {"id": 2}}),
    ("structured body any JSON", "PUT", {"body": [1, 2]}, {"body": [1, 2]}),
    ("flat POST: param + body", "POST", {"id": 7, "name": "n"}, {"params": {"id": 7}, "body": {"name": "n"}}),
    ("flat PATCH: body", "PATCH", {"name": "n"}, {"body": {"name": "n"}}),
    ("flat GET: param + query", "GET", {"id": 7, "page": 2}, {"params": {"id": 7}, "query": {"page": 2}}),
    ("flat DELETE: query", "DELETE", {"force": True}, {"query": {"force": True}}),
    ("prefixes", "GET", {"body:x": 1, "query:q": "s", "headers:H": "v", "params:id": 3},
     {"body": {"x": 1}, "query": {"q": "s"}, "headers": {"H": "v"}, "params": {"id": 3}}),
    ("prefix beats param name", "POST", {"query:id": 1, "id": 2}, {"query": {"id": 1}, "params": {"id": 2}}),
    ("unknown prefix is a key", "POST", {"meta:x": 1}, {"body": {"meta:x": 1}}),
    ("seed 003 flat input", "POST", {"userId": "user_123", "email": "john@example.com"},
     {"body": {"userId": "user_123", "email": "john@example.com"}}),
    ("empty", "POST", {}, {}),
]  # fmt: skip


@pytest.mark.parametrize(("method", "data", "expected"), [pytest.param(*case[1:], id=case[0]) for case in ROUTES])
def test_action_input_is_routed(method: str, data: dict[str, Any], expected: dict[str, Any]) -> None:
    shaped = shape_request(data, ActionDef(method=method, path="/users/:id"))
    assert shaped.model_dump() == {"query": {}, "params": {}, "body": {}, "headers": {}} | expected


def test_malformed_structured_input_is_invalid_input() -> None:
    with pytest.raises(JobFailure) as err:
        shape_request({"query": "not an object"}, ActionDef(method="GET", path="/"))
    assert err.value.kind == "INVALID_INPUT"


@pytest.mark.parametrize(
    ("path", "params", "expected"),
    [
        ("/users/:id/files/:name", {"id": 7, "name": "a b/c"}, "/users/7/files/a%20b%2Fc"),
        ("/users/:id", {"id": "ü?&#"}, "/users/%C3%BC%3F%26%23"),
        ("/v1/welcome", {"unused": 1}, "/v1/welcome"),
        ("/", {}, "/"),
    ],
)
def test_path_parameters_are_quoted(path: str, params: dict[str, Any], expected: str) -> None:
    assert fill_path(path, params) == expected


def test_missing_path_parameter_is_invalid_input() -> None:
    with pytest.raises(JobFailure) as err:
        fill_path("/users/:id/files/:name", {"id": 7})
    assert err.value.kind == "INVALID_INPUT"
    assert "'name'" in err.value.message
    assert err.value.to_application_error().non_retryable


# ------------------------------------------------------------------------------------------------
# Session tokens


def _token(**changes: Any) -> str:
    args: dict[str, Any] = {"tag": "user-session", "data": {"id": "u"}, "key": SESSION_KEY, "now": datetime.now(UTC)}
    return issue_session_token(**(args | changes))


def _signed(**claims: Any) -> str:
    now = int(time.time())
    base = {"tag": "user-session", "data": {}, "iat": now, "exp": now + 3600, "sid": "s"}
    return sign(base | claims, algorithm="HS256", key=SigningKey(kid="default", secret=SESSION_KEY))


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return f"{_b64(header)}.{_b64(claims)}."


def _alg_none() -> str:
    now = int(time.time())
    claims = {"tag": "user-session", "data": {"id": "admin"}, "iat": now, "exp": now + 3600}
    return _unsigned({"alg": "none", "typ": "JWT"}, claims)


HOUR_AGO = timedelta(hours=2)
VERIFY = [
    # (id, tag, token factory, secrets, error type)
    ("unknown session type", "nope", lambda: _token(tag="nope"), SECRETS, "SESSION_UNKNOWN_TYPE"),
    ("key not in secrets", "user-session", _token, {}, "SECRET_MISSING"),
    ("garbage", "user-session", lambda: "garbage", SECRETS, "SESSION_INVALID"),
    ("garbage with dots", "user-session", lambda: "a.b.c", SECRETS, "SESSION_INVALID"),
    ("alg none", "user-session", _alg_none, SECRETS, "SESSION_INVALID"),
    ("HS512", "user-session", lambda: _unsigned({"alg": "HS512"}, {"tag": "user-session"}), SECRETS, "SESSION_INVALID"),
    ("bad signature", "user-session", lambda: _token(key="some-other-key-0123456789"), SECRETS, "SESSION_INVALID"),
    ("tampered payload", "user-session",
     lambda: (lambda t: f"{t[0]}.{_b64({'tag': 'user-session', 'data': {'id': 'admin'}})}.{t[2]}")(_token().split(".")),
     SECRETS, "SESSION_INVALID"),
    ("oversize", "user-session", lambda: "a" * 16_385, SECRETS, "SESSION_INVALID"),
    ("other product", "user-session", lambda: _signed(prd="other-product"), SECRETS, "SESSION_INVALID"),
    ("issued in the future", "user-session", lambda: _signed(iat=int(time.time()) + 3600), SECRETS, "SESSION_INVALID"),
    ("no data", "user-session", lambda: _signed(data=None), SECRETS, "SESSION_INVALID"),
    ("expired", "user-session", lambda: _token(now=datetime.now(UTC) - HOUR_AGO), SECRETS, "SESSION_EXPIRED"),
    ("wrong tag", "user-session", lambda: _token(tag="other"), SECRETS, "SESSION_WRONG_TAG"),
]  # fmt: skip


@pytest.mark.parametrize(("tag", "make", "secrets", "kind"), [pytest.param(*case[1:], id=case[0]) for case in VERIFY])
def test_every_bad_token_is_refused_with_its_own_type(tag: str, make: Any, secrets: dict[str, str], kind: str) -> None:
    session = ISession(tag=tag, token=make())
    with pytest.raises(JobFailure) as err:
        verify_session(session, product="my-product", config=CONFIG, secrets=SecretStore(secrets))
    assert err.value.kind == kind
    assert session.token not in str(err.value)
    assert session.token not in err.value.message
    assert err.value.to_application_error(ErrorRules(retryable_errors=[kind])).non_retryable


def test_valid_token_gives_its_claims() -> None:
    token = _token(data={"details": {"id": 5}}, session_id="sid-1")
    claims = verify_session(
        ISession(tag="user-session", token=token), product="my-product", config=CONFIG, secrets=SecretStore(SECRETS)
    )
    assert (claims.tag, claims.data, claims.session_id) == ("user-session", {"details": {"id": 5}}, "sid-1")
    assert datetime.now(UTC) < claims.expires_at <= datetime.now(UTC) + timedelta(hours=1)


UNVERIFIED = [
    # (id, token factory, error type or None when it passes)
    ("valid", _token, None),
    ("bad signature is not seen", lambda: _token(key="some-other-key-0123456789"), None),
    ("alg none", _alg_none, "SESSION_INVALID"),
    ("alg missing", lambda: _unsigned({"typ": "JWT"}, {"tag": "user-session", "exp": 2**31}), "SESSION_INVALID"),
    ("alg unsupported", lambda: _unsigned({"alg": "HS512"}, {"tag": "user-session", "exp": 2**31}), "SESSION_INVALID"),
    ("alg not a string", lambda: _unsigned({"alg": 256}, {"tag": "user-session", "exp": 2**31}), "SESSION_INVALID"),
    ("ES256 passes", lambda: _unsigned({"alg": "ES256"}, {"tag": "user-session", "exp": 2**31}), None),
    ("garbage", lambda: "garbage", "SESSION_INVALID"),
    ("payload not JSON", lambda: "a.b.c", "SESSION_INVALID"),
    ("payload a list", lambda: f"x.{base64.urlsafe_b64encode(b'[1]').decode()}.y", "SESSION_INVALID"),
    ("oversize", lambda: "a" * 16_385, "SESSION_INVALID"),
    ("no exp", lambda: _unsigned({"alg": "HS256"}, {"tag": "user-session"}), "SESSION_INVALID"),
    ("bool exp", lambda: _unsigned({"alg": "HS256"}, {"tag": "user-session", "exp": True}), "SESSION_INVALID"),
    ("expired", lambda: _token(now=datetime.now(UTC) - HOUR_AGO), "SESSION_EXPIRED"),
    ("wrong tag", lambda: _token(tag="other"), "SESSION_WRONG_TAG"),
]


@pytest.mark.parametrize(("make", "kind"), [pytest.param(*case[1:], id=case[0]) for case in UNVERIFIED])
def test_unverified_check(make: Any, kind: str | None) -> None:
    session = ISession(tag="user-session", token=make())
    if kind is None:
        check_unverified(session, datetime.now(UTC))
        return
    with pytest.raises(JobFailure) as err:
        check_unverified(session, datetime.now(UTC))
    assert err.value.kind == kind
    assert session.token not in str(err.value)


def test_unverified_check_uses_the_given_clock() -> None:
    session = ISession(tag="user-session", token=_token(ttl=timedelta(seconds=60)))
    check_unverified(session, datetime.now(UTC))
    with pytest.raises(JobFailure) as err:
        check_unverified(session, datetime.now(UTC) + timedelta(seconds=61))
    assert err.value.kind == "SESSION_EXPIRED"
    assert "expired at" in err.value.message


@pytest.mark.parametrize("exp", [10**20, 2**62, float("nan")])
def test_absurd_exp_is_session_invalid(exp: int) -> None:
    unverified = ISession(tag="user-session", token=_unsigned({"alg": "HS256"}, {"tag": "user-session", "exp": exp}))
    with pytest.raises(JobFailure) as err:
        check_unverified(unverified, datetime.now(UTC))
    assert err.value.kind == "SESSION_INVALID"
    signed = ISession(tag="user-session", token=_signed(exp=exp))
    with pytest.raises(JobFailure) as err:
        verify_session(signed, product="my-product", config=CONFIG, secrets=SecretStore(SECRETS))
    assert err.value.kind == "SESSION_INVALID"
