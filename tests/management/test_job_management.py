"""``ductape.jobs`` on the dev server with a real target: pause, resume, reschedule, trigger, retry,
history, list, stats, cancel_many, delete. Each test uses its own product, so listings are its own."""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.testing import WorkflowEnvironment

from ductape_jobs import Ductape, JobFailedError, JobInputError, JobNotFoundError, JobStateError, JobTimeoutError
from ductape_jobs.activities.config.product_config import ProductConfig
from ductape_jobs.activities.config.secrets import SecretStore
from ductape_jobs.management.cancelling import cancel_decided
from ductape_jobs.scheduling import facts
from tests.cli.test_cli import run_cli
from tests.conftest import SECRETS, TEST_KEYRING, product_config_for
from tests.management.conftest import Env, in_
from tests.support.http_target import HttpTarget
from tests.support.waiting import eventually
from tests.support.workers import job_worker


async def test_pause_holds_a_waiting_job_past_its_time_until_resumed(env: Env) -> None:
    # Paused an hour ahead, then moved to 1.5 s from now: a job due that soon would already be armed
    # (its event handed to a worker, ductape_jobs.workflows.arming), and an armed job can only be cancelled.
    job = await env.ductape.processor.job.schedule(env.job(start_at=in_(3600)))
    assert (await env.ductape.jobs.pause(job.job_id)).status == "paused"
    await env.ductape.jobs.reschedule(job.job_id, start_at=in_(1.5))
    await asyncio.sleep(2.5)
    assert env.target.requests == []
    assert (await env.ductape.jobs.get(job.job_id)).status == "paused"
    await env.ductape.jobs.resume(job.job_id)
    await env.ductape.jobs.result(job.job_id)
    assert len(env.target.calls("/v1/welcome")) == 1


async def test_reschedule_moves_a_waiting_job_and_keeps_its_id(env: Env) -> None:
    job = await env.ductape.processor.job.schedule(env.job(start_at=in_(3600)))
    moved_to = datetime.now(UTC) + timedelta(seconds=1)
    record = await env.ductape.jobs.reschedule(job.job_id, start_at=moved_to.isoformat())
    assert record.job_id == job.job_id
    assert record.scheduled_at == int(moved_to.timestamp() * 1000)
    await env.ductape.jobs.result(job.job_id)
    (call,) = env.target.calls("/v1/welcome")
    assert moved_to.timestamp() - 0.2 <= call.at <= moved_to.timestamp() + 3
    with pytest.raises(JobStateError):  # it already ran
        await env.ductape.jobs.reschedule(job.job_id, start_at=in_(60))


async def test_trigger_runs_a_waiting_job_now(env: Env) -> None:
    job = await env.ductape.processor.job.schedule(env.job(start_at=in_(3600)))
    await env.ductape.jobs.trigger(job.job_id)
    await env.ductape.jobs.result(job.job_id)
    assert len(env.target.calls("/v1/welcome")) == 1
    with pytest.raises(JobStateError):
        await env.ductape.jobs.trigger(job.job_id)


async def test_failed_job_retried_succeeds_once_the_target_is_fixed(env: Env) -> None:
    env.target.script("/missing", [404, 200])
    job = await env.ductape.processor.job.schedule(env.job("missing", retries=2))
    with pytest.raises(JobFailedError):
        await env.ductape.jobs.result(job.job_id)
    failed = await env.ductape.jobs.get(job.job_id)
    assert failed.status == "failed"
    assert failed.last_error is not None
    retried = await env.ductape.jobs.retry(job.job_id)
    assert retried.job_id == job.job_id
    assert (await env.ductape.jobs.result(job.job_id))["status"] == 200
    record = await env.ductape.jobs.get(job.job_id)
    assert record.status == "completed"
    assert record.retry_count == 0
    assert record.started_at is not None

    async def two_runs() -> bool:
        return (await env.ductape.jobs.history(job.job_id)).total_executions == 2

    await eventually(two_runs)
    history = await env.ductape.jobs.history(job.job_id)
    assert (history.successful_executions, history.failed_executions) == (1, 1)
    assert history.executions[-1].error is not None
    assert history.executions[-1].error.startswith("NOT_FOUND")
    with pytest.raises(JobStateError):
        await env.ductape.jobs.retry(job.job_id)


async def test_pausing_a_recurring_job_stops_its_runs_until_resumed(env: Env) -> None:
    job = await env.ductape.processor.job.schedule(env.job(repeat={"every": 1000}))
    await eventually(lambda: _calls(env, 1))
    paused = await env.ductape.jobs.pause(job.job_id)
    assert paused.status == "paused"
    await asyncio.sleep(0.5)  # a run already started before the pause may still land
    frozen = len(env.target.requests)
    await asyncio.sleep(2.5)
    assert len(env.target.requests) == frozen
    assert (await env.ductape.jobs.resume(job.job_id)).status in ("scheduled", "running")
    await eventually(lambda: _calls(env, frozen + 1))
    await env.ductape.jobs.cancel(job.job_id)


