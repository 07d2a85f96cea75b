"""Liveness under faults: the job of a worker killed mid-event moves to another worker within the
event activities' heartbeat timeout (``EVENT_HEARTBEAT``), not after the attempt's start-to-close
timeout. Real ``ductape-jobs worker`` processes, SIGKILLed; a real HTTP target that hangs once."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml
from aiohttp import web
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from ductape_jobs import Ductape
from ductape_jobs.activities.config.product_config import parse_product_config
from ductape_jobs.activities.config.secrets import SecretStore
from ductape_jobs.codec.converter import DATA_CONVERTER
from ductape_jobs.dev.server import DevServer
from ductape_jobs.workflows.arming import EVENT_HEARTBEAT
from ductape_jobs.workflows.contracts.job import RUN_ACTION
from tests.worker.test_faults import SECRETS, config_document, server, start_worker

__all__ = ["server"]  # the fault suite's dev server on a SQLite file, used as a fixture here

ATTEMPT_TIMEOUT_S = 300
"""The app's request timeout (the attempt's is 10 s more): what a dead worker's job would wait
without heartbeats."""


class HangingOnce:
    """Answers every request at once, but the first one, which never gets an answer."""

    def __init__(self) -> None:
        self.arrivals: list[float] = []
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._hang = asyncio.Event()

    async def _handle(self, request: web.Request) -> web.Response:
        self.arrivals.append(time.monotonic())
        if len(self.arrivals) == 1:
            await self._hang.wait()
        return web.json_response({"ok": True})

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]

    async def stop(self) -> None:
        self._hang.set()
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def hanging() -> AsyncIterator[HangingOnce]:
    target = HangingOnce()
    await target.start()
    yield target
    await target.stop()


@pytest.mark.timeout(180)  # about 25 s: one heartbeat timeout, plus worker starts
async def test_a_killed_workers_running_job_moves_on_within_the_heartbeat_timeout(
    server: DevServer, hanging: HangingOnce, tmp_path: Path
) -> None:
    document = config_document(hanging.url)
    document["products"]["faults"]["apps"]["receiver"]["envs"]["dev"]["timeout_ms"] = ATTEMPT_TIMEOUT_S * 1000
    config_file = tmp_path / "product.yaml"
    config_file.write_text(yaml.safe_dump(document))
    config = parse_product_config(document)
    client = await Client.connect(server.options.address, data_converter=DATA_CONVERTER)
    ductape = Ductape(client, task_queue="liveness", config=config, secrets=SecretStore(SECRETS))
    job = await ductape.processor.job.schedule(
        {
            "product_tag": "faults", "env": "dev", "app": "receiver", "event": "effect", "input": {"body": {"n": 1}},
            "start_at": 0, "retries": 1, "retry": {"initialDelay": 100},
        }
    )  # fmt: skip
    first = await start_worker(server.options.address, config_file, "liveness")
    try:
        for _ in range(300):
            if hanging.arrivals:
                break
            await asyncio.sleep(0.1)
        assert hanging.arrivals, "the first worker never called the target"
    finally:
        first.send_signal(signal.SIGKILL)
        await first.wait()
    killed = time.monotonic()
    second = await start_worker(server.options.address, config_file, "liveness")
    try:
        outcome = await asyncio.wait_for(ductape.jobs.result(job.job_id), EVENT_HEARTBEAT.total_seconds() + 30)
    finally:
        second.send_signal(signal.SIGKILL)
        await second.wait()
    assert outcome["status"] == 200
    assert len(hanging.arrivals) == 2
    moved_after = hanging.arrivals[1] - killed
    print(f"the job reached the target again {moved_after:.1f} s after its worker was killed")
    # Within the heartbeat timeout (plus the retry's backoff and a loaded machine's slack), far
    # from the attempt's own timeout.
    assert moved_after <= EVENT_HEARTBEAT.total_seconds() + 8
    history = [e async for e in client.get_workflow_handle(job.job_id).fetch_history_events()]
    (scheduled,) = [e for e in history if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED]
    attributes = scheduled.activity_task_scheduled_event_attributes
    assert attributes.activity_type.name == RUN_ACTION
    assert attributes.heartbeat_timeout.ToTimedelta() == EVENT_HEARTBEAT
