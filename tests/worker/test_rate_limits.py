"""Rate limits per target on the dev server, with a real HTTP target: a herd due at once reaches the
target no faster than its limit, every job completes without spending a retry, and a 429's
``Retry-After`` pauses the target instead of failing the attempt."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from ductape_jobs import Ductape
from ductape_jobs.activities.config.flow import rate_limit_queue
from ductape_jobs.activities.config.product_config import ProductConfig, parse_product_config
from ductape_jobs.activities.config.secrets import SecretStore
from ductape_jobs.activities.flow.target_pause_activity import queue_rate_request
from ductape_jobs.workflows.contracts.target_pause import QueueRate
from ductape_jobs.workflows.names import target_pause_id
from tests.conftest import CONVERTER
from tests.support.http_target import HttpTarget
from tests.support.notification_receivers import HttpReceivers
from tests.support.workers import job_worker

pytestmark = pytest.mark.timeout(180)
LIMIT = 20


def limited_config(url: str, product: str) -> ProductConfig:
    return parse_product_config({"products": {product: {"envs": ["dev"], "apps": {"partner": {
        "envs": {"dev": {"base_url": url, "timeout_ms": 5000}},
        "rate_limit": {"per_second": LIMIT},
        "actions": {
            "sync": {"path": "/sync"},
            "slow": {"path": "/slow", "rate_limit": {"per_minute": 120}},
        },
    }}}}})  # fmt: skip


def job(product: str, event: str, n: int, **fields: Any) -> dict[str, Any]:
    return {"product_tag": product, "env": "dev", "app": "partner", "event": event,
            "input": {"body": {"n": n}}} | fields  # fmt: skip


def busiest_second(times: list[float]) -> int:
    """The most calls in any one-second window."""
    times = sorted(times)
    return max(sum(1 for u in times[i:] if u < t + 1.0) for i, t in enumerate(times))


def limited(env: WorkflowEnvironment, target: HttpTarget, task_queue: str) -> tuple[str, ProductConfig, Ductape]:
    """A product of its own whose app is limited to ``LIMIT`` calls a second, and a client for it."""
    product = f"rl-{uuid.uuid4().hex[:8]}"
    config = limited_config(target.url, product)
    return product, config, Ductape(env.client, task_queue=task_queue, config=config, secrets=SecretStore({}))


async def test_three_hundred_jobs_due_at_once_reach_the_target_at_its_limit(
    dev_env: WorkflowEnvironment, http_target: HttpTarget, task_queue: str
) -> None:
    product, config, ductape = limited(dev_env, http_target, task_queue)
    results = await ductape.jobs.schedule_many([job(product, "sync", n) for n in range(300)], concurrency=64)
    assert all(r.ok for r in results)
    async with job_worker(dev_env.client, task_queue=task_queue, config=config, secrets=SecretStore({})):
        done = await asyncio.wait_for(
            asyncio.gather(*(ductape.jobs.result(r.result.job_id) for r in results if r.result)), 120
        )
    calls = [r.at for r in http_target.calls("/sync")]
    peak = busiest_second(calls)
    print(f"300 jobs at {LIMIT}/s: {len(calls)} calls over {max(calls) - min(calls):.1f} s, busiest second {peak}")
    assert len(done) == len(calls) == 300  # each ran once: none failed, none doubled
    assert peak <= 2 * LIMIT  # the limit, plus the server's burst of one second's worth
    assert max(calls) - min(calls) >= 300 / LIMIT - 2


async def test_an_action_with_its_own_limit_and_a_429_that_pauses_its_target(
    dev_env: WorkflowEnvironment, http_target: HttpTarget, task_queue: str
) -> None:
    product, config, ductape = limited(dev_env, http_target, task_queue)
    http_target.script("/slow", [429, 200])
    http_target.retry_after["/slow"] = 2
    first = await ductape.processor.job.schedule(job(product, "slow", 0))  # no retries: one attempt
    described = await dev_env.client.get_workflow_handle(first.job_id).describe()
    async with job_worker(dev_env.client, task_queue=task_queue, config=config, secrets=SecretStore({})):
        started = time.monotonic()
        result = await ductape.jobs.result(first.job_id, timeout=60)
    assert result["status"] == 200
    calls = [r.at for r in http_target.calls("/slow")]
    assert len(calls) == 2
    assert calls[1] - calls[0] >= 2  # waited out Retry-After, inside its only attempt
    assert time.monotonic() - started < 30
    assert "rate limited 120/min" in (await described.static_summary() or "")


async def test_a_429_pauses_its_target_on_the_server_for_every_worker(
    dev_env: WorkflowEnvironment, http_target: HttpTarget, task_queue: str
) -> None:
    """Two workers share a target limited to 20/s; its 11th call answers 429 with ``Retry-After: 4``.
    The worker that got it pauses at once, and the pause keeper holds the target's queue on the
    server: after a short grace no worker calls until the pause ends, then the limit holds again."""
    product, config, ductape = limited(dev_env, http_target, task_queue)
    http_target.script("/sync", [200] * 10 + [429, 200])
    http_target.retry_after["/sync"] = 4
    results = await ductape.jobs.schedule_many([job(product, "sync", n, retries=0) for n in range(80)], concurrency=32)
    secrets = SecretStore({})
    # A second connection: the SDK allows one worker per task queue on a client, as in two processes.
    other = await Client.connect(dev_env.client.service_client.config.target_host, data_converter=CONVERTER)
    async with (
        job_worker(dev_env.client, task_queue=task_queue, config=config, secrets=secrets),
        job_worker(other, task_queue=task_queue, config=config, secrets=secrets),
    ):
        done = await asyncio.wait_for(
            asyncio.gather(*(ductape.jobs.result(r.result.job_id) for r in results if r.result)), 120
        )
        calls = sorted(r.at for r in http_target.calls("/sync"))
        paused_at = calls[10]
        during = [t - paused_at for t in calls if paused_at + 1.5 < t < paused_at + 4 - 0.2]
        print(f"429 at call 11: {len(calls)} calls, {len(during)} during the pause after a 1.5 s grace")
        assert (len(done), len(calls)) == (80, 81)  # every job ran once; the 429's call was made again
        assert during == []  # no worker called the target while it was paused
        queue = rate_limit_queue(task_queue, product, "dev", "partner")
        keeper = dev_env.client.get_workflow_handle(target_pause_id(queue))
        await asyncio.wait_for(keeper.result(), 30)  # the pause ended and the queue was given back
    assert busiest_second([t for t in calls if t > paused_at + 4]) <= 2 * LIMIT


async def test_a_pause_left_by_a_terminated_keeper_is_lifted_when_a_worker_starts(
    dev_env: WorkflowEnvironment, http_target: HttpTarget, task_queue: str
) -> None:
    product, config, ductape = limited(dev_env, http_target, task_queue)
    queue = rate_limit_queue(task_queue, product, "dev", "partner")
    stale = QueueRate(queue=queue, paused_until=datetime.now(UTC) + timedelta(days=1))
    await dev_env.client.workflow_service.update_task_queue_config(
        queue_rate_request(dev_env.client.namespace, stale, identity="a keeper since terminated")
    )
    dispatched = await ductape.processor.job.schedule(job(product, "sync", 0))
    async with job_worker(dev_env.client, task_queue=task_queue, config=config, secrets=SecretStore({})):
        assert (await ductape.jobs.result(dispatched.job_id, timeout=30))["status"] == 200
    assert len(http_target.calls("/sync")) == 1


async def test_a_notification_providers_limit_holds_for_its_channel(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    receivers = HttpReceivers()
    await receivers.start()
    try:
        secrets = SecretStore({"HOOK_SECRET": "s"})
        config = parse_product_config({"products": {"shop": {"envs": ["dev"], "secrets": ["HOOK_SECRET"],
            "notifications": {"orders": {"messages": {"order_shipped": {}}, "envs": {"dev": {"callback": {
                "url": f"{receivers.base_url}/hooks/:order", "secret": "$Secret{HOOK_SECRET}",
                "rate_limit": {"per_second": 5},
            }}}}}}}})  # fmt: skip
        ductape = Ductape(dev_env.client, task_queue=task_queue, config=config, secrets=secrets)
        items = [{"dispatch": "notifications", "product": "shop", "env": "dev", "notification": "orders",
                  "event": "order_shipped", "input": {"callback": {"params": {"order": str(n)}, "body": {"n": n}}}}
                 for n in range(30)]  # fmt: skip
        results = await ductape.jobs.schedule_many(items, concurrency=30)
        assert all(r.ok for r in results)
        async with job_worker(dev_env.client, task_queue=task_queue, config=config, secrets=secrets):
            await asyncio.wait_for(
                asyncio.gather(*(ductape.jobs.result(r.result.job_id) for r in results if r.result)), 60
            )
    finally:
        await receivers.stop()
    calls = [c["at"] for c in receivers.callbacks]
    print(f"30 callbacks at 5/s: over {max(calls) - min(calls):.1f} s, busiest second {busiest_second(calls)}")
    assert sorted(c["order"] for c in receivers.callbacks) == sorted(str(n) for n in range(30))
    assert busiest_second(calls) <= 2 * 5
    assert max(calls) - min(calls) >= 30 / 5 - 2
