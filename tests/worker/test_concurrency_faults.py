"""Concurrency per key under worker crashes: 1,000 jobs over 50 keys with a limit of 2, while the
worker (a real ``ductape-jobs worker`` process) is SIGKILLed again and again. The target records how
many requests of each key it answers at once: never more than 2, and every job completes once.

A killed worker's slots are not lost: a slot belongs to the job's run, which goes on on the next
worker and releases it when its event ends; the keeper grants in one durable workflow, never twice.
"""

from __future__ import annotations

import asyncio
import random
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from temporalio.client import Client

from ductape_jobs import Ductape
from ductape_jobs.activities.config.product_config import parse_product_config
from ductape_jobs.activities.config.secrets import SecretStore
from ductape_jobs.codec.converter import DATA_CONVERTER
from ductape_jobs.dev.server import DevServer, DevServerOptions
from tests.support.http_target import HttpTarget
from tests.support.ports import free_port
from tests.worker.test_faults import SECRETS, start_worker, wait_all

JOBS, KEYS, LIMIT, KILLS = 1000, 50, 2, 3


def config_document(base_url: str) -> dict[str, Any]:
    return {"products": {"keyed": {"envs": ["dev"], "apps": {"users": {
        "envs": {"dev": {"base_url": base_url}},
        "actions": {"sync": {"path": "/sync", "concurrency": {"key": "$Input{body.user}", "limit": LIMIT}}},
    }}}}}  # fmt: skip


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[DevServer]:
    options = DevServerOptions(port=free_port(), data_dir=tmp_path / "temporal", headless=True)
    async with DevServer(options) as dev:
        yield dev


@pytest.mark.timeout(400)
async def test_sigkilled_workers_never_let_a_key_exceed_its_limit(
    server: DevServer, http_target: HttpTarget, tmp_path: Path
) -> None:
    http_target.overlap_field, http_target.delays["/sync"] = "user", 0.1
    config_file = tmp_path / "product.yaml"
    config_file.write_text(yaml.safe_dump(config_document(http_target.url)))
    config = parse_product_config(config_document(http_target.url))
    client = await Client.connect(server.options.address, data_converter=DATA_CONVERTER)
    ductape = Ductape(client, task_queue="keyed", config=config, secrets=SecretStore(SECRETS))
    items = [{"product_tag": "keyed", "env": "dev", "app": "users", "event": "sync", "retries": 5,
              "input": {"body": {"user": f"user-{n % KEYS}", "n": n}}} for n in range(JOBS)]  # fmt: skip
    results = await ductape.jobs.schedule_many(items, concurrency=64)
    job_ids = [r.result.job_id for r in results if r.result]
    assert len(job_ids) == JOBS

    rng, kills, started = random.Random(11), 0, time.monotonic()
    worker = await start_worker(server.options.address, config_file, "keyed")
    try:
        while kills < KILLS:
            await asyncio.sleep(rng.uniform(2.0, 5.0))
            worker.send_signal(signal.SIGKILL)
            await worker.wait()
            kills += 1
            worker = await start_worker(server.options.address, config_file, "keyed")
        outcomes = await wait_all(ductape, job_ids, within=300)
    finally:
        worker.send_signal(signal.SIGKILL)
        await worker.wait()
    calls = http_target.calls("/sync")
    peak = max(http_target.peak_in_flight.values())
    print(
        f"{JOBS} jobs over {KEYS} keys (limit {LIMIT}), {kills} SIGKILLs: {len(calls)} requests in "
        f"{time.monotonic() - started:.0f} s, peak in flight of any key {peak}"
    )
    assert all(o["status"] == 200 for o in outcomes)
    assert {r.body["n"] for r in calls} == set(range(JOBS)), "a job never reached the target"
    assert peak <= LIMIT, f"a key had {peak} requests in flight at once"
