"""A job run's side of its concurrency limit (workflow code): take a slot before the event, wait in
line for it, release it when the event ends or when the run leaves the line."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from ductape_jobs.workflows.contracts.concurrency import ConcurrencyLimit, SlotAnswer, SlotRequest
    from ductape_jobs.workflows.event_runner import call_activity
    from ductape_jobs.workflows.job_metrics import record_wait, record_wait_end, wait_labels
    from ductape_jobs.workflows.names import RELEASE_SLOT, REQUEST_SLOT

CONCURRENCY = "concurrency-limits"
"""Patch: a run of a job with a concurrency limit holds a slot of its key while its event runs."""
REQUEST_TIMEOUT = timedelta(seconds=10)
# A refused request is retried soon: the keeper takes `history.maxInFlightUpdates` updates in flight
# (10 by default, 200 on the product's server) and refuses more, or it was ending (idle) and the next
# attempt starts a new one.
REQUEST_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=50), backoff_coefficient=1.5, maximum_interval=timedelta(seconds=2)
)


class SlotKeeping:
    def __init__(self, limit: ConcurrencyLimit, *, product: str, env: str) -> None:
        self._limit = limit
        self._labels = wait_labels(product, env, "concurrency", limit.key_class)
        self._asked = 0
        self._token: str | None = None
        self._granted: str | None = None

    def granted(self, token: str) -> None:
        """The ``slot_granted`` signal: counts only for the request still standing."""
        if token == self._token:
            self._granted = token

    async def take(self, changed: Callable[[], bool]) -> bool:
        """Hold a slot: True once held. False when ``changed()`` came first (a pause, a reschedule, a
        trigger): the run has left the line and asks again when it is due again."""
        info = workflow.info()
        self._asked += 1
        token = self._token = f"{info.run_id}/{self._asked}"
        request = SlotRequest(
            slots_id=self._limit.slots_id, token=token, workflow_id=info.workflow_id, run_id=info.run_id,
            limit=self._limit.limit,
        )  # fmt: skip
        answer: SlotAnswer = await call_activity(
            REQUEST_SLOT,
            request,
            result_type=SlotAnswer,
            attempt_timeout=REQUEST_TIMEOUT,
            retry=REQUEST_RETRY,
            summary=f"concurrency slot ({self._limit.limit} per {self._limit.key_class})",
        )
        if answer.granted:
            return True
        workflow.set_current_details(f"waiting for one of {self._limit.limit} slots per {self._limit.key_class}")
        since = record_wait(self._labels)
        await workflow.wait_condition(lambda: self._granted == token or changed())
        record_wait_end(self._labels, since)
        workflow.set_current_details("")
        if self._granted == token:
            return True
        await self.release()
        return False

    async def release(self) -> None:
        """Give the slot back, or leave the line (nothing when the run holds or asked for none)."""
        token, self._token = self._token, None
        if token is None:
            return
        try:
            await workflow.get_external_workflow_handle(self._limit.slots_id).signal(RELEASE_SLOT, token)
        except ApplicationError:
            return  # no keeper runs: it holds nothing of this run
