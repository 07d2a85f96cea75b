"""Job records and the status rule, derived from Temporal's own state.

A job is a ``JobWorkflow`` (one-off; its ID is the job ID) or a Temporal Schedule (recurring; its ID
is the job ID, and each run is a ``JobWorkflow`` named ``<job_id>-<scheduled time>``).

Status rule:

* one-off: RUNNING while its workflow waits for ``start_at`` is ``scheduled`` (``paused`` if paused);
  RUNNING with the event activity started or retrying is ``running``; other RUNNING is ``queued``
  (due, waiting for a worker); COMPLETED is ``completed``; FAILED and TIMED_OUT are ``failed``;
  CANCELED and TERMINATED are ``cancelled``.
* recurring: a schedule stopped by ``cancel`` is ``cancelled``; paused is ``paused``; with a run in
  progress ``running``; with no run left ``completed``; otherwise ``scheduled``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from temporalio.api.enums.v1 import EventType, PendingActivityState
from temporalio.client import (
    ScheduleActionExecutionStartWorkflow,
    ScheduleActionStartWorkflow,
    ScheduleDescription,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowFailureError,
)
from temporalio.converter import DataConverter
from temporalio.exceptions import ApplicationError, CancelledError, TerminatedError

from starter.recurring_arming import armed_runs, nominal
from workflows import names
from workflows.contracts import DISPATCH_NAMESPACE_OF, to_epoch_ms
from workflows.management_contracts import JobMemo, JobRecord, JobStatus

CANCELLED_NOTE = "cancelled"
"""Prefix of the note of a recurring job's schedule after ``cancel``: kept, paused, no runs left."""

NAMESPACE_OF: dict[str, str] = {str(k): v for k, v in DISPATCH_NAMESPACE_OF.items()}


CLOSED: dict[WorkflowExecutionStatus, JobStatus] = {
    WorkflowExecutionStatus.COMPLETED: "completed",
    WorkflowExecutionStatus.FAILED: "failed",
    WorkflowExecutionStatus.TIMED_OUT: "failed",
    WorkflowExecutionStatus.CANCELED: "cancelled",
    WorkflowExecutionStatus.TERMINATED: "cancelled",
}


class JobNotFoundError(LookupError):
    """No job with this ID."""


class JobStateError(RuntimeError):
    """The job is not in a state that allows the call (e.g. rescheduling a job that already ran)."""


class JobFailedError(RuntimeError):
    """The job failed (after its last retry) or was cancelled; ``error_type`` is the cause's type."""

    def __init__(self, job_id: str, error_type: str, message: str) -> None:
        super().__init__(f"job {job_id} failed ({error_type}): {message}")
        self.job_id = job_id
        self.error_type = error_type
        self.message = message


class JobTimeoutError(TimeoutError):
    """``jobs.result(job_id, timeout=...)`` stopped waiting; the job itself goes on."""

    def __init__(self, job_id: str, timeout_s: float) -> None:
        super().__init__(f"job {job_id} has no result after {timeout_s:g} s; it goes on (wait again or cancel it)")
        self.job_id = job_id
        self.timeout_s = timeout_s


def failed(job_id: str, err: WorkflowFailureError) -> JobFailedError:
    cause = err.cause
    if isinstance(cause, CancelledError):
        return JobFailedError(job_id, "CANCELLED", "the job was cancelled")
    if isinstance(cause, TerminatedError):
        return JobFailedError(job_id, "TERMINATED", cause.message)
    if isinstance(cause, ApplicationError):
        return JobFailedError(job_id, cause.type or "ERROR", cause.message)
    return JobFailedError(job_id, type(cause).__name__, str(cause))


def attributes(values: Any) -> dict[str, Any]:
    event_type = values.get(names.EVENT_TYPE)
    return {
        "product": values.get(names.PRODUCT),
        "env": values.get(names.ENV),
        "event_type": event_type,
        "event": values.get(names.EVENT),
        "app": values.get(names.APP),
        "namespace": NAMESPACE_OF.get(event_type) if event_type else None,
    }


def memo_fields(memo: JobMemo) -> dict[str, Any]:
    return {
        "summary": memo.summary, "scheduled_at": memo.scheduled_at, "retries": memo.retries, "cron": memo.cron,
        "every": memo.every, "tz": memo.tz, "limit": memo.limit, "end_date": memo.end_date,
    }  # fmt: skip


