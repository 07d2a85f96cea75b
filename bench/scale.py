"""Cost curves at scale (issue 18, point 3): what N jobs cost the embedded dev server and a worker.

    .venv/bin/python -m bench.run --scale --scale-counts 1000,10000,20000 --plots docs/
    .venv/bin/python -m bench.run --scale --scale-figures minute \\
        --server-config worker.schedulerNamespaceStartWorkflowRPS=30 --out docs/bench-scale-rps30.json

Per count N, on a fresh dev server (temporary SQLite file) with ``ductape-jobs worker`` in its own
process: N one-off jobs pending (dispatch rate against raw ``start_workflow`` sending the same request,
worker and server RSS, SQLite bytes per job), a shorter-horizon "none lost" batch that must run each
job exactly once, and N recurring jobs registered (server and worker idle CPU and RSS). Once, on
another fresh server with a worker in this process: a herd of one-off jobs due at one instant, and
recurring jobs due in one ``Europe/Amsterdam`` minute against raw Temporal Schedules. Loopback only;
every wait is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.common import RawValue, WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

from bench.common import (
    KEYRING,
    await_hits,
    cpu_s,
    herd,
    job,
    minute_ahead,
    pct,
    port,
    product_config,
    raw_post,
    raw_schedule,
    rss_mb,
    stop,
    timed,
    worker_process,
)
from bench.plots import Figure, plot, print_figure, record
from bench.raw_workflows import RawJob
from bench.target import Target
from ductape_jobs import Ductape
from ductape_jobs.activities.config.secrets import SecretStore
from ductape_jobs.client import connect_client
from ductape_jobs.dev.server import DYNAMIC_CONFIG, DevServer, DevServerOptions
from ductape_jobs.planning.plan import JobPlanner
from ductape_jobs.scheduling.dispatch import encoded_memo
from ductape_jobs.settings import Settings
from ductape_jobs.worker.job_worker import job_worker
from ductape_jobs.workflows.names import JOB_WORKFLOW

ROUNDS = 5
ZONES = ("UTC", "Europe/Amsterdam", "America/New_York", "Asia/Kolkata")
SCALE_FIGURES = ("counts", "herd", "minute")


def _sqlite_bytes(data_dir: Path) -> int:
    return sum(p.stat().st_size for p in (data_dir / "temporal.sqlite", data_dir / "temporal.sqlite-wal") if p.exists())


async def _idle_cpu(pids: dict[str, int], seconds: float) -> dict[str, float]:
    """Each process's CPU over ``seconds``, in % of one core."""
    before = {name: cpu_s(pid) for name, pid in pids.items()}
    await asyncio.sleep(seconds)
    return {name: 100 * (cpu_s(pid) - before[name]) / seconds for name, pid in pids.items()}


