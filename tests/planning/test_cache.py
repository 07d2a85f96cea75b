"""The cache tag on the dev server with a real target: run once while pending, memoize within the TTL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from ductape_jobs import Ductape, JobFailedError, JobInputError
from ductape_jobs.activities.config.secrets import SecretStore
from tests.conftest import SECRETS
from tests.support.http_target import HttpTarget
from tests.support.workers import job_worker


@pytest.fixture
async def ductape(dev_env: WorkflowEnvironment, product_config: Any, task_queue: str) -> AsyncIterator[Ductape]:
    async with job_worker(dev_env.client, task_queue=task_queue, config=product_config, secrets=SecretStore(SECRETS)):
        yield Ductape(dev_env.client, task_queue=task_queue, config=product_config, secrets=SecretStore(SECRETS))


def job(body: dict[str, Any], event: str = "send_welcome_email", cache: str = "short") -> dict[str, Any]:
    return {"product_tag": "my-product", "env": "dev", "app": "email-service", "event": event,
            "input": {"body": body}, "cache": cache}  # fmt: skip


async def test_ten_concurrent_identical_dispatches_run_once_then_memoize_then_expire(
    ductape: Ductape, http_target: HttpTarget
) -> None:
    body = {"order": uuid.uuid4().hex}
    results = await asyncio.gather(*(ductape.processor.job.schedule(job(body)) for _ in range(10)))
    assert len({r.job_id for r in results}) == 1
    job_id = results[0].job_id
    first = await ductape.jobs.result(job_id)
    assert len(http_target.calls("/v1/welcome")) == 1

    again = await ductape.processor.job.schedule(job(body))
    assert again.cached
    assert again.status == "completed"
    assert again.job_id == job_id
    assert await ductape.jobs.result(job_id) == first
    assert len(http_target.calls("/v1/welcome")) == 1

    other = await ductape.processor.job.schedule(job({"order": "another"}))
    assert other.job_id != job_id

    await asyncio.sleep(1.6)  # past the tag's 1.5 s TTL: identical again means run again
    fresh = await ductape.processor.job.schedule(job(body))
    assert not fresh.cached
    assert fresh.job_id == job_id
    await ductape.jobs.result(job_id)
    assert len(http_target.calls("/v1/welcome")) == 3  # first run, the other job, the fresh run


async def test_failures_are_not_memoized_and_zero_ttl_only_dedupes(ductape: Ductape, http_target: HttpTarget) -> None:
    http_target.script("/missing", [404, 200])
    failing = await ductape.processor.job.schedule(job({"x": 1}, event="missing"))
    with pytest.raises(JobFailedError):
        await ductape.jobs.result(failing.job_id)
    again = await ductape.processor.job.schedule(job({"x": 1}, event="missing"))
    assert not again.cached
    assert (await ductape.jobs.result(again.job_id))["status"] == 200

    pending_only = job({"y": 2}, cache="pending-only")
    first = await ductape.processor.job.schedule(pending_only)
    await ductape.jobs.result(first.job_id)
    second = await ductape.processor.job.schedule(pending_only)
    assert not second.cached
    await ductape.jobs.result(second.job_id)
    assert len(http_target.calls("/v1/welcome")) == 2


async def test_unknown_cache_tag_is_refused(ductape: Ductape) -> None:
    with pytest.raises(JobInputError) as err:
        await ductape.processor.job.schedule(job({}, cache="nope"))
    assert err.value.field == "cache"
