"""``ductape-jobs``: the thin command line over the client, the worker and the embedded server.

This is an entry point: it is the only place (with ``Ductape.connect``) that reads ``os.environ``. It builds
the ``Settings`` once, in ``run``, and hands them down.

Exit codes: 0 done; 2 bad input or config (``JobInputError``, ``ConfigError``, ``KeyringError``); 1 a
job or server state the command could not get past (``JobNotFoundError``, ``JobFailedError``,
``JobStateError``, ``JobTimeoutError``, ``DevServerError``, ``TemporalUnreachableError``); each prints
one ``error:`` line. 3: ``schedule`` sent a list, and some items failed (each printed with its error in
its place, the others sent). Anything else is a bug and shows its traceback; 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ValidationError
from rich.console import Console

from ductape_jobs.activities.config.product_config import ConfigError, ProductConfig, load_product_config
from ductape_jobs.activities.config.secrets import SecretsFileError, SecretStore
from ductape_jobs.activities.registry import require_drivers
from ductape_jobs.cli.apply import apply_changes, plan_changes
from ductape_jobs.cli.jobs import add_jobs_parser, run_jobs_command
from ductape_jobs.cli.schedule_file import schedule_file
from ductape_jobs.cli.shutdown import release_temporal_runtime
from ductape_jobs.client import Ductape, connect_client, open_session_store, resolve_keyring
from ductape_jobs.codec.encryption import Keyring, KeyringError, load_or_create_keyring
from ductape_jobs.connection import TemporalUnreachableError
from ductape_jobs.dev.server import DevServerError, DevServerOptions
from ductape_jobs.management.audit import AuditTrail, default_identity
from ductape_jobs.management.jobs import JobFailedError, JobNotFoundError, Jobs, JobStateError, JobTimeoutError
from ductape_jobs.planning.cron_preview import preview_cron
from ductape_jobs.planning.plan import JobPlanner
from ductape_jobs.scheduling import SchedulingOptions
from ductape_jobs.settings import Settings
from ductape_jobs.worker.job_worker import run_worker, worker_tuning
from ductape_jobs.worker.log_setup import RedactingFilter, configure_logging
from ductape_jobs.worker.replay import converter_for, replay_files, replay_query
from ductape_jobs.worker.telemetry import Telemetry, build_telemetry
from ductape_jobs.workflows.contracts.instants import check_time_zone, parse_instant
from ductape_jobs.workflows.contracts.job import JobInputError
from ductape_jobs.workflows.contracts.timing import IDstPolicy
from ductape_jobs.workflows.cron import CronError

log = logging.getLogger("ductape")
_REDACTOR = RedactingFilter()
"""The log handler's filter, installed by ``run``; ``_secrets`` adds the declared secrets' values to it."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ductape-jobs", description="Ductape jobs on Temporal.")
    sub = parser.add_subparsers(dest="command", required=True)

    def connection(p: argparse.ArgumentParser) -> None:
        p.add_argument("--address", help="Temporal frontend (TEMPORAL_ADDRESS, default localhost:7233)")
        p.add_argument("--namespace", help="Temporal namespace (TEMPORAL_NAMESPACE, default 'default')")
        p.add_argument("--task-queue", help="task queue (DUCTAPE_TASK_QUEUE, default 'ductape-jobs')")

    def product_config(p: argparse.ArgumentParser) -> None:
        # Not `required=`: DUCTAPE_CONFIG may give it; the commands that need one say so (`_load`).
        p.add_argument("--config", type=Path, help="product config YAML (DUCTAPE_CONFIG)")
        p.add_argument("--secrets-file", type=Path, help="NAME=value lines added to the environment's secrets")

    dev = sub.add_parser("dev", help="embedded Temporal dev server (SQLite, Web UI) + worker")
    product_config(dev)
    dev.add_argument("--port", type=int, default=7233, help="frontend gRPC port (7233)")
    dev.add_argument("--ui-port", type=int, default=8233, help="Web UI port (8233)")
    dev.add_argument("--data-dir", type=Path, default=Path(".data"), help="server state and log (.data)")
    dev.add_argument("--echo-port", type=int, default=8299, help="local echo target for examples; 0 = off")
    dev.add_argument("--codec-port", type=int, default=8234, help="codec server for the Web UI (8234); 0 = off")
    dev.add_argument("--task-queue", help="task queue (default 'ductape-jobs')")

    codec = sub.add_parser("codec-server", help="decode payloads for the Web UI and `temporal --codec-endpoint`")
    codec.add_argument("--host", default="127.0.0.1")
    codec.add_argument("--port", type=int, default=8081)
    codec.add_argument("--token", help="bearer token clients must send (DUCTAPE_CODEC_TOKEN)")
    codec.add_argument(
        "--allow-origin", action="append", default=["http://localhost:8233", "http://127.0.0.1:8233"],
        help="Web UI origin allowed by CORS (repeatable)",
    )  # fmt: skip

    worker = sub.add_parser("worker", help="run a worker against a Temporal server")
    connection(worker)
    product_config(worker)

    schedule = sub.add_parser("schedule", help="schedule the job in FILE.json; prints the DispatchResult")
    schedule.add_argument("file", type=Path)
    connection(schedule)
    product_config(schedule)

    apply = sub.add_parser("apply", help="create/update/delete the job definitions of the config's `jobs`")
    connection(apply)
    product_config(apply)
    apply.add_argument("--dry-run", action="store_true", help="print the plan only")

    preview = sub.add_parser("preview", help="the next runs of a cron expression, as the server will fire them")
    preview.add_argument("expression", help='e.g. "0 9 * * MON#1"')
    preview.add_argument("--tz", default="UTC", help="IANA time zone (default UTC)")
    preview.add_argument("-n", type=int, default=10, help="how many runs (default 10)")
    preview.add_argument("--after", help="start from this instant (ISO-8601 or epoch ms; default now)")
    preview.add_argument(
        "--dst",
        default="shift,first",
        help="DST policy: SKIPPED,REPEATED with shift|skip and first|both (default shift,first), "
        "or `native` for the server's own handling",
    )

    replay = sub.add_parser("replay", help="replay histories against this code; report non-determinism")
    replay.add_argument("files", nargs="*", type=Path, help="history JSON files, named <workflow id>.json")
    replay.add_argument("--query", help='replay what this visibility query finds, e.g. WorkflowType = "JobWorkflow"')
    replay.add_argument("--limit", type=int, default=1000)
    connection(replay)

    add_jobs_parser(sub, connection)
    return parser


