"""An armed attempt of a job's event, and how the workflow takes it back (workflow code: deterministic).

The attempt is one activity that waits for the instant, claims the event and runs it
(``ductape_jobs.activities.arming.armed_start``). Management (pause, reschedule, trigger, cancel) holds until the event
starts, so a change that reaches an armed job disarms it first: the workflow cancels the activity
and then learns who came first, the cancel or the claim (``ductape_jobs.workflows.arming``):

- the checkpoint activity makes the next workflow task start after the cancel was recorded; if the
  server's clock then still reads more than ``CLAIM_WINDOW`` before the instant, no claim came first
  and the change holds at once, without waiting for the activity to hear of it;
- nearer the instant, the activity's own answer decides: a refused claim (``DISARMED``), a worker that
  stopped or died before the claim, or the cancel itself: the event never started; a result or a
  failure of the event's work: it started, and the change is refused.

The changes waiting on a verdict are applied in the same step that settles it, so the job never
re-arms with the state from before the change.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, TimeoutError, TimeoutType, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from ductape_jobs.workflows.arming import ARM_HEARTBEAT, CLAIM_WINDOW, DISARMED, INTERRUPTED
    from ductape_jobs.workflows.names import CHECKPOINT

CHECKPOINT_TIMEOUT = timedelta(seconds=10)
CHECKPOINT_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_attempts=0)


class Disarmed(Exception):
    """The armed attempt was taken back before its event started: the job waits again."""


class ArmedAttempt:
    """One armed event activity in flight, and the verdict of a request to take it back."""

    def __init__(self, handle: workflow.ActivityHandle[Any], not_before: datetime) -> None:
        self.handle = handle
        self.not_before = not_before
        self._verdict: asyncio.Task[bool] | None = None
        self._pending: list[Callable[[], None]] = []
        # An attempt taken back is left behind; its end (DISARMED) is expected, not an error to log.
        handle.add_done_callback(_seen)

    @property
    def disarming(self) -> bool:
        return self._verdict is not None

    @property
    def settled(self) -> bool:
        """Nothing left to wait for: the activity ended and no verdict is pending, or a verdict came."""
        return self._verdict.done() if self._verdict is not None else self.handle.done()

    @property
    def disarmed(self) -> bool:
        """A verdict came, and the event never starts."""
        return self._verdict is not None and self._verdict.done() and self._verdict.result()

    async def disarm(self, apply: Callable[[], None] | None = None) -> bool:
        """Take the attempt back; True when the event never starts (``apply`` has then been applied),
        False when it had started (``apply`` is dropped)."""
        if self._verdict is not None and self._verdict.done():
            won = self._verdict.result()
            if won and apply is not None:
                apply()
            return won
        if apply is not None:
            self._pending.append(apply)
        if self._verdict is None:
            self._verdict = asyncio.create_task(self._decide())
        return await self._verdict

    async def _decide(self) -> bool:
        self.handle.cancel()
        await workflow.execute_activity(
            CHECKPOINT,
            start_to_close_timeout=CHECKPOINT_TIMEOUT,
            retry_policy=CHECKPOINT_RETRY,
            summary="disarm: read the server's clock",
        )
        won = workflow.now() < self.not_before - CLAIM_WINDOW or await _never_started(self.handle, self.not_before)
        pending, self._pending = self._pending, []
        if won:
            for apply in pending:
                apply()
        return won


def _seen(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()


async def _never_started(handle: workflow.ActivityHandle[Any], not_before: datetime) -> bool:
    try:
        await handle
    except ActivityError as err:
        return is_cancelled_exception(err) or gave_back(err, not_before)
    except asyncio.CancelledError:
        return True
    return False


def gave_back(err: ActivityError, not_before: datetime) -> bool:
    """The armed attempt ended before its event started: its claim was refused, its worker stopped
    during the wait, or it died before the instant.

    A death is a heartbeat timeout: the server heard nothing from the attempt for ``ARM_HEARTBEAT``.
    The claim is itself a heartbeat, sent no earlier than ``CLAIM_SPREAD_MAX`` before the instant, so
    when that silence began before then (less the margin), the attempt never claimed; whatever its
    last details said (an earlier heartbeat may land after a later one)."""
    cause = err.cause
    if isinstance(cause, ApplicationError):
        return cause.type in (INTERRUPTED, DISARMED)
    return (
        isinstance(cause, TimeoutError)
        and cause.type is TimeoutType.HEARTBEAT
        and workflow.now() - ARM_HEARTBEAT < not_before - CLAIM_WINDOW
    )


def retryable(err: ActivityError, non_retryable_types: list[str]) -> bool:
    """Would the server have retried this failed attempt (the armed attempt is a single one)?"""
    cause = err.cause
    if is_cancelled_exception(err):
        return False
    if isinstance(cause, ApplicationError):
        return not cause.non_retryable and (cause.type or "") not in non_retryable_types
    return True
