"""``ConcurrencySlots``: the keeper of one concurrency key's slots (workflow code: deterministic).

One keeper per key value, started by its first request (update-with-start), hands out at most
``limit`` slots in arrival order. A job run holds its slot from its grant until its event ends, and
that state is the keeper's and the job workflow's, both durable: a worker killed mid-run loses no slot
and grants none twice, since the run goes on (on another worker) holding it and releases it when its
event ends. A run that closes without releasing (a terminated job) is found by a periodic check while
others wait, and its slot is freed.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from ductape_jobs.workflows.contracts.concurrency import (
        ClosedHolders,
        HolderCheck,
        SlotAnswer,
        SlotHolder,
        SlotRequest,
        SlotsState,
    )
    from ductape_jobs.workflows.event_runner import PLAN_RETRY, call_activity
    from ductape_jobs.workflows.names import CLOSED_HOLDERS, CONCURRENCY_SLOTS_WORKFLOW, RELEASE_SLOT, SLOT_GRANTED

CHECK_EVERY = timedelta(seconds=10)
"""While runs wait, how often the holders are checked for runs that closed without releasing."""
IDLE = timedelta(minutes=1)
REQUESTS_PER_RUN = 1000
"""Continue-as-new after this many requests (the server takes at most 2,000 updates in one run)."""
"""A keeper with no holder and no one waiting ends after this long (the next request starts another)."""


@workflow.defn(name=CONCURRENCY_SLOTS_WORKFLOW)
class ConcurrencySlots:
    @workflow.init
    def __init__(self, state: SlotsState) -> None:
        self._state = state
        self._to_notify: list[SlotHolder] = []
        self._changes = 0
        self._requests = 0

    @workflow.run
    async def run(self, state: SlotsState) -> None:
        while True:
            seen = self._changes
            try:
                await workflow.wait_condition(
                    lambda seen=seen: bool(self._to_notify) or self._changes != seen,  # type: ignore[misc]
                    timeout=CHECK_EVERY if self._state.waiting else IDLE,
                )
            except TimeoutError:
                if self._state.waiting:
                    await self._free_closed_holders()
                elif not self._state.holders and workflow.all_handlers_finished():
                    return
            await self._notify()
            # The server refuses a run's updates past 2,000: a long-lived keeper starts afresh well before.
            if workflow.info().is_continue_as_new_suggested() or self._requests >= REQUESTS_PER_RUN:
                await workflow.wait_condition(workflow.all_handlers_finished)
                await self._notify()
                workflow.continue_as_new(self._state)

    @workflow.update(name="request")
    async def request(self, request: SlotRequest) -> SlotAnswer:
        self._requests += 1
        state = self._state
        state.limit = request.limit
        if not _holds(state.holders, request.token) and not _holds(state.waiting, request.token):
            holder = SlotHolder(token=request.token, workflow_id=request.workflow_id, run_id=request.run_id)
            state.waiting.append(holder)
        self._grant(answering=request.token)
        self._changes += 1
        return SlotAnswer(granted=_holds(state.holders, request.token))

    @workflow.signal(name=RELEASE_SLOT)
    def release(self, token: str) -> None:
        self._drop([token])

    @workflow.query(name="state")
    def state(self) -> SlotsState:
        return self._state

    def _drop(self, tokens: list[str]) -> None:
        state = self._state
        state.holders = [h for h in state.holders if h.token not in tokens]
        state.waiting = [h for h in state.waiting if h.token not in tokens]
        self._to_notify = [h for h in self._to_notify if h.token not in tokens]
        self._grant()
        self._changes += 1

    def _grant(self, answering: str | None = None) -> None:
        """Free slots to the first in line; those not answered by their own request are signalled."""
        state = self._state
        while state.waiting and len(state.holders) < state.limit:
            first = state.waiting.pop(0)
            state.holders.append(first)
            if first.token != answering:
                self._to_notify.append(first)

    async def _notify(self) -> None:
        while self._to_notify:
            batch, self._to_notify = self._to_notify, []
            sent = await asyncio.gather(*(self._signal(holder) for holder in batch))
            gone = [holder.token for holder, ok in zip(batch, sent, strict=True) if not ok]
            if gone:
                self._drop(gone)  # its run closed while in line: the slot goes to the next

    async def _signal(self, holder: SlotHolder) -> bool:
        try:
            await workflow.get_external_workflow_handle(holder.workflow_id, run_id=holder.run_id).signal(
                SLOT_GRANTED, holder.token
            )
        except ApplicationError:  # the run is closed (terminated, timed out): it will never release
            return False
        return True

    async def _free_closed_holders(self) -> None:
        closed: ClosedHolders = await call_activity(
            CLOSED_HOLDERS,
            HolderCheck(holders=list(self._state.holders)),
            result_type=ClosedHolders,
            attempt_timeout=timedelta(seconds=30),
            retry=PLAN_RETRY,
            summary="find slot holders that closed without releasing",
        )
        if closed.tokens:
            self._drop(closed.tokens)


def _holds(holders: list[SlotHolder], token: str) -> bool:
    return any(h.token == token for h in holders)
