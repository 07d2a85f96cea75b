"""Session tokens: JWTs with the claims ``{tag, data, exp, iat, sid}`` (plus ``prd``, the product,
and for encrypted session types ``edata``, a JWE of ``data``, instead of ``data``).

``verify_session`` is the one place a token is checked, at dispatch (by a client holding the keys)
and at run time (by the resolution activity); ``mint_session_token`` the one place one is made.
"""

from __future__ import annotations

import base64
import binascii
import secrets as _random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ductape_jobs.activities.config.product_config import ConfigError, ProductConfig
from ductape_jobs.activities.config.secrets import SecretMissingError, SecretStore
from ductape_jobs.activities.errors import JobFailure
from ductape_jobs.activities.session.config import SessionDef
from ductape_jobs.activities.session.crypto import (
    ALGORITHMS,
    SigningKey,
    TokenRejected,
    seal,
    segment_json,
    sign,
    unseal,
    verify,
)
from ductape_jobs.workflows.contracts.job import SessionRef

MAX_TOKEN_LENGTH = 16_384
"""Default size limit; a session type may set its own ``max_token_bytes``."""


@dataclass(frozen=True, kw_only=True)
class SessionClaims:
    """What a verified token holds."""

    tag: str
    data: Mapping[str, Any]
    session_id: str
    expires_at: datetime


@dataclass(frozen=True)
class SessionKeys:
    """A session type's resolved key material (secrets read from the store)."""

    definition: SessionDef
    keys: dict[str, SigningKey]
    encryption_key: bytes | None


def session_keys(definition: SessionDef, secrets: SecretStore) -> SessionKeys:
    """Raises: SecretMissingError; ConfigError when the encryption key is not 32 bytes of base64."""
    keys = {
        kid: SigningKey(
            kid=kid,
            secret=secrets.resolve(k.key) if k.key else None,
            private_pem=secrets.resolve(k.private_key) if k.private_key else None,
            public_pem=secrets.resolve(k.public_key) if k.public_key else None,
        )
        for kid, k in definition.key_defs().items()
    }
    encryption_key = None
    if definition.encrypted and definition.encryption_key:
        try:
            encryption_key = base64.b64decode(secrets.resolve(definition.encryption_key), validate=True)
        except (binascii.Error, ValueError):
            raise ConfigError("the session type's encryption_key is not valid base64") from None
        if len(encryption_key) != 32:
            raise ConfigError("the session type's encryption_key must be 32 bytes (A256GCM)")
    return SessionKeys(definition, keys, encryption_key)


def _keys_for(session_tag: str, product: str, config: ProductConfig, secrets: SecretStore) -> SessionKeys:
    try:
        return session_keys(config.session(product, session_tag), secrets)
    except ConfigError as err:
        raise JobFailure("SESSION_UNKNOWN_TYPE", str(err)) from None
    except SecretMissingError as err:
        raise JobFailure("SECRET_MISSING", f"session type {session_tag!r}: {err}") from None


def verify_session(session: SessionRef, *, product: str, config: ProductConfig, secrets: SecretStore) -> SessionClaims:
    """Verify a session token with the keys of its session type.

    Raises:
        JobFailure: ``SESSION_UNKNOWN_TYPE`` (tag not declared), ``SECRET_MISSING``,
            ``SESSION_INVALID`` (malformed, oversize, other algorithm, unknown kid, bad signature,
            not yet valid, another product's token, bad JWE), ``SESSION_EXPIRED``, ``SESSION_WRONG_TAG``.
            Never retryable; the message never contains the token.
    """
    material = _keys_for(session.tag, product, config, secrets)
    definition = material.definition
    try:
        claims = verify(
            session.token,
            algorithm=definition.algorithm,
            keys=material.keys,
            max_length=definition.max_token_bytes,
        )
        parsed = _claims(session, claims, product=product)
        if definition.encrypted:
            sealed = claims.get("edata")
            if not isinstance(sealed, str) or material.encryption_key is None:
                raise TokenRejected("SESSION_INVALID", "the token of an encrypted session type has no `edata`")
            data = unseal(sealed, key=material.encryption_key, max_length=definition.max_token_bytes)
            parsed = SessionClaims(
                tag=parsed.tag, data=data, session_id=parsed.session_id, expires_at=parsed.expires_at
            )
    except TokenRejected as err:
        raise JobFailure(err.code, f"session {session.tag!r}: {err}") from None
    return parsed


