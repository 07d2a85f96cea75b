"""Arming ahead (``ductape_jobs.workflows.arming``) on the real dev server: a one-off job hands its event to an
activity before its instant, and that activity starts the work at the instant. What a user would
notice: the start is on time, an armed job can still be cancelled, and a worker dying while a job is
armed neither loses the job nor runs it twice, even when it allows a single attempt."""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from ductape_jobs import Ductape, JobStateError
from ductape_jobs.activities.config.product_config import parse_product_config
from ductape_jobs.activities.config.secrets import SecretStore
from ductape_jobs.codec.converter import DATA_CONVERTER
from ductape_jobs.dev.server import DevServer
from ductape_jobs.workflows.arming import arm_lead_ms
from ductape_jobs.workflows.contracts.job import JobState
from tests.conftest import SECRETS, product_config_for
from tests.support.http_target import HttpTarget
from tests.support.workers import job_worker
from tests.worker.test_faults import SECRETS as FAULT_SECRETS
from tests.worker.test_faults import config_document, effects, job, server, start_worker

__all__ = ["server"]  # the fault suite's dev server on a SQLite file, used as a fixture here


def job_id_with_lead(prefix: str, at_least: timedelta, below: timedelta | None = None) -> str:
    """A job ID whose arming lead is at least ``at_least`` (and under ``below``): a job due sooner
    arms at dispatch."""
    for n in range(10_000):
        job_id = f"{prefix}-{uuid.uuid4().hex[:6]}-{n}"
        lead = timedelta(milliseconds=arm_lead_ms(job_id) or 0)
        if lead >= at_least and (below is None or lead < below):
            return job_id
    raise AssertionError("no such job ID")


@pytest.fixture
async def ductape(dev_env: WorkflowEnvironment, http_target: HttpTarget, task_queue: str) -> AsyncIterator[Ductape]:
    config = product_config_for(http_target.url)
    async with job_worker(dev_env.client, task_queue=task_queue, config=config, secrets=SecretStore(SECRETS)):
        yield Ductape(dev_env.client, task_queue=task_queue, config=config, secrets=SecretStore(SECRETS))


def welcome(**fields: Any) -> dict[str, Any]:
    return {"product_tag": "my-product", "env": "dev", "app": "email-service", "event": "send_welcome_email",
            "input": {"body": {"id": 1}}} | fields  # fmt: skip


async def state(ductape: Ductape, job_id: str) -> JobState:
    result: JobState = await ductape.client.get_workflow_handle(job_id).query("state", result_type=JobState)
    return result


async def until_armed(ductape: Ductape, job_id: str) -> None:
    for _ in range(100):
        if (await state(ductape, job_id)).phase == "armed":
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{job_id} never armed")


async def test_an_armed_job_starts_at_its_instant(ductape: Ductape, http_target: HttpTarget) -> None:
    start_at = datetime.now(UTC) + timedelta(seconds=6)
    job_id = job_id_with_lead("armed", timedelta(seconds=20))
    await ductape.processor.job.schedule(welcome(job_id=job_id, start_at=start_at.isoformat()))
    await until_armed(ductape, job_id)
    assert (await ductape.jobs.get(job_id)).status == "scheduled"

    await ductape.jobs.result(job_id)
    (call,) = http_target.calls("/v1/welcome")
    assert start_at.timestamp() <= call.at <= start_at.timestamp() + 1.0
    # The activity was handed out seconds before the instant: nothing was left to do at it.
    history = [e async for e in ductape.client.get_workflow_handle(job_id).fetch_history_events()]
    (scheduled,) = [e for e in history if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED]
    assert scheduled.event_time.ToDatetime(UTC) <= start_at - timedelta(seconds=3)


