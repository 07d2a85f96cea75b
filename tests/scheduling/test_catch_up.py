"""Catch-up policies on the dev server: recurring runs that come while no worker is up, for ``skip``,
``once`` and ``all`` (with ``max_runs``), checked against the target's calls and the job's history."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from ductape_jobs import Ductape, JobInputError
from ductape_jobs.activities.config.secrets import SecretStore
from tests.conftest import SECRETS, product_config_for
from tests.support.http_target import HttpTarget
from tests.support.waiting import eventually
from tests.support.workers import job_worker


@pytest.mark.timeout(120)
async def test_runs_that_waited_for_a_worker_follow_their_catch_up_policy(
    dev_env: WorkflowEnvironment, http_target: HttpTarget, task_queue: str
) -> None:
    product = f"shop-{uuid.uuid4().hex[:8]}"
    config = product_config_for(http_target.url, product)
    ductape = Ductape(dev_env.client, task_queue=task_queue, config=config, secrets=SecretStore(SECRETS))
    created = datetime.now(UTC)
    end = created + timedelta(seconds=7)  # runs every 2 s: 3 or 4 runs, due while no worker is up

    async def job(path: str, catchup: dict[str, Any]) -> str:
        dispatched = await ductape.processor.job.schedule({
            "product_tag": product, "env": "dev", "app": "email-service", "event": "send_welcome_email",
            "input": {"body": {"to": path}}, "repeat": {"every": 2000, "endDate": end.isoformat(), "catchup": catchup},
        })  # fmt: skip
        return dispatched.job_id

    skip = await job("skip", {"policy": "skip"})
    once = await job("once", {"policy": "once", "window_ms": 120_000})
    every = await job("all", {"policy": "all", "window_ms": 120_000, "max_runs": 2})
    # The worker comes back more than the 10 s grace after the last run: every run is late.
    await asyncio.sleep((end + timedelta(seconds=12) - datetime.now(UTC)).total_seconds())
    async with job_worker(dev_env.client, task_queue=task_queue, config=config, secrets=SecretStore(SECRETS)):

        async def settled(job_id: str, runs: int) -> bool:
            history = await ductape.jobs.history(job_id)
            return history.total_executions >= runs and all(r.status != "running" for r in history.executions)

        # skip and once: the first late run held the others off (the schedule skips overlapping runs).
        for job_id, runs in ((skip, 1), (once, 1), (every, 3)):
            await eventually(lambda job_id=job_id, runs=runs: settled(job_id, runs), within=40)  # type: ignore[misc]
        sent = [call.body["to"] for call in http_target.calls("/v1/welcome")]
        assert sorted(sent) == ["all", "all", "once"]  # nothing of skip's

        skipped = await ductape.jobs.history(skip)
        assert [r.status for r in skipped.executions] == ["missed"]
        assert skipped.missed_executions == 1
        assert "catch-up policy skip" in (skipped.executions[0].error or "")
        assert [r.status for r in (await ductape.jobs.history(once)).executions] == ["completed"]
        # all: each run started on time and waited; the two newest ran, the older ones are missed.
        ordered = sorted((await ductape.jobs.history(every)).executions, key=lambda r: r.scheduled_at or 0)
        assert [r.status for r in ordered] == ["missed"] * (len(ordered) - 2) + ["completed"] * 2
        assert "runs the newest 2" in (ordered[0].error or "")


async def test_catch_up_settings_are_checked_before_anything_starts(
    dev_env: WorkflowEnvironment, http_target: HttpTarget, task_queue: str
) -> None:
    product = f"shop-{uuid.uuid4().hex[:8]}"
    config = product_config_for(http_target.url, product)
    ductape = Ductape(dev_env.client, task_queue=task_queue, config=config, secrets=SecretStore(SECRETS))
    base = {"product_tag": product, "env": "dev", "app": "email-service", "event": "send_welcome_email", "input": {}}
    cases = [
        ({"policy": "sometimes"}, "repeat.catchup"),
        ({"policy": "skip", "window_ms": 60_000}, "repeat.catchup"),
        ({"policy": "once", "max_runs": 3}, "repeat.catchup"),
        ({"policy": "all", "window_ms": 5_000}, "repeat.catchup.window_ms"),
        ({"policy": "all", "max_runs": 0}, "repeat.catchup.max_runs"),
        ({"policy": "all", "window_ms": 8 * 86_400_000}, "repeat.catchup"),
        (5_000, "repeat.catchup.window_ms"),  # a number: the window of `once`, as before
    ]
    for catchup, field in cases:
        with pytest.raises(JobInputError) as err:
            await ductape.processor.job.schedule(base | {"repeat": {"every": 60_000, "catchup": catchup}})
        assert err.value.field.startswith(field), (catchup, err.value.problems)
    listed = await ductape.jobs.list(product=product)
    assert listed.jobs == []
