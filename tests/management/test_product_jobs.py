"""Seed 004's job definitions on the dev server with a real target, and ``apply`` from the config."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from ductape_jobs import Ductape, JobInputError, JobNotFoundError
from ductape_jobs.activities.config.secrets import SecretStore
from ductape_jobs.cli.apply import apply_changes, plan_changes
from tests.conftest import SECRETS, product_config_for
from tests.support.http_target import HttpTarget
from tests.support.waiting import eventually
from tests.support.workers import job_worker


@pytest.fixture
def product() -> str:
    return f"shop-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def ductape(
    dev_env: WorkflowEnvironment, http_target: HttpTarget, task_queue: str, product: str
) -> AsyncIterator[Ductape]:
    config = product_config_for(http_target.url, product)
    async with job_worker(dev_env.client, task_queue=task_queue, config=config, secrets=SecretStore(SECRETS)):
        yield Ductape(dev_env.client, task_queue=task_queue, config=config, secrets=SecretStore(SECRETS))


def definition(tag: str, **changes: Any) -> dict[str, Any]:
    return {"name": f"Job {tag}", "tag": tag, "event_type": "ACTION", "event_tag": "send_welcome_email",
            "executions": 2, "intervals": 1000, "input": {"body": {"from": tag}}} | changes  # fmt: skip


async def test_create_runs_the_definition_executions_times_and_fetch_reads_it(
    ductape: Ductape, http_target: HttpTarget, product: str
) -> None:
    builder = ductape.product(product)
    created = await builder.createJob(definition("twice"))
    assert created.tag == "twice"
    await eventually(lambda: len(http_target.calls("/v1/welcome")) >= 2)
    await asyncio.sleep(1.5)
    assert len(http_target.calls("/v1/welcome")) == 2
    assert http_target.calls("/v1/welcome")[0].body == {"from": "twice"}
    fetched = await builder.fetchJob("twice")
    assert (fetched.name, fetched.executions, fetched.intervals) == ("Job twice", 2, 1000)

    async def listed() -> bool:
        return [j.tag for j in await builder.fetchJobs()] == ["twice"]

    await eventually(listed)
    with pytest.raises(JobInputError) as err:
        await builder.create_job(definition("twice"))
    assert err.value.field == "tag"
    with pytest.raises(JobNotFoundError):
        await builder.fetch_job("nope")


async def test_update_keeps_the_runs_made_and_changes_the_rest(
    ductape: Ductape, http_target: HttpTarget, product: str
) -> None:
    builder = ductape.product(product)
    await builder.create_job(definition("grow", executions=1))
    await eventually(lambda: len(http_target.calls("/v1/welcome")) == 1)
    updated = await builder.updateJob("grow", {"name": "Grown", "executions": 3})
    assert updated.name == "Grown"
    await eventually(lambda: len(http_target.calls("/v1/welcome")) >= 3)
    await asyncio.sleep(1.5)
    assert len(http_target.calls("/v1/welcome")) == 3
    assert (await builder.fetch_job("grow")).executions == 3
    with pytest.raises(JobInputError):
        await builder.update_job("grow", {"intervals": 1500})  # not a whole number of seconds


async def test_a_job_of_type_job_runs_a_definition_once(
    ductape: Ductape, http_target: HttpTarget, product: str
) -> None:
    start = int(time.time() * 1000) + 3_600_000
    await ductape.product(product).create_job(definition("later", start_at=start))
    result = await ductape.processor.job.schedule(
        {"product_tag": product, "env": "dev", "type": "job", "event": "later", "input": {}}
    )
    assert result.recurring is False
    await ductape.jobs.result(result.job_id)
    (call,) = http_target.calls("/v1/welcome")
    assert call.body == {"from": "later"}
    with pytest.raises(JobInputError) as err:
        await ductape.processor.job.schedule({"product_tag": product, "env": "dev", "type": "job", "event": "nope",
                                              "input": {}})  # fmt: skip
    assert err.value.field == "event"


async def test_apply_creates_updates_and_deletes_only_its_own(
    ductape: Ductape, http_target: HttpTarget, product: str
) -> None:
    later = int(time.time() * 1000) + 3_600_000
    builder = ductape.product(product)
    await builder.create_job(definition("from-api", start_at=later))
    first = product_config_for(http_target.url, product, jobs={
        "a": {"name": "A", "event_type": "action", "event_tag": "send_welcome_email", "intervals": 60_000,
              "start_at": later},
        "b": {"name": "B", "event_type": "action", "event_tag": "send_welcome_email", "intervals": 60_000,
              "start_at": later},
    })  # fmt: skip
    builders = {product: builder}
    changes = await plan_changes(builders, first)
    assert sorted((c.action, c.tag) for c in changes) == [("create", "a"), ("create", "b")]
    await apply_changes(builders, first, changes)

    second = product_config_for(http_target.url, product, jobs={
        "b": {"name": "B2", "event_type": "action", "event_tag": "send_welcome_email", "intervals": 60_000,
              "start_at": later},
    })  # fmt: skip

    async def planned() -> bool:
        found = sorted((c.action, c.tag) for c in await plan_changes(builders, second))
        return found == [("delete", "a"), ("update", "b")]

    await eventually(planned)  # listing the definitions just created is eventually consistent
    await apply_changes(builders, second, await plan_changes(builders, second))
    assert (await builder.fetch_job("b")).name == "B2"
    with pytest.raises(JobNotFoundError):
        await builder.fetch_job("a")
    assert (await builder.fetch_job("from-api")).tag == "from-api"  # made through the API: left alone

    bad = product_config_for(http_target.url, product, jobs={"c": {"name": "C", "event_type": "action",
                                                                    "event_tag": "x", "intervals": 0}})  # fmt: skip
    with pytest.raises(JobInputError) as err:
        await plan_changes(builders, bad)
    assert err.value.field == f"products.{product}.jobs.c.intervals"