async def schedule_memo(converter: DataConverter, desc: ScheduleDescription) -> JobMemo:
    """A recurring job's memo as it is now (its schedule's action memo, which ``reschedule`` updates;
    the schedule's own memo is fixed at creation)."""
    action = desc.schedule.action
    if isinstance(action, ScheduleActionStartWorkflow) and action.memo:
        fields = dict(action.memo)
        values = await converter.decode(list(fields.values()))
        return JobMemo.model_validate(dict(zip(fields, values, strict=True)))
    return JobMemo.model_validate(await desc.memo())


def workflow_status(status: WorkflowExecutionStatus | None, pending: Any, memo: JobMemo, now: datetime) -> JobStatus:
    if status in CLOSED:
        return CLOSED[status]
    if pending and memo.scheduled_at > to_epoch_ms(now) and all(p.attempt == 1 for p in pending):
        return "scheduled"  # armed: its activity waits for the instant (workflows.arming)
    if any(p.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED or p.attempt > 1 for p in pending):
        return "running"
    if not pending and memo.paused:
        return "paused"
    if not pending and memo.scheduled_at > to_epoch_ms(now):
        return "scheduled"
    return "queued"


def run_details(events: list[Any]) -> tuple[int | None, int | None]:
    """(started_at, retry_count) of a run's event activity, from its history events."""
    started = [e for e in events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED]
    scheduled = [e for e in events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED]
    if not started or not scheduled:
        return None, None
    # The event activity is the last one scheduled (resolution, if any, comes first).
    last = scheduled[-1].event_id
    mine = [e for e in started if e.activity_task_started_event_attributes.scheduled_event_id == last]
    if not mine:
        return None, None
    attempt = mine[-1].activity_task_started_event_attributes.attempt
    at = scheduled[-1].event_time.ToDatetime().replace(tzinfo=UTC)
    return to_epoch_ms(at), max(attempt - 1, 0)


def workflow_record(
    job_id: str, desc: WorkflowExecutionDescription, memo: JobMemo, *, now: datetime, **details: Any
) -> JobRecord:
    pending = desc.raw_description.pending_activities
    status = workflow_status(desc.status, pending, memo, now)
    if pending and details.get("retry_count") is None:
        details["retry_count"] = max(p.attempt - 1 for p in pending)
    return JobRecord(
        job_id=job_id,
        status=status,
        recurring=False,
        **attributes(desc.typed_search_attributes),
        **memo_fields(memo),
        completed_at=to_epoch_ms(desc.close_time) if desc.close_time else None,
        execution_count=1 if pending or status in ("completed", "failed") else 0,
        **details,
    )


def latest_run(desc: ScheduleDescription) -> ScheduleActionExecutionStartWorkflow | None:
    """The run in progress, else the most recent finished run, else None."""
    finished = sorted(desc.info.recent_actions, key=lambda r: r.scheduled_at, reverse=True)
    for run in [*desc.info.running_actions, *(r.action for r in finished)]:
        if isinstance(run, ScheduleActionExecutionStartWorkflow):
            return run
    return None


def schedule_status(*, paused: bool, note: str | None, running: bool, upcoming: bool) -> JobStatus:
    """The status rule of a recurring job."""
    if paused and (note or "").startswith(CANCELLED_NOTE):
        return "cancelled"
    if paused:
        return "paused"
    if running:
        return "running"
    return "scheduled" if upcoming else "completed"


def schedule_record(
    job_id: str,
    desc: ScheduleDescription,
    memo: JobMemo,
    *,
    companion: ScheduleDescription | None = None,
    now: datetime,
    **details: Any,
) -> JobRecord:
    """A recurring job's record; with the DST policy its companion schedule counts as part of it
    (its runs, its next run, a run of it in progress). A run armed ahead of its time (``starter.
    recurring_arming``) is the job's next run, not one in progress."""
    state = desc.schedule.state
    pair = [d for d in (desc, companion) if d is not None]
    armed = [t for d in pair for t in armed_runs(d.info.recent_actions, d.schedule.spec, now).values()]
    upcoming = min(
        [*armed, *(nominal(d.info.next_action_times[0], d.schedule.spec) for d in pair if d.info.next_action_times)],
        default=None,
    )
    status = schedule_status(
        paused=state.paused,
        note=state.note,
        running=sum(len(d.info.running_actions) for d in pair) > len(armed),
        upcoming=upcoming is not None,
    )
    return JobRecord(
        job_id=job_id,
        status=status,
        recurring=True,
        **attributes(desc.typed_search_attributes),
        **memo_fields(memo),
        next_run_at=to_epoch_ms(upcoming) if upcoming and status not in ("cancelled", "paused") else None,
        execution_count=sum(d.info.num_actions for d in pair),
        **details,
    )
