"""A recurring job whose run fails, on the real dev server: it keeps its next runs (DESIGN.md), or with
``pause_on_failure`` it is paused; either way ``jobs.get`` shows the run's error."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from ductape_jobs import Ductape, JobRecord
from ductape_jobs.activities.config.product_config import ProductConfig
from ductape_jobs.activities.config.secrets import SecretStore
from tests.conftest import SECRETS
from tests.support.http_target import HttpTarget
from tests.support.waiting import eventually
from tests.support.workers import job_worker


@pytest.fixture
async def ductape(
    dev_env: WorkflowEnvironment, product_config: ProductConfig, task_queue: str
) -> AsyncIterator[Ductape]:
    async with job_worker(
        dev_env.client, task_queue=task_queue, config=product_config, secrets=SecretStore(SECRETS),
        fail_workflow_on_bug=True,
    ):  # fmt: skip
        yield Ductape(dev_env.client, task_queue=task_queue, config=product_config, secrets=SecretStore(SECRETS))


def failing(**repeat: Any) -> dict[str, Any]:
    """Every two seconds, an action the target answers 404 (not retried): each run fails."""
    return {"product_tag": "my-product", "env": "dev", "app": "email-service", "event": "missing", "input": {},
            "start_at": 0, "repeat": {"every": 2000, **repeat}}  # fmt: skip


async def test_a_failed_run_keeps_the_next_runs_and_shows_its_error(ductape: Ductape, http_target: HttpTarget) -> None:
    http_target.script("/missing", [404])
    result = await ductape.processor.job.schedule(failing())
    try:
        await eventually(lambda: len(http_target.calls("/missing")) >= 3)  # runs after the first failure came
        record = await ductape.jobs.get(result.job_id)
        assert record.status in ("scheduled", "running")
        assert record.next_run_at is not None
        assert record.execution_count is not None
        assert record.execution_count >= 3
        assert record.last_error is not None
        assert record.last_error.startswith("NOT_FOUND")
    finally:
        await ductape.jobs.delete(result.job_id)


async def test_pause_on_failure_pauses_the_job_with_the_error_until_resumed(
    ductape: Ductape, http_target: HttpTarget
) -> None:
    http_target.script("/missing", [404])
    result = await ductape.actions.dispatch(
        {"env": "dev", "product": "my-product", "app": "email-service", "event": "missing",
         "schedule": {"every": 2000, "pause_on_failure": True}}
    )  # fmt: skip
    try:

        async def paused() -> JobRecord | None:
            record = await ductape.jobs.get(result.job_id)
            return record if record.status == "paused" else None

        await eventually(lambda: _truthy(paused()))
        record = await ductape.jobs.get(result.job_id)
        assert record.last_error is not None
        assert record.last_error.startswith("NOT_FOUND")
        assert record.next_run_at is None
        made = len(http_target.calls("/missing"))
        assert made == 1
        await asyncio.sleep(4.5)  # two more periods: a run despite the pause would have come by now
        assert len(http_target.calls("/missing")) == made
        http_target.script("/missing", [200])
        await ductape.jobs.resume(result.job_id)
        await eventually(lambda: len(http_target.calls("/missing")) > made)
        assert (await ductape.jobs.get(result.job_id)).status != "paused"
    finally:
        await ductape.jobs.delete(result.job_id)


async def _truthy(value: Awaitable[object]) -> bool:
    return bool(await value)


def test_pause_on_failure_is_a_repeat_and_schedule_option_of_recurring_jobs_only() -> None:
    from ductape_jobs.planning.plan import JobPlanner
    from tests.conftest import product_config_for

    planner = JobPlanner(task_queue="tq", config=product_config_for("http://127.0.0.1:9"))
    for given, expected in ((True, True), (False, False), (None, False)):
        repeat = {"every": 2000} | ({} if given is None else {"pause_on_failure": given})
        plan = planner.plan(None, failing() | {"repeat": repeat})
        assert plan.recurrence is not None
        assert plan.recurrence.pause_on_failure is expected
    dispatch = {"env": "dev", "product": "my-product", "app": "email-service", "event": "missing"}
    with pytest.raises(ValueError, match="applies to recurring jobs") as err:
        planner.plan("actions", dispatch | {"schedule": {"pause_on_failure": True}})
    assert getattr(err.value, "field", None) == "schedule"
