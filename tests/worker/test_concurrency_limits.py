"""Concurrency per key on the dev server, with a real target that records how many requests of each
key it answers at once: never more than the limit, every job completes, a job waiting for its slot
can be cancelled (and never calls the target), and a terminated holder's slot is freed."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from ductape_jobs import Ductape
from ductape_jobs.activities.config.product_config import ProductConfig, parse_product_config
from ductape_jobs.activities.config.secrets import SecretStore
from tests.support.http_target import HttpTarget
from tests.support.workers import job_worker

pytestmark = pytest.mark.timeout(180)


def keyed_config(url: str, product: str, limit: int) -> ProductConfig:
    return parse_product_config({"products": {product: {"envs": ["dev"], "apps": {"users": {
        "envs": {"dev": {"base_url": url, "timeout_ms": 5000}},
        "actions": {"sync": {"path": "/sync", "concurrency": {"key": "$Input{body.user}", "limit": limit}}},
    }}}}})  # fmt: skip


def job(product: str, user: str, n: int, **fields: Any) -> dict[str, Any]:
    return {"product_tag": product, "env": "dev", "app": "users", "event": "sync",
            "input": {"body": {"user": user, "n": n}}} | fields  # fmt: skip


def setup(
    env: WorkflowEnvironment, target: HttpTarget, task_queue: str, limit: int
) -> tuple[str, ProductConfig, Ductape]:
    product = f"cc-{uuid.uuid4().hex[:8]}"
    config = keyed_config(target.url, product, limit)
    target.overlap_field, target.delays["/sync"] = "user", 0.3
    return product, config, Ductape(env.client, task_queue=task_queue, config=config, secrets=SecretStore({}))


async def test_no_key_ever_has_more_runs_than_its_limit(
    dev_env: WorkflowEnvironment, http_target: HttpTarget, task_queue: str
) -> None:
    product, config, ductape = setup(dev_env, http_target, task_queue, limit=2)
    items = [job(product, f"u{n % 4}", n) for n in range(60)]
    results = await ductape.jobs.schedule_many(items, concurrency=32)
    async with job_worker(dev_env.client, task_queue=task_queue, config=config, secrets=SecretStore({})):
        await asyncio.wait_for(
            asyncio.gather(*(ductape.jobs.result(r.result.job_id) for r in results if r.result)), 120
        )
    print(f"peak in flight per key: {dict(http_target.peak_in_flight)}")
    assert len(http_target.calls("/sync")) == 60
    assert dict(http_target.peak_in_flight) == {f"u{k}": 2 for k in range(4)}  # the limit, reached and held


async def wait_calls(target: HttpTarget, count: int) -> None:
    async with asyncio.timeout(60):
        while len(target.calls("/sync")) < count:  # noqa: ASYNC110 - the target records; nothing signals
            await asyncio.sleep(0.05)


async def test_a_job_waiting_for_its_slot_can_be_cancelled_and_never_calls_the_target(
    dev_env: WorkflowEnvironment, http_target: HttpTarget, task_queue: str
) -> None:
    product, config, ductape = setup(dev_env, http_target, task_queue, limit=1)
    http_target.delays["/sync"] = 2.0
    async with job_worker(dev_env.client, task_queue=task_queue, config=config, secrets=SecretStore({})):
        holder = await ductape.processor.job.schedule(job(product, "ann", 1))
        await wait_calls(http_target, 1)
        waiting = await ductape.processor.job.schedule(job(product, "ann", 2))
        after = await ductape.processor.job.schedule(job(product, "ann", 3))
        await asyncio.sleep(0.5)  # both are in line (the slot is held for 2 s)
        await ductape.jobs.cancel(waiting.job_id)
        await ductape.jobs.result(after.job_id, timeout=60)
        await ductape.jobs.result(holder.job_id, timeout=60)
    described = await dev_env.client.get_workflow_handle(waiting.job_id).describe()
    assert described.status == WorkflowExecutionStatus.CANCELED
    assert [r.body["n"] for r in http_target.calls("/sync")] == [1, 3]  # the cancelled one never ran
    assert dict(http_target.peak_in_flight) == {"ann": 1}


async def test_a_terminated_holders_slot_is_freed(
    dev_env: WorkflowEnvironment, http_target: HttpTarget, task_queue: str
) -> None:
    product, config, ductape = setup(dev_env, http_target, task_queue, limit=1)
    http_target.delays["/sync"] = 1.0
    async with job_worker(dev_env.client, task_queue=task_queue, config=config, secrets=SecretStore({})):
        holder = await ductape.processor.job.schedule(job(product, "bob", 1))
        await wait_calls(http_target, 1)
        # Terminated, its run never releases its slot: the keeper finds it closed while the next waits.
        await dev_env.client.get_workflow_handle(holder.job_id).terminate("an operator's terminate")
        waiting = await ductape.processor.job.schedule(job(product, "bob", 2))
        await ductape.jobs.result(waiting.job_id, timeout=60)
    assert [r.body["n"] for r in http_target.calls("/sync")] == [1, 2]
