"""Session token cryptography on python-jose, used with an allow-list and nothing more.

python-jose has had algorithm-confusion (CVE-2024-33663) and JWE decompression-bomb (CVE-2024-33664)
advisories, and a CBC-HMAC padding-oracle report is open through 3.5.0. So every header is read and
checked here *before* jose sees the token: the algorithm must be exactly the session type's, a
``kid`` must name a configured key, JWE must be ``dir`` + ``A256GCM`` without ``zip``, and the token
must fit a size limit. jose then only verifies what we already allowed.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jose import ExpiredSignatureError, JWTError, jwe, jwt
from jose.exceptions import JOSEError

ALGORITHMS = ("HS256", "RS256", "ES256")
JWE_ALG = "dir"
JWE_ENC = "A256GCM"


class TokenRejected(ValueError):
    """A token failed a check; ``code`` is ``SESSION_INVALID`` or ``SESSION_EXPIRED``. The message
    says which check failed and never contains the token."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, kw_only=True)
class SigningKey:
    """One key of a session type: a shared HS256 secret, or an RS256/ES256 PEM pair."""

    kid: str
    secret: str | None = None
    private_pem: str | None = None
    public_pem: str | None = None

    def signing(self) -> str:
        key = self.secret or self.private_pem
        if not key:
            raise TokenRejected("SESSION_INVALID", f"key {self.kid!r} cannot sign: no secret or private key")
        return key

    def verifying(self) -> str:
        key = self.secret or self.public_pem
        if not key:
            raise TokenRejected("SESSION_INVALID", f"key {self.kid!r} cannot verify: no secret or public key")
        return key


def segment_json(segment: str, what: str) -> dict[str, Any]:
    try:
        padded = segment + "=" * (-len(segment) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeEncodeError):
        raise TokenRejected("SESSION_INVALID", f"the token's {what} is not base64url JSON") from None
    if not isinstance(value, dict):
        raise TokenRejected("SESSION_INVALID", f"the token's {what} is not a JSON object")
    return value


def sign(claims: Mapping[str, Any], *, algorithm: str, key: SigningKey) -> str:
    """A compact JWS with ``kid`` in its header."""
    token: str = jwt.encode(dict(claims), key.signing(), algorithm=algorithm, headers={"kid": key.kid})
    return token


def verify(
    token: str, *, algorithm: str, keys: Mapping[str, SigningKey], max_length: int, leeway_s: int = 30
) -> dict[str, Any]:
    """Check a JWS against the session type's single allowed algorithm and its keys.

    Raises:
        TokenRejected: oversize, malformed, other algorithm (``none``, HS/RS confusion), unknown
            ``kid``, bad signature, tampered payload, expired, not yet valid, missing ``exp``/``iat``.
    """
    if len(token) > max_length:
        raise TokenRejected("SESSION_INVALID", f"the token is longer than {max_length} characters")
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenRejected("SESSION_INVALID", "the token is not a compact JWS (three dot-separated parts)")
    header = segment_json(parts[0], "header")
    offered = header.get("alg")
    if offered != algorithm:
        raise TokenRejected("SESSION_INVALID", f"algorithm {offered!r} is not allowed (only {algorithm})")
    key = _pick_key(header, keys)
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key.verifying(),
            algorithms=[algorithm],
            options={"require_exp": True, "require_iat": True, "leeway": leeway_s},
        )
    except ExpiredSignatureError:
        raise TokenRejected("SESSION_EXPIRED", "the token has expired") from None
    except JWTError as err:
        raise TokenRejected("SESSION_INVALID", f"the token is invalid ({err})") from None
    issued = claims.get("iat")
    if not isinstance(issued, int | float) or issued > time.time() + leeway_s:
        raise TokenRejected("SESSION_INVALID", "the token is not yet valid (issued in the future)")
    return claims


def _pick_key(header: Mapping[str, Any], keys: Mapping[str, SigningKey]) -> SigningKey:
    kid = header.get("kid")
    if kid is None:
        if len(keys) == 1:
            return next(iter(keys.values()))
        raise TokenRejected("SESSION_INVALID", "the token has no `kid` and the session type has several keys")
    if not isinstance(kid, str) or kid not in keys:
        raise TokenRejected("SESSION_INVALID", f"unknown key id {kid!r}")
    return keys[kid]


def seal(data: Mapping[str, Any], *, key: bytes) -> str:
    """``data`` as a compact JWE, ``dir`` + ``A256GCM``, never compressed."""
    sealed: bytes = jwe.encrypt(json.dumps(dict(data)).encode(), key, encryption=JWE_ENC, algorithm=JWE_ALG)
    return sealed.decode()


def unseal(token: str, *, key: bytes, max_length: int) -> dict[str, Any]:
    """Open a JWE made by ``seal``; anything but ``dir``/``A256GCM`` without ``zip`` is refused unread.

    Raises:
        TokenRejected: oversize, malformed, CBC or other algorithms, compression, bad tag.
    """
    if len(token) > max_length:
        raise TokenRejected("SESSION_INVALID", f"the encrypted payload is longer than {max_length} characters")
    parts = token.split(".")
    if len(parts) != 5:
        raise TokenRejected("SESSION_INVALID", "the encrypted payload is not a compact JWE (five parts)")
    header = segment_json(parts[0], "JWE header")
    if header.get("alg") != JWE_ALG or header.get("enc") != JWE_ENC:
        raise TokenRejected(
            "SESSION_INVALID",
            f"JWE {header.get('alg')!r}/{header.get('enc')!r} is not allowed (only {JWE_ALG}/{JWE_ENC})",
        )
    if "zip" in header:
        raise TokenRejected("SESSION_INVALID", "compressed JWE is not allowed")
    try:
        clear = jwe.decrypt(token, key)
    except (JOSEError, ValueError, TypeError) as err:
        reason = type(err).__name__
        raise TokenRejected("SESSION_INVALID", f"the encrypted payload cannot be opened ({reason})") from None
    if clear is None:
        raise TokenRejected("SESSION_INVALID", "the encrypted payload cannot be opened")
    try:
        data = json.loads(clear)
    except ValueError:
        raise TokenRejected("SESSION_INVALID", "the encrypted payload is not JSON") from None
    if not isinstance(data, dict):
        raise TokenRejected("SESSION_INVALID", "the encrypted payload is not a JSON object")
    return data