def _dev_server(args: argparse.Namespace) -> DevServerOptions:
    return DevServerOptions(port=args.port, ui_port=args.ui_port, data_dir=args.data_dir)


def _settings(args: argparse.Namespace) -> Settings:
    """The one ``Settings`` of this run: the flags over the environment.

    Raises:
        ConfigError: a setting or the Temporal client profile is invalid.
    """
    dev = args.command == "dev"
    return Settings.from_env(
        os.environ,
        # `dev` connects to the server it starts, whatever profile or TEMPORAL_* variables are set;
        # `preview` and `codec-server` connect to none.
        client_profile=args.command not in ("dev", "preview", "codec-server"),
        address=_dev_server(args).address if dev else getattr(args, "address", None),
        namespace="default" if dev else getattr(args, "namespace", None),
        task_queue=getattr(args, "task_queue", None),
        config_path=getattr(args, "config", None),
        secrets_file=getattr(args, "secrets_file", None),
    )


def _load(settings: Settings) -> tuple[ProductConfig, SecretStore]:
    if settings.config_path is None:
        raise ConfigError("no product config: pass --config FILE or set DUCTAPE_CONFIG")
    config = load_product_config(settings.config_path)
    return config, _secrets(settings, config)


def _secrets(settings: Settings, config: ProductConfig | None) -> SecretStore:
    """The declared secrets (no config: none) from the environment and the secrets file.

    Raises:
        ConfigError: the secrets file cannot be read.
    """
    names = config.declared_secrets() if config is not None else frozenset()
    try:
        secrets = SecretStore.from_sources(os.environ, settings.secrets_file, names=names)
    except OSError as err:
        raise ConfigError(f"cannot read secrets file {settings.secrets_file}: {err.strerror}") from None
    except SecretsFileError as err:
        raise ConfigError(f"secrets file {settings.secrets_file}: {err}") from None
    # From here on, the value of every declared secret never reaches a log line.
    _REDACTOR.add(secrets.values())
    missing = secrets.missing(names)
    if missing:
        log.warning("declared secrets not set in the environment or secrets file: %s", ", ".join(missing))
    return secrets


