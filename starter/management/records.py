"""Job records and the status rule, derived from Temporal's own state.

A job is a ``JobWorkflow`` (one-off; its ID is the job ID) or a Temporal Schedule (recurring; its ID
is the job ID, and each run is a ``JobWorkflow`` named ``<job_id>-<scheduled time>``).

Status rule:

* one-off: RUNNING while its workflow waits for ``start_at`` is ``scheduled`` (``paused`` if paused);
  RUNNING with the event activity started or retrying is ``running``; other RUNNING is ``queued``
  (due, waiting for a worker); COMPLETED is ``completed``; FAILED and TIMED_OUT are ``failed``;
  CANCELED and TERMINATED are ``cancelled``.
* recurring: a schedule stopped by ``cancel`` (its ``DuctapeCancelledAt``, ``ductape_jobs.scheduling``) is
  ``cancelled``, paused or not; paused is ``paused``; with a run in progress ``running``; with no run
  left ``completed``; otherwise ``scheduled``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from temporalio.api.enums.v1 import EventType, PendingActivityState
from temporalio.client import (
    ScheduleActionExecutionStartWorkflow,
    ScheduleActionStartWorkflow,
    ScheduleDescription,
    WorkflowExecution,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowFailureError,
)
from temporalio.converter import DataConverter
from temporalio.exceptions import ApplicationError, CancelledError, TerminatedError

from ductape_jobs.activities.registry import DISPATCH_NAMESPACE_OF
from ductape_jobs.scheduling import facts
from ductape_jobs.scheduling.recurring_arming import armed_runs, nominal
from ductape_jobs.workflows import names
from ductape_jobs.workflows.arming import DISARMED, INTERRUPTED, armed_nominal
from ductape_jobs.workflows.contracts.instants import to_epoch_ms
from ductape_jobs.workflows.contracts.management import JobMemo, JobRecord, JobStatus

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
    """The job is not in a state that allows the call (e.g. rescheduling a job that already ran);
    ``phase`` says where the job is when known (``running``: its event started; ``done``)."""

    def __init__(self, message: str, *, phase: str | None = None) -> None:
        super().__init__(message)
        self.phase = phase


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


def failure_details(err: JobFailedError) -> dict[str, str]:
    """A failure's fields on a ``JobRecord``: structured, and as one line."""
    return {
        "last_error": f"{err.error_type}: {err.message}",
        "error_type": err.error_type,
        "error_message": err.message,
    }


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
        "superseded_by": memo.superseded_by, "retried_from": memo.retried_from,
        "input_corrected": bool(memo.input_corrected),
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
    if status == WorkflowExecutionStatus.COMPLETED and memo.superseded_by:
        return "superseded"
    if status == WorkflowExecutionStatus.COMPLETED and memo.missed:
        return "missed"
    if status in CLOSED:
        return CLOSED[status]
    # An attempt being taken back (a pause or reschedule of an armed job) and the disarm's clock
    # reading are not the job's work.
    pending = [
        p for p in pending
        if p.activity_type.name != names.CHECKPOINT
        and p.state != PendingActivityState.PENDING_ACTIVITY_STATE_CANCEL_REQUESTED
    ]  # fmt: skip
    if pending and memo.scheduled_at > to_epoch_ms(now) and all(p.attempt == 1 for p in pending):
        return "scheduled"  # armed: its activity waits for the instant (ductape_jobs.workflows.arming)
    if any(p.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED or p.attempt > 1 for p in pending):
        return "running"
    if not pending and memo.paused:
        return "paused"
    if not pending and memo.scheduled_at > to_epoch_ms(now):
        return "scheduled"
    return "queued"


def run_details(events: list[Any]) -> tuple[int | None, int | None]:
    """(started_at, retry_count) of a run's event, from its history events.

    The event's attempts are the event activities scheduled after the last one taken back (an
    armed attempt cancelled by a pause or reschedule): the armed attempt, then the retries that
    follow it, or the one activity that ran every attempt."""
    chain: list[Any] = []
    attempts: dict[int, int] = {}
    for e in events:
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            name = e.activity_task_scheduled_event_attributes.activity_type.name
            if name not in (names.CHECKPOINT, names.RESOLVE_PLACEHOLDERS):
                chain.append(e)
        elif (taken_back := _taken_back(e)) is not None:
            chain = [s for s in chain if s.event_id > taken_back]
        elif e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            started = e.activity_task_started_event_attributes
            attempts[started.scheduled_event_id] = started.attempt
    ran = [s for s in chain if s.event_id in attempts]
    if not ran:
        return None, None
    at = ran[0].event_time.ToDatetime().replace(tzinfo=UTC)
    return to_epoch_ms(at), max(sum(attempts[s.event_id] for s in ran) - 1, 0)


