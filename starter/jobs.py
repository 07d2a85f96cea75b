"""``ductape.jobs``: find a job, wait for its result, cancel it.

A job is a ``JobWorkflow`` (one-off; its ID is the job ID) or a Temporal Schedule (recurring; its ID
is the job ID, and each run is a ``JobWorkflow`` named ``<job_id>-<scheduled time>``).

Status rule, from Temporal's own state:

* one-off: RUNNING before ``scheduled_at`` is ``scheduled``; RUNNING with the event activity started
  or retrying is ``running``; other RUNNING is ``queued`` (due, waiting for a worker); COMPLETED is
  ``completed``; FAILED and TIMED_OUT are ``failed``; CANCELED and TERMINATED are ``cancelled``.
* recurring: a schedule cancelled through ``cancel`` is ``cancelled``; paused is ``paused``; with a
  run in progress ``running``; with no next run left ``completed``; otherwise ``scheduled``.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import (
    Client,
    ScheduleActionExecutionStartWorkflow,
    ScheduleDescription,
    ScheduleUpdate,
    ScheduleUpdateInput,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowFailureError,
)
from temporalio.exceptions import ApplicationError, CancelledError, TerminatedError
from temporalio.service import RPCError, RPCStatusCode

from workflows import names
from workflows.contracts import JobMemo, JobOutcome, JobRecord, JobStatus, to_epoch_ms

CANCELLED_NOTE = "cancelled"
"""Prefix of the note of a recurring job's schedule after ``cancel``: kept, paused, no runs left."""


CANCEL_WAIT = timedelta(seconds=5)


class JobNotFoundError(LookupError):
    """No job with this ID."""


class JobFailedError(RuntimeError):
    """The job failed (after its last retry) or was cancelled; ``error_type`` is the cause's type."""

    def __init__(self, job_id: str, error_type: str, message: str) -> None:
        super().__init__(f"job {job_id} failed ({error_type}): {message}")
        self.job_id = job_id
        self.error_type = error_type
        self.message = message


_CLOSED: dict[WorkflowExecutionStatus, JobStatus] = {
    WorkflowExecutionStatus.COMPLETED: "completed",
    WorkflowExecutionStatus.FAILED: "failed",
    WorkflowExecutionStatus.TIMED_OUT: "failed",
    WorkflowExecutionStatus.CANCELED: "cancelled",
    WorkflowExecutionStatus.TERMINATED: "cancelled",
}


class Jobs:
    """Job management over workflows and schedules of one client."""

    def __init__(self, client: Client) -> None:
        self._client = client

    async def get(self, job_id: str) -> JobRecord:
        """The job's record and status.

        Raises:
            JobNotFoundError: neither a job workflow nor a schedule has this ID.
        """
        workflow = await self._describe_workflow(job_id)
        if workflow is not None:
            return await self._workflow_record(job_id, workflow)
        schedule = await self._describe_schedule(job_id)
        if schedule is not None:
            return await _schedule_record(job_id, schedule)
        raise JobNotFoundError(f"no job with ID {job_id!r}")

    async def result(self, job_id: str, *, poll: timedelta = timedelta(seconds=1)) -> Any:
        """Wait for the job's result (for a recurring job, its latest run's, waiting for the first).

        Raises:
            JobNotFoundError: no such job.
            JobFailedError: the job (or that run) failed or was cancelled.
        """
        if await self._describe_workflow(job_id) is not None:
            return await self._workflow_result(job_id, None)
        while True:
            schedule = await self._describe_schedule(job_id)
            if schedule is None:
                raise JobNotFoundError(f"no job with ID {job_id!r}")
            latest = _latest_run(schedule)
            if latest is not None:
                return await self._workflow_result(latest.workflow_id, latest.first_execution_run_id)
            await asyncio.sleep(poll.total_seconds())

    async def cancel(self, job_id: str) -> JobRecord:
        """Cancel a job: a waiting or running one-off job ends ``cancelled``; a recurring job starts
        no more runs (its schedule is kept, paused, so ``get`` still reports it) and its running
        run is cancelled. Cancelling a finished job changes nothing.

        Raises:
            JobNotFoundError: no such job.
        """
        workflow = await self._describe_workflow(job_id)
        if workflow is not None:
            if workflow.status == WorkflowExecutionStatus.RUNNING:
                handle = self._client.get_workflow_handle(job_id)
                await handle.cancel()
                # The worker acts on the request asynchronously; give it a moment so the record
                # returned says `cancelled` (without a running worker it stays as it was).
                with contextlib.suppress(WorkflowFailureError, TimeoutError):
                    await asyncio.wait_for(handle.result(), CANCEL_WAIT.total_seconds())
            return await self.get(job_id)
        schedule = await self._describe_schedule(job_id)
        if schedule is None:
            raise JobNotFoundError(f"no job with ID {job_id!r}")

        def stop(update: ScheduleUpdateInput) -> ScheduleUpdate:
            state = update.description.schedule.state
            state.paused = True
            state.note = f"{CANCELLED_NOTE} at {datetime.now(UTC).isoformat()}"
            state.limited_actions = True
            state.remaining_actions = 0
            return ScheduleUpdate(schedule=update.description.schedule)

        await self._client.get_schedule_handle(job_id).update(stop)
        for running in schedule.info.running_actions:
            if isinstance(running, ScheduleActionExecutionStartWorkflow):
                await self._cancel_quietly(running.workflow_id)
        return await self.get(job_id)

    async def _cancel_quietly(self, workflow_id: str) -> None:
        try:
            await self._client.get_workflow_handle(workflow_id).cancel()
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise

    async def _describe_workflow(self, job_id: str) -> WorkflowExecutionDescription | None:
        try:
            return await self._client.get_workflow_handle(job_id).describe()
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return None
            raise

    async def _describe_schedule(self, job_id: str) -> ScheduleDescription | None:
        try:
            return await self._client.get_schedule_handle(job_id).describe()
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return None
            raise

    async def _workflow_result(self, workflow_id: str, run_id: str | None) -> Any:
        handle = self._client.get_workflow_handle(workflow_id, run_id=run_id, result_type=JobOutcome)
        try:
            outcome: JobOutcome = await handle.result(follow_runs=False)
        except WorkflowFailureError as err:
            raise _failed(workflow_id, err) from None
        return outcome.result

    async def _workflow_record(self, job_id: str, desc: WorkflowExecutionDescription) -> JobRecord:
        memo = JobMemo.model_validate(await desc.memo())
        status = _workflow_status(desc, memo)
        error = None
        if status in ("failed", "cancelled"):
            try:
                await self._workflow_result(job_id, desc.run_id)
            except JobFailedError as err:
                error = f"{err.error_type}: {err.message}"
        started = bool(desc.raw_description.pending_activities) or status in ("completed", "failed")
        return JobRecord(
            job_id=job_id,
            status=status,
            recurring=False,
            **_attributes(desc.typed_search_attributes),
            summary=memo.summary,
            scheduled_at=memo.scheduled_at,
            completed_at=to_epoch_ms(desc.close_time) if desc.close_time else None,
            execution_count=1 if started else 0,
            error=error,
        )