async def _settle(pid: int, limit_s: float, below: float = 15.0, window: float = 3.0) -> float:
    """Wait until process ``pid`` uses under ``below`` % of a core over ``window`` s (or ``limit_s``
    passes); the seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < limit_s:
        if (await _idle_cpu({"p": pid}, window))["p"] < below:
            break
    return time.monotonic() - started


async def _backlog(client: Client, queue: str) -> int | None:
    request = DescribeTaskQueueRequest(
        namespace=client.namespace, task_queue=TaskQueue(name=queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, report_stats=True,
    )  # fmt: skip
    try:
        response = await client.workflow_service.describe_task_queue(request)
    except Exception:
        return None
    return int(response.stats.approximate_backlog_count)


@asynccontextmanager
async def _server(args: argparse.Namespace, label: str) -> AsyncIterator[_Env]:
    data_dir = Path(tempfile.mkdtemp(prefix=f"ductape-scale-{label}-"))
    options = DevServerOptions(port=port(), data_dir=data_dir, headless=True, dynamic_config=args.server_config)
    async with Target(port()) as target, DevServer(options) as server:
        assert server.pid is not None
        settings = Settings(address=options.address, task_queue=f"scale-{uuid.uuid4().hex[:6]}")
        ours = await connect_client(settings, KEYRING)
        raw = await Client.connect(options.address, data_converter=pydantic_data_converter)
        config = product_config(target.url)
        ductape = Ductape(ours, task_queue=settings.task_queue, config=config, secrets=SecretStore({}))
        yield _Env(options, settings, data_dir, server.pid, settings.task_queue, ours, raw, ductape, config, target)


@dataclass
class _Env:
    options: DevServerOptions
    settings: Settings
    data_dir: Path
    server_pid: int
    task_queue: str
    ours: Client
    raw: Client
    ductape: Ductape
    config: Any
    target: Target


async def _dispatch(env: _Env, n: int) -> tuple[list[float], list[int]]:
    """N jobs each side (ours, raw sending our request), far in the future, in ``ROUNDS`` alternating
    rounds: each side's jobs/s and the SQLite bytes its rounds added."""
    later = int((time.time() + 86_400) * 1000)
    plan = JobPlanner(task_queue="raw-parked", config=env.config).plan(None, job(start_at=later))
    encoded_input = RawValue((await env.ours.data_converter.encode([plan.workflow_input]))[0])
    memo = await encoded_memo(env.ours, plan.memo)
    sides: list[Callable[[int], Awaitable[Any]]] = [
        lambda i: env.ductape.processor.job.schedule(job(start_at=later)),
        lambda i: env.raw.start_workflow(
            JOB_WORKFLOW, encoded_input, id=f"raw-a-{uuid.uuid4().hex}", task_queue="raw-parked",
            search_attributes=plan.search_attributes, memo=memo, static_summary=plan.summary,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        ),
    ]  # fmt: skip
    elapsed, grown = [0.0, 0.0], [0, 0]
    sizes = [n // ROUNDS + (1 if r < n % ROUNDS else 0) for r in range(ROUNDS)]
    for round_, size in enumerate(sizes):
        for k in range(2):
            side = (k + round_) % 2
            before = _sqlite_bytes(env.data_dir)
            elapsed[side] += size / await timed(size, sides[side])
            grown[side] += _sqlite_bytes(env.data_dir) - before
    return [n / e for e in elapsed], grown


async def _none_lost(env: _Env, m: int) -> tuple[dict[str, Any], list[float]]:
    """``m`` one-off jobs due over one minute, starting once they are all dispatched: how many ran
    exactly once, none, or more than once, and each one's lateness (first target call after its time)."""
    await env.target.clear()
    first = time.time() + 15 + m / 30  # all dispatched by then (2,000 jobs: 82 s)
    due = {f"k{i}": first + min(60, m / 2) * i / m for i in range(m)}
    began = time.time()
    await timed(m, lambda i: env.ductape.processor.job.schedule(
        job(start_at=int(due[f"k{i}"] * 1000), input={"k": f"k{i}"})))  # fmt: skip
    dispatched = time.time()
    deadline = max(due.values()) + 120
    while time.time() < deadline and len(await env.target.keys()) < m:
        await asyncio.sleep(1)
    await asyncio.sleep(10)  # a job run twice would show by now (its retries and arming are seconds)
    keys = await env.target.keys()
    runs = [len(keys.get(k, [])) for k in due]
    late = [min(keys[k]) - t for k, t in due.items() if k in keys] or [float("nan")]
    detail = {"jobs": m, "exactly_once": runs.count(1), "never": runs.count(0),
              "more_than_once": sum(1 for r in runs if r > 1), "dispatch_s": round(dispatched - began, 1),
              "first_due_after_dispatch_s": round(first - dispatched, 1)}  # fmt: skip
    return detail, late


def _recurring_spec(i: int, now: datetime) -> dict[str, Any]:
    """Job ``i`` of the mix: four zones; daily, weekday and monthly crons, and ``every`` 4, 8, 12 h
    (first run 4 h or more after registering). Every cron's hour is 6-17 h ahead in its zone, so
    nothing fires while idle CPU is read."""
    zone = ZONES[i % len(ZONES)]
    kind = (i // len(ZONES)) % 6
    if kind >= 3:
        return {"every": (4, 8, 12)[kind - 3] * 3_600_000}
    hour = (now.astimezone(ZoneInfo(zone)).hour + 6 + i % 12) % 24
    cron = (f"{i % 60} {hour} * * *", f"{i % 60} {hour} * * 1-5", f"{i % 60} {hour} {1 + i % 28} * *")[kind]
    return {"cron": cron, "tz": zone}


async def _guarded(make: Callable[[], Awaitable[Any]], failures: list[str]) -> None:
    try:
        await make()
    except Exception as e:  # counted and reported: a figure on 0 registered jobs must not pass as one
        failures.append(f"{type(e).__name__}: {e}")


async def counts(args: argparse.Namespace, n: int) -> list[Figure]:
    """Figures 1, 2 and 4 for ``n`` jobs, on a fresh server and a worker process of their own."""
    figures: list[Figure] = []

    def add(f: Figure) -> None:
        figures.append(f)
        print_figure(f)

    async with _server(args, str(n)) as env:
        base = _sqlite_bytes(env.data_dir)
        (ours_rate, raw_rate), grown = await _dispatch(env, n)
        add(Figure("1 dispatch N one-off jobs (jobs/s)", n, ours_rate, "jobs/s", ">= 0.95x raw",
                   ours_rate / raw_rate >= 0.95, raw=raw_rate))  # fmt: skip
        worker = worker_process(env.options.address, env.task_queue, env.target.url, env.data_dir)
        try:
            started = time.monotonic()
            limit = max(60.0, n / 5)
            while time.monotonic() - started < limit:
                await asyncio.sleep(2)
                if await _backlog(env.ours, env.task_queue) == 0:
                    break
            # Then until the worker is idle: every job has run its first workflow task and waits on a timer.
            await _settle(worker.pid, limit - (time.monotonic() - started))
            drained = time.monotonic() - started
            after_first = _sqlite_bytes(env.data_dir)
            worker_rss, server_rss = rss_mb(worker.pid), rss_mb(env.server_pid)
            add(Figure("1 worker RSS, N one-off jobs pending (MB)", n, worker_rss, "MB", "<= 150 MB",
                       worker_rss <= 150, detail={"first_tasks_s": round(drained, 1)}))  # fmt: skip
            add(Figure("1 server RSS, N one-off jobs pending (MB)", n, server_rss, "MB", "(none)", None))
            per_job = (grown[0] + after_first - (base + sum(grown))) / n
            add(Figure("1 SQLite bytes per job (sqlite + wal)", n, per_job, "B/job", "(none)", None,
                       raw=grown[1] / n, detail={"sqlite_mb": round(_sqlite_bytes(env.data_dir) / 2**20, 1),
                                                 "ours_start_b": grown[0] / n}))  # fmt: skip
            if args.lost_max > 0:
                detail, late = await _none_lost(env, min(n, args.lost_max))
                once, m = detail["exactly_once"], detail["jobs"]
                add(Figure("2 none lost: jobs run exactly once", n, once, "jobs", f"== {m}", once == m, detail=detail))
                add(Figure("2 none lost: lateness p50 (s)", n, statistics.median(late), "s", "(none)", None))
                add(Figure("2 none lost: lateness p99 (s)", n, pct(late, 0.99), "s", "(none)", None))
            pids = {"server": env.server_pid, "worker": worker.pid}
            await _settle(env.server_pid, 60)
            baseline = await _idle_cpu(pids, args.idle_seconds / 2)
            now, failures = datetime.now(UTC), list[str]()
            rate = await timed(n, lambda i: _guarded(
                lambda: env.ductape.processor.job.schedule(job(repeat=_recurring_spec(i, now))), failures))  # fmt: skip
            registered = n - len(failures)
            settled = await _settle(env.server_pid, max(60.0, n / 20))
            idle = await _idle_cpu(pids, args.idle_seconds)
            detail = {"registered": registered, "register_per_s": round(rate, 1), "settle_s": round(settled, 1),
                      "baseline_server_cpu": round(baseline["server"], 2), "failures": failures[:3],
                      "baseline_worker_cpu": round(baseline["worker"], 2), "window_s": args.idle_seconds}  # fmt: skip
            if registered == 0:
                print(f"figure 4 skipped: no recurring job registered ({failures[:1]})", flush=True)
            else:
                add(Figure("4 server idle CPU, N recurring jobs (% core)", n, idle["server"], "% core",
                           "<= 10%", idle["server"] <= 10, detail=detail))  # fmt: skip
                add(Figure("4 worker idle CPU, N recurring jobs (% core)", n, idle["worker"], "% core",
                           "(none)", None))  # fmt: skip
                add(Figure("4 server RSS, N recurring jobs (MB)", n, rss_mb(env.server_pid), "MB", "(none)", None))
                add(Figure("4 worker RSS, N recurring jobs (MB)", n, rss_mb(worker.pid), "MB", "<= 150 MB",
                           rss_mb(worker.pid) <= 150))  # fmt: skip
        finally:
            stop(worker)
    return figures


async def instants(args: argparse.Namespace) -> list[Figure]:
    """Figures 3 (a herd of one-off jobs) and 5 (recurring jobs due in one Amsterdam minute), on a
    fresh server with a worker in this process (the herd reads its activity starts from its log)."""
    figures: list[Figure] = []

    def add(f: Figure) -> None:
        figures.append(f)
        print_figure(f)

    async with _server(args, "instants") as env:
        raw_queue = f"raw-{uuid.uuid4().hex[:6]}"
        # A bug fails the workflow instead of retrying its task forever (a broken bench stops).
        raw_worker = Worker(env.raw, task_queue=raw_queue, workflows=[RawJob], activities=[raw_post],
                            workflow_failure_exception_types=[Exception])  # fmt: skip
        async with AsyncExitStack() as workers:
            # ``--workers K``: K job workers on the queue (each holds up to 2,000 armed activities), each
            # on a client of its own (the SDK registers one worker per client and task queue).
            for k in range(args.workers):
                client = env.ours if k == 0 else await connect_client(env.settings, KEYRING)
                await workers.enter_async_context(job_worker(
                    client, task_queue=env.task_queue, config=env.config, secrets=SecretStore({}),
                    fail_workflow_on_bug=True))  # fmt: skip
            await workers.enter_async_context(raw_worker)
            if "herd" in args.scale_figures:
                n = args.herd
                started, called = await herd(env.ductape, env.target, n)
                detail = {"activities_seen": len(started), "calls_seen": len(called)}
                add(Figure("3 herd: activity start p50 (s)", n, statistics.median(started), "s", "(none)", None))
                add(Figure("3 herd: activity start p99 (s)", n, pct(started, 0.99), "s", "<= 1 s",
                           pct(started, 0.99) <= 1, detail=detail))  # fmt: skip
                add(Figure("3 herd: target call p50 (s)", n, statistics.median(called), "s", "(none)", None))
                add(Figure("3 herd: target call p99 (s)", n, pct(called, 0.99), "s", "<= 3 s",
                           pct(called, 0.99) <= 3, detail=detail))  # fmt: skip
            if "minute" in args.scale_figures:
                await _minute(env, args.minute, raw_queue, add)
    return figures


async def _minute_side(env: _Env, n: int, create: Callable[[datetime, int], Awaitable[Any]]) -> dict[str, Any]:
    """``n`` schedules firing in one minute (registered at least 60 s before it, so that ours arm at
    their full lead), the lateness of each target call after it."""
    minute = minute_ahead(75 + n / 8)  # ours register about 16/s here (a DST zone: two schedules each)
    await env.target.clear()
    failures: list[str] = []
    rate = await timed(n, lambda i: _guarded(lambda: create(minute, i), failures))
    margin = minute.timestamp() - time.time()
    registered = n - len(failures)
    if registered:
        await await_hits(env.target, registered, minute.timestamp() + 180)
        await asyncio.sleep(5)  # a run started twice would show by now
    hits = await env.target.hits()
    late = [h - minute.timestamp() for h in hits] or [float("nan")]
    return {"registered": registered, "register_per_s": round(rate, 1), "margin_s": round(margin, 1),
            "runs": len(hits), "p50": statistics.median(late), "p99": pct(late, 0.99), "failures": failures[:3],
            "minute_utc": minute.isoformat()}  # fmt: skip


async def _minute(env: _Env, n: int, raw_queue: str, add: Callable[[Figure], None]) -> None:
    zone = "Europe/Amsterdam"

    def ours(minute: datetime, i: int) -> Awaitable[Any]:
        local = minute.astimezone(ZoneInfo(zone))
        return env.ductape.processor.job.schedule(
            job(repeat={"cron": f"{local.minute} {local.hour} * * *", "tz": zone, "limit": 1}))  # fmt: skip

    def raw(minute: datetime, i: int) -> Awaitable[Any]:
        return env.raw.create_schedule(f"raw-s-{uuid.uuid4().hex}",
                                       raw_schedule(minute, f"{env.target.url}/hit", raw_queue, tz=zone))  # fmt: skip

    mine = await _minute_side(env, n, ours)
    if mine["registered"] == 0:
        print(f"figure 5 skipped: no recurring job registered ({mine['failures'][:1]})", flush=True)
        return
    theirs = await _minute_side(env, n, raw)
    add(Figure(f"5 {n} recurring in one {zone} minute: lateness p50 (s)", n, mine["p50"], "s", "(none)", None,
               raw=theirs["p50"], detail={"ours": mine, "raw": theirs}))  # fmt: skip
    add(Figure(f"5 {n} recurring in one {zone} minute: lateness p99 (s)", n, mine["p99"], "s", "<= 1 s",
               mine["p99"] <= 1 and mine["runs"] == n, raw=theirs["p99"]))  # fmt: skip


async def scale(args: argparse.Namespace) -> list[Figure]:
    figures: list[Figure] = []
    if "counts" in args.scale_figures:
        for n in args.scale_counts:
            figures += await counts(args, n)
    if {"herd", "minute"} & set(args.scale_figures):
        figures += await instants(args)
    return figures


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("scale mode (--scale)")
    group.add_argument("--scale", action="store_true", help="cost curves at scale (bench/scale.py)")
    group.add_argument("--scale-counts", default="1000,10000", help="job counts N, comma-separated")
    group.add_argument("--scale-figures", default=",".join(SCALE_FIGURES), help=f"of: {', '.join(SCALE_FIGURES)}")
    group.add_argument("--server-config", action="append", default=[], metavar="KEY=VALUE",
                       help="dynamic config over the embedded default (JSON values), repeatable")  # fmt: skip
    group.add_argument("--plots", type=Path, help="write docs/bench-scale-*.png plots into this folder")
    group.add_argument("--out", type=Path, default=Path("docs/bench-scale.json"), help="results (JSON)")
    group.add_argument("--append", action="store_true", help="add this run to --out's runs")
    group.add_argument("--idle-seconds", type=float, default=60.0, help="idle CPU window (s)")
    group.add_argument("--lost-jobs", type=int, default=2000, help="'none lost' batch: min(N, this); 0: none")
    group.add_argument("--workers", type=int, default=1, help="job workers for the herd and the minute (this process)")
    group.add_argument("--herd-jobs", type=int, help="herd size (default 5000; --quick 1000)")
    group.add_argument("--minute-jobs", type=int, help="recurring jobs in the minute (default 1000; --quick 200)")


def server_config(pairs: list[str]) -> dict[str, object]:
    config: dict[str, object] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"--server-config: expected KEY=VALUE, got {pair!r}")
        try:
            config[key] = json.loads(text)
        except json.JSONDecodeError:
            config[key] = text
    return config


def main(args: argparse.Namespace) -> None:
    args.scale_counts = [int(c) for c in str(args.scale_counts).split(",") if c]
    args.scale_figures = set(str(args.scale_figures).split(","))
    if unknown := args.scale_figures - set(SCALE_FIGURES):
        raise SystemExit(f"--scale-figures: unknown {sorted(unknown)} (known: {', '.join(SCALE_FIGURES)})")
    args.server_config = server_config(args.server_config)
    args.herd = args.herd_jobs or (1000 if args.quick else 5000)
    args.minute = args.minute_jobs or (200 if args.quick else 1000)
    args.lost_max = args.lost_jobs
    if args.quick:
        args.idle_seconds = min(args.idle_seconds, 20.0)
    started = datetime.now(UTC)
    print(f"ductape-jobs at scale, {started:%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores (shared), "
          f"server config {({**DYNAMIC_CONFIG, **args.server_config})}", flush=True)  # fmt: skip
    figures = asyncio.run(scale(args))
    finished = datetime.now(UTC)
    run = {"started": started.isoformat(timespec="seconds"), "finished": finished.isoformat(timespec="seconds"),
           "command": shlex.join(["python", "-m", "bench.run", *sys.argv[1:]]), "cores": os.cpu_count(),
           "server_config": {**DYNAMIC_CONFIG, **args.server_config}, "overrides": args.server_config,
           "workers": args.workers, "figures": record(figures)}  # fmt: skip
    runs = json.loads(args.out.read_text())["runs"] if args.append and args.out.exists() else []
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"runs": [*runs, run]}, indent=1, default=str) + "\n")
    print(f"results: {args.out}", flush=True)
    if args.plots is not None:
        for path in plot([*runs, run], args.plots):
            print(f"plot: {path}", flush=True)
