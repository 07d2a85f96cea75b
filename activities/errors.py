"""How activities report failures: one error type per cause, retryable or not, user rules applied.

Error types (``ApplicationError.type``, visible in the Web UI and matched by a job's ``retry``
rules): BAD_REQUEST, UNAUTHORIZED, FORBIDDEN, NOT_FOUND, CONFLICT, VALIDATION_ERROR,
CLIENT_ERROR (other 4xx) are not retried; TIMEOUT (incl. 408 and 504), RATE_LIMITED (429),
SERVER_ERROR, BAD_GATEWAY, SERVICE_UNAVAILABLE, CONNECTION_ERROR are retried. CONFIG_ERROR,
SECRET_MISSING, SECRET_NOT_DECLARED (a job's input references a secret its product does not declare)
and the SESSION_* types are never retried.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.exceptions import ApplicationError

from ductape_jobs.workflows.contracts.job import ErrorRules

RETRYABLE_BY_DEFAULT = frozenset(
    {"TIMEOUT", "RATE_LIMITED", "SERVER_ERROR", "BAD_GATEWAY", "SERVICE_UNAVAILABLE", "CONNECTION_ERROR"}
)

NEVER_RETRIED = frozenset(
    {
        "CONFIG_ERROR",
        "SECRET_MISSING",
        "SECRET_NOT_DECLARED",
        "SESSION_INVALID",
        "SESSION_EXPIRED",
        "SESSION_WRONG_TAG",
        "SESSION_REQUIRED",
        "SESSION_PATH_MISSING",
        "SESSION_UNKNOWN_TYPE",
        "INVALID_INPUT",
    }
)
"""Types no ``retry`` rule can make retryable: retrying cannot fix them."""

_STATUS_TYPES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    408: "TIMEOUT",
    409: "CONFLICT",
    422: "VALIDATION_ERROR",
    429: "RATE_LIMITED",
    502: "BAD_GATEWAY",
    503: "SERVICE_UNAVAILABLE",
    504: "TIMEOUT",
}


def error_type_for_status(status: int) -> str:
    """The error type of an HTTP error status."""
    if status in _STATUS_TYPES:
        return _STATUS_TYPES[status]
    return "SERVER_ERROR" if status >= 500 else "CLIENT_ERROR"


class JobFailure(Exception):
    """A classified failure raised inside an activity; ``to_application_error`` reports it."""

    def __init__(
        self, kind: str, message: str, *, details: object = None, retry_after: timedelta | None = None
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.details = details
        self.retry_after = retry_after

    def to_application_error(self, rules: ErrorRules | None = None) -> ApplicationError:
        """The error Temporal sees; a job's own ``retry`` rules override the defaults."""
        retryable = self.kind in RETRYABLE_BY_DEFAULT
        if rules is not None:
            if rules.retryable_errors is not None:
                retryable = self.kind in rules.retryable_errors
            if self.kind in rules.non_retryable_errors:
                retryable = False
        if self.kind in NEVER_RETRIED:
            retryable = False
        extra = () if self.details is None else (self.details,)
        return ApplicationError(
            self.message,
            *extra,
            type=self.kind,
            non_retryable=not retryable,
            next_retry_delay=self.retry_after if retryable else None,
        )
