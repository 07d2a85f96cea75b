"""Sessions: the lifecycle on SQLite and PostgreSQL, and one test per attack, at dispatch and at run time."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jose import jwe
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from ductape_jobs.activities.config.product_config import ProductConfig, parse_product_config
from ductape_jobs.activities.config.secrets import SecretStore
from ductape_jobs.activities.session.crypto import SigningKey, sign
from ductape_jobs.activities.session.placeholder_activity import PlaceholderActivities
from ductape_jobs.activities.session.store import SessionStore
from ductape_jobs.planning.inputs import normalise_job
from ductape_jobs.planning.plan import plan_job
from ductape_jobs.sessions import SessionError, Sessions
from ductape_jobs.workflows.contracts.job import JobInputError, ResolveRequest


def _pem_pair(private: Any) -> tuple[str, str]:
    private_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private_pem, public_pem


RSA_PRIVATE, RSA_PUBLIC = _pem_pair(rsa.generate_private_key(public_exponent=65537, key_size=2048))
EC_PRIVATE, EC_PUBLIC = _pem_pair(ec.generate_private_key(ec.SECP256R1()))
JWE_KEY = bytes(range(32))
SECRETS = {
    "K1": "hs-key-one-0123456789abcdef0123", "K2": "hs-key-two-0123456789abcdef0123",
    "RSA_PRIVATE": RSA_PRIVATE, "RSA_PUBLIC": RSA_PUBLIC, "EC_PRIVATE": EC_PRIVATE, "EC_PUBLIC": EC_PUBLIC,
    "JWE_KEY": base64.b64encode(JWE_KEY).decode(),
}  # fmt: skip


SHOP_SECRETS = ["K1", "K2", "RSA_PRIVATE", "RSA_PUBLIC", "EC_PRIVATE", "EC_PUBLIC", "JWE_KEY"]
APPS = {"a": {"envs": {"dev": {"base_url": "http://127.0.0.1:9"}}, "actions": {"e": {}}}}


def config(active: str = "k2") -> ProductConfig:
    user = {
        "algorithm": "HS256", "keys": {"k1": {"key": "$Secret{K1}"}, "k2": {"key": "$Secret{K2}"}},
        "active_kid": active, "schema": {"userId": "string", "email": "string"}, "selector": "$Session{userId}",
    }  # fmt: skip
    sessions = {
        "user-session": user,
        "rsa-session": {"algorithm": "RS256", "private_key": "$Secret{RSA_PRIVATE}",
                        "public_key": "$Secret{RSA_PUBLIC}"},
        "ec-session": {"algorithm": "ES256", "private_key": "$Secret{EC_PRIVATE}",
                       "public_key": "$Secret{EC_PUBLIC}"},
        "secret-session": {"key": "$Secret{K1}", "encrypted": True, "encryption_key": "$Secret{JWE_KEY}"},
    }  # fmt: skip
    return parse_product_config(
        {"products": {"shop": {"envs": ["dev"], "sessions": sessions, "apps": APPS, "secrets": SHOP_SECRETS},
                      "other-shop": {"envs": ["dev"], "sessions": {"user-session": user}, "secrets": ["K1", "K2"]}}}
    )  # fmt: skip


def postgres_url() -> str:
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", 5432)) == 0:
            return "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
    pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SessionStore]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'sessions.sqlite'}" if request.param == "sqlite" else postgres_url()
    created = SessionStore.from_url(url)
    await created.create_schema()
    yield created
    await created.close()


@pytest.fixture
def sessions(store: SessionStore) -> Sessions:
    return Sessions(config=config(), secrets=SecretStore(SECRETS), store=store)


def user(**extra: Any) -> dict[str, Any]:
    return {"product": "shop", "tag": "user-session", "data": {"userId": f"u-{uuid.uuid4().hex[:8]}",
            "email": "ada@example.com", **extra}}  # fmt: skip


async def test_start_verify_refresh_with_reuse_detection_and_revoke(sessions: Sessions) -> None:
    started = await sessions.start(user())
    checked = await sessions.verify({"product": "shop", "tag": "user-session", "token": started.token})
    assert checked.valid
    assert checked.data is not None
    assert checked.data["email"] == "ada@example.com"
    assert checked.session_id == started.session_id

    refreshed = await sessions.refresh(
        {"product": "shop", "tag": "user-session", "refreshToken": started.refresh_token}
    )
    assert refreshed.session_id == started.session_id
    assert refreshed.refresh_token != started.refresh_token
    assert (await sessions.verify({"product": "shop", "tag": "user-session", "token": refreshed.token})).valid

    with pytest.raises(SessionError) as reused:  # the old refresh token again: stolen or replayed
        await sessions.refresh({"product": "shop", "tag": "user-session", "refresh_token": started.refresh_token})
    assert reused.value.code == "SESSION_REVOKED"
    with pytest.raises(SessionError) as family:  # the whole family is gone, the newest token too
        await sessions.refresh({"product": "shop", "tag": "user-session", "refresh_token": refreshed.refresh_token})
    assert family.value.code == "SESSION_REVOKED"
    after = await sessions.verify({"product": "shop", "tag": "user-session", "token": refreshed.token})
    assert not after.valid
    assert after.error == "SESSION_REVOKED"


async def test_revoke_by_identifier_and_by_session(sessions: Sessions) -> None:
    data = user()
    first, second = await sessions.start(data), await sessions.start(data)
    other = await sessions.start(user())
    revoked = await sessions.revoke({"product": "shop", "tag": "user-session", "identifier": data["data"]["userId"]})
    assert revoked.revoked == 2
    for token in (first.token, second.token):
        assert not (await sessions.verify({"product": "shop", "tag": "user-session", "token": token})).valid
    assert (await sessions.verify({"product": "shop", "tag": "user-session", "token": other.token})).valid
    count = await sessions.revoke({"product": "shop", "tag": "user-session", "session_id": other.session_id})
    assert count.revoked == 1
    with pytest.raises(JobInputError):
        await sessions.revoke({"product": "shop", "tag": "user-session"})


@pytest.mark.parametrize("tag", ["rsa-session", "ec-session", "secret-session"])
async def test_asymmetric_and_encrypted_session_types(sessions: Sessions, tag: str) -> None:
    started = await sessions.start({"product": "shop", "tag": tag, "data": {"card": "4111-1111"}})
    header, payload, _ = started.token.split(".")
    assert json.loads(base64.urlsafe_b64decode(header + "==")) ["alg"] == {
        "rsa-session": "RS256", "ec-session": "ES256", "secret-session": "HS256"}[tag]  # fmt: skip
    if tag == "secret-session":
        claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
        # The session ID is random hex, so only the whole card value proves a leak.
        assert "card" not in claims
        assert "4111-1111" not in json.dumps(claims)
    checked = await sessions.verify({"product": "shop", "tag": tag, "token": started.token})
    assert checked.valid, checked.error
    assert checked.data == {"card": "4111-1111"}
    refreshed = await sessions.refresh({"product": "shop", "tag": tag, "refresh_token": started.refresh_token})
    assert (await sessions.verify({"product": "shop", "tag": tag, "token": refreshed.token})).data == {
        "card": "4111-1111"
    }


async def test_data_must_match_the_schema_and_keys_rotate(store: SessionStore) -> None:
    old = Sessions(config=config(active="k1"), secrets=SecretStore(SECRETS), store=store)
    with pytest.raises(JobInputError) as err:
        await old.start({"product": "shop", "tag": "user-session", "data": {"userId": 5, "email": "x"}})
    assert err.value.field == "data.userId"
    with pytest.raises(JobInputError) as missing:
        await old.start({"product": "shop", "tag": "user-session", "data": {"userId": "u"}})
    assert missing.value.field == "data.email"
    signed_by_k1 = await old.start(user())
    new = Sessions(config=config(active="k2"), secrets=SecretStore(SECRETS), store=store)
    assert (await new.verify({"product": "shop", "tag": "user-session", "token": signed_by_k1.token})).valid
    assert json.loads(base64.urlsafe_b64decode(signed_by_k1.token.split(".")[0] + "=="))["kid"] == "k1"


# --- attacks ---------------------------------------------------------------------------------------


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"tag": "user-session", "prd": "shop", "data": {"userId": "u-1", "email": "e"}, "iat": now,
            "exp": now + 600, "sid": "s-attack"}  # fmt: skip
    return base | changes


def _hs(claims: dict[str, Any], kid: str = "k2", secret: str = SECRETS["K2"]) -> str:
    return sign(claims, algorithm="HS256", key=SigningKey(kid=kid, secret=secret))


def _with_edata(edata: str) -> tuple[str, str]:
    claims = _claims(tag="secret-session", edata=edata)
    del claims["data"]
    return "secret-session", sign(claims, algorithm="HS256", key=SigningKey(kid="default", secret=SECRETS["K1"]))


def _attacks() -> dict[str, Callable[[], tuple[str, str]]]:
    good = _hs(_claims())
    head, body, signature = good.split(".")
    hour_ago, in_an_hour = int(time.time()) - 3600, int(time.time()) + 3600
    return {
        "alg none": lambda: ("user-session", f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': 'k2'})}.{_b64(_claims())}."),
        "HS/RS confusion": _hs_with_public_key,
        "tampered payload": lambda: (
            "user-session", f"{head}.{_b64(_claims(data={'userId': 'admin', 'email': 'e'}))}.{signature}"),
        "tampered signature": lambda: ("user-session", f"{head}.{body}.{signature[:-4]}AAAA"),
        "expired": lambda: ("user-session", _hs(_claims(iat=hour_ago - 3600, exp=hour_ago))),
        "not yet valid": lambda: ("user-session", _hs(_claims(iat=in_an_hour, nbf=in_an_hour))),
        "wrong tag": lambda: ("user-session", _hs(_claims(tag="admin-session"))),
        "unknown kid": lambda: ("user-session", _hs(_claims(), kid="k9")),
        "oversize token": lambda: ("user-session", _hs(_claims(data={"userId": "u", "email": "x" * 20_000}))),
        "CBC JWE": lambda: _with_edata(
            jwe.encrypt(b'{"a":1}', bytes(64), encryption="A256CBC-HS512", algorithm="dir").decode()),
        "zip JWE": lambda: _with_edata(
            jwe.encrypt(b'{"a":1}', JWE_KEY, encryption="A256GCM", algorithm="dir", zip="DEF").decode()),
        "another product's token": lambda: ("user-session", _hs(_claims(prd="other-shop"))),
    }  # fmt: skip


def _hs_with_public_key() -> tuple[str, str]:
    """HS256 signed with the RS256 type's *public* key as the HMAC secret (the classic confusion)."""
    header = _b64({"alg": "HS256", "typ": "JWT"})
    payload = _b64(_claims(tag="rsa-session"))
    mac = hmac.new(RSA_PUBLIC.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return "rsa-session", f"{header}.{payload}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


ATTACKS = list(_attacks())
EXPECTED = {"expired": "SESSION_EXPIRED", "wrong tag": "SESSION_WRONG_TAG"}
REASONS = {
    "alg none": "algorithm 'none' is not allowed",
    "HS/RS confusion": "algorithm 'HS256' is not allowed (only RS256)",
    "tampered payload": "Signature verification failed",
    "tampered signature": "Signature verification failed",
    "expired": "expired",
    "not yet valid": "not yet valid",
    "wrong tag": "issued for session type 'admin-session'",
    "unknown kid": "unknown key id 'k9'",
    "oversize token": "longer than 16384",
    "CBC JWE": "'dir'/'A256CBC-HS512' is not allowed",
    "zip JWE": "compressed JWE is not allowed",
    "another product's token": "issued for product 'other-shop'",
}
"""The check that must catch each attack (so a token refused for an unrelated reason fails the test)."""


@pytest.mark.parametrize("attack", ATTACKS)
def test_attack_refused_at_dispatch(attack: str) -> None:
    tag, token = _attacks()[attack]()
    data = {
        "product_tag": "shop",
        "env": "dev",
        "app": "a",
        "event": "e",
        "input": {},
        "session": {"tag": tag, "token": token},
    }
    with pytest.raises(JobInputError) as err:
        plan_job(normalise_job(data), now=datetime.now(UTC), task_queue="tq", config=config(),
                 secrets=SecretStore(SECRETS))  # fmt: skip
    assert err.value.field == "session"
    assert REASONS[attack] in err.value.reason
    assert token not in str(err.value)


@pytest.mark.parametrize("attack", ATTACKS)
async def test_attack_refused_at_run_time(attack: str) -> None:
    tag, token = _attacks()[attack]()
    activity = PlaceholderActivities(config(), SecretStore(SECRETS))
    request = ResolveRequest(
        product="shop", env="dev", session={"tag": tag, "token": token}, input={"u": "$Session{userId}"}
    )
    with pytest.raises(ApplicationError) as err:
        await ActivityEnvironment().run(activity.resolve_placeholders, request)
    assert err.value.non_retryable
    assert err.value.type == EXPECTED.get(attack, "SESSION_INVALID")
    assert REASONS[attack] in str(err.value)
    assert token not in str(err.value)


async def test_revoked_session_fails_its_jobs_at_run_time(sessions: Sessions, store: SessionStore) -> None:
    started = await sessions.start(user())
    activity = PlaceholderActivities(config(), SecretStore(SECRETS), store)
    request = ResolveRequest(product="shop", env="dev", session={"tag": "user-session", "token": started.token},
                             input={"to": "$Session{email}"})  # fmt: skip
    resolved = await ActivityEnvironment().run(activity.resolve_placeholders, request)
    assert resolved.input == {"to": "ada@example.com"}
    await sessions.revoke({"product": "shop", "tag": "user-session", "session_id": started.session_id})
    with pytest.raises(ApplicationError) as err:
        await ActivityEnvironment().run(activity.resolve_placeholders, request)
    assert err.value.type == "SESSION_REVOKED"
    assert err.value.non_retryable
