"""Priority and fair shares on the dev server (fairness on, as the embedded default runs it), with a
real target: jobs queue on the server while a worker with few slots drains them, and the target's
order of calls shows who was served first.

Each test's backlog is left to a server-side batch termination when it is over: only the order in
which the first calls arrive matters here, not draining thousands of jobs.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from temporalio.api.batch.v1 import BatchOperationTermination
from temporalio.api.common.v1 import Payload
from temporalio.api.workflowservice.v1 import StartBatchOperationRequest
from temporalio.client import ScheduleActionStartWorkflow
from temporalio.testing import WorkflowEnvironment

from ductape_jobs import Ductape, JobFailedError
from ductape_jobs.activities.config.secrets import SecretStore
from tests.conftest import SECRETS, product_config_for
from tests.support.http_target import HttpTarget
from tests.support.workers import job_worker

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
async def backlogs(dev_env: WorkflowEnvironment) -> AsyncIterator[list[str]]:
    """Task queues whose backlog is left behind: terminated by the server after the module, in one
    batch (the dev server runs one at a time), without waiting for it."""
    queues: list[str] = []
    yield queues
    names = ", ".join(f'"{q}"' for q in queues)
    await dev_env.client.workflow_service.start_batch_operation(
        StartBatchOperationRequest(
            namespace=dev_env.client.namespace, job_id=str(uuid.uuid4()), reason="test over",
            visibility_query=f"TaskQueue IN ({names}) AND ExecutionStatus = 'Running'",
            termination_operation=BatchOperationTermination(),
        )
    )  # fmt: skip


@pytest.fixture
def queue(backlogs: list[str], task_queue: str) -> str:
    backlogs.append(task_queue)
    return task_queue


def product() -> str:
    return f"fair-{uuid.uuid4().hex[:8]}"


def item(product: str, tenant: str, n: int, **fields: Any) -> dict[str, Any]:
    return {"product_tag": product, "env": "dev", "app": "email-service", "event": "send_welcome_email",
            "input": {"body": {"tenant": tenant, "n": n}}} | fields  # fmt: skip


async def served_before(
    env: WorkflowEnvironment,
    target: HttpTarget,
    queue: str,
    backlog: tuple[str, int],
    late: tuple[str, int],
    **fields: Any,
) -> int:
    """Queue ``backlog`` (tenant, count), then ``late``, with no worker running; then run a worker with
    4 activity slots until every late job is served. Returns how many backlog jobs were served first.
    ``fields``: each tenant's job options, by tenant."""
    name = product()
    config = product_config_for(target.url, product=name)
    ductape = Ductape(env.client, task_queue=queue, config=config, secrets=SecretStore(SECRETS))
    for tenant, count in (backlog, late):
        items = [item(name, tenant, n, **fields[tenant]) for n in range(count)]
        assert all(r.ok for r in await ductape.jobs.schedule_many(items, concurrency=64))
    deadline = time.monotonic() + 150
    async with job_worker(
        env.client, task_queue=queue, config=config, secrets=SecretStore(SECRETS),
        max_concurrent_activities=4, max_concurrent_workflow_tasks=4,
    ):  # fmt: skip
        while (tenants := [r.body["tenant"] for r in target.calls("/v1/welcome")]).count(late[0]) < late[1]:
            assert time.monotonic() < deadline, f"only {len(tenants)} calls in 150 s"
            await asyncio.sleep(0.1)
    return tenants.count(backlog[0])


async def test_a_small_tenant_is_served_long_before_a_big_tenants_backlog(
    dev_env: WorkflowEnvironment, http_target: HttpTarget, queue: str
) -> None:
    fair = {"fairness_key": "$Input{body.tenant}"}
    big_served = await served_before(dev_env, http_target, queue, ("big", 2000), ("small", 20), big=fair, small=fair)
    print(f"the small tenant's 20 jobs were all served after {big_served} of the big tenant's 2000")
    # Served in the order queued (fairness off), the 20 wait for all 2,000; with fair shares they alternate.
    assert big_served <= 200


async def test_higher_priority_jobs_overtake_a_backlog(
    dev_env: WorkflowEnvironment, http_target: HttpTarget, queue: str
) -> None:
    low_served = await served_before(
        dev_env, http_target, queue, ("low", 300), ("high", 10), low={"priority": 5}, high={"priority": 1}
    )
    print(f"the 10 priority-1 jobs were all served after {low_served} of 300 priority-5 jobs")
    assert low_served <= 60


async def test_the_server_keeps_each_jobs_priority_through_schedules_updates_and_retries(
    dev_env: WorkflowEnvironment, http_target: HttpTarget, queue: str, unique: Callable[[str], str]
) -> None:
    name = product()
    config = product_config_for(http_target.url, product=name)
    ductape = Ductape(dev_env.client, task_queue=queue, config=config, secrets=SecretStore(SECRETS))
    http_target.script("/flaky", [400])
    one_off = await ductape.processor.job.schedule(
        item(name, "t1", 0, priority=2, fairness_key="$Input{body.tenant}", fairness_weight=3, event="flaky")
    )
    async with job_worker(dev_env.client, task_queue=queue, config=config, secrets=SecretStore(SECRETS)):
        with pytest.raises(JobFailedError):
            await ductape.jobs.result(one_off.job_id, timeout=60)
        await ductape.jobs.retry(one_off.job_id)
    started = (await dev_env.client.get_workflow_handle(one_off.job_id).describe()).raw_info.priority
    assert (started.priority_key, started.fairness_key, started.fairness_weight) == (2, "t1", 3)

    recurring = await ductape.processor.job.schedule(
        item(name, "t2", 0, priority=4, repeat={"cron": "0 3 * * *"}, job_id=unique("prio"))
    )
    action = (await dev_env.client.get_schedule_handle(recurring.job_id).describe()).schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    assert (action.priority.priority_key, action.priority.fairness_key) == (4, name)
    assert isinstance(action.static_summary, Payload)  # as read back from the server
    (summary,) = await dev_env.client.data_converter.decode([action.static_summary])
    assert summary.endswith("· priority 4")  # the Web UI's schedule list shows it

    nightly = {"name": "Nightly", "tag": "nightly", "event_type": "action", "event_tag": "send_welcome_email",
                  "app": "email-service", "intervals": 3_600_000, "env": "dev", "priority": 5}  # fmt: skip
    await ductape.product(name).create_job(nightly)
    await ductape.product(name).update_job("nightly", {"priority": 1, "fairness_key": "vip"})
    defined = await ductape.product(name).fetch_job("nightly")
    schedules = [s async for s in await dev_env.client.list_schedules(f'DuctapeProduct = "{name}"')]
    (definition,) = [s for s in schedules if "nightly" in s.id]
    action = (await dev_env.client.get_schedule_handle(definition.id).describe()).schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    assert (defined.priority, action.priority.priority_key, action.priority.fairness_key) == (1, 1, "vip")
