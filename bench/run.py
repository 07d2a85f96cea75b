"""Benchmarks: ductape-jobs against raw Temporal on the same embedded server, in the same run.

    .venv/bin/python -m bench.run            # every figure, with its goal
    .venv/bin/python -m bench.run --quick    # smaller counts, for a smoke run
    .venv/bin/python -m bench.run --only herd,recurring
    .venv/bin/python -m bench.run --scale --scale-counts 1000,10000 --plots docs/   # cost curves (bench/scale.py)

Prints a table; ``docs/benchmarks.md`` keeps a run. Loopback only; bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.common import RawValue, WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

from bench import scale as scale_mode
from bench.common import (
    KEYRING,
    herd,
    pct,
    raw_post,
    raw_schedule,
    recurring_herd,
    rss_mb,
    stop,
    timed,
    worker_process,
)
from bench.common import job as _job
from bench.common import port as _port
from bench.common import product_config as _config
from bench.raw_workflows import RawJob, RawSleeper
from bench.target import Target
from ductape_jobs import Ductape
from ductape_jobs.activities.config.secrets import SecretStore
from ductape_jobs.client import connect_client
from ductape_jobs.dev.server import DevServer, DevServerOptions
from ductape_jobs.planning.plan import JobPlanner
from ductape_jobs.scheduling.dispatch import encoded_memo
from ductape_jobs.settings import Settings
from ductape_jobs.worker.job_worker import job_worker
from ductape_jobs.workflows.names import JOB_WORKFLOW


@dataclass
class Row:
    figure: str
    ours: str
    raw: str
    ratio: str
    goal: str


ROUNDS = 5


async def _interleaved(n: int, *sides: Callable[[int], Awaitable[Any]]) -> list[float]:
    """Jobs/s of each side, run in ``ROUNDS`` alternating rounds of ``n / ROUNDS`` jobs (the order
    rotating each round): a slow spell of this shared machine then falls on every side alike."""
    elapsed = [0.0] * len(sides)
    size = max(n // ROUNDS, 1)
    for round_ in range(ROUNDS):
        for k in range(len(sides)):
            side = (k + round_) % len(sides)
            elapsed[side] += size / await timed(size, sides[side])
    return [size * ROUNDS / e for e in elapsed]


@dataclass
class Bench:
    """What every figure measures with: one server, both clients, the target (its own process)."""

    args: argparse.Namespace
    options: DevServerOptions
    data_dir: Path
    task_queue: str
    ours: Client
    raw: Client
    ductape: Ductape
    config: Any
    url: str
    target: Target
    raw_queue: str = field(default_factory=lambda: f"raw-{uuid.uuid4().hex[:6]}")
    plain: Ductape | None = None
    """Our product on a client without payload encryption."""


async def bench(args: argparse.Namespace) -> list[Row]:
    rows: list[Row] = []
    data_dir = Path(tempfile.mkdtemp(prefix="ductape-bench-"))
    options = DevServerOptions(port=_port(), data_dir=data_dir, headless=True)
    async with Target(_port()) as target, DevServer(options):
        url = target.url
        config = _config(url)
        settings = Settings(address=options.address, task_queue=f"bench-{uuid.uuid4().hex[:6]}")
        ours_client = await connect_client(settings, KEYRING)
        raw_client = await Client.connect(options.address, data_converter=pydantic_data_converter)
        ductape = Ductape(ours_client, task_queue=settings.task_queue, config=config, secrets=SecretStore({}))
        b = Bench(args, options, data_dir, settings.task_queue, ours_client, raw_client, ductape, config, url, target)
        if "dispatch" in args.only:
            rows.append(await _dispatch(b))
        # A bug fails the workflow instead of retrying its task forever, so a broken bench stops rather
        # than waits; it changes nothing on the measured path.
        raw_worker = Worker(raw_client, task_queue=b.raw_queue, workflows=[RawJob, RawSleeper], activities=[raw_post],
                            workflow_failure_exception_types=[Exception])  # fmt: skip
        ours_worker = job_worker(ours_client, task_queue=settings.task_queue, config=config, secrets=SecretStore({}),
                                 fail_workflow_on_bug=True)  # fmt: skip
        # The same product without payload encryption (DUCTAPE_PLAINTEXT=1), on its own queue: what
        # the encryption (and the SDK's codec path it brings) costs end to end.
        plain_client = await connect_client(settings, None)
        plain_queue = f"{settings.task_queue}-plain"
        b.plain = Ductape(plain_client, task_queue=plain_queue, config=config, secrets=SecretStore({}))
        plain_worker = job_worker(plain_client, task_queue=plain_queue, config=config, secrets=SecretStore({}),
                                  fail_workflow_on_bug=True)  # fmt: skip
        async with ours_worker, raw_worker, plain_worker:
            for name, figure in (("e2e", _end_to_end), ("history", _history), ("herd", _herd),
                                 ("recurring", _recurring)):  # fmt: skip
                if name in args.only:
                    rows.append(await figure(b))
        if "rss" in args.only:
            rows.append(await _rss(b))
    return rows


async def _dispatch(b: Bench) -> Row:
    """schedule() (validate, plan, encrypt, start) vs raw start_workflow, on queues no worker polls:
    the dispatched jobs must not become a backlog for the later figures."""
    n = b.args.dispatch
    later = int((time.time() + 3600) * 1000)
    parked = Ductape(b.ours, task_queue="bench-parked", config=b.config, secrets=SecretStore({}))
    # Raw start_workflow sending the request schedule() sends (encoded and encrypted once, ahead): the
    # same input, search attributes (listing and the Web UI filter on them), memo, summary and ID
    # policies. What it loses against plain raw is the server's work for that metadata, not ours.
    plan = JobPlanner(task_queue="raw-parked", config=b.config).plan(None, _job(start_at=later))
    encoded_input = RawValue((await b.ours.data_converter.encode([plan.workflow_input]))[0])
    memo = await encoded_memo(b.ours, plan.memo)
    ours, raw, raw_same = await _interleaved(
        n,
        lambda i: parked.processor.job.schedule(_job(start_at=later)),
        lambda i: b.raw.start_workflow("RawSleeper", 3600.0, id=f"raw-d-{uuid.uuid4().hex}", task_queue="raw-parked"),
        lambda i: b.raw.start_workflow(
            JOB_WORKFLOW, encoded_input, id=f"raw-a-{uuid.uuid4().hex}", task_queue="raw-parked",
            search_attributes=plan.search_attributes, memo=memo, static_summary=plan.summary,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        ),
    )  # fmt: skip
    return Row(f"dispatch, {n} jobs (jobs/s; raw sending our request: {raw_same:.0f}, {raw_same / raw:.2f}x)",
               f"{ours:.0f}", f"{raw:.0f}", f"{ours / raw:.2f}x", ">= 0.95x")  # fmt: skip


async def _end_to_end(b: Bench) -> Row:
    """Jobs run one after the other by 32 callers against the local HTTP target."""
    n = b.args.e2e

    async def ours_job(_: int) -> None:
        job = await b.ductape.processor.job.schedule(_job())
        await b.ductape.jobs.result(job.job_id)

    async def raw_job(_: int) -> None:
        await b.raw.execute_workflow(RawJob.run, f"{b.url}/hit", id=f"raw-e-{uuid.uuid4().hex}", task_queue=b.raw_queue)

    async def plain_job(_: int) -> None:
        assert b.plain is not None
        job = await b.plain.processor.job.schedule(_job())
        await b.plain.jobs.result(job.job_id)

    ours, raw, plain = await _interleaved(n, ours_job, raw_job, plain_job)
    return Row(f"end to end, {n} jobs (jobs/s; ours unencrypted: {plain:.1f}, {plain / raw:.2f}x)",
               f"{ours:.1f}", f"{raw:.1f}", f"{ours / raw:.2f}x", ">= 0.9x")  # fmt: skip


async def _history(b: Bench) -> Row:
    job = await b.ductape.processor.job.schedule(_job())
    await b.ductape.jobs.result(job.job_id)
    ours_events = len([e async for e in b.ours.get_workflow_handle(job.job_id).fetch_history_events()])
    raw_id = f"raw-h-{uuid.uuid4().hex}"
    await b.raw.execute_workflow(RawJob.run, f"{b.url}/hit", id=raw_id, task_queue=b.raw_queue)
    raw_events = len([e async for e in b.raw.get_workflow_handle(raw_id).fetch_history_events()])
    return Row("history events of a plain job", str(ours_events), str(raw_events),
               f"{ours_events / raw_events:.2f}x", "equal")  # fmt: skip


async def _herd(b: Bench) -> Row:
    """Many one-off jobs due at the same instant: lateness of each activity's start (what the goal
    names) and of each target call (what the target sees) after it."""
    n = b.args.herd
    started, called = await herd(b.ductape, b.target, n)
    return Row(f"herd of {n} one-off jobs: activity start p50 / p99; target call p50 / p99 (s)",
               f"{statistics.median(started):.2f} / {pct(started, 0.99):.2f}; "
               f"{statistics.median(called):.2f} / {pct(called, 0.99):.2f}", "", "", "p99 <= 2 s")  # fmt: skip


async def _recurring(b: Bench) -> Row:
    """Many recurring jobs due in the same minute: start lateness of their target calls."""
    n = b.args.recurring
    ours_late = await recurring_herd(n, b.target, lambda minute, i: b.ductape.processor.job.schedule(
        _job(repeat={"cron": f"{minute.minute} {minute.hour} * * *", "limit": 1})))  # fmt: skip
    raw_late = await recurring_herd(n, b.target, lambda minute, i: b.raw.create_schedule(
        f"raw-s-{uuid.uuid4().hex}", raw_schedule(minute, f"{b.url}/hit", b.raw_queue)))  # fmt: skip
    return Row(f"{n} recurring jobs due in one minute: lateness p50 / p99 (s)",
               f"{statistics.median(ours_late):.1f} / {pct(ours_late, 0.99):.1f}",
               f"{statistics.median(raw_late):.1f} / {pct(raw_late, 0.99):.1f}", "", "p99 <= 2 s")  # fmt: skip


async def _rss(b: Bench) -> Row:
    """Worker memory with many sleeping jobs (a separate worker process, RSS from /proc)."""
    n = b.args.sleeping
    later_ms = int((time.time() + 7200) * 1000)
    await timed(n, lambda i: b.ductape.processor.job.schedule(_job(start_at=later_ms)), concurrency=64)
    rss = await _worker_rss(b.options.address, b.task_queue, b.url, b.data_dir, n)
    return Row(f"worker RSS with {n} sleeping jobs (MB)", f"{rss:.0f}", "", "", "< 150 MB")


async def _worker_rss(address: str, task_queue: str, url: str, data_dir: Path, expected: int) -> float:
    process = worker_process(address, task_queue, url, data_dir)
    try:
        # Every sleeping job's first workflow task runs once on this worker; then it waits on a timer.
        await asyncio.sleep(max(20.0, expected / 40))
        return rss_mb(process.pid)
    finally:
        stop(process)


FIGURES = ("dispatch", "e2e", "history", "herd", "recurring", "rss")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default=",".join(FIGURES), help=f"comma-separated figures of: {', '.join(FIGURES)}")
    scale_mode.add_arguments(parser)
    args = parser.parse_args()
    if args.scale:
        scale_mode.main(args)
        sys.stdout.flush()
        os._exit(0)  # the SDK's native threads can abort interpreter exit (temporalio/sdk-python#300)
    args.only = set(args.only.split(","))
    if unknown := args.only - set(FIGURES):
        parser.error(f"--only: unknown figures {sorted(unknown)} (known: {', '.join(FIGURES)})")
    scale = 0.2 if args.quick else 1.0
    args.dispatch, args.e2e = int(1500 * scale), int(300 * scale)
    args.herd, args.sleeping, args.recurring = int(1000 * scale), int(10_000 * scale), int(200 * scale)
    started = datetime.now(UTC)
    rows = asyncio.run(bench(args))
    print(f"\nductape-jobs benchmarks, {started:%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, embedded dev server")
    print(f"| {'figure':48} | {'ductape-jobs':>14} | {'raw Temporal':>12} | {'ratio':>6} | goal |")
    print(f"|{'-' * 50}|{'-' * 16}|{'-' * 14}|{'-' * 8}|------|")
    for row in rows:
        print(f"| {row.figure:48} | {row.ours:>14} | {row.raw:>12} | {row.ratio:>6} | {row.goal} |")
    sys.stdout.flush()
    os._exit(0)  # the SDK's native threads can abort interpreter exit (temporalio/sdk-python#300)


if __name__ == "__main__":
    main()
