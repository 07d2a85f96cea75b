"""Debounce on the dev server, with a real target: a burst of dispatches of one key runs once, the
last one, with its input; the earlier ones say which job superseded them; ``max_wait_ms`` bounds how
long a steady stream can hold the run off; other keys are not touched."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from ductape_jobs import Ductape
from ductape_jobs.activities.config.secrets import SecretStore
from tests.conftest import SECRETS, product_config_for
from tests.support.http_target import HttpTarget
from tests.support.workers import job_worker

pytestmark = pytest.mark.timeout(120)


def job(user: str, n: int, **debounce: Any) -> dict[str, Any]:
    return {"product_tag": "my-product", "env": "dev", "app": "email-service", "event": "send_welcome_email",
            "input": {"body": {"user": user, "n": n}},
            "debounce": {"key": "$Input{body.user}", "period_ms": 1000} | debounce}  # fmt: skip


async def test_ten_dispatches_100_ms_apart_run_once_with_the_last_input(
    dev_env: WorkflowEnvironment, http_target: HttpTarget, task_queue: str
) -> None:
    config = product_config_for(http_target.url)
    ductape = Ductape(dev_env.client, task_queue=task_queue, config=config, secrets=SecretStore(SECRETS))
    user, other = f"u-{uuid.uuid4().hex[:6]}", f"v-{uuid.uuid4().hex[:6]}"
    async with job_worker(dev_env.client, task_queue=task_queue, config=config, secrets=SecretStore(SECRETS)):
        results = []
        for n in range(10):
            results.append(await ductape.processor.job.schedule(job(user, n)))
            await asyncio.sleep(0.1)
        alone = await ductape.processor.job.schedule(job(other, 99))
        last = results[-1]
        await ductape.jobs.result(last.job_id, timeout=30)
        await ductape.jobs.result(alone.job_id, timeout=30)
        records = [await ductape.jobs.get(r.job_id) for r in results]
    bodies = [r.body for r in http_target.calls("/v1/welcome")]
    assert sorted(b["n"] for b in bodies) == [9, 99]  # one run per key: the burst's last, and the other key's
    assert [r.supersedes for r in results] == [None] + [r.job_id for r in results[:-1]]
    assert [r.status for r in records[:-1]] == ["superseded"] * 9
    assert [r.superseded_by for r in records[:-1]] == [r.job_id for r in results[1:]]
    assert records[-1].status == "completed"
    assert "debounced 1000 ms per $Input{body.user}" in (records[-1].summary or "")


async def test_max_wait_bounds_a_steady_stream(
    dev_env: WorkflowEnvironment, http_target: HttpTarget, task_queue: str
) -> None:
    config = product_config_for(http_target.url)
    ductape = Ductape(dev_env.client, task_queue=task_queue, config=config, secrets=SecretStore(SECRETS))
    user = f"w-{uuid.uuid4().hex[:6]}"
    async with job_worker(dev_env.client, task_queue=task_queue, config=config, secrets=SecretStore(SECRETS)):
        started = time.time()
        results = []
        for n in range(14):  # every 0.25 s for 3.5 s: never quiet for the 1 s period
            results.append(await ductape.processor.job.schedule(job(user, n, max_wait_ms=1500)))
            await asyncio.sleep(0.25)
        stream_ended = time.time()
        await asyncio.gather(*(ductape.jobs.result(r.job_id, timeout=30) for r in results))
    calls = http_target.calls("/v1/welcome")
    runs = [round(c.at - started, 1) for c in calls]
    print(f"{len(results)} dispatches over {stream_ended - started:.1f} s with max_wait 1.5 s: runs at {runs} s")
    assert 2 <= len(calls) <= 5  # without max_wait: 1 run, 1 s after the stream ends
    assert calls[0].at < stream_ended  # max_wait ran one while the stream went on
    assert calls[-1].body["n"] == 13  # and the stream's last dispatch ran
