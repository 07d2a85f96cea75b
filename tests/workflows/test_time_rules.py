"""``every``, ``limit``, ``endDate``, jitter and catch-up, as the real server applies them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from ductape_jobs import Ductape
from ductape_jobs.activities.config.secrets import SecretStore
from ductape_jobs.client import connect_client
from ductape_jobs.dev.server import DevServer, DevServerOptions
from ductape_jobs.settings import Settings
from tests.conftest import SECRETS, TEST_KEYRING, product_config_for
from tests.support.http_target import HttpTarget
from tests.support.ports import free_port
from tests.support.workers import job_worker


@pytest.fixture
async def ductape(dev_env: WorkflowEnvironment, product_config: Any, task_queue: str) -> AsyncIterator[Ductape]:
    async with job_worker(dev_env.client, task_queue=task_queue, config=product_config, secrets=SecretStore(SECRETS)):
        yield Ductape(dev_env.client, task_queue=task_queue, config=product_config, secrets=SecretStore(SECRETS))


def job(**fields: Any) -> dict[str, Any]:
    return {"product_tag": "my-product", "env": "dev", "app": "email-service", "event": "send_welcome_email",
            "input": {}} | fields  # fmt: skip


async def next_times(dev_env: WorkflowEnvironment, job_id: str) -> list[datetime]:
    return list((await dev_env.client.get_schedule_handle(job_id).describe()).info.next_action_times)


async def test_every_runs_at_start_plus_k_periods_whatever_the_epoch_alignment(
    ductape: Ductape, dev_env: WorkflowEnvironment
) -> None:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1, seconds=3)
    result = await ductape.processor.job.schedule(job(start_at=start.isoformat(), repeat={"every": 7000}))
    assert await next_times(dev_env, result.job_id) == [start + timedelta(seconds=7 * k) for k in range(10)]
    await ductape.jobs.cancel(result.job_id)


async def test_end_date_is_inclusive(ductape: Ductape, dev_env: WorkflowEnvironment) -> None:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    end = start + timedelta(minutes=3)
    result = await ductape.processor.job.schedule(
        job(start_at=start.isoformat(), repeat={"every": 60_000, "endDate": end.isoformat()})
    )
    assert await next_times(dev_env, result.job_id) == [start + timedelta(minutes=k) for k in range(4)]
    await ductape.jobs.cancel(result.job_id)


async def test_jitter_moves_each_run_within_its_window(ductape: Ductape, dev_env: WorkflowEnvironment) -> None:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    result = await ductape.processor.job.schedule(
        job(start_at=start.isoformat(), repeat={"every": 60_000, "jitter": 30_000})
    )
    times = await next_times(dev_env, result.job_id)
    nominal = [start + timedelta(minutes=k) for k in range(len(times))]
    assert all(n <= t < n + timedelta(seconds=30) for t, n in zip(times, nominal, strict=True))
    assert times != nominal
    await ductape.jobs.cancel(result.job_id)


async def test_limit_counts_runs_not_retries(ductape: Ductape, http_target: HttpTarget) -> None:
    http_target.script("/flaky", [500, 200, 500, 200, 200, 200])
    result = await ductape.processor.job.schedule(
        job(event="flaky", retries=2, retry={"initialDelay": 100}, repeat={"every": 2000, "limit": 2})
    )
    deadline = time.monotonic() + 15
    while (await ductape.jobs.get(result.job_id)).status != "completed":
        assert time.monotonic() < deadline
        await asyncio.sleep(0.3)
    await asyncio.sleep(2.5)
    assert len(http_target.calls("/flaky")) == 4  # two runs, each failing once and then succeeding
    assert (await ductape.jobs.get(result.job_id)).execution_count == 2


async def _calls_reach(target: HttpTarget, count: int, *, within: float) -> None:
    deadline = time.monotonic() + within
    while len(target.requests) < count:
        assert time.monotonic() < deadline, f"only {len(target.requests)} of {count} calls"
        await asyncio.sleep(0.2)


@pytest.mark.timeout(150)  # ~21 s measured; waits up to 15 s + 60 s for the runs
async def test_runs_missed_while_the_server_was_down_give_at_most_one_late_run(
    tmp_path: Path, http_target: HttpTarget, task_queue: str
) -> None:
    options = DevServerOptions(port=free_port(), data_dir=tmp_path, headless=True)
    settings = Settings(address=options.address, task_queue=task_queue)
    config = product_config_for(http_target.url)
    server = DevServer(options)
    await server.start()
    try:
        client = await connect_client(settings, TEST_KEYRING)
        ductape = Ductape(client, task_queue=task_queue, config=config, secrets=SecretStore(SECRETS))
        async with job_worker(client, task_queue=task_queue, config=config, secrets=SecretStore(SECRETS)):
            result = await ductape.processor.job.schedule(job(repeat={"every": 2000}))
            await _calls_reach(http_target, 2, within=15)
            await server.stop()
            down_at = datetime.now(UTC)
            await asyncio.sleep(9)  # four or five runs are missed
            await server.start()
            up_at = datetime.now(UTC)
            await _calls_reach(http_target, len(http_target.requests) + 2, within=60)
            history = await ductape.jobs.history(result.job_id)
        # A run's workflow ID ends with the time it was scheduled for.
        scheduled = [
            datetime.fromisoformat(run.workflow_id[len(result.job_id) + 1 :].replace("Z", "+00:00"))
            for run in history.executions
        ]
        late = [t for t in scheduled if down_at < t < up_at]
        print(f"\nlate runs after the outage: {late}")
        assert len(late) <= 1, late
        assert any(t > up_at for t in scheduled), "the schedule went on after the restart"
    finally:
        await server.stop()
