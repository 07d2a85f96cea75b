"""Everything that starts things: the ``Ductape`` client, the worker, the embedded dev server, the CLI.

The public names live here, next to ``Ductape``: the seeds' own (``JobEventTypes``, ``IJobProcessorInput``,
``IProductJob``, ``IDispatchResult``, ``ISession``, ``IJobRepeatOptions``...), every input and result
model of the API, and its errors, so ``from ductape_jobs import JobEventTypes, IProductJob`` works as the
seeds' ``import { JobEventTypes } from "ductape-sdk/..."`` does.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ductape_jobs.client import Ductape
    from ductape_jobs.codec.converter import DATA_CONVERTER
    from ductape_jobs.management.bulk_dispatch import BulkItemResult, BulkProgress
    from ductape_jobs.management.jobs import JobFailedError, JobNotFoundError, JobStateError, JobTimeoutError
    from ductape_jobs.sessions import SessionError
    from ductape_jobs.workflows.contracts.broker import IPublishRequest, ISubscribeRequest
    from ductape_jobs.workflows.contracts.database import IDbActionRequest, IDbOperationInput
    from ductape_jobs.workflows.contracts.dispatch import (
        IActionDispatchInput,
        IDatabaseDispatchInput,
        IDispatchResult,
        IGraphDispatchInput,
        IJobProcessorInput,
        INotificationDispatchInput,
        IProductJob,
        IPublishDispatchInput,
        IStorageDispatchInput,
        IWorkflowDispatchInput,
    )
    from ductape_jobs.workflows.contracts.graph import IGraphActionRequest
    from ductape_jobs.workflows.contracts.job import IActionRequest, ISession, JobEventType, JobInputError
    from ductape_jobs.workflows.contracts.management import (
        IRefreshSession,
        IRevokeResult,
        IRevokeSession,
        ISessionResult,
        IStartSession,
        IVerifyResult,
        IVerifySession,
        JobHistory,
        JobPage,
        JobRecord,
        JobRun,
        JobStats,
    )
    from ductape_jobs.workflows.contracts.notification import INotificationRequest
    from ductape_jobs.workflows.contracts.route import IFunctionRequest
    from ductape_jobs.workflows.contracts.storage import IStorageUpload
    from ductape_jobs.workflows.contracts.timing import IDispatchSchedule, IDstPolicy, IJobRepeatOptions, IRetryConfig

    JobEventTypes = JobEventType
    IStorageRequest = IStorageUpload

# Imported on first use (PEP 562): ``import ductape_jobs`` stays cheap and free of side effects, which
# the worker's workflow sandbox relies on (it imports this package as the parent of
# ``ductape_jobs.workflows``), and a CLI command loads only what it runs.
_LAZY: dict[str, tuple[str, str]] = {
    "Ductape": ("ductape_jobs.client", "Ductape"),
    "DATA_CONVERTER": ("ductape_jobs.codec.converter", "DATA_CONVERTER"),
    "BulkItemResult": ("ductape_jobs.management.bulk_dispatch", "BulkItemResult"),
    "BulkProgress": ("ductape_jobs.management.bulk_dispatch", "BulkProgress"),
    "JobFailedError": ("ductape_jobs.management.jobs", "JobFailedError"),
    "JobNotFoundError": ("ductape_jobs.management.jobs", "JobNotFoundError"),
    "JobStateError": ("ductape_jobs.management.jobs", "JobStateError"),
    "JobTimeoutError": ("ductape_jobs.management.jobs", "JobTimeoutError"),
    "SessionError": ("ductape_jobs.sessions", "SessionError"),
    "IPublishRequest": ("ductape_jobs.workflows.contracts.broker", "IPublishRequest"),
    "ISubscribeRequest": ("ductape_jobs.workflows.contracts.broker", "ISubscribeRequest"),
    "IActionRequest": ("ductape_jobs.workflows.contracts.job", "IActionRequest"),
    "ISession": ("ductape_jobs.workflows.contracts.job", "ISession"),
    "JobEventType": ("ductape_jobs.workflows.contracts.job", "JobEventType"),
    "JobInputError": ("ductape_jobs.workflows.contracts.job", "JobInputError"),
    "IDbActionRequest": ("ductape_jobs.workflows.contracts.database", "IDbActionRequest"),
    "IDbOperationInput": ("ductape_jobs.workflows.contracts.database", "IDbOperationInput"),
    "IActionDispatchInput": ("ductape_jobs.workflows.contracts.dispatch", "IActionDispatchInput"),
    "IDatabaseDispatchInput": ("ductape_jobs.workflows.contracts.dispatch", "IDatabaseDispatchInput"),
    "IDispatchResult": ("ductape_jobs.workflows.contracts.dispatch", "IDispatchResult"),
    "IDispatchSchedule": ("ductape_jobs.workflows.contracts.timing", "IDispatchSchedule"),
    "IDstPolicy": ("ductape_jobs.workflows.contracts.timing", "IDstPolicy"),
    "IGraphDispatchInput": ("ductape_jobs.workflows.contracts.dispatch", "IGraphDispatchInput"),
    "IJobProcessorInput": ("ductape_jobs.workflows.contracts.dispatch", "IJobProcessorInput"),
    "IJobRepeatOptions": ("ductape_jobs.workflows.contracts.timing", "IJobRepeatOptions"),
    "INotificationDispatchInput": ("ductape_jobs.workflows.contracts.dispatch", "INotificationDispatchInput"),
    "IProductJob": ("ductape_jobs.workflows.contracts.dispatch", "IProductJob"),
    "IPublishDispatchInput": ("ductape_jobs.workflows.contracts.dispatch", "IPublishDispatchInput"),
    "IRetryConfig": ("ductape_jobs.workflows.contracts.timing", "IRetryConfig"),
    "IStorageDispatchInput": ("ductape_jobs.workflows.contracts.dispatch", "IStorageDispatchInput"),
    "IWorkflowDispatchInput": ("ductape_jobs.workflows.contracts.dispatch", "IWorkflowDispatchInput"),
    "IGraphActionRequest": ("ductape_jobs.workflows.contracts.graph", "IGraphActionRequest"),
    "IRefreshSession": ("ductape_jobs.workflows.contracts.management", "IRefreshSession"),
    "IRevokeResult": ("ductape_jobs.workflows.contracts.management", "IRevokeResult"),
    "IRevokeSession": ("ductape_jobs.workflows.contracts.management", "IRevokeSession"),
    "ISessionResult": ("ductape_jobs.workflows.contracts.management", "ISessionResult"),
    "IStartSession": ("ductape_jobs.workflows.contracts.management", "IStartSession"),
    "IVerifyResult": ("ductape_jobs.workflows.contracts.management", "IVerifyResult"),
    "IVerifySession": ("ductape_jobs.workflows.contracts.management", "IVerifySession"),
    "JobHistory": ("ductape_jobs.workflows.contracts.management", "JobHistory"),
    "JobPage": ("ductape_jobs.workflows.contracts.management", "JobPage"),
    "JobRecord": ("ductape_jobs.workflows.contracts.management", "JobRecord"),
    "JobRun": ("ductape_jobs.workflows.contracts.management", "JobRun"),
    "JobStats": ("ductape_jobs.workflows.contracts.management", "JobStats"),
    "INotificationRequest": ("ductape_jobs.workflows.contracts.notification", "INotificationRequest"),
    "IFunctionRequest": ("ductape_jobs.workflows.contracts.route", "IFunctionRequest"),
    "IStorageUpload": ("ductape_jobs.workflows.contracts.storage", "IStorageUpload"),
    # Seed 001/004's enum: ``JobEventTypes.ACTION == "action"``, ``DB_ACTION``/``DATABASE_ACTION`` ==
    # ``"database_action"``, ``FUNCTION``...; inputs also take the member names as strings (``"DB_ACTION"``).
    "JobEventTypes": ("ductape_jobs.workflows.contracts.job", "JobEventType"),
    # The seeds' ``IStorageRequest`` (``{buffer, fileName, mimeType?}``): an upload's input.
    "IStorageRequest": ("ductape_jobs.workflows.contracts.storage", "IStorageUpload"),
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'ductape_jobs' has no attribute {name!r}")
    module, attribute = _LAZY[name]
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value
    return value


__all__ = [
    "DATA_CONVERTER",
    "BulkItemResult",
    "BulkProgress",
    "Ductape",
    "IActionDispatchInput",
    "IActionRequest",
    "IDatabaseDispatchInput",
    "IDbActionRequest",
    "IDbOperationInput",
    "IDispatchResult",
    "IDispatchSchedule",
    "IDstPolicy",
    "IFunctionRequest",
    "IGraphActionRequest",
    "IGraphDispatchInput",
    "IJobProcessorInput",
    "IJobRepeatOptions",
    "INotificationDispatchInput",
    "INotificationRequest",
    "IProductJob",
    "IPublishDispatchInput",
    "IPublishRequest",
    "IRefreshSession",
    "IRetryConfig",
    "IRevokeResult",
    "IRevokeSession",
    "ISession",
    "ISessionResult",
    "IStartSession",
    "IStorageDispatchInput",
    "IStorageRequest",
    "IStorageUpload",
    "ISubscribeRequest",
    "IVerifyResult",
    "IVerifySession",
    "IWorkflowDispatchInput",
    "JobEventType",
    "JobEventTypes",
    "JobFailedError",
    "JobHistory",
    "JobInputError",
    "JobNotFoundError",
    "JobPage",
    "JobRecord",
    "JobRun",
    "JobStateError",
    "JobStats",
    "JobTimeoutError",
    "SessionError",
]