async def test_an_armed_job_takes_a_pause_and_a_reschedule_at_once(ductape: Ductape, http_target: HttpTarget) -> None:
    """The armed attempt is taken back within a fraction of a second (no heartbeat throttle), and the
    job waits again: paused, then moved, then resumed, it runs once, at its new time."""
    start_at = datetime.now(UTC) + timedelta(seconds=12)
    job_id = job_id_with_lead("armed-hold", timedelta(seconds=20))
    await ductape.processor.job.schedule(welcome(job_id=job_id, start_at=start_at.isoformat()))
    await until_armed(ductape, job_id)
    began = time.monotonic()
    assert (await ductape.jobs.pause(job_id)).status == "paused"
    assert time.monotonic() - began < 1.5
    assert (await state(ductape, job_id)).phase == "paused"
    moved_to = start_at + timedelta(seconds=3)
    await ductape.jobs.reschedule(job_id, start_at=moved_to.isoformat())
    await asyncio.sleep(start_at.timestamp() + 1 - time.time())
    assert http_target.calls("/v1/welcome") == []  # its old instant passed: paused, nothing ran
    assert (await ductape.jobs.get(job_id)).status == "paused"
    await ductape.jobs.resume(job_id)
    await ductape.jobs.result(job_id)
    (call,) = http_target.calls("/v1/welcome")
    assert moved_to.timestamp() <= call.at <= moved_to.timestamp() + 1.5
    with pytest.raises(JobStateError, match="already") as late:
        await ductape.jobs.pause(job_id)
    assert late.value.phase == "done"


async def test_cancelling_an_armed_job_stops_it_before_its_instant(ductape: Ductape, http_target: HttpTarget) -> None:
    start_at = datetime.now(UTC) + timedelta(seconds=13)
    job_id = job_id_with_lead("armed-cancel", timedelta(seconds=20))
    await ductape.processor.job.schedule(welcome(job_id=job_id, start_at=start_at.isoformat()))
    await until_armed(ductape, job_id)
    await ductape.jobs.cancel(job_id)
    await asyncio.sleep(start_at.timestamp() + 2 - time.time())
    assert http_target.calls("/v1/welcome") == []
    description = await ductape.client.get_workflow_handle(job_id).describe()
    assert description.status == WorkflowExecutionStatus.CANCELED


@pytest.mark.timeout(120)  # ~13 s measured; waits up to 60 s for the heartbeat timeout's retry
async def test_a_worker_killed_while_a_job_is_armed_loses_and_doubles_nothing(
    server: DevServer, tmp_path: Path
) -> None:
    """SIGKILL: no graceful hand-back, the server notices the silence (heartbeat timeout) and the
    workflow gives back the attempt the timeout cost: one attempt allowed, yet the job runs, once."""
    receiver = HttpTarget()
    await receiver.start()
    try:
        config_file = tmp_path / "product.yaml"
        config_file.write_text(yaml.safe_dump(config_document(receiver.url)))
        config = parse_product_config(config_document(receiver.url))
        client = await Client.connect(server.options.address, data_converter=DATA_CONVERTER)
        ductape = Ductape(client, task_queue="armed-kill", config=config, secrets=SecretStore(FAULT_SECRETS))
        start_at = datetime.now(UTC) + timedelta(seconds=8)
        job_id = job_id_with_lead("armed-kill", timedelta(seconds=20))
        await ductape.processor.job.schedule(job(1, start_at, job_id=job_id, retries=0, retry=None))
        worker = await start_worker(server.options.address, config_file, "armed-kill")
        try:
            await until_armed(ductape, job_id)
            await asyncio.sleep(1.0)  # the killed worker holds the armed activity
        finally:
            worker.send_signal(signal.SIGKILL)
            await worker.wait()
        async with job_worker(client, task_queue="armed-kill", config=config, secrets=SecretStore(FAULT_SECRETS)):
            outcome = await asyncio.wait_for(ductape.jobs.result(job_id), 60)
        assert outcome["status"] == 200
        assert {n: len(keys) for n, keys in effects(receiver).items()} == {1: 1}
        (call,) = receiver.calls("/effects")
        assert call.at >= start_at.timestamp()
    finally:
        await receiver.stop()
