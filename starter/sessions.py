"""``ductape.sessions``: start, verify, refresh and revoke user sessions of the product config's types."""

from __future__ import annotations

import json
import secrets as _random
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ValidationError

from ductape_jobs.activities.config.product_config import ConfigError, ProductConfig
from ductape_jobs.activities.config.secrets import SecretMissingError, SecretStore
from ductape_jobs.activities.errors import JobFailure
from ductape_jobs.activities.session.config import SessionDef
from ductape_jobs.activities.session.crypto import TokenRejected, seal, unseal
from ductape_jobs.activities.session.store import RefreshRejected, SessionStore, StoredSession
from ductape_jobs.activities.session.tokens import SessionKeys, mint_session_token, session_keys, verify_session
from ductape_jobs.workflows.contracts.instants import to_epoch_ms
from ductape_jobs.workflows.contracts.job import ISession, JobInputError
from ductape_jobs.workflows.contracts.management import (
    IRefreshSession,
    IRevokeResult,
    IRevokeSession,
    ISessionResult,
    IStartSession,
    IVerifyResult,
    IVerifySession,
)

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "number": (int, float), "integer": (int,), "boolean": (bool,),
    "object": (dict,), "array": (list,), "any": (object,),
}  # fmt: skip


class SessionError(RuntimeError):
    """A session call failed; ``code`` is a SESSION_* type (SESSION_REVOKED for a reused refresh token)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


def _parse(model: type[BaseModel], data: object) -> Any:
    if isinstance(data, model):
        return data
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise JobInputError.from_validation(err) from None


def check_schema(definition: SessionDef, data: Mapping[str, Any]) -> None:
    """Raises: JobInputError naming ``data.<field>`` that is missing or of the wrong JSON type."""
    for field, kind in definition.schema_.items():
        if field not in data:
            raise JobInputError.one(f"data.{field}", f"is required by the session type's schema ({kind})")
        value = data[field]
        wrong_bool = isinstance(value, bool) and kind in ("number", "integer")
        if wrong_bool or not isinstance(value, _JSON_TYPES[kind]):
            raise JobInputError.one(f"data.{field}", f"must be {kind}, not {type(value).__name__}")


def _identifier(definition: SessionDef, data: Mapping[str, Any]) -> str | None:
    path = definition.selector_path()
    if not path:
        return None
    current: Any = data
    for segment in path:
        if not isinstance(current, Mapping) or segment not in current:
            raise JobInputError.one(f"data.{'.'.join(path)}", f"is the selector {definition.selector} and is missing")
        current = current[segment]
    if isinstance(current, dict | list) or current is None:
        raise JobInputError.one(f"data.{'.'.join(path)}", "the selector must name a primitive value")
    return str(current)


class Sessions:
    """Session lifecycle over the product config's session types and a ``SessionStore``."""

    def __init__(
        self,
        *,
        config: ProductConfig | None,
        secrets: SecretStore | None,
        store: SessionStore | None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._config = config
        self._secrets = secrets
        self._store = store
        self._clock = clock
        self._schema_ready = False

    async def _ready_store(self) -> SessionStore:
        if self._store is None:
            raise SessionError("SESSION_STORE_MISSING", "no session store configured (DUCTAPE_SESSION_STORE)")
        if not self._schema_ready:
            await self._store.create_schema()
            self._schema_ready = True
        return self._store

    def _material(self, product: str, tag: str) -> SessionKeys:
        if self._config is None or self._secrets is None:
            raise SessionError("SESSION_UNKNOWN_TYPE", "the sessions API needs a product config and its secrets")
        try:
            return session_keys(self._config.session(product, tag), self._secrets)
        except ConfigError as err:
            raise SessionError("SESSION_UNKNOWN_TYPE", str(err)) from None
        except SecretMissingError as err:
            raise SessionError("SECRET_MISSING", str(err)) from None

    async def start(self, data: Mapping[str, Any] | IStartSession) -> ISessionResult:
        """Start a session: ``{product, tag, data}``.

        Raises:
            JobInputError: bad input, or ``data`` not matching the type's schema or selector.
            SessionError: unknown session type, missing secret, no store.
        """
        request: IStartSession = _parse(IStartSession, data)
        material = self._material(request.product, request.tag)
        check_schema(material.definition, request.data)
        identifier = _identifier(material.definition, request.data)
        store = await self._ready_store()
        now = self._clock()
        session_id = _random.token_hex(16)
        refresh = _random.token_urlsafe(32)
        refresh_expires = now + timedelta(seconds=material.definition.refresh_expiry)
        stored_data = (
            seal(request.data, key=material.encryption_key)
            if material.encryption_key is not None
            else json.dumps(request.data)
        )
        await store.add(
            StoredSession(session_id, request.product, request.tag, identifier, stored_data, refresh_expires, False),
            refresh_token=refresh,
            refresh_expires_at=refresh_expires,
            now=now,
        )
        return self._result(material, request.product, request.tag, request.data, session_id, refresh, refresh_expires)

    def _result(
        self,
        material: SessionKeys,
        product: str,
        tag: str,
        data: Mapping[str, Any],
        session_id: str,
        refresh: str,
        refresh_expires: datetime,
    ) -> ISessionResult:
        try:
            token, expires = mint_session_token(
                material, product=product, tag=tag, data=data, now=self._clock(), session_id=session_id
            )
        except TokenRejected as err:
            raise SessionError(err.code, str(err)) from None
        return ISessionResult(
            token=token,
            refresh_token=refresh,
            expires_at=to_epoch_ms(expires),
            refresh_expires_at=to_epoch_ms(refresh_expires),
            session_id=session_id,
        )

    async def verify(self, data: Mapping[str, Any] | IVerifySession) -> IVerifyResult:
        """The seeds' "decrypt": ``{valid, data, session_id, expires_at}``; an invalid token gives
        ``valid: false`` and the error, never an exception.

        Raises:
            JobInputError: the request itself is malformed.
        """
        request: IVerifySession = _parse(IVerifySession, data)
        if self._config is None or self._secrets is None:
            return IVerifyResult(valid=False, error="SESSION_UNKNOWN_TYPE: no product config on this client")
        try:
            claims = verify_session(
                ISession(tag=request.tag, token=request.token),
                product=request.product,
                config=self._config,
                secrets=self._secrets,
            )
            if self._store is not None:
                stored = await (await self._ready_store()).get(claims.session_id)
                if stored is not None and stored.revoked:
                    return IVerifyResult(valid=False, session_id=claims.session_id, error="SESSION_REVOKED")
        except JobFailure as err:
            return IVerifyResult(valid=False, error=f"{err.kind}: {err.message}")
        return IVerifyResult(
            valid=True, data=dict(claims.data), session_id=claims.session_id, expires_at=to_epoch_ms(claims.expires_at)
        )

    async def refresh(self, data: Mapping[str, Any] | IRefreshSession) -> ISessionResult:
        """Trade a refresh token for a new token and a new refresh token.

        Raises:
            SessionError: SESSION_INVALID (unknown), SESSION_EXPIRED, SESSION_REVOKED (revoked, or
                this refresh token was already used: the whole session is revoked).
        """
        request: IRefreshSession = _parse(IRefreshSession, data)
        material = self._material(request.product, request.tag)
        store = await self._ready_store()
        now = self._clock()
        new_refresh = _random.token_urlsafe(32)
        refresh_expires = now + timedelta(seconds=material.definition.refresh_expiry)
        try:
            session_id = await store.rotate(
                product=request.product, tag=request.tag, old_token=request.refresh_token,
                new_token=new_refresh, new_expires_at=refresh_expires, now=now,
            )  # fmt: skip
        except RefreshRejected as err:
            raise SessionError(err.code, str(err)) from None
        stored = await store.get(session_id)
        assert stored is not None
        session_data = (
            unseal(stored.data, key=material.encryption_key, max_length=1 << 20)
            if material.encryption_key is not None
            else json.loads(stored.data)
        )
        return self._result(
            material, request.product, request.tag, session_data, session_id, new_refresh, refresh_expires
        )

    async def revoke(self, data: Mapping[str, Any] | IRevokeSession) -> IRevokeResult:
        """Revoke one session (``session_id``) or all of a user's (``identifier``); their tokens stop
        verifying and jobs carrying them fail with SESSION_REVOKED.

        Raises:
            JobInputError: neither or both of ``session_id`` and ``identifier``.
        """
        request: IRevokeSession = _parse(IRevokeSession, data)
        store = await self._ready_store()
        count = await store.revoke(
            product=request.product, tag=request.tag, session_id=request.session_id,
            identifier=request.identifier, now=self._clock(), reason="revoked",
        )  # fmt: skip
        return IRevokeResult(revoked=count)
