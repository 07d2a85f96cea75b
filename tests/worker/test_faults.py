"""Faults, bounded and on loopback only: a worker killed with SIGKILL again and again, a server
stopped and restarted mid-run, and a flood of malformed inputs. Nothing may be lost or doubled.

The server is a real ``temporal server start-dev`` on a SQLite file (so a restart keeps its state);
the killed workers are real ``ductape-jobs worker`` processes.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import random
import signal
import sys
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from temporalio.client import Client

from ductape_jobs import Ductape, JobInputError
from ductape_jobs.activities.config.product_config import ProductConfig, parse_product_config
from ductape_jobs.activities.config.secrets import SecretStore
from ductape_jobs.codec.converter import DATA_CONVERTER
from ductape_jobs.dev.server import DevServer, DevServerOptions
from tests.support.http_target import HttpTarget, Received
from tests.support.ports import free_port
from tests.support.workers import job_worker

WORKER = Path(sys.executable).parent / "ductape-jobs"
SECRETS = {"EMAIL_KEY": "fault-secret-value"}


def config_document(base_url: str) -> dict[str, Any]:
    return {
        "products": {
            "faults": {
                "envs": ["dev"],
                "secrets": ["EMAIL_KEY"],
                "apps": {
                    "receiver": {
                        "envs": {"dev": {"base_url": base_url, "headers": {"X-Key": "$Secret{EMAIL_KEY}"}}},
                        "actions": {"effect": {"method": "POST", "path": "/effects"}},
                    }
                },
            }
        }
    }


def job(n: int, start_at: datetime, **fields: Any) -> dict[str, Any]:
    return {
        "product_tag": "faults", "env": "dev", "app": "receiver", "event": "effect", "job_id": f"fault-{n}",
        "input": {"body": {"n": n}}, "start_at": start_at.isoformat(), "retries": 5,
        "retry": {"initialDelay": 200, "maxDelay": 1000},
    } | fields  # fmt: skip


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[DevServer]:
    options = DevServerOptions(port=free_port(), data_dir=tmp_path / "temporal", headless=True)
    async with DevServer(options) as dev:
        yield dev


@pytest.fixture
async def receiver() -> AsyncIterator[HttpTarget]:
    target = HttpTarget()
    await target.start()
    yield target
    await target.stop()


def effects(target: HttpTarget) -> dict[int, set[str]]:
    """Job number -> the distinct ``Idempotency-Key`` values its requests carried.

    An idempotent receiver applies each key once, so one key per job = exactly one effect."""
    keys: dict[int, set[str]] = defaultdict(set)
    for request in target.calls("/effects"):
        keys[request.body["n"]].add(request.headers["Idempotency-Key"])
    return keys


SLACK_S = 1.0
"""A request can reach the receiver just after the kill (or server stop) that cut off its sender."""


def unexplained_repeats(target: HttpTarget, disruptions: list[tuple[float, float]]) -> dict[str, int]:
    """``Idempotency-Key`` -> how many times a request with it was sent again with no disruption to explain it.

    One key is one attempt at one effect; its request is sent again only when the worker sending it
    died (or lost the server) before it could report the response. So between two requests with one
    key there must be a disruption (a ``(start, end)`` wall-clock interval): otherwise the receiver got a
    duplicate delivery, which a receiver without idempotency would apply twice."""
    times: dict[str, list[float]] = defaultdict(list)
    for request in target.calls("/effects"):
        times[request.headers["Idempotency-Key"]].append(request.at)

    def explained(before: float, after: float) -> bool:
        return any(start <= after and end >= before - SLACK_S for start, end in disruptions)

    unexplained: dict[str, int] = {}
    for key, at in times.items():
        repeats = sum(not explained(before, after) for before, after in itertools.pairwise(sorted(at)))
        if repeats:
            unexplained[key] = repeats
    return unexplained


def test_a_request_sent_again_with_no_disruption_between_is_a_duplicate() -> None:
    """The check above can fail: a re-sent request passes only with a kill (or stop) to explain it."""
    target = HttpTarget()
    for at in (100.0, 130.0):
        target.requests.append(Received("POST", "/effects", {}, {"Idempotency-Key": "k1"}, {"n": 1}, at))
    assert unexplained_repeats(target, []) == {"k1": 1}
    assert unexplained_repeats(target, [(140.0, 140.0)]) == {"k1": 1}  # a kill after both explains nothing
    assert unexplained_repeats(target, [(120.0, 120.0)]) == {}
    assert unexplained_repeats(target, [(99.5, 99.5)]) == {}  # the first request reached the receiver after the kill


async def wait_all(ductape: Ductape, job_ids: list[str], within: float) -> list[Any]:
    gate = asyncio.Semaphore(50)

    async def one(job_id: str) -> Any:
        async with gate:
            return await ductape.jobs.result(job_id)

    return await asyncio.wait_for(asyncio.gather(*(one(j) for j in job_ids)), within)


async def start_worker(address: str, config_file: Path, task_queue: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        str(WORKER), "worker", "--config", str(config_file), "--address", address, "--task-queue", task_queue,
        env={"PATH": os.environ.get("PATH", ""), "DUCTAPE_PLAINTEXT": "1", **SECRETS},
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip


@pytest.mark.timeout(300)  # ~50 s measured; waits up to 150 s for the killed workers' activities
async def test_sigkilled_workers_lose_and_double_nothing(
    server: DevServer, receiver: HttpTarget, tmp_path: Path
) -> None:
    """500 jobs due over 12 s while the worker is SIGKILLed 20 times: every job runs, each has one effect."""
    config_file = tmp_path / "product.yaml"
    config_file.write_text(yaml.safe_dump(config_document(receiver.url)))
    config = parse_product_config(config_document(receiver.url))
    task_queue = "faults"
    client = await Client.connect(server.options.address, data_converter=DATA_CONVERTER)
    ductape = Ductape(client, task_queue=task_queue, config=config, secrets=SecretStore(SECRETS))
    now = datetime.now(UTC)
    rng = random.Random(7)
    job_ids = []
    for n in range(500):
        result = await ductape.processor.job.schedule(job(n, now + timedelta(seconds=2 + rng.uniform(0, 12))))
        job_ids.append(result.job_id)

    kills: list[float] = []
    worker = await start_worker(server.options.address, config_file, task_queue)
    try:
        while len(kills) < 20:
            await asyncio.sleep(rng.uniform(0.4, 1.2))
            kills.append(time.time())
            worker.send_signal(signal.SIGKILL)
            await worker.wait()
            worker = await start_worker(server.options.address, config_file, task_queue)
        # Activities the killed workers held come back after their 60 s start-to-close timeout.
        outcomes = await wait_all(ductape, job_ids, within=150)
    finally:
        worker.send_signal(signal.SIGKILL)
        await worker.wait()
    requests = len(receiver.calls("/effects"))
    print(f"{requests} requests for 500 jobs across {len(kills)} SIGKILLs")
    assert all(o["status"] == 200 for o in outcomes)
    keys = effects(receiver)
    assert sorted(keys) == list(range(500)), "a job was lost"
    doubled = {n: k for n, k in keys.items() if len(k) != 1}
    assert doubled == {}, "a job's effect was applied twice (two different idempotency keys)"
    # One key per job is not enough: the same request delivered twice with no kill in between is a
    # duplicate that only an idempotent receiver survives. Each re-send needs a kill to explain it.
    assert unexplained_repeats(receiver, [(k, k) for k in kills]) == {}, "a request was delivered twice"


@pytest.mark.timeout(240)  # ~16 s measured; waits up to 90 s + 60 s after the restart
async def test_server_restart_mid_run_keeps_every_pending_job_and_schedule(
    server: DevServer, receiver: HttpTarget, tmp_path: Path
) -> None:
    config = parse_product_config(config_document(receiver.url))
    client = await Client.connect(server.options.address, data_converter=DATA_CONVERTER)
    ductape = Ductape(client, task_queue="restart", config=config, secrets=SecretStore(SECRETS))
    async with job_worker(client, task_queue="restart", config=config, secrets=SecretStore(SECRETS)):
        now = datetime.now(UTC)
        one_offs = [
            (await ductape.processor.job.schedule(job(n, now + timedelta(seconds=4 + n % 5)))).job_id for n in range(30)
        ]
        recurring = await ductape.processor.job.schedule(
            job(1000, now, job_id="fault-recurring", repeat={"every": 2000, "limit": 4}) | {"start_at": None}
        )
        await asyncio.sleep(1.5)
        stopped_at = time.time()
        await server.stop()  # SIGTERM: pending timers and the schedule live in the SQLite file
        stopped = time.monotonic()
        await asyncio.sleep(3)
        await server.start()
        restarted_at = time.time()
        assert time.monotonic() - stopped >= 3
        await wait_all(ductape, one_offs, within=90)

        async def schedule_done() -> bool:
            return len(effects(receiver).get(1000, set())) >= 4

        deadline = time.monotonic() + 60
        while not await schedule_done():
            assert time.monotonic() < deadline, f"the schedule ran {len(effects(receiver).get(1000, set()))} of 4"
            await asyncio.sleep(0.5)
    keys = effects(receiver)
    assert all(len(keys[n]) == 1 for n in range(30)), "each one-off job ran exactly once"
    assert unexplained_repeats(receiver, [(stopped_at, restarted_at)]) == {}, "a request was delivered twice"
    # Runs due while the server was down are caught up (one late run), later ones on time: 4 in all.
    record = await ductape.jobs.get(recurring.job_id)
    assert record.execution_count == 4


CHANGES: list[dict[str, Any]] = [
    {"product_tag": ""}, {"product_tag": 7}, {"product_tag": "unknown"}, {"env": ""}, {"env": "prd"},
    {"env": None}, {"event": ""}, {"event": "nope"}, {"app": "nope"}, {"app": ""}, {"input": []},
    {"input": "x"}, {"retries": -1}, {"retries": True}, {"retries": "3"}, {"retries": 10**6},
    {"start_at": "yesterday"}, {"start_at": []}, {"start_at": "2030-13-01T00:00:00Z"}, {"type": "teleport"},
    {"repeat": {"limit": 3}}, {"repeat": {"every": 1500}}, {"repeat": {"every": -1}},
    {"repeat": {"cron": "61 * * * *"}}, {"repeat": {"cron": "* * *"}},
    {"repeat": {"cron": "0 9 * * MON#6", "every": 60000}},
    {"repeat": {"every": 60000, "limit": 0}}, {"repeat": {"every": 60000, "tz": "Mars/Olympus"}},
    {"repeat": {"every": 60000, "endDate": "2020-01-01T00:00:00Z"}}, {"repeat": {"cron": "0 9 L-40 * *"}},
    {"retry": {"initialDelay": 0}}, {"retry": {"maxDelay": 10, "initialDelay": 100}},
    {"repeat": {"every": 60000, "limit": True}}, {"cache": "unknown-cache"}, {"session": {"tag": "x"}},
    {"session": {"tag": "s", "token": "not-a-jwt"}}, {"job_id": ""}, {"job_id": "x" * 300},
    {"colour": "red"}, {"repeat": {"every": 60000, "jitter": -5}},
]  # fmt: skip
"""Forty ways to be wrong, each in one field."""


def valid_bases() -> list[dict[str, Any]]:
    """Five valid inputs in the seeds' spellings and shapes."""
    valid = job(0, datetime(2030, 1, 1, tzinfo=UTC)) | {"job_id": None}
    aliased = {("product" if k == "product_tag" else k): v for k, v in valid.items()}
    return [
        valid,
        aliased,
        valid | {"start_at": 0},
        valid | {"retries": 0, "retry": None, "input": {"body": {"k": "v"}}},
        valid | {"start_at": None, "repeat": {"every": 60_000, "limit": 3}},
    ]


