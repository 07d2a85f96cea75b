"""The activity side of arming ahead (``workflows.arming``): an armed event activity waits here,
heartbeating, until its ``not_before`` instant, then runs its event.

An interceptor, so every event type's activity gets the same wait without knowing about it. The
wait is a sleeping coroutine: a thousand armed jobs cost a thousand timers on the worker's event
loop, not a thousand workflow tasks at the instant.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from workflows.arming import ARM_HEARTBEAT, ARMED, INTERRUPTED, STARTED
from workflows.contracts import EventActivityInput
from workflows.job_metrics import LATENESS
from workflows.names import EVENT_ACTIVITIES

_EVENT_TYPE_OF = {name: event_type.value for event_type, name in EVENT_ACTIVITIES.items()}
# The SDK sends at most one heartbeat per 0.8 of the timeout (the latest details), but encodes every
# call: twice per such window keeps one always pending without encoding a thousand a second in a herd.
_BEAT_EVERY = ARM_HEARTBEAT.total_seconds() * 0.4
_WATCH_CLEANUP = 5.0


class ArmedStartInterceptor(Interceptor):
    """Worker interceptor: event activities with a ``not_before`` wait for it (see module doc)."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _ArmedStart(next)


class _ArmedStart(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        request = input.args[0] if input.args else None
        if not isinstance(request, EventActivityInput) or request.not_before is None:
            return await self.next.execute_activity(input)
        phase = [ARMED]
        beating = asyncio.create_task(_heartbeat(phase))
        try:
            delay = _until(request.not_before)
            if delay > 0:
                await _sleep_armed(delay)
            phase[0] = STARTED  # sent with the next heartbeat: a thousand sends at the instant would delay the work
            _record_lateness(request)
            return await self.next.execute_activity(input)
        finally:
            beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beating


def _until(instant: datetime) -> float:
    """Seconds until ``instant`` on the server's clock, counted from this attempt's start as the server
    stamped it (the task reaches us within milliseconds): a worker's clock skew does not move it."""
    return (instant - activity.info().started_time).total_seconds()


async def _sleep_armed(delay: float) -> None:
    """Sleep until the instant. A cancel of the job arrives as a heartbeat response and ends it; so
    does this worker stopping, which is reported as ``INTERRUPTED`` so that the workflow gives the
    attempt back (the event never started) and another worker runs it."""
    # A stopping worker hands its armed jobs back at once rather than after its grace period.
    stopping = asyncio.ensure_future(activity.wait_for_worker_shutdown())
    try:
        done, _ = await asyncio.wait([stopping], timeout=delay)
    except asyncio.CancelledError:
        stopping.cancel()
        details = activity.cancellation_details()
        if details is None or not details.worker_shutdown:
            raise
    else:
        if not done:
            # The instant came. Ending the watch is left for after the herd's requests (a thousand
            # cancellations at the instant measurably delayed them).
            asyncio.get_running_loop().call_later(_WATCH_CLEANUP, stopping.cancel)
            return
    raise ApplicationError("the worker stopped while the job was armed", type=INTERRUPTED)


async def _heartbeat(phase: list[str]) -> None:
    """Heartbeats for as long as the activity lives: the armed attempt has a heartbeat timeout, which
    also covers the event's own work after the wait."""
    while True:
        activity.heartbeat(phase[0])
        await asyncio.sleep(_BEAT_EVERY)


def _record_lateness(request: EventActivityInput) -> None:
    assert request.not_before is not None
    info = activity.info()
    if info.attempt > 1:
        return  # a retry's start is not the job's start
    lateness = max(datetime.now(UTC) - request.not_before, timedelta(0))
    labels: dict[str, str | int | float | bool] = {
        "product": request.job.product,
        "env": request.job.env,
        "event_type": _EVENT_TYPE_OF.get(info.activity_type, info.activity_type),
    }
    activity.metric_meter().create_histogram_timedelta(
        LATENESS, "Start of a job run after its nominal time", "ms"
    ).record(lateness, labels)
