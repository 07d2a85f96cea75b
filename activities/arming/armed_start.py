"""The activity side of a job's event: its heartbeats, an armed job's wait and claim, and a shield.

Every event activity (each type's, a notification channel's send: the interceptor is given them) runs through this
worker interceptor, so no event type has to know about any of it:

- It heartbeats while it works (the workflow gives it a heartbeat timeout), so the job of a worker
  that died moves to another worker within that timeout.
- Once its work started, a cancel request does not cut it short: a job whose event started runs
  it to the end and reports how it ended (the caller was told the cancel came too late). A job
  reported cancelled never had its target called, not even half-way.
- An armed one (``not_before`` set, ``ductape_jobs.workflows.arming``) first waits for its instant on a sleeping
  coroutine (a thousand armed jobs cost a thousand timers, not a thousand workflow tasks at the
  instant), heartbeating, then *claims* the event: one heartbeat of its own whose answer says
  whether the workflow cancelled it meanwhile (at the instant, or just before it in a herd:
  ``ductape_jobs.activities.arming.herd_claims``). Refused, it ends ``DISARMED`` and nothing was sent.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import activity
from temporalio.client import AsyncActivityCancelledError, AsyncActivityHandle
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from ductape_jobs.activities.arming.herd_claims import DEFAULT_CLAIMS_PER_SECOND, HerdClaims
from ductape_jobs.workflows.arming import ARM_BEAT, ARMED, CLAIM_SPREAD_MAX, CLAIMING, DISARMED, INTERRUPTED, STARTED
from ductape_jobs.workflows.contracts.job import EventActivityInput
from ductape_jobs.workflows.job_metrics import LATENESS
from ductape_jobs.workflows.names import CHECKPOINT

_WATCH_CLEANUP = 5.0
_HERD_SETTLED = 0.2
_CLAIM_TRIES = 5
"""A claim the server does not answer is tried this often (backing off), then the attempt is given
back unstarted (``INTERRUPTED``): an event never starts without the server's word."""
_RPC_TIMEOUT = timedelta(seconds=5)


@activity.defn(name=CHECKPOINT)
async def checkpoint() -> None:
    """Nothing: the workflow task that follows reads the server's clock (``ductape_jobs.workflows.armed_event``)."""


class ArmedStartInterceptor(Interceptor):
    """Worker interceptor for every event activity (see the module's docstring).

    ``event_types``: the activities that perform a job's event (its target is called from them) and
    the event type each runs (``ductape_jobs.activities.registry.EVENT_TYPE_OF_ACTIVITY``); the others
    pass through. ``herd_claims_per_second``: the rate a herd's claims are spread at
    (``ductape_jobs.activities.arming.herd_claims``; 0: every attempt claims at its instant)."""

    def __init__(
        self, *, event_types: Mapping[str, str], herd_claims_per_second: int = DEFAULT_CLAIMS_PER_SECOND
    ) -> None:
        self._event_types = {name: str(kind) for name, kind in event_types.items()}
        self._herds = HerdClaims(herd_claims_per_second)

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _EventGuard(next, self._event_types, self._herds)


class _EventGuard(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, event_types: dict[str, str], herds: HerdClaims) -> None:
        super().__init__(next)
        self._event_types = event_types
        self._herds = herds

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        event_type = self._event_types.get(info.activity_type)
        if event_type is None:
            return await self.next.execute_activity(input)
        request = input.args[0] if input.args else None
        armed = isinstance(request, EventActivityInput) and request.not_before is not None
        if isinstance(request, EventActivityInput) and request.not_before is not None:
            await _wait_and_claim(request.not_before, self._herds)
            _record_lateness(request, event_type)
        return await _run_event(self.next.execute_activity(input), beat_after=_beat_interval(armed))


def _beat_interval(armed: bool) -> float | None:
    """How often the event's work heartbeats: twice per heartbeat timeout (the SDK sends at most one
    per 0.8 of it), None when the workflow set no timeout (a run started by an older release)."""
    timeout = activity.info().heartbeat_timeout
    if not timeout:
        return None
    return ARM_BEAT.total_seconds() if armed else timeout.total_seconds() * 0.4


async def _wait_and_claim(not_before: datetime, herds: HerdClaims) -> None:
    """Wait for this attempt's turn on the server's clock, heartbeating, claim the event, then wait
    for its instant (``not_before``).

    The wait is counted from this attempt's start as the server stamped it (the task reaches us
    within milliseconds): a worker's clock skew does not move the instant. The turn is the instant
    itself for an attempt alone, a little before it in a herd (``ductape_jobs.activities.arming.herd_claims``). A cancel
    that reaches the wait through a heartbeat's answer ends it as a refused claim does; once claimed,
    only this worker stopping does (the event never started: the workflow arms it again).

    Raises:
        ApplicationError: ``DISARMED`` (the workflow cancelled the attempt first, or it is gone),
            ``INTERRUPTED`` (this worker is stopping, or the server did not answer the claim).
    """
    info = activity.info()
    handle = activity.client().get_async_activity_handle(task_token=info.task_token)
    loop = asyncio.get_running_loop()
    instant = loop.time() + (not_before - info.started_time).total_seconds()
    # A stopping worker hands its armed jobs back at once rather than after its grace period.
    stopping = asyncio.ensure_future(activity.wait_for_worker_shutdown())
    herd = herds.join(not_before)
    try:
        try:
            # The herd is complete by then (jobs arm at least 6 s ahead): place this one in it.
            await _armed_wait(instant - CLAIM_SPREAD_MAX.total_seconds() - _HERD_SETTLED, stopping)
            await _armed_wait(instant - herds.lead_s(herd, info.workflow_id or ""), stopping)
        finally:
            herds.leave(herd)
        activity.heartbeat(CLAIMING)  # what the SDK sends next
        await _claim(handle)
    except asyncio.CancelledError:
        details = activity.cancellation_details()
        if details is not None and details.worker_shutdown:
            raise _interrupted("the worker stopped while the job was armed") from None
        if details is not None and (details.cancel_requested or details.not_found or details.paused):
            # Cancelled by the workflow, or the attempt (or the whole run) is gone: never started.
            raise _disarmed("the job was changed or cancelled before its event started") from None
        raise
    try:
        await _committed_wait(instant, stopping)
    finally:
        if stopping.done():
            stopping.cancel()
        else:
            # Ending the watch is left for after the herd's requests (a thousand cancellations at
            # the instant measurably delayed them).
            loop.call_later(_WATCH_CLEANUP, stopping.cancel)


