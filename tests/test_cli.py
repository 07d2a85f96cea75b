"""The ``ductape-jobs`` command as a user runs it: ``dev``, ``worker``, ``schedule``, ``jobs``."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sqlite3
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from tests.http_target import HttpTarget

ROOT = Path(__file__).resolve().parent.parent
CLI = str(Path(sys.executable).parent / "ductape-jobs")
EXAMPLE_CONFIG = ROOT / "examples" / "product.yaml"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def run_cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        CLI, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env or dict(os.environ)
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def example_config(tmp_path: Path, base_url: str) -> Path:
    """The shipped example config, its `dev` env pointed at ``base_url``."""
    text = EXAMPLE_CONFIG.read_text().replace("http://127.0.0.1:8299", base_url)
    path = tmp_path / "product.yaml"
    path.write_text(text)
    return path


async def wait_http(url: str, within: float) -> float:
    started = time.monotonic()
    async with httpx.AsyncClient() as http:
        while True:
            try:
                if (await http.get(url)).status_code == 200:
                    return time.monotonic() - started
            except httpx.TransportError:
                pass
            assert time.monotonic() - started < within, f"{url} did not answer within {within} s"
            await asyncio.sleep(0.3)


@pytest.fixture
async def dev_process(tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    ports = {"port": free_port(), "ui": free_port(), "echo": free_port()}
    process = await asyncio.create_subprocess_exec(
        CLI, "dev", "--config", str(example_config(tmp_path, f"http://127.0.0.1:{ports['echo']}")),
        "--secrets-file", str(ROOT / "examples" / "dev.secrets"),
        "--port", str(ports["port"]), "--ui-port", str(ports["ui"]), "--echo-port", str(ports["echo"]),
        "--data-dir", str(tmp_path / "data"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        yield {"process": process, "data": tmp_path / "data", **ports}
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_dev_serves_the_ui_runs_example_jobs_and_stops_cleanly(dev_process: dict[str, Any]) -> None:
    ui_seconds = await wait_http(f"http://127.0.0.1:{dev_process['ui']}/", within=60)
    assert ui_seconds < 60
    address = f"127.0.0.1:{dev_process['port']}"

    code, out, err = await run_cli("schedule", str(ROOT / "examples/jobs/welcome-now.json"), "--address", address)
    assert code == 0, err
    dispatched = json.loads(out)
    assert dispatched["status"] == "queued"
    assert dispatched["job_id"].startswith("job:my-product:dev:send_welcome_email:")

    code, out, err = await run_cli("jobs", "result", dispatched["job_id"], "--address", address)
    assert code == 0, err
    result = json.loads(out)
    assert result["status"] == 200
    assert result["body"]["path"] == "/v1/welcome"
    assert isinstance(result["body"]["body"]["sentAt"], int)  # $Now() resolved by the worker

    code, out, _ = await run_cli("jobs", "get", dispatched["job_id"], "--address", address)
    assert json.loads(out)["status"] == "completed"

    code, out, err = await run_cli("schedule", str(ROOT / "examples/jobs/dispatch-weekly.json"), "--address", address)
    assert code == 0, err
    weekly = json.loads(out)
    assert weekly["recurring"] is True
    assert weekly["status"] == "scheduled"

    process = dev_process["process"]
    process.send_signal(signal.SIGTERM)
    await asyncio.wait_for(process.wait(), timeout=20)
    assert process.returncode == 0
    with sqlite3.connect(dev_process["data"] / "temporal.sqlite") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", dev_process["port"])) != 0, "the server outlived `dev`"


async def test_schedule_refuses_a_malformed_file_and_names_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"product_tag": "p", "env": "dev", "event": "e", "input": {}, "retries": -2}))
    code, _, err = await run_cli("schedule", str(bad), "--address", "127.0.0.1:1")
    assert code == 2
    assert "retries" in err
    assert "greater than or equal to 0" in err


async def test_worker_command_runs_jobs_from_a_separate_process(
    dev_env: WorkflowEnvironment, tmp_path: Path, unique: Any, http_target: HttpTarget
) -> None:
    config = example_config(tmp_path, http_target.url)
    address = dev_env.client.service_client.config.target_host
    queue = unique("cli-worker")
    env = dict(os.environ, DUCTAPE_SECRETS_FILE=str(ROOT / "examples" / "dev.secrets"))
    worker = await asyncio.create_subprocess_exec(
        CLI, "worker", "--config", str(config), "--address", address, "--task-queue", queue,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env,
    )  # fmt: skip
    try:
        code, out, err = await run_cli(
            "schedule", str(ROOT / "examples/jobs/welcome-now.json"), "--address", address, "--task-queue", queue
        )
        assert code == 0, err
        code, out, err = await run_cli("jobs", "result", json.loads(out)["job_id"], "--address", address)
        assert code == 0, err
        assert json.loads(out)["status"] == 200
    finally:
        worker.send_signal(signal.SIGTERM)
        await asyncio.wait_for(worker.wait(), timeout=20)
    assert worker.returncode == 0
    (call,) = http_target.calls("/v1/welcome")
    assert call.headers["Authorization"] == "Bearer demo-email-key"  # $Secret from the secrets file