def _print(value: Any) -> None:
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    print(json.dumps(value, indent=2, default=str))


async def _until_signalled(run: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await run(stop)


async def _dev(args: argparse.Namespace, settings: Settings) -> int:
    from ductape_jobs.dev.stack import DevStack, run_dev_stack  # imported here: see _codec_server

    config, secrets = _load(settings)
    require_drivers(config, secrets=secrets, session_store_url=settings.session_store)
    key_file = settings.encryption_key_file or args.data_dir / "encryption.keys"
    keyring = Keyring.parse(settings.encryption_keys) if settings.encryption_keys else load_or_create_keyring(key_file)
    async with _telemetry(settings) as telemetry:
        stack = DevStack(
            server=_dev_server(args), settings=settings, config=config, secrets=secrets, keyring=keyring,
            echo_port=args.echo_port, codec_port=args.codec_port,
            session_store=open_session_store(settings, args.data_dir), telemetry=telemetry,
        )  # fmt: skip
        await _until_signalled(lambda stop: run_dev_stack(stack, stop))
    return 0


@asynccontextmanager
async def _telemetry(settings: Settings) -> AsyncIterator[Telemetry]:
    """The process's metrics and tracing; on the way out, the last spans are flushed to the collector."""
    telemetry = build_telemetry(metrics_address=settings.metrics_address, otlp_endpoint=settings.otlp_endpoint)
    if settings.metrics_address:
        log.info("metrics on http://%s/metrics", settings.metrics_address)
    try:
        yield telemetry
    finally:
        telemetry.shutdown()


async def _codec_server(args: argparse.Namespace, settings: Settings) -> int:
    # Imported here, not at the top: aiohttp's server side costs a `ductape-jobs worker` ~10 MB of
    # resident memory it never uses (the worker's budget is 150 MB with 10,000 sleeping jobs).
    from ductape_jobs.codec.server import CodecServer, build_codec_app, viewer_codec

    keyring = resolve_keyring(settings)
    if keyring is None:
        raise KeyringError("the codec server needs the payload encryption keys")
    token = args.token or settings.codec_token
    if not token:
        raise ConfigError("the codec server needs a token: --token or DUCTAPE_CODEC_TOKEN")
    app = build_codec_app(viewer_codec(keyring), token=token, allowed_origins=args.allow_origin)
    async with CodecServer(app, host=args.host, port=args.port) as server:
        print(f"Codec server on {server.url}; CORS for {', '.join(args.allow_origin)}", flush=True)
        await _until_signalled(_wait)
    return 0


async def _wait(stop: asyncio.Event) -> None:
    await stop.wait()


async def _worker(args: argparse.Namespace, settings: Settings) -> int:
    config, secrets = _load(settings)
    require_drivers(config, secrets=secrets, session_store_url=settings.session_store)
    async with _telemetry(settings) as telemetry:
        client = await connect_client(settings, resolve_keyring(settings), telemetry)
        store = open_session_store(settings)

        async def run(stop: asyncio.Event) -> None:
            await run_worker(
                client, config=config, secrets=secrets, stop=stop, session_store=store, **worker_tuning(settings)
            )

        try:
            await _until_signalled(run)
        finally:
            await store.close()
    return 0


async def _connect(settings: Settings, config: ProductConfig | None, secrets: SecretStore) -> Ductape:
    identity = settings.identity or default_identity()
    return Ductape(
        await connect_client(settings, resolve_keyring(settings), identity=identity), task_queue=settings.task_queue,
        config=config, secrets=secrets, scheduling=SchedulingOptions.of(settings), identity=identity,
    )  # fmt: skip


async def _schedule(args: argparse.Namespace, settings: Settings) -> int:
    config = load_product_config(settings.config_path) if settings.config_path else None
    secrets = _secrets(settings, config)
    planner = JobPlanner(task_queue=settings.task_queue, config=config, secrets=secrets)
    # Connected only once every item is valid: a bad file fails without a server.
    return await schedule_file(args.file, planner, lambda: _connect(settings, config, secrets), Console(stderr=True))


async def _apply(args: argparse.Namespace, settings: Settings) -> int:
    config, secrets = _load(settings)
    ductape = await _connect(settings, config, secrets)
    # Every product, including one whose last definition was removed: it still gets its deletions.
    builders = {product: ductape.product(product) for product in config.products}
    changes = await plan_changes(builders, config)
    for change in changes:
        print(f"{change.action:9} {change.product}/{change.tag}")
    if not args.dry_run:
        await apply_changes(builders, config, changes)
        print(f"applied {sum(c.action != 'unchanged' for c in changes)} change(s)")
    return 0


async def _preview(args: argparse.Namespace, settings: Settings) -> int:
    dst = _dst_policy(args.dst)
    try:
        check_time_zone(args.tz)
        after = parse_instant(args.after) if args.after else None
        runs = preview_cron(args.expression, tz=args.tz, after=after or datetime.now(UTC), count=args.n, dst=dst)
    except CronError as err:
        raise JobInputError.one("cron", str(err)) from None
    except ValueError as err:
        raise JobInputError.one("tz" if "zone" in str(err) else "after", str(err)) from None
    zone = ZoneInfo(args.tz)
    for run in runs:
        print(f"{run.astimezone(zone).isoformat()}  ({run.strftime('%Y-%m-%d %H:%M:%S')} UTC)")
    return 0


def _dst_policy(text: str) -> IDstPolicy | None:
    """``--dst``: ``native`` or ``SKIPPED,REPEATED`` in either order (``skip,both``).

    Raises:
        JobInputError: naming ``dst.skipped`` or ``dst.repeated`` (or ``dst``).
    """
    if text.strip().lower() == "native":
        return None
    words = [w.strip().lower() for w in text.split(",") if w.strip()]
    fields = {("repeated" if w in ("first", "both") else "skipped"): w for w in words}
    if len(fields) != len(words):
        raise JobInputError.one("dst", f"{text!r}: give one of shift|skip and one of first|both, or native")
    try:
        return IDstPolicy.model_validate(fields)
    except ValidationError as err:
        raise JobInputError.from_validation(err, prefix="dst") from None


async def _replay(args: argparse.Namespace, settings: Settings) -> int:
    keyring = resolve_keyring(settings)
    if bool(args.files) == bool(args.query):
        raise JobInputError.one("files", "give history files or --query, not both")
    if args.query:
        reports = await replay_query(await connect_client(settings, keyring), args.query, limit=args.limit)
    else:
        reports = await replay_files(
            args.files, data_converter=converter_for(keyring, accept_plaintext=settings.plaintext)
        )
    for report in reports:
        print(f"{'FAIL' if report.error else 'ok  '} {report.workflow_id} ({report.source})")
        if report.error:
            print(f"     {report.error}")
    failed = sum(1 for r in reports if r.error)
    print(f"{len(reports)} replayed, {failed} non-deterministic")
    return 1 if failed else 0


async def _jobs(args: argparse.Namespace, settings: Settings) -> int:
    identity = settings.identity or default_identity()
    client = await connect_client(settings, resolve_keyring(settings), identity=identity)
    audit = AuditTrail(client, task_queue=settings.task_queue, identity=identity)
    jobs = Jobs(client, scheduling=SchedulingOptions.of(settings), audit=audit)  # a reschedule lays schedules out
    return await run_jobs_command(args, jobs, Console(soft_wrap=True))


_COMMANDS: dict[str, Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, int]]] = {
    "dev": _dev,
    "codec-server": _codec_server,
    "apply": _apply,
    "preview": _preview,
    "replay": _replay,
    "worker": _worker,
    "schedule": _schedule,
    "jobs": _jobs,
}


def run(argv: Sequence[str] | None = None) -> int:
    """Run a command; returns the exit code (see the module's docstring)."""
    args = build_parser().parse_args(argv)
    global _REDACTOR
    try:
        settings = _settings(args)
        _REDACTOR = configure_logging(settings.log_format)
        return asyncio.run(_COMMANDS[args.command](args, settings))
    except (JobInputError, ConfigError, KeyringError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except (
        JobNotFoundError, JobFailedError, JobStateError, JobTimeoutError, DevServerError, TemporalUnreachableError
    ) as err:  # fmt: skip
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def main() -> None:
    """Console entry point: the exit code of ``run``, through a normal interpreter shutdown (which flushes
    the streams; the tracer provider was shut down by the command itself). A bug's traceback is printed
    as the interpreter would, with exit code 1."""
    try:
        code = run()
    except Exception:
        traceback.print_exc()
        code = 1
    release_temporal_runtime()
    sys.exit(code)
