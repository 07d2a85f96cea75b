"""How many times a job's activities ran, read from its workflow history.

Temporal retries an activity on the server without writing each attempt to the history: an
activity's ``ActivityTaskStarted`` event is written once, when it ends, carrying the number of the
attempt that ended it and the failure of the one before. A still-running activity's attempts are
read from the workflow's description (its pending activities) instead.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal

from temporalio.api.enums.v1 import EventType, PendingActivityState
from temporalio.api.failure.v1 import Failure
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHandle

from ductape_jobs.activities.registry import EVENT_TYPE_OF_ACTIVITY

Outcome = Literal["completed", "failed", "timed_out", "canceled", "running"]

_CLOSED: dict[int, tuple[Outcome, str]] = {
    EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED: ("completed", ""),
    EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED: ("failed", "activity_task_failed_event_attributes"),
    EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT: ("timed_out", "activity_task_timed_out_event_attributes"),
    EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED: ("canceled", ""),
}


@dataclass(frozen=True)
class ActivityAttempts:
    """One activity of a job and how its attempts went."""

    activity_type: str
    """Its registered name: ``ductape.run_action`` for an action job, ``ductape.resolve_placeholders``..."""
    activity_id: str
    attempts: int
    """Attempts made so far (1: it ran once; 0: scheduled, not started yet)."""
    outcome: Outcome
    failure: str | None
    """The failure that ended it (``failed``/``timed_out``), else the failure of the attempt before the
    last (``running``, or ``completed`` after a retry) where the server records it (the time-skipping
    server does not), else None. As ``TYPE: message``."""
    scheduled_at: datetime
    """When it was scheduled, on the server's clock (virtual on the time-skipping server)."""
    last_started_at: datetime | None
    """When its last attempt started, on the server's clock (None while none has)."""

    @property
    def is_job_event(self) -> bool:
        """Whether this activity performs the job's event (calls its target), rather than preparing it."""
        return self.activity_type in EVENT_TYPE_OF_ACTIVITY


async def activity_attempts(handle: WorkflowHandle[Any, Any]) -> list[ActivityAttempts]:
    """Every activity the job workflow of ``handle`` scheduled, in order, with its attempts
    (``DuctapeTestEnv.handle(job_id)`` gives a job's handle).

    Raises:
        temporalio.service.RPCError: the workflow does not exist (``NOT_FOUND``), or the server failed.
    """
    found: dict[int, ActivityAttempts] = {}
    async for event in handle.fetch_history_events():
        _apply(found, event)
    if any(a.outcome == "running" for a in found.values()):
        pending = {p.activity_id: p for p in (await handle.describe()).raw_description.pending_activities}
        for key, activity in found.items():
            if activity.outcome == "running" and activity.activity_id in pending:
                info = pending[activity.activity_id]
                found[key] = replace(
                    activity,
                    # Between attempts (a retry's backoff) ``attempt`` is the one to come.
                    attempts=info.attempt
                    if info.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
                    else info.attempt - 1,
                    failure=_failure(info.last_failure) if info.HasField("last_failure") else activity.failure,
                )
    return list(found.values())


async def assert_attempts(handle: WorkflowHandle[Any, Any], expected: int, *, activity: str | None = None) -> None:
    """Assert that the job's event activity (or the activity named ``activity``) ran ``expected`` times:
    a job with ``retries: n`` whose target always fails makes ``n + 1`` attempts.

    Raises:
        AssertionError: it ran another number of times, or the job has no such activity; the message
            lists every activity with its attempts, outcome and failure.
        temporalio.service.RPCError: as ``activity_attempts``.
    """
    activities = await activity_attempts(handle)
    chosen = [a for a in activities if (a.activity_type == activity if activity else a.is_job_event)]
    what = activity or "the job's event activity"
    listing = "\n".join(
        f"  {a.activity_type} #{a.activity_id}: {a.attempts} attempt(s), {a.outcome}"
        + (f", last failure {a.failure}" if a.failure else "")
        for a in activities
    )
    assert chosen, f"{handle.id} has no {what}; its activities:\n{listing or '  (none)'}"
    total = sum(a.attempts for a in chosen)
    assert total == expected, f"{handle.id}: {what} ran {total} time(s), expected {expected}:\n{listing}"


def _apply(found: dict[int, ActivityAttempts], event: HistoryEvent) -> None:
    at = event.event_time.ToDatetime(tzinfo=UTC)
    if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
        scheduled = event.activity_task_scheduled_event_attributes
        found[event.event_id] = ActivityAttempts(
            scheduled.activity_type.name, scheduled.activity_id, 0, "running", None, at, None
        )
    elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
        started = event.activity_task_started_event_attributes
        activity = found[started.scheduled_event_id]
        failure = _failure(started.last_failure) if started.HasField("last_failure") else None
        found[started.scheduled_event_id] = replace(
            activity, attempts=started.attempt, failure=failure, last_started_at=at
        )
    elif event.event_type in _CLOSED:
        outcome, field = _CLOSED[event.event_type]
        attributes = getattr(event, event.WhichOneof("attributes") or "")
        activity = found[attributes.scheduled_event_id]
        failure = _failure(getattr(event, field).failure) if field else activity.failure
        found[attributes.scheduled_event_id] = replace(activity, outcome=outcome, failure=failure)


def _failure(failure: Failure) -> str:
    """``TYPE: message`` of an application failure (its cause's, for a timeout wrapping one)."""
    kind = failure.application_failure_info.type if failure.HasField("application_failure_info") else ""
    if not kind and failure.HasField("timeout_failure_info"):
        kind = "TIMEOUT"
    text = f"{kind}: {failure.message}" if kind else failure.message
    return text if not failure.HasField("cause") else f"{text} ({_failure(failure.cause)})"
