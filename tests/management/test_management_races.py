"""Management holds until the event starts: cancel, pause and reschedule at ``start - Δ`` (0.2 s to
60 s) on 225 one-off jobs and 45 recurring jobs whose runs are armed ahead, on the dev server, every
promise checked afterwards (``tests.support.management_races``)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from temporalio.testing import WorkflowEnvironment

from ductape_jobs import Ductape
from ductape_jobs.activities.config.secrets import SecretStore
from tests.conftest import SECRETS, product_config_for
from tests.support.http_target import HttpTarget
from tests.support.management_races import (
    DELTAS,
    OPS,
    first_start,
    plan,
    plan_recurring,
    recurring_summary,
    run_recurring_trials,
    run_trials,
    summary,
)
from tests.support.workers import job_worker

TRIALS = 225
RECURRING_TRIALS = 45


@pytest.mark.timeout(300)  # about 100 s: the trials' starts are 75-90 s out
async def test_no_promise_is_broken_near_the_instant(
    dev_env: WorkflowEnvironment, http_target: HttpTarget, task_queue: str
) -> None:
    config = product_config_for(http_target.url)
    secrets = SecretStore(SECRETS)
    async with job_worker(dev_env.client, task_queue=task_queue, config=config, secrets=secrets):
        ductape = Ductape(dev_env.client, task_queue=task_queue, config=config, secrets=secrets)
        # The latest operation (Δ = 60 s) must still come after dispatch, with room to spare.
        trials = plan(TRIALS, first_start=first_start(timedelta(seconds=75)), spread=12)
        recurring = plan_recurring(RECURRING_TRIALS, first_start=first_start(timedelta(seconds=78)), spread=12)
        one_off, repeating = await asyncio.gather(
            run_trials(ductape, http_target, trials, product="my-product"),
            run_recurring_trials(ductape, http_target, recurring, product="my-product"),
        )
    print(summary(trials))
    print(recurring_summary(recurring))
    assert len(trials) >= 200
    assert {(t.op, t.delta) for t in trials} == {(op, d) for op in OPS for d in DELTAS}
    assert {(t.op, t.delta) for t in recurring} == {(op, d) for op in OPS for d in DELTAS}
    assert one_off == [], "\n".join(one_off)
    assert repeating == [], "\n".join(repeating)
