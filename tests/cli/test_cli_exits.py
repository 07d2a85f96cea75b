"""How ``ductape-jobs`` ends: a user's mistake is one ``error:`` line and its exit code, a bug shows its
traceback, and a worker stopped by SIGTERM exits 0 after flushing its last spans."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from temporalio.testing import WorkflowEnvironment

from tests.conftest import TEST_KEYRING
from tests.support.http_target import HttpTarget

ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).parent / "ductape-jobs")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def run(*args: str, env: dict[str, str], program: str = CLI) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        program, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest.mark.parametrize(
    ("extra_env", "args", "code", "message"),
    [
        ({"DUCTAPE_MAX_CACHED_WORKFLOWS": "many"}, [], 2, "error: DUCTAPE_MAX_CACHED_WORKFLOWS: Input should be"),
        ({"TEMPORAL_PROFILE": "nope"}, [], 2, "error: Temporal client profile: Profile 'nope' not found"),
        ({}, [], 2, "error: no payload encryption keys"),
        ({"DUCTAPE_PLAINTEXT": "1"}, ["--address", "127.0.0.1:{closed}"], 1, "error: cannot connect to Temporal"),
    ],
)
async def test_a_users_mistake_is_one_line_and_its_exit_code(
    tmp_path: Path, extra_env: dict[str, str], args: list[str], code: int, message: str
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DUCTAPE_", "TEMPORAL_"))}
    env |= {"TEMPORAL_CONFIG_FILE": str(tmp_path / "none.toml"), **extra_env}
    (tmp_path / "none.toml").write_text("")
    closed = str(free_port())
    got, out, err = await run("jobs", "list", *[a.format(closed=closed) for a in args], env=env)
    assert (got, out) == (code, "")
    assert err.startswith(message)
    assert err.count("\n") == 1, err  # one line, no traceback


async def test_a_bug_shows_its_traceback(tmp_path: Path) -> None:
    """Not an ``error:`` line hiding where it came from: the interpreter's own report, exit code 1."""
    program = tmp_path / "buggy.py"
    program.write_text(
        "import ductape_jobs.cli.main as cli\n"
        "async def preview(args, settings):\n"
        "    raise KeyError('a bug in the command')\n"
        "cli._COMMANDS['preview'] = preview\n"
        "cli.main()\n"
    )
    code, _, err = await run(str(program), "preview", "* * * * *", env=dict(os.environ), program=sys.executable)
    assert code == 1
    assert "Traceback (most recent call last)" in err
    assert "KeyError: 'a bug in the command'" in err
    assert "error:" not in err


@pytest.fixture
async def collector() -> AsyncIterator[dict[str, Any]]:
    """An OTLP/HTTP trace collector: the bodies POSTed to ``/v1/traces``."""
    bodies: list[bytes] = []

    async def traces(request: web.Request) -> web.Response:
        bodies.append(await request.read())
        return web.Response(content_type="application/x-protobuf", body=b"")

    app = web.Application()
    app.router.add_post("/v1/traces", traces)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield {"url": f"http://127.0.0.1:{port}", "bodies": bodies}
    finally:
        await runner.cleanup()


@pytest.mark.timeout(90)
async def test_a_stopped_worker_exits_0_and_flushes_its_last_spans(
    dev_env: WorkflowEnvironment, tmp_path: Path, unique: Any, http_target: HttpTarget, collector: dict[str, Any]
) -> None:
    config = tmp_path / "product.yaml"
    config.write_text(
        (ROOT / "examples" / "product.yaml").read_text().replace("http://127.0.0.1:8299", http_target.url)
    )
    address = dev_env.client.service_client.config.target_host
    queue = unique("flush")
    env = dict(
        os.environ,
        DUCTAPE_SECRETS_FILE=str(ROOT / "examples" / "dev.secrets"),
        DUCTAPE_ENCRYPTION_KEYS=TEST_KEYRING.to_text(),
        OTEL_EXPORTER_OTLP_ENDPOINT=collector["url"],
        # Spans are exported in batches every 10 minutes here: only the flush at exit can send them.
        OTEL_BSP_SCHEDULE_DELAY="600000",
    )
    worker = await asyncio.create_subprocess_exec(
        CLI, "worker", "--config", str(config), "--address", address, "--task-queue", queue,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env,
    )  # fmt: skip
    try:
        code, out, err = await run(
            "schedule", str(ROOT / "examples/jobs/welcome-now.json"), "--address", address, "--task-queue", queue,
            env=env,
        )  # fmt: skip
        assert code == 0, err
        code, out, err = await run("jobs", "result", json.loads(out)["job_id"], "--address", address, env=env)
        assert code == 0, err
        assert collector["bodies"] == []
    finally:
        worker.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(worker.communicate(), timeout=30)
    assert worker.returncode == 0, output.decode()
    sent = b"".join(collector["bodies"])
    assert b"RunActivity:" in sent, "the worker's activity span was not flushed before it exited"
