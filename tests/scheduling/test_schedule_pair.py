"""A DST job's schedule pair on the dev server (``ductape_jobs.scheduling.pair``): a half pair, whichever
half is missing, is completed by dispatching the same ``job_id`` again; cancel and delete act on both
halves, tolerate a missing one, and stop the companion first, so a failure between the two steps
leaves the visible main schedule, never a companion running on its own."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

import ductape_jobs.scheduling.pair
from ductape_jobs import Ductape, JobNotFoundError
from ductape_jobs.activities.config.product_config import ProductConfig
from ductape_jobs.activities.config.secrets import SecretStore
from ductape_jobs.scheduling import describe_schedule
from ductape_jobs.workflows.contracts.management import JobMemo
from tests.conftest import SECRETS
from tests.scheduling.test_schedule_state import cancelled_attribute, eventually

ZONE = "Europe/Amsterdam"
START = datetime(2027, 3, 27, tzinfo=ZoneInfo(ZONE))  # every run lies in 2027: no worker needed


@pytest.fixture
def ductape(dev_env: WorkflowEnvironment, product_config: ProductConfig, task_queue: str) -> Ductape:
    return Ductape(dev_env.client, task_queue=task_queue, config=product_config, secrets=SecretStore(SECRETS))


def dst_job(job_id: str, cron: str = "30 2 * * *") -> dict[str, Any]:
    return {
        "product_tag": "my-product", "env": "dev", "app": "email-service", "event": "send_welcome_email",
        "input": {}, "job_id": job_id, "start_at": START.isoformat(), "repeat": {"cron": cron, "tz": ZONE},
    }  # fmt: skip


def new_id() -> str:
    return f"pair-{uuid.uuid4().hex[:10]}"


async def halves(client: Client, job_id: str) -> tuple[bool, bool]:
    return (
        await describe_schedule(client, job_id) is not None,
        await describe_schedule(client, f"{job_id}~dst") is not None,
    )


async def companion_cron(client: Client, job_id: str) -> str | None:
    companion = await describe_schedule(client, f"{job_id}~dst")
    assert companion is not None
    return JobMemo.model_validate(await companion.memo()).cron


async def test_dispatching_again_completes_a_pair_whose_main_schedule_is_missing(
    ductape: Ductape, dev_env: WorkflowEnvironment
) -> None:
    job_id = new_id()
    first = await ductape.processor.job.schedule(dst_job(job_id))
    # What a delete that stopped halfway by the previous version (main first) left behind.
    await dev_env.client.get_schedule_handle(job_id).delete()
    assert await halves(dev_env.client, job_id) == (False, True)
    try:
        with pytest.raises(JobNotFoundError):
            await ductape.jobs.get(job_id)
        again = await ductape.processor.job.schedule(dst_job(job_id))
        assert await halves(dev_env.client, job_id) == (True, True)
        assert again.next_run_at == first.next_run_at
        assert (await ductape.jobs.get(job_id)).status == "scheduled"
        # The leftover companion is replaced, not kept with an older job's timing.
        await dev_env.client.get_schedule_handle(job_id).delete()
        await ductape.processor.job.schedule(dst_job(job_id, "45 2 * * *"))
        assert await companion_cron(dev_env.client, job_id) == "45 2 * * *"
    finally:
        await ductape.jobs.delete(job_id)
    assert await halves(dev_env.client, job_id) == (False, False)


async def test_dispatching_again_completes_a_pair_whose_companion_is_missing(
    ductape: Ductape, dev_env: WorkflowEnvironment
) -> None:
    job_id = new_id()
    await ductape.processor.job.schedule(dst_job(job_id))
    await dev_env.client.get_schedule_handle(f"{job_id}~dst").delete()
    try:
        await ductape.processor.job.schedule(dst_job(job_id))
        assert await halves(dev_env.client, job_id) == (True, True)
        assert await companion_cron(dev_env.client, job_id) == "30 2 * * *"
    finally:
        await ductape.jobs.delete(job_id)


async def test_cancel_and_delete_tolerate_a_missing_half(ductape: Ductape, dev_env: WorkflowEnvironment) -> None:
    # The main schedule alone: cancel and delete act on it.
    job_id = new_id()
    await ductape.processor.job.schedule(dst_job(job_id))
    await dev_env.client.get_schedule_handle(f"{job_id}~dst").delete()
    assert (await ductape.jobs.cancel(job_id)).status == "cancelled"
    await ductape.jobs.delete(job_id)
    assert await halves(dev_env.client, job_id) == (False, False)

    # The companion alone: no job to show, but cancel stops it and delete removes it.
    orphan = new_id()
    await ductape.processor.job.schedule(dst_job(orphan))
    await dev_env.client.get_schedule_handle(orphan).delete()
    with pytest.raises(JobNotFoundError):
        await ductape.jobs.cancel(orphan)
    companion = await describe_schedule(dev_env.client, f"{orphan}~dst")
    assert companion is not None
    assert companion.schedule.state.paused
    assert companion.info.next_action_times == []
    await ductape.jobs.delete(orphan)
    assert await halves(dev_env.client, orphan) == (False, False)
    with pytest.raises(JobNotFoundError):
        await ductape.jobs.delete(orphan)


async def test_a_cancel_or_delete_failing_halfway_never_leaves_the_companion_alone(
    ductape: Ductape, dev_env: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = new_id()
    await ductape.processor.job.schedule(dst_job(job_id))
    real_update, real_delete = ductape_jobs.scheduling.pair._update, ductape_jobs.scheduling.pair.delete_schedule

    async def update_failing_on_main(client: Client, schedule_id: str, change: Any) -> bool:
        if schedule_id == job_id:
            raise ConnectionError("the process died between the two halves")
        return await real_update(client, schedule_id, change)

    async def delete_failing_on_main(client: Client, schedule_id: str) -> bool:
        if schedule_id == job_id:
            raise ConnectionError("the process died between the two halves")
        return await real_delete(client, schedule_id)

    try:
        monkeypatch.setattr(ductape_jobs.scheduling.pair, "_update", update_failing_on_main)
        with pytest.raises(ConnectionError):
            await ductape.jobs.cancel(job_id)
        companion = await describe_schedule(dev_env.client, f"{job_id}~dst")
        assert companion is not None
        assert companion.info.next_action_times == []  # the companion stopped first
        await eventually(lambda: cancelled_attribute(dev_env.client, f"{job_id}~dst"))
        assert (await ductape.jobs.get(job_id)).status == "scheduled"  # the job says it is not cancelled
        monkeypatch.setattr(ductape_jobs.scheduling.pair, "_update", real_update)
        assert (await ductape.jobs.cancel(job_id)).status == "cancelled"  # the same call again finishes it

        monkeypatch.setattr(ductape_jobs.scheduling.pair, "delete_schedule", delete_failing_on_main)
        with pytest.raises(ConnectionError):
            await ductape.jobs.delete(job_id)
        assert await halves(dev_env.client, job_id) == (True, False)  # the companion went first
        assert (await ductape.jobs.get(job_id)).status == "cancelled"
    finally:
        monkeypatch.setattr(ductape_jobs.scheduling.pair, "_update", real_update)
        monkeypatch.setattr(ductape_jobs.scheduling.pair, "delete_schedule", real_delete)
        await ductape.jobs.delete(job_id)
    assert await halves(dev_env.client, job_id) == (False, False)