def _taken_back(event: Any) -> int | None:
    """The scheduled event ID of an attempt that ended before its event started, else None."""
    if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED:
        return int(event.activity_task_canceled_event_attributes.scheduled_event_id)
    if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED:
        failed = event.activity_task_failed_event_attributes
        if failed.failure.application_failure_info.type in (DISARMED, INTERRUPTED):
            return int(failed.scheduled_event_id)
    return None


def workflow_record(
    job_id: str, desc: WorkflowExecutionDescription, memo: JobMemo, *, now: datetime, **details: Any
) -> JobRecord:
    pending = desc.raw_description.pending_activities
    status = workflow_status(desc.status, pending, memo, now)
    if pending and details.get("retry_count") is None:
        details["retry_count"] = max(p.attempt - 1 for p in pending)
    if details.get("retry_count") is not None:
        details["attempts"] = details["retry_count"] + 1
    return JobRecord(
        job_id=job_id,
        status=status,
        recurring=False,
        run_id=desc.run_id,
        dead=status == "failed",
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


def schedule_status(*, paused: bool, cancelled: bool, running: bool, upcoming: bool) -> JobStatus:
    """The status rule of a recurring job (``cancelled``: ``ScheduleFacts.cancelled``; an unpause
    elsewhere, the Web UI's, does not undo it)."""
    if cancelled:
        return "running" if running else "cancelled"  # a run whose event started runs to its end
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
    (its runs, its next run, a run of it in progress). A run armed ahead of its time
    (``ductape_jobs.scheduling.recurring_arming``) is the job's next run, not one in progress."""
    state = desc.schedule.state
    pair = [(d, facts(d).arm_shift_s) for d in (desc, companion) if d is not None]
    armed = [t for d, shift in pair for t in armed_runs(d.info.recent_actions, d.schedule.spec, now, shift).values()]
    ahead = [nominal(d.info.next_action_times[0], d.schedule.spec, s) for d, s in pair if d.info.next_action_times]
    upcoming = min([*armed, *ahead], default=None)
    status = schedule_status(
        paused=state.paused,
        cancelled=facts(desc).cancelled,
        running=sum(len(d.info.running_actions) for d, _ in pair) > len(armed),
        upcoming=upcoming is not None,
    )
    return JobRecord(
        job_id=job_id,
        status=status,
        recurring=True,
        **attributes(desc.typed_search_attributes),
        **memo_fields(memo),
        next_run_at=to_epoch_ms(upcoming) if upcoming and status not in ("cancelled", "paused") else None,
        execution_count=sum(d.info.num_actions for d, _ in pair),
        **details,
    )


def run_times(execution: WorkflowExecution, memo: JobMemo) -> tuple[datetime | None, datetime]:
    """A run's nominal time and when its work began: an armed recurring run (its schedule fired it
    early, ``ductape_jobs.scheduling.recurring_arming``) is due at its nominal time and holds its
    event until then; a triggered or unarmed run began when it started; a one-off job's nominal
    time is its ``start_at``."""
    scheduled = execution.typed_search_attributes.get(names.SCHEDULED_START)
    if scheduled is None:
        start_at = None if memo.recurring else datetime.fromtimestamp(memo.scheduled_at / 1000, UTC)
        return start_at, execution.start_time
    armed = None
    if memo.arm_shift_s:
        armed = armed_nominal(
            scheduled, memo.arm_shift_s, memo.cron, time_zone=memo.tz, every_ms=memo.every,
            grid_offset_s=memo.grid_offset_s,
        )  # fmt: skip
    if armed is None:
        return scheduled, execution.start_time
    return armed, max(execution.start_time, armed)
