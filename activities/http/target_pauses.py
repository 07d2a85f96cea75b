"""A rate-limited target that answered 429 with ``Retry-After`` is paused: its calls wait out the
pause inside their attempt instead of failing it (no retry is spent). This worker pauses it at once;
its pause keeper (``ductape_jobs.workflows.target_pause``) then holds the target's queue on the
server, so no other worker is handed one of its calls until the pause ends.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from temporalio import activity
from temporalio.service import RPCError

from ductape_jobs.activities.flow.target_pause_activity import announce_pause
from ductape_jobs.workflows.job_metrics import WAIT, WAITS_ENDED
from ductape_jobs.workflows.names import RATE_QUEUE_MARK, rate_limit_target

SHARE_AGAIN_AFTER = 1.0
"""A 429 extending this worker's pause by less (seconds) is not told to the keeper again: a herd's
429s arriving together make one signal, not one each."""
MAX_WAITS = 5
"""A target still answering 429 after this many pauses in one attempt fails the attempt (retried)."""


def limited_target(product: str, env: str) -> str | None:
    """The rate-limited target (its task queue) this activity runs for, else None. A first attempt
    ends its job's wait for the limit (the workflow counted its start): counted here, with how long."""
    info = activity.info() if activity.in_activity() else None
    if info is None or RATE_QUEUE_MARK not in info.task_queue:
        return None
    if info.attempt == 1:
        labels: dict[str, str | int | float | bool] = {
            "product": product, "env": env, "reason": "rate_limit", "key_class": rate_limit_target(info.task_queue),
        }  # fmt: skip
        meter = activity.metric_meter()
        meter.create_counter(WAITS_ENDED, "Job runs whose wait ended").add(1, labels)
        waited = max(datetime.now(UTC) - info.current_attempt_scheduled_time, timedelta(0))
        meter.create_histogram_timedelta(WAIT, "How long a job run waited", "ms").record(waited, labels)
    return info.task_queue


class TargetPauses:
    """Until when each limited target is paused in this worker (monotonic seconds)."""

    def __init__(self) -> None:
        self._until: dict[str, float] = {}
        self._shared: dict[str, float] = {}

    async def share(self, target: str, retry_after: timedelta) -> None:
        """Tell the target's pause keeper, so every worker's calls wait (best effort: this worker's
        own pause holds whatever the server says)."""
        until = datetime.now(UTC) + retry_after
        if until.timestamp() < self._shared.get(target, 0.0) + SHARE_AGAIN_AFTER:
            return
        self._shared[target] = until.timestamp()
        try:
            await announce_pause(target, until)
        except RPCError as err:
            activity.logger.warning("could not pause %s for every worker: %s", rate_limit_target(target), err)

    async def wait(self, target: str) -> None:
        """Sleep out the target's pause, if any (the activity keeps heartbeating meanwhile)."""
        # A pause may be extended while we sleep (another 429): look again when this one ends.
        while (left := self._until.get(target, 0.0) - time.monotonic()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(left)

    def pause(self, target: str, retry_after: timedelta, *, request_timeout_s: float, waits: int) -> bool:
        """Pause ``target`` for ``retry_after``; whether this attempt may wait and call again: fewer than
        ``MAX_WAITS`` waits so far, and time left in the attempt for the wait and one more request."""
        until = time.monotonic() + retry_after.total_seconds()
        self._until[target] = max(self._until.get(target, 0.0), until)
        info = activity.info()
        timeout = info.start_to_close_timeout
        if waits >= MAX_WAITS or timeout is None:
            return False
        ends = info.started_time.timestamp() + timeout.total_seconds()
        return time.time() + retry_after.total_seconds() + request_timeout_s < ends
