"""The resolution activity: verify the job's session token, substitute ``$Session{...}`` and ``$Now()``."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from temporalio import activity

from ductape_jobs.activities.config.product_config import ProductConfig
from ductape_jobs.activities.config.secrets import SecretStore, secret_references
from ductape_jobs.activities.errors import JobFailure
from ductape_jobs.activities.session.store import SessionStore
from ductape_jobs.activities.session.tokens import verify_session
from ductape_jobs.workflows.contracts.job import ResolveRequest, ResolveResult
from ductape_jobs.workflows.names import RESOLVE_PLACEHOLDERS
from ductape_jobs.workflows.placeholders import PlaceholderError, substitute


class PlaceholderActivities:
    """Holds what resolution needs: the product config and the worker's secrets."""

    def __init__(self, config: ProductConfig, secrets: SecretStore, store: SessionStore | None = None) -> None:
        self._config = config
        self._secrets = secrets
        self._store = store

    @activity.defn(name=RESOLVE_PLACEHOLDERS)
    async def resolve_placeholders(self, request: ResolveRequest) -> ResolveResult:
        """Raises: ApplicationError, non-retryable, typed SESSION_*, SECRET_MISSING, or INVALID_INPUT
        when session data would put a ``$Secret{...}`` reference into the input."""
        try:
            data = None
            if request.session is not None:
                claims = verify_session(
                    request.session, product=request.product, config=self._config, secrets=self._secrets
                )
                if self._store is not None and claims.session_id:
                    stored = await self._store.get(claims.session_id)
                    if stored is not None and stored.revoked:
                        raise JobFailure("SESSION_REVOKED", f"session {request.session.tag!r} was revoked")
                data = claims.data
            # Placeholders resolve at each run, so $Now() is the time of this run.
            resolved = substitute(request.input, data, time.time_ns() // 1_000_000)
            if _references(resolved) - _references(request.input):
                # Session data is often the end user's own (a name, an email): it must never be able
                # to make the event activity resolve a secret the dispatcher did not write.
                raise JobFailure("INVALID_INPUT", "session data may not carry $Secret{...} references; refused")
            return ResolveResult(input=resolved)
        except PlaceholderError as err:
            raise JobFailure(err.code, str(err)).to_application_error() from None
        except JobFailure as err:
            raise err.to_application_error() from None


def _references(value: Any) -> Counter[str]:
    return Counter(name for _, name in secret_references(value))
