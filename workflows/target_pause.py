"""``TargetPause``: holds a rate-limited target's queue on the server while its 429 lasts (workflow
code: deterministic).

A worker whose call got a 429 with ``Retry-After`` pauses the target in its own process at once, and
signals-with-start this keeper, one per target queue. The keeper sets the queue's server-side rate to 0,
so no worker is handed a task of that target, and gives the queue back to the workers' own limit when
the latest pause ends. Its timer is durable: a worker killed mid-pause cannot leave the target paused
for ever, nor lift the pause early.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from ductape_jobs.workflows.contracts.target_pause import QueuePause, QueueRate
    from ductape_jobs.workflows.names import (
        PAUSE_UNTIL,
        QUEUE_CONFIG_UNSUPPORTED,
        SET_QUEUE_RATE,
        TARGET_PAUSE_WORKFLOW,
    )

SET_RATE_TIMEOUT = timedelta(seconds=30)
# Retried until it holds: a queue left at rate 0 would stall its target's jobs.
SET_RATE_RETRY = RetryPolicy(
    maximum_interval=timedelta(seconds=10), non_retryable_error_types=[QUEUE_CONFIG_UNSUPPORTED]
)


@workflow.defn(name=TARGET_PAUSE_WORKFLOW)
class TargetPause:
    @workflow.init
    def __init__(self, pause: QueuePause) -> None:
        self._until = pause.until

    @workflow.signal(name=PAUSE_UNTIL)
    def pause_until(self, pause: QueuePause) -> None:
        """A later 429 extends the pause (an earlier end never shortens it)."""
        self._until = max(self._until, pause.until)

    @workflow.run
    async def run(self, pause: QueuePause) -> None:
        # A 429 signalled while the queue is being given back pauses it again: loop until none is left.
        while self._until > workflow.now():
            try:
                await self._set(QueueRate(queue=pause.queue, paused_until=self._until))
            except ActivityError:
                workflow.logger.warning("the server cannot pause task queue %s: each worker pauses it", pause.queue)
                return
            while (left := self._until - workflow.now()) > timedelta(0):
                await workflow.sleep(left)  # the pause may be extended meanwhile: look again
            await self._set(QueueRate(queue=pause.queue))

    async def _set(self, rate: QueueRate) -> None:
        summary = "pause the target's queue" if rate.paused_until else "give the queue back to its rate limit"
        await workflow.execute_activity(
            SET_QUEUE_RATE, rate, start_to_close_timeout=SET_RATE_TIMEOUT, retry_policy=SET_RATE_RETRY, summary=summary
        )
