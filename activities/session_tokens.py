"""Session tokens: HS256 JWTs with the claims ``{tag, data, exp, iat, sid}``.

``verify_session`` is the one place a token is checked, at dispatch (by the client) and at run time
(by the resolution activity). python-jose is used with an explicit algorithm allow-list taken from
the session type's config, never from the token header.
"""

from __future__ import annotations

import secrets as _random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from jose import ExpiredSignatureError, JWTError, jwt

from activities.errors import JobFailure
from activities.product_config import ConfigError, ProductConfig
from activities.secrets import SecretMissingError, SecretStore
from workflows.contracts import ISession

MAX_TOKEN_LENGTH = 16_384
"""Longer tokens are refused before any parsing."""


@dataclass(frozen=True, kw_only=True)
class SessionClaims:
    """What a verified token holds."""

    tag: str
    data: Mapping[str, Any]
    session_id: str
    expires_at: datetime


def verify_session(session: ISession, *, product: str, config: ProductConfig, secrets: SecretStore) -> SessionClaims:
    """Verify a session token with the key of its session type.

    Raises:
        JobFailure: ``SESSION_UNKNOWN_TYPE`` (tag not declared), ``SECRET_MISSING``,
            ``SESSION_INVALID`` (malformed, bad signature, bad claims), ``SESSION_EXPIRED``,
            ``SESSION_WRONG_TAG`` (the token belongs to another session type). Never retryable; the
            message never contains the token.
    """
    try:
        definition = config.session(product, session.tag)
        key = secrets.resolve(definition.key)
    except ConfigError as err:
        raise JobFailure("SESSION_UNKNOWN_TYPE", str(err)) from None
    except SecretMissingError as err:
        raise JobFailure("SECRET_MISSING", f"session type {session.tag!r}: {err}") from None
    claims = _decode(session, key=key, algorithm=definition.algorithm)
    return _claims(session, claims)


def check_unverified(session: ISession, now: datetime) -> None:
    """Checks a token without its key: well-formed, issued for ``session.tag``, not expired.

    Used at dispatch by a client that does not hold the session key.

    Raises:
        JobFailure: as ``verify_session``, except that a bad signature cannot be seen.
    """
    _check_size(session)
    try:
        claims = jwt.get_unverified_claims(session.token)
    except JWTError:
        raise JobFailure("SESSION_INVALID", f"session {session.tag!r}: the token is not a valid JWT") from None
    parsed = _claims(session, claims)
    if parsed.expires_at <= now:
        raise JobFailure(
            "SESSION_EXPIRED", f"session {session.tag!r}: the token expired at {parsed.expires_at.isoformat()}"
        )


def issue_session_token(
    *,
    tag: str,
    data: Mapping[str, Any],
    key: str,
    ttl: timedelta = timedelta(hours=1),
    now: datetime,
    session_id: str | None = None,
) -> str:
    """Sign a token for ``data`` (used by tests and examples until the sessions API lands)."""
    claims = {
        "tag": tag,
        "data": dict(data),
        "iat": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
        "sid": session_id or _random.token_hex(8),
    }
    token: str = jwt.encode(claims, key, algorithm="HS256")
    return token


def _check_size(session: ISession) -> None:
    if len(session.token) > MAX_TOKEN_LENGTH:
        raise JobFailure(
            "SESSION_INVALID", f"session {session.tag!r}: the token is longer than {MAX_TOKEN_LENGTH} characters"
        )


def _decode(session: ISession, *, key: str, algorithm: str) -> Mapping[str, Any]:
    _check_size(session)
    try:
        claims: Mapping[str, Any] = jwt.decode(
            session.token, key, algorithms=[algorithm], options={"require_exp": True, "require_iat": True}
        )
    except ExpiredSignatureError:
        raise JobFailure("SESSION_EXPIRED", f"session {session.tag!r}: the token has expired") from None
    except JWTError as err:
        # jose's messages describe the check that failed, never the token itself.
        raise JobFailure("SESSION_INVALID", f"session {session.tag!r}: the token is invalid ({err})") from None
    return claims


def _claims(session: ISession, claims: Mapping[str, Any]) -> SessionClaims:
    tag = claims.get("tag")
    if tag != session.tag:
        raise JobFailure("SESSION_WRONG_TAG", f"the token was issued for session type {tag!r}, not {session.tag!r}")
    data = claims.get("data")
    exp = claims.get("exp")
    if not isinstance(data, Mapping) or isinstance(exp, bool) or not isinstance(exp, int | float):
        raise JobFailure("SESSION_INVALID", f"session {session.tag!r}: the token lacks the `data` or `exp` claim")
    return SessionClaims(
        tag=tag,
        data=data,
        session_id=str(claims.get("sid", "")),
        expires_at=datetime.fromtimestamp(exp, tz=UTC),
    )
