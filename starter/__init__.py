"""Everything that starts things: the ``Ductape`` client, the worker, the embedded dev server, the CLI."""

from __future__ import annotations

from starter.client import Ductape
from starter.converter import DATA_CONVERTER
from starter.jobs import JobFailedError, JobNotFoundError, JobStateError, JobTimeoutError
from workflows.contracts import JobInputError
from workflows.dispatch_contracts import IDispatchResult
from workflows.management_contracts import JobRecord

__all__ = [
    "DATA_CONVERTER",
    "Ductape",
    "IDispatchResult",
    "JobFailedError",
    "JobInputError",
    "JobNotFoundError",
    "JobRecord",
    "JobStateError",
    "JobTimeoutError",
]
