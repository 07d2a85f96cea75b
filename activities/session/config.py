"""Session types in the product config: keys, lifetimes, the payload schema, the user selector."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SchemaType = Literal["string", "number", "integer", "boolean", "object", "array", "any"]
_SELECTOR = re.compile(r"^\$Session((?:\{[^{}]+\})+)$")


class SessionKeyDef(BaseModel):
    """One key: ``key`` (HS256 shared secret) or ``private_key``/``public_key`` (PEM, RS256/ES256)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str | None = None
    private_key: str | None = None
    """Needed to start sessions; a worker that only verifies needs just the public key."""
    public_key: str | None = None


class SessionDef(BaseModel):
    """A session type: how its tokens are signed and verified, and what its payload holds.

    Keys may be given once (``key``, or ``private_key``/``public_key``) or by key id under ``keys``
    with ``active_kid`` naming the one that signs; every listed key verifies, so keys rotate by adding
    a new one, making it active, and removing the old one once its tokens have expired.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    algorithm: Literal["HS256", "RS256", "ES256"] = "HS256"
    key: str | None = None
    private_key: str | None = None
    public_key: str | None = None
    keys: dict[str, SessionKeyDef] = Field(default_factory=dict)
    active_kid: str | None = None
    expiry: int = Field(3600, ge=1)
    """Token lifetime in seconds."""
    refresh_expiry: int = Field(30 * 86400, ge=1)
    """Refresh token lifetime in seconds."""
    encrypted: bool = False
    """Carry ``data`` as a JWE (``dir`` + ``A256GCM``) inside the signed token."""
    encryption_key: str | None = None
    """32 bytes, base64; required when ``encrypted``; write it as ``$Secret{NAME}``."""
    schema_: dict[str, SchemaType] = Field(default_factory=dict, alias="schema")
    """Fields ``data`` must have, with their JSON types."""
    selector: str | None = None
    """``$Session{field}`` naming the user identifier in ``data`` (for revoking a user's sessions)."""
    max_token_bytes: int = Field(16_384, ge=256, le=1_048_576)

    @model_validator(mode="after")
    def _consistent(self) -> SessionDef:
        single = SessionKeyDef(key=self.key, private_key=self.private_key, public_key=self.public_key)
        if self.keys and (self.key or self.private_key or self.public_key):
            raise ValueError("give keys either inline (key/private_key/public_key) or under `keys`, not both")
        keys = self.keys or ({"default": single} if single != SessionKeyDef() else {})
        if not keys:
            raise ValueError("a session type needs a key (`key`, `private_key`/`public_key` or `keys`)")
        for kid, found in keys.items():
            if self.algorithm == "HS256" and (not found.key or found.private_key or found.public_key):
                raise ValueError(f"key {kid!r}: HS256 takes a shared `key` only")
            if self.algorithm != "HS256" and (found.key or not (found.public_key or found.private_key)):
                raise ValueError(f"key {kid!r}: {self.algorithm} takes `private_key`/`public_key` PEMs, not `key`")
        if self.active_kid is not None and self.active_kid not in keys:
            raise ValueError(f"active_kid {self.active_kid!r} is not one of the keys {sorted(keys)}")
        if len(keys) > 1 and self.active_kid is None:
            raise ValueError("several keys need `active_kid` to say which one signs")
        if self.encrypted and not self.encryption_key:
            raise ValueError("`encrypted: true` needs an `encryption_key`")
        if self.selector is not None and not _SELECTOR.match(self.selector):
            raise ValueError(f"selector must look like $Session{{field}}, not {self.selector!r}")
        return self

    def key_defs(self) -> dict[str, SessionKeyDef]:
        if self.keys:
            return dict(self.keys)
        return {"default": SessionKeyDef(key=self.key, private_key=self.private_key, public_key=self.public_key)}

    def signing_kid(self) -> str:
        return self.active_kid or next(iter(self.key_defs()))

    def selector_path(self) -> list[str]:
        match = _SELECTOR.match(self.selector or "")
        return re.findall(r"\{([^{}]+)\}", match.group(1)) if match else []