def malformed_inputs() -> list[dict[str, Any]]:
    """200 inputs: each of ``CHANGES`` applied to the five valid bases."""
    return [base | change for base in valid_bases() for change in CHANGES]


async def test_two_hundred_malformed_inputs_each_get_a_clear_error_and_start_nothing(
    server: DevServer, receiver: HttpTarget
) -> None:
    config: ProductConfig = parse_product_config(config_document(receiver.url))
    client = await Client.connect(server.options.address, data_converter=DATA_CONVERTER)
    ductape = Ductape(client, task_queue="malformed", config=config, secrets=SecretStore(SECRETS))
    inputs = malformed_inputs()
    assert len(inputs) == 200
    errors = []
    for data in inputs:
        try:
            await ductape.processor.job.schedule(data)
        except ValueError as err:  # JobInputError is a ValueError
            errors.append(err)
        else:
            pytest.fail(f"accepted a malformed input: {data}")
    assert all(getattr(e, "reason", "") and str(e) for e in errors)
    fields = {getattr(e, "field", None) for e in errors}
    assert {"product_tag", "env", "event", "app", "retries", "start_at", "repeat.every", "repeat.cron"} <= fields
    started = [w async for w in client.list_workflows('TaskQueue = "malformed"')]
    schedules = [s async for s in await client.list_schedules()]
    assert started == []
    assert schedules == []