def check_unverified(session: SessionRef, now: datetime) -> None:
    """Checks a token without its key: well-formed, issued for ``session.tag``, not expired.

    Used at dispatch by a client that does not hold the session key.

    Raises:
        JobFailure: as ``verify_session``, except that a bad signature cannot be seen (an ``alg`` that
            is missing, ``none`` or not one any session type can use is refused, see ``check_algorithm``).
    """
    if len(session.token) > MAX_TOKEN_LENGTH:
        raise JobFailure("SESSION_INVALID", f"session {session.tag!r}: the token is too long")
    parts = session.token.split(".")
    if len(parts) != 3:
        raise JobFailure("SESSION_INVALID", f"session {session.tag!r}: the token is not a valid JWT")
    try:
        check_algorithm(session.token)
        claims = segment_json(parts[1], "payload")
        parsed = _claims(session, claims, product=None, needs_data=False)
    except TokenRejected as err:
        raise JobFailure(err.code, f"session {session.tag!r}: {err}") from None
    if parsed.expires_at <= now:
        raise JobFailure(
            "SESSION_EXPIRED", f"session {session.tag!r}: the token expired at {parsed.expires_at.isoformat()}"
        )


def check_algorithm(token: str) -> None:
    """Without the session type at hand, the header's ``alg`` must still be one a session type can
    have: a token claiming ``none`` (or nothing) is forged, whatever its payload says.

    Raises:
        TokenRejected: SESSION_INVALID, the header is not base64url JSON, or its ``alg`` is missing,
            ``none`` or unsupported. A token that is not three dot-separated parts passes: the
            caller reports its shape.
    """
    parts = token.split(".")
    if len(parts) != 3:
        return
    offered = segment_json(parts[0], "header").get("alg")
    if offered is None:
        raise TokenRejected("SESSION_INVALID", "the token's header has no `alg`")
    if offered not in ALGORITHMS:
        raise TokenRejected(
            "SESSION_INVALID", f"algorithm {offered!r} is not supported (supported: {', '.join(ALGORITHMS)})"
        )


def mint_session_token(
    material: SessionKeys, *, product: str, tag: str, data: Mapping[str, Any], now: datetime, session_id: str
) -> tuple[str, datetime]:
    """A signed token for ``data`` and its expiry.

    Raises:
        TokenRejected: the active key cannot sign (a verify-only key pair).
    """
    definition = material.definition
    expires_at = now + timedelta(seconds=definition.expiry)
    claims: dict[str, Any] = {
        "tag": tag,
        "prd": product,
        "iat": int(now.timestamp()),
        "exp": int(expires_at.timestamp()),
        "sid": session_id,
    }
    if material.encryption_key is not None:
        claims["edata"] = seal(data, key=material.encryption_key)
    else:
        claims["data"] = dict(data)
    token = sign(claims, algorithm=definition.algorithm, key=material.keys[definition.signing_kid()])
    return token, datetime.fromtimestamp(claims["exp"], tz=UTC)


def issue_session_token(
    *,
    tag: str,
    data: Mapping[str, Any],
    key: str,
    ttl: timedelta = timedelta(hours=1),
    now: datetime,
    session_id: str | None = None,
) -> str:
    """An HS256 token with the spine's claim layout (no ``prd``, no ``kid``): for tests and tools."""
    claims = {
        "tag": tag,
        "data": dict(data),
        "iat": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
        "sid": session_id or _random.token_hex(8),
    }
    return sign(claims, algorithm="HS256", key=SigningKey(kid="default", secret=key))


def _claims(
    session: SessionRef, claims: Mapping[str, Any], *, product: str | None, needs_data: bool = True
) -> SessionClaims:
    tag = claims.get("tag")
    if tag != session.tag:
        raise TokenRejected("SESSION_WRONG_TAG", f"the token was issued for session type {tag!r}, not {session.tag!r}")
    issued_for = claims.get("prd")
    if product is not None and issued_for is not None and issued_for != product:
        raise TokenRejected("SESSION_INVALID", f"the token was issued for product {issued_for!r}, not {product!r}")
    exp = claims.get("exp")
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        raise TokenRejected("SESSION_INVALID", "the token lacks the `exp` claim")
    data = claims.get("data", {} if "edata" in claims or not needs_data else None)
    if not isinstance(data, Mapping):
        raise TokenRejected("SESSION_INVALID", "the token lacks the `data` claim")
    try:
        expires_at = datetime.fromtimestamp(exp, tz=UTC)
    except (OverflowError, ValueError, OSError):
        # NaN, or an instant outside datetime's range: a forged or broken token, not a worker fault.
        raise TokenRejected("SESSION_INVALID", "the token's `exp` claim is not a valid instant") from None
    return SessionClaims(tag=str(tag), data=data, session_id=str(claims.get("sid", "")), expires_at=expires_at)