async def _calls(env: Env, n: int) -> bool:
    return len(env.target.requests) >= n


async def test_recurring_reschedule_trigger_and_history(env: Env, dev_env: WorkflowEnvironment) -> None:
    job = await env.ductape.processor.job.schedule(env.job(repeat={"cron": "0 9 * * 1", "tz": "Europe/Amsterdam"}))
    record = await env.ductape.jobs.reschedule(job.job_id, every=3_600_000)
    assert (record.cron, record.every) == (None, 3_600_000)
    described = await dev_env.client.get_schedule_handle(job.job_id).describe()
    upcoming = described.info.next_action_times
    assert upcoming[1] - upcoming[0] == timedelta(hours=1)
    # An armed job's schedule fires early by its shift; the job reports its nominal time.
    early = timedelta(seconds=facts(described).arm_shift_s or 0)
    assert record.next_run_at == int((upcoming[0] + early).timestamp() * 1000)
    await env.ductape.jobs.trigger(job.job_id)
    await eventually(lambda: _calls(env, 1))

    async def one_run() -> bool:
        return (await env.ductape.jobs.history(job.job_id)).successful_executions == 1

    await eventually(one_run)
    with pytest.raises(JobInputError, match=r"repeat\.cron"):
        await env.ductape.jobs.reschedule(job.job_id, cron="61 * * * *")
    await env.ductape.jobs.cancel(job.job_id)
    with pytest.raises(JobStateError):
        await env.ductape.jobs.resume(job.job_id)


async def test_list_filters_pages_and_stats(env: Env) -> None:
    env.target.script("/flaky", [503, 200])
    env.target.script("/missing", [404])
    done = [await env.ductape.processor.job.schedule(env.job()) for _ in range(2)]
    retried = await env.ductape.processor.job.schedule(env.job("flaky", retries=2, retry={"initialDelay": 100}))
    broken = await env.ductape.processor.job.schedule(env.job("missing"))
    waiting = await env.ductape.processor.job.schedule(env.job(start_at=in_(3600)))
    recurring = await env.ductape.processor.job.schedule(env.job(start_at=in_(3600), repeat={"every": 60_000}))
    for finished in (*done, retried):
        await env.ductape.jobs.result(finished.job_id)
    with pytest.raises(JobFailedError):
        await env.ductape.jobs.result(broken.job_id)

    async def listed() -> set[str]:
        ids: set[str] = set()
        cursor = None
        while True:
            page = await env.ductape.jobs.list(product=env.product, limit=2, cursor=cursor)
            assert len(page.jobs) <= 2
            ids |= {j.job_id for j in page.jobs}
            if page.cursor is None:
                return ids
            cursor = page.cursor

    everything = {j.job_id for j in (*done, retried, broken, waiting, recurring)}
    await eventually(lambda: _equal(listed(), everything))
    failed = await env.ductape.jobs.list(product=env.product, status="failed")
    assert [j.job_id for j in failed.jobs] == [broken.job_id]
    only_recurring = await env.ductape.jobs.list(product=env.product, recurring=True)
    assert [j.job_id for j in only_recurring.jobs] == [recurring.job_id]
    scheduled = await env.ductape.jobs.list(product=env.product, status="scheduled", recurring=False)
    assert [j.job_id for j in scheduled.jobs] == [waiting.job_id]

    stats = await env.ductape.jobs.stats(product=env.product)
    assert stats.by_status == {"completed": 3, "failed": 1, "running": 1}
    assert stats.success_rate == 0.75
    assert (stats.completed_first_try, stats.completed_after_retry) == (2, 1)

    assert (await env.ductape.jobs.cancel_many(product=env.product)).done == 2  # the waiting and the recurring one
    assert (await env.ductape.jobs.get(waiting.job_id)).status == "cancelled"
    assert (await env.ductape.jobs.get(recurring.job_id)).status == "cancelled"


async def _equal(found: Awaitable[set[str]], expected: set[str]) -> bool:
    return await found == expected


async def test_delete_removes_one_off_and_recurring_jobs(env: Env) -> None:
    one_off = await env.ductape.processor.job.schedule(env.job(start_at=in_(3600)))
    recurring = await env.ductape.processor.job.schedule(env.job(start_at=in_(3600), repeat={"every": 60_000}))
    for job_id in (one_off.job_id, recurring.job_id):
        await env.ductape.jobs.delete(job_id)

    async def gone(job_id: str) -> bool:
        try:
            await env.ductape.jobs.get(job_id)
        except JobNotFoundError:
            return True
        return False

    await eventually(lambda: gone(one_off.job_id))
    await eventually(lambda: gone(recurring.job_id))


