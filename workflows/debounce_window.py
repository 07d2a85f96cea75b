"""``DebounceWindow``: one key's debounce window (workflow code: deterministic).

Every dispatch of a debounced job offers itself here (update-with-start) before its job workflow
starts. The keeper answers when it runs, ``period_ms`` after this dispatch but no later than
``max_wait_ms`` after the burst's first, and which job of the burst it replaces. The dispatcher then
supersedes that earlier job, which ends without running if it has not started (``JobWorkflow``'s
``supersede`` update refuses once the event started, so a job never runs half superseded).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from ductape_jobs.workflows.contracts.debounce import DebounceAnswer, DebounceOffer, DebounceState
    from ductape_jobs.workflows.names import DEBOUNCE_WINDOW_WORKFLOW

IDLE = timedelta(minutes=1)
REQUESTS_PER_RUN = 1000
"""Continue-as-new after this many offers (the server takes at most 2,000 updates in one run)."""
"""The keeper ends this long after its latest job is due (the next dispatch starts another)."""


@workflow.defn(name=DEBOUNCE_WINDOW_WORKFLOW)
class DebounceWindow:
    @workflow.init
    def __init__(self, state: DebounceState) -> None:
        self._state = state
        self._offers = 0

    @workflow.run
    async def run(self, state: DebounceState) -> None:
        while True:
            seen, due = self._offers, self._state.latest_due
            quiet = IDLE + (max(due - workflow.now(), timedelta(0)) if due else timedelta(0))
            try:
                await workflow.wait_condition(lambda seen=seen: self._offers != seen, timeout=quiet)  # type: ignore[misc]
            except TimeoutError:
                if workflow.all_handlers_finished():
                    return
            # The server refuses a run's updates past 2,000: a long-lived keeper starts afresh well before.
            if workflow.info().is_continue_as_new_suggested() or self._offers >= REQUESTS_PER_RUN:
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(self._state)

    @workflow.update(name="offer")
    async def offer(self, offer: DebounceOffer) -> DebounceAnswer:
        state, now = self._state, workflow.now()
        previous = state.latest_job
        if state.latest_due is None or state.latest_due <= now:
            previous, state.burst_started = None, now  # the last burst's job is due or ran: a new burst
        start_at = now + timedelta(milliseconds=offer.period_ms)
        if offer.max_wait_ms is not None and state.burst_started is not None:
            start_at = min(start_at, state.burst_started + timedelta(milliseconds=offer.max_wait_ms))
        state.latest_job, state.latest_due = offer.job_id, start_at
        self._offers += 1
        return DebounceAnswer(start_at=start_at, previous=previous)