async def _armed_wait(until: float, stopping: asyncio.Future[None]) -> None:
    """Until loop time ``until``, heartbeating (the SDK sends at most one per 0.8 of the heartbeat
    timeout, and times an attempt out locally without them)."""
    loop = asyncio.get_running_loop()
    while (left := until - loop.time()) > 0:
        activity.heartbeat(ARMED)
        done, _ = await asyncio.wait([stopping], timeout=min(left, ARM_BEAT.total_seconds()))
        if done:
            raise _interrupted("the worker stopped while the job was armed")


async def _committed_wait(instant: float, stopping: asyncio.Future[None]) -> None:
    """From the claim to the instant (in a herd, at most ``CLAIM_SPREAD_MAX``): the event is
    committed, a cancel request no longer stops it; a stopping worker still hands it back unstarted."""
    loop = asyncio.get_running_loop()
    while (left := instant - loop.time()) > 0:
        try:
            done, _ = await asyncio.wait([stopping], timeout=left)
        except asyncio.CancelledError:
            if _only_cancel_requested():
                continue
            details = activity.cancellation_details()
            if details is not None and details.worker_shutdown:
                raise _interrupted("the worker stopped before the job's claimed event started") from None
            raise
        if done:
            raise _interrupted("the worker stopped before the job's claimed event started")


async def _claim(handle: AsyncActivityHandle) -> None:
    """The claim: one heartbeat whose answer says whether the workflow cancelled the attempt.

    Raises:
        ApplicationError: ``DISARMED`` when it did (or the attempt is gone); ``INTERRUPTED`` when the
            server did not answer.
    """
    delay = 0.2
    for attempt in range(1, _CLAIM_TRIES + 1):
        try:
            await handle.heartbeat(CLAIMING, rpc_timeout=_RPC_TIMEOUT)
            return
        except AsyncActivityCancelledError:
            raise _disarmed("the job was changed or cancelled before its event started") from None
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise _disarmed("the job's armed attempt is gone before its event started") from None
            if attempt == _CLAIM_TRIES:
                raise _interrupted(f"the server did not confirm the claim ({err.status.name})") from None
        await asyncio.sleep(delay)
        delay *= 2
    raise AssertionError("unreachable")


# Both end an attempt that never started its event, as designed: benign, so the SDK does not log
# them as activity failures.
def _disarmed(message: str) -> ApplicationError:
    return ApplicationError(message, type=DISARMED, non_retryable=True, category=ApplicationErrorCategory.BENIGN)


def _interrupted(message: str) -> ApplicationError:
    return ApplicationError(message, type=INTERRUPTED, category=ApplicationErrorCategory.BENIGN)


async def _run_event(work: Awaitable[Any], *, beat_after: float | None) -> Any:
    """Run the event's work to its end, heartbeating; a cancel request does not interrupt it, a
    stopping worker or an attempt the server gave up on does."""
    task = asyncio.ensure_future(work)
    beating = asyncio.create_task(_heartbeat(beat_after)) if beat_after else None
    try:
        while True:
            try:
                return await asyncio.shield(task)
            except asyncio.CancelledError:
                if _only_cancel_requested():
                    continue
                task.cancel()
                raise
    finally:
        if beating is not None:
            beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beating


def _only_cancel_requested() -> bool:
    details = activity.cancellation_details()
    return bool(
        details is not None
        and details.cancel_requested
        and not (details.worker_shutdown or details.not_found or details.timed_out or details.reset)
    )


async def _heartbeat(every: float) -> None:
    """The first beat waits a period: the attempt's start (or the claim) just reset the server's
    heartbeat clock, and a herd's thousand beats at the instant would delay its work."""
    while True:
        await asyncio.sleep(every)
        activity.heartbeat(STARTED)


def _record_lateness(request: EventActivityInput, event_type: str) -> None:
    assert request.not_before is not None
    info = activity.info()
    if info.attempt > 1:
        return  # a retry's start is not the job's start
    lateness = max(datetime.now(UTC) - request.not_before, timedelta(0))
    labels: dict[str, str | int | float | bool] = {
        "product": request.job.product,
        "env": request.job.env,
        "event_type": event_type,
    }
    activity.metric_meter().create_histogram_timedelta(
        LATENESS, "Start of a job run after its nominal time", "ms"
    ).record(lateness, labels)