async def test_jobs_cli_lists_and_shows_history(env: Env, dev_env: WorkflowEnvironment) -> None:
    job = await env.ductape.processor.job.schedule(env.job())
    await env.ductape.jobs.result(job.job_id)
    address = dev_env.client.service_client.config.target_host
    keys = dict(os.environ, DUCTAPE_ENCRYPTION_KEYS=TEST_KEYRING.to_text())

    async def listed() -> bool:
        code, out, err = await run_cli(
            "jobs", "list", "--product", env.product, "--json", "--address", address, env=keys
        )
        assert code == 0, err
        return [j["job_id"] for j in json.loads(out)["jobs"]] == [job.job_id]

    await eventually(listed)
    code, out, err = await run_cli("jobs", "history", job.job_id, "--address", address, env=keys)
    assert code == 0, err
    assert "1 runs: 1 completed, 0 failed" in out
    code, _, err = await run_cli("jobs", "pause", job.job_id, "--address", address, env=keys)
    assert code == 1
    assert "not waiting" in err or "already finished" in err


async def test_result_with_a_timeout_stops_waiting_and_leaves_the_job_as_it_was(
    env: Env, dev_env: WorkflowEnvironment
) -> None:
    one_off = await env.ductape.processor.job.schedule(env.job(start_at=in_(3600)))
    recurring = await env.ductape.processor.job.schedule(env.job(start_at=in_(3600), repeat={"every": 3_600_000}))
    for job in (one_off, recurring):  # a workflow to wait on; a schedule with no run yet
        started = time.monotonic()
        with pytest.raises(JobTimeoutError, match=f"job {job.job_id} has no result after 1 s") as waited:
            await env.ductape.jobs.result(job.job_id, timeout=1)
        assert 1 <= time.monotonic() - started < 5
        assert isinstance(waited.value, TimeoutError)
        assert (await env.ductape.jobs.get(job.job_id)).status == "scheduled"
    address = dev_env.client.service_client.config.target_host
    keys = dict(os.environ, DUCTAPE_ENCRYPTION_KEYS=TEST_KEYRING.to_text())
    code, _, err = await run_cli("jobs", "result", one_off.job_id, "--timeout", "1", "--address", address, env=keys)
    assert code == 1
    assert f"job {one_off.job_id} has no result after 1 s" in err
    assert (await env.ductape.jobs.get(one_off.job_id)).status == "scheduled"
    code, _, err = await run_cli("jobs", "result", one_off.job_id, "--timeout", "0", "--address", address, env=keys)
    assert code == 2
    assert "--timeout: must be a positive number of seconds" in err


def no_worker_yet(
    dev_env: WorkflowEnvironment, http_target: HttpTarget, task_queue: str
) -> tuple[Ductape, ProductConfig]:
    """A client for a fresh product on a task queue no worker polls yet."""
    config = product_config_for(http_target.url, f"shop-{uuid.uuid4().hex[:8]}")
    return Ductape(dev_env.client, task_queue=task_queue, config=config, secrets=SecretStore(SECRETS)), config


def waiting_job(config: ProductConfig) -> dict[str, object]:
    product = next(iter(config.products))
    return {"product_tag": product, "env": "dev", "app": "email-service", "event": "send_welcome_email",
            "input": {}, "start_at": in_(3600)}  # fmt: skip


async def test_an_update_in_the_first_workflow_task_is_not_lost(
    dev_env: WorkflowEnvironment, http_target: HttpTarget, task_queue: str
) -> None:
    """With no worker yet, the start and the reschedule reach the workflow in one first task:
    the update handler then runs before run(), and must see the job's state already set."""
    ductape, config = no_worker_yet(dev_env, http_target, task_queue)
    job = await ductape.processor.job.schedule(waiting_job(config))
    update = asyncio.create_task(ductape.jobs.reschedule(job.job_id, start_at=in_(0.5)))
    await asyncio.sleep(1.0)  # the update is now waiting on the server with the start
    async with job_worker(dev_env.client, task_queue=task_queue, config=config, secrets=SecretStore(SECRETS)):
        await update
        await asyncio.wait_for(ductape.jobs.result(job.job_id), timeout=15)
    assert len(http_target.calls("/v1/welcome")) == 1


async def test_a_cancel_no_worker_has_decided_is_undecided_never_cancelled_until_the_run_says_so(
    dev_env: WorkflowEnvironment, http_target: HttpTarget, task_queue: str
) -> None:
    """A bulk cancel reports each run's own decision: while no worker has taken the request (or the
    request never reached the run) the answer is ``undecided``; once a worker decides, ``cancelled``."""
    ductape, config = no_worker_yet(dev_env, http_target, task_queue)
    job = await ductape.processor.job.schedule(waiting_job(config))
    quick = {"patience": timedelta(seconds=2), "wait": timedelta(seconds=1)}
    assert await cancel_decided(dev_env.client, job.job_id, **quick) == "undecided"  # no request was sent
    await dev_env.client.get_workflow_handle(job.job_id).cancel()
    assert await cancel_decided(dev_env.client, job.job_id, **quick) == "undecided"  # no worker to decide
    assert (await ductape.jobs.get(job.job_id)).status == "scheduled"
    async with job_worker(dev_env.client, task_queue=task_queue, config=config, secrets=SecretStore(SECRETS)):
        assert await cancel_decided(dev_env.client, job.job_id) == "cancelled"
    assert (await ductape.jobs.get(job.job_id)).status == "cancelled"
    assert http_target.calls("/v1/welcome") == []
