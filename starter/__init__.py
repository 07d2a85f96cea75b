"""Everything that starts things: the ``Ductape`` client, the worker, the embedded dev server, the CLI.

The public names live here, next to ``Ductape``: the seeds' own (``JobEventTypes``, ``IJobProcessorInput``,
``IProductJob``, ``IDispatchResult``, ``ISession``, ``IJobRepeatOptions``...), every input and result
model of the API, and its errors, so ``from starter import JobEventTypes, IProductJob`` works as the
seeds' ``import { JobEventTypes } from "ductape-sdk/..."`` does.
"""

from __future__ import annotations

from starter.client import Ductape
from starter.converter import DATA_CONVERTER
from starter.jobs import JobFailedError, JobNotFoundError, JobStateError, JobTimeoutError
from starter.sessions import SessionError
from workflows.broker_contracts import IPublishRequest, ISubscribeRequest
from workflows.contracts import IActionRequest, ISession, JobEventType, JobInputError
from workflows.database_contracts import IDbActionRequest, IDbOperationInput
from workflows.dispatch_contracts import (
    IActionDispatchInput,
    IDatabaseDispatchInput,
    IDispatchResult,
    IDispatchSchedule,
    IDstPolicy,
    IGraphDispatchInput,
    IJobProcessorInput,
    IJobRepeatOptions,
    INotificationDispatchInput,
    IProductJob,
    IPublishDispatchInput,
    IRetryConfig,
    IStorageDispatchInput,
    IWorkflowDispatchInput,
)
from workflows.graph_contracts import IGraphActionRequest
from workflows.management_contracts import (
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
from workflows.notification_contracts import INotificationRequest
from workflows.route_contracts import IFunctionRequest
from workflows.storage_contracts import IStorageUpload

JobEventTypes = JobEventType
"""Seed 001/004's enum: ``JobEventTypes.ACTION == "action"``, ``DB_ACTION``/``DATABASE_ACTION`` ==
``"database_action"``, ``FUNCTION``...; inputs also take the member names as strings (``"DB_ACTION"``)."""

IStorageRequest = IStorageUpload
"""The seeds' ``IStorageRequest`` (``{buffer, fileName, mimeType?}``): an upload's input."""

__all__ = [
    "DATA_CONVERTER",
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
