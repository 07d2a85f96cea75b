"""The activities of concurrency limits: asking a key's slot keeper for a slot, and finding holders
whose run closed without releasing (``ductape_jobs.workflows.concurrency_slots``)."""

from __future__ import annotations

from typing import Any

from temporalio import activity
from temporalio.client import WithStartWorkflowOperation, WorkflowExecutionStatus
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from ductape_jobs.workflows.contracts.concurrency import ClosedHolders, HolderCheck, SlotAnswer, SlotRequest, SlotsState
from ductape_jobs.workflows.names import CLOSED_HOLDERS, CONCURRENCY_SLOTS_WORKFLOW, REQUEST_SLOT


@activity.defn(name=REQUEST_SLOT)
async def request_slot(request: SlotRequest) -> SlotAnswer:
    """Ask the key's keeper for a slot, starting the keeper if it is not running. Asking again with
    the same token (a retried attempt) gives the same answer, never a second slot.

    Raises:
        temporalio.client.WorkflowUpdateFailedError, RPCError: the server is unreachable or the keeper
            ended as the request came (retried: the next attempt starts a new keeper).
    """
    keeper: WithStartWorkflowOperation[Any, None] = WithStartWorkflowOperation(
        CONCURRENCY_SLOTS_WORKFLOW,
        SlotsState(limit=request.limit),
        id=request.slots_id,
        task_queue=activity.info().task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        static_summary="concurrency slots of one key",
    )
    answer: SlotAnswer = await activity.client().execute_update_with_start_workflow(
        "request", request, start_workflow_operation=keeper, result_type=SlotAnswer
    )
    return answer


@activity.defn(name=CLOSED_HOLDERS)
async def closed_holders(check: HolderCheck) -> ClosedHolders:
    """The holders whose run is no longer running (or no longer exists)."""
    client = activity.client()
    closed = []
    for holder in check.holders:
        try:
            described = await client.get_workflow_handle(holder.workflow_id, run_id=holder.run_id).describe()
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
            closed.append(holder.token)
            continue
        if described.status != WorkflowExecutionStatus.RUNNING:
            closed.append(holder.token)
    return ClosedHolders(tokens=closed)
