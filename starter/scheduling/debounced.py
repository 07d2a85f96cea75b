"""Dispatching a debounced job: offer it to its key's window (``ductape_jobs.workflows.debounce_window``),
start it at the time the window answers, then supersede the burst's earlier job."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from temporalio.client import Client, WithStartWorkflowOperation, WorkflowUpdateFailedError
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy
from temporalio.service import RPCError

from ductape_jobs.planning.plan import JobPlan
from ductape_jobs.workflows.contracts.debounce import DebounceAnswer, DebounceOffer, DebounceState
from ductape_jobs.workflows.contracts.instants import to_epoch_ms
from ductape_jobs.workflows.names import DEBOUNCE_WINDOW_WORKFLOW, SCHEDULED_AT, SUPERSEDE

OFFER_ATTEMPTS = 3
"""A window ending (idle) as the offer comes refuses it; the next attempt starts a new window."""


async def offered(client: Client, plan: JobPlan, *, task_queue: str) -> tuple[JobPlan, str | None]:
    """The plan timed by its window, and the earlier job of its burst to supersede (or None).

    Raises:
        RPCError, WorkflowUpdateFailedError: the window could not be reached in ``OFFER_ATTEMPTS``.
    """
    assert plan.debounce is not None
    offer = DebounceOffer(job_id=plan.job_id, period_ms=plan.debounce.period_ms, max_wait_ms=plan.debounce.max_wait_ms)
    for attempt in range(OFFER_ATTEMPTS):
        window: WithStartWorkflowOperation[Any, None] = WithStartWorkflowOperation(
            DEBOUNCE_WINDOW_WORKFLOW, DebounceState(), id=plan.debounce.window_id, task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            static_summary=f"debounce window of {plan.debounce.key_class}",
        )  # fmt: skip
        try:
            answer: DebounceAnswer = await client.execute_update_with_start_workflow(
                "offer", offer, start_workflow_operation=window, result_type=DebounceAnswer
            )
            break
        except (RPCError, WorkflowUpdateFailedError):
            if attempt == OFFER_ATTEMPTS - 1:
                raise
    return _timed(plan, answer.start_at), answer.previous


def _timed(plan: JobPlan, start_at: datetime) -> JobPlan:
    pairs = [p for p in plan.search_attributes.search_attributes if p.key.name != SCHEDULED_AT.name]
    return dataclasses.replace(
        plan,
        workflow_input=plan.workflow_input.model_copy(update={"start_at": start_at}),
        first_run=start_at,
        due_now=False,
        memo=plan.memo.model_copy(update={"scheduled_at": to_epoch_ms(start_at)}),
        search_attributes=TypedSearchAttributes([*pairs, SearchAttributePair(SCHEDULED_AT, start_at)]),
    )


async def supersede(client: Client, earlier: str, *, by: str) -> bool:
    """Whether the earlier job was superseded: False when it had already started (it runs too), or is
    gone (its dispatch failed after its offer)."""
    try:
        await client.get_workflow_handle(earlier).execute_update(SUPERSEDE, by)
    except (RPCError, WorkflowUpdateFailedError):
        return False
    return True