def _latest_run(desc: ScheduleDescription) -> ScheduleActionExecutionStartWorkflow | None:
    """The run in progress, else the most recent finished run, else None."""
    finished = sorted(desc.info.recent_actions, key=lambda r: r.scheduled_at, reverse=True)
    runs = [*desc.info.running_actions, *(r.action for r in finished)]
    for run in runs:
        if isinstance(run, ScheduleActionExecutionStartWorkflow):
            return run
    return None


def _workflow_status(desc: WorkflowExecutionDescription, memo: JobMemo) -> JobStatus:
    if desc.status in _CLOSED:
        return _CLOSED[desc.status]
    pending = desc.raw_description.pending_activities
    if any(p.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED or p.attempt > 1 for p in pending):
        return "running"
    if not pending and memo.scheduled_at > to_epoch_ms(datetime.now(UTC)):
        return "scheduled"
    return "queued"


async def _schedule_record(job_id: str, desc: ScheduleDescription) -> JobRecord:
    memo = JobMemo.model_validate(await desc.memo())
    state = desc.schedule.state
    upcoming = desc.info.next_action_times
    status: JobStatus
    if state.paused and (state.note or "").startswith(CANCELLED_NOTE):
        status = "cancelled"
    elif state.paused:
        status = "paused"
    elif desc.info.running_actions:
        status = "running"
    elif not upcoming:
        status = "completed"
    else:
        status = "scheduled"
    return JobRecord(
        job_id=job_id,
        status=status,
        recurring=True,
        **_attributes(desc.typed_search_attributes),
        summary=memo.summary,
        scheduled_at=memo.scheduled_at,
        next_run_at=to_epoch_ms(upcoming[0]) if upcoming and status != "cancelled" else None,
        execution_count=desc.info.num_actions,
    )


def _attributes(attributes: Any) -> dict[str, str | None]:
    return {
        "product": attributes.get(names.PRODUCT),
        "env": attributes.get(names.ENV),
        "event_type": attributes.get(names.EVENT_TYPE),
        "event": attributes.get(names.EVENT),
        "app": attributes.get(names.APP),
    }


def _failed(job_id: str, err: WorkflowFailureError) -> JobFailedError:
    cause = err.cause
    if isinstance(cause, CancelledError):
        return JobFailedError(job_id, "CANCELLED", "the job was cancelled")
    if isinstance(cause, TerminatedError):
        return JobFailedError(job_id, "TERMINATED", cause.message)
    if isinstance(cause, ApplicationError):
        return JobFailedError(job_id, cause.type or "ERROR", cause.message)
    return JobFailedError(job_id, type(cause).__name__, str(cause))