def forged_token(header: dict[str, Any], signature: str = "c2lnbmF0dXJl") -> str:
    """A well-formed, unexpired token with this header; no key is needed to make one."""
    claims = {"tag": "user-session", "data": {"role": "admin"}, "iat": int(time.time()), "exp": int(time.time()) + 3600}
    segments = [base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode() for part in (header, claims)]
    return ".".join([*segments, signature])


FORGED = [
    forged_token({"alg": "none", "typ": "JWT"}, signature=""),
    forged_token({"alg": "none"}),
    forged_token({"typ": "JWT"}),
    forged_token({"alg": "HS999"}),
    forged_token({"alg": ["HS256"]}),
]
"""Tokens whose header ``alg`` is ``none``, missing, or one no session type can have."""


async def test_forged_token_algorithms_are_refused_at_dispatch_by_a_client_without_the_config(
    server: DevServer,
) -> None:
    client = await Client.connect(server.options.address, data_converter=DATA_CONVERTER)
    ductape = Ductape(client, task_queue="forged")  # no config: only what the token itself shows is checked
    for base in valid_bases():
        for token in FORGED:
            for session in ({"tag": "user-session", "token": token}, f"user-session:{token}"):
                with pytest.raises(JobInputError) as err:
                    await ductape.processor.job.schedule(base | {"session": session})
                assert err.value.field == "session.token"
                assert "alg" in err.value.reason
                assert token not in str(err.value)
    assert [w async for w in client.list_workflows('TaskQueue = "forged"')] == []
    assert [s async for s in await client.list_schedules()] == []
