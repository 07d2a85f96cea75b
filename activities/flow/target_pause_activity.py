"""The activities of a 429 pause shared by every worker: telling the target's pause keeper, and
setting the target queue's rate on the server (``ductape_jobs.workflows.target_pause``)."""

from __future__ import annotations

from datetime import datetime

from temporalio import activity
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest, UpdateTaskQueueConfigRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from ductape_jobs.workflows.contracts.target_pause import QueuePause, QueueRate
from ductape_jobs.workflows.names import (
    PAUSE_UNTIL,
    QUEUE_CONFIG_UNSUPPORTED,
    SET_QUEUE_RATE,
    TARGET_PAUSE_WORKFLOW,
    main_queue,
    rate_limit_target,
    target_pause_id,
)

PAUSE_REASON = "ductape: a 429 pauses this target until "
"""Start of the rate's reason on the server (``temporal task-queue config get`` shows it)."""
_UNSUPPORTED = {RPCStatusCode.UNIMPLEMENTED, RPCStatusCode.PERMISSION_DENIED, RPCStatusCode.FAILED_PRECONDITION}


async def announce_pause(queue: str, until: datetime) -> None:
    """Signal-with-start the target's pause keeper from an activity: every worker's calls wait.

    Raises:
        RPCError: the server is unreachable (the caller's own pause still holds in its worker).
    """
    pause = QueuePause(queue=queue, until=until)
    await activity.client().start_workflow(
        TARGET_PAUSE_WORKFLOW,
        pause,
        id=target_pause_id(queue),
        task_queue=main_queue(queue),
        start_signal=PAUSE_UNTIL,
        start_signal_args=[pause],
        static_summary=f"429 pause of {rate_limit_target(queue)}",
    )


@activity.defn(name=SET_QUEUE_RATE)
async def set_queue_rate(rate: QueueRate) -> None:
    """Hold every task of the target's activity queue on the server (rate 0) until the keeper gives
    it back to the rate its workers set (``max_task_queue_activities_per_second``).

    Raises:
        ApplicationError: ``QUEUE_CONFIG_UNSUPPORTED`` (non-retryable) when the server has no task-queue
            config; RPCError (retried) when it is unreachable.
    """
    request = queue_rate_request(
        activity.client().namespace, rate, identity=activity.info().workflow_id or SET_QUEUE_RATE
    )
    try:
        await activity.client().workflow_service.update_task_queue_config(request)
    except RPCError as err:
        if err.status in _UNSUPPORTED:
            raise ApplicationError(str(err), type=QUEUE_CONFIG_UNSUPPORTED, non_retryable=True) from err
        raise


def queue_rate_request(namespace: str, rate: QueueRate, *, identity: str) -> UpdateTaskQueueConfigRequest:
    """The server call that pauses a target's queue (rate 0) or gives it back to its workers' rate."""
    request = UpdateTaskQueueConfigRequest(
        namespace=namespace, identity=identity, task_queue=rate.queue,
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
    )  # fmt: skip
    if rate.paused_until is None:
        request.update_queue_rate_limit.reason = "ductape: the 429 pause ended"  # no rate: the workers' own
    else:
        request.update_queue_rate_limit.rate_limit.requests_per_second = 0.0
        request.update_queue_rate_limit.reason = PAUSE_REASON + rate.paused_until.isoformat()
    return request


async def release_stale_pause(client: Client, queue: str) -> bool:
    """Give a target's queue back to its workers when a pause is set on it but its keeper is gone (a
    person terminated it): whether it did. A worker calls this for its limited queues as it starts.

    Raises:
        RPCError: the server is unreachable or has no task-queue config.
    """
    described = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace, task_queue=TaskQueue(name=queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY, report_config=True,
        )
    )  # fmt: skip
    limit = described.config.queue_rate_limit
    if not (limit.HasField("rate_limit") and limit.metadata.reason.startswith(PAUSE_REASON)):
        return False
    try:
        keeper = await client.get_workflow_handle(target_pause_id(queue)).describe()
        if keeper.status == WorkflowExecutionStatus.RUNNING:
            return False
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
    await client.workflow_service.update_task_queue_config(
        queue_rate_request(client.namespace, QueueRate(queue=queue), identity="ductape worker start")
    )
    return True
