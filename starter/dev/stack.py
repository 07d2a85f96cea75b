"""``ductape-jobs dev``: the embedded stack in one process tree.

Starts, in order: the codec server (so the Web UI can decode), the Temporal dev server (SQLite file,
Web UI wired to the codec), the echo target, the worker; stops them in reverse on Ctrl-C/SIGTERM.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from dataclasses import dataclass, replace
from pathlib import Path

from temporalio.client import Client

from ductape_jobs.activities.config.product_config import ProductConfig
from ductape_jobs.activities.config.secrets import SecretStore
from ductape_jobs.activities.session.store import SessionStore
from ductape_jobs.client import connect_client
from ductape_jobs.codec.encryption import Keyring
from ductape_jobs.codec.server import CodecServer, build_codec_app, viewer_codec
from ductape_jobs.connection import TemporalUnreachableError
from ductape_jobs.dev.echo_target import EchoTarget
from ductape_jobs.dev.server import DevServer, DevServerOptions
from ductape_jobs.settings import Settings
from ductape_jobs.worker.job_worker import run_worker, worker_tuning
from ductape_jobs.worker.telemetry import Telemetry


@dataclass(frozen=True, kw_only=True)
class DevStack:
    """Everything ``dev`` runs, configured."""

    server: DevServerOptions
    settings: Settings
    config: ProductConfig
    secrets: SecretStore
    keyring: Keyring
    echo_port: int
    """0 turns the echo target off."""
    codec_port: int
    """0 turns the codec server off (the UI then shows encrypted payloads)."""
    session_store: SessionStore | None = None
    telemetry: Telemetry | None = None
    """Metrics and tracing (``Settings.metrics_address``, ``Settings.otlp_endpoint``), as a worker's."""


def load_or_create_token(path: Path) -> str:
    """The codec server's token, kept in the data dir (mode 0600) so it survives restarts."""
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    token = secrets.token_urlsafe(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(token + "\n")
    return token


async def _connect_retrying(
    settings: Settings, keyring: Keyring, telemetry: Telemetry | None, attempts: int = 50
) -> Client:
    for attempt in range(attempts):
        try:
            return await connect_client(settings, keyring, telemetry)
        except TemporalUnreachableError:
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(0.2)
    raise AssertionError("unreachable")


async def run_dev_stack(stack: DevStack, stop: asyncio.Event) -> None:
    """Run until ``stop`` is set.

    Raises:
        DevServerError: the Temporal dev server did not start.
    """
    options = stack.server
    token = load_or_create_token(options.data_dir / "codec.token")
    origins = [f"http://localhost:{options.ui_port}", f"http://127.0.0.1:{options.ui_port}"]
    codec = CodecServer(
        build_codec_app(viewer_codec(stack.keyring), token=token, allowed_origins=origins),
        port=stack.codec_port,
    )
    codec_url = f"http://127.0.0.1:{stack.codec_port}"
    if stack.codec_port:
        await codec.__aenter__()
        # The local UI has no login: it reaches the codec through the token path, which only this
        # machine's UI settings reveal. Remote users use `Authorization: Bearer <token>` instead.
        options = replace(options, extra_args=[*options.extra_args, "--ui-codec-endpoint", f"{codec_url}/t/{token}"])
    try:
        async with DevServer(options):
            client = await _connect_retrying(stack.settings, stack.keyring, stack.telemetry)
            echo = EchoTarget(port=stack.echo_port) if stack.echo_port else None
            if echo is not None:
                echo.start()
            print(f"Temporal frontend  {options.address}  (namespace default)")
            print(f"Temporal Web UI    http://localhost:{options.ui_port}")
            print(f"Worker             task queue {stack.settings.task_queue!r}, config {stack.settings.config_path}")
            if stack.codec_port:
                print(f"Codec server       {codec_url}  (token in {options.data_dir / 'codec.token'})")
            if echo is not None:
                print(f"Echo target        {echo.url}")
            if stack.settings.metrics_address:
                print(f"Metrics            http://{stack.settings.metrics_address}/metrics")
            print("Ctrl-C stops everything.", flush=True)
            try:
                await run_worker(
                    client,
                    config=stack.config,
                    secrets=stack.secrets,
                    stop=stop,
                    session_store=stack.session_store,
                    **worker_tuning(stack.settings),  # every worker setting, as `ductape-jobs worker` has them
                )
            finally:
                if echo is not None:
                    echo.stop()
    finally:
        if stack.codec_port:
            await codec.__aexit__(None, None, None)
