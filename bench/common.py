"""What the benchmarks share (``bench.run`` and ``bench.scale``): the product config, timed dispatch,
the herd and recurring-minute figures, and a worker in its own process with its CPU and memory read
from ``/proc``."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from temporalio import activity
from temporalio.client import (
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleCalendarSpec,
    ScheduleRange,
    ScheduleSpec,
    ScheduleState,
)

from bench.target import Target
from ductape_jobs import Ductape
from ductape_jobs.activities.config.product_config import parse_product_config
from ductape_jobs.codec.encryption import Keyring

KEYRING = Keyring.generate("bench")

_RAW_HTTP: list[httpx.AsyncClient] = []


@activity.defn(name="bench.post")
async def raw_post(url: str) -> int:
    # One pooled client, as ours has: the comparison is about the job machinery, not TLS setup.
    if not _RAW_HTTP:
        _RAW_HTTP.append(httpx.AsyncClient())
    return (await _RAW_HTTP[0].post(url, json={})).status_code


def port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        found: int = s.getsockname()[1]
        return found


def product_config(url: str) -> Any:
    return parse_product_config({"products": {"bench": {"envs": ["dev"], "apps": {"target": {
        "envs": {"dev": {"base_url": url}}, "actions": {"hit": {"method": "POST", "path": "/hit"}}}}}}})  # fmt: skip


def job(**extra: Any) -> dict[str, Any]:
    return {"product_tag": "bench", "env": "dev", "app": "target", "event": "hit", "input": {}} | extra


async def timed(n: int, make: Callable[[int], Awaitable[Any]], concurrency: int = 32) -> float:
    """Jobs/s of ``n`` calls of ``make``, ``concurrency`` at a time."""
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with gate:
            await make(i)

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    return n / (time.perf_counter() - started)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class ActivityStarts(logging.Handler):
    """When each action activity began its work: the worker logs "calling ..." as it does."""

    def __init__(self) -> None:
        super().__init__()
        self.at: list[float] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("calling "):
            self.at.append(record.created)


async def await_hits(target: Target, n: int, deadline: float) -> list[float]:
    """The target's hit times once it has ``n`` (or at the deadline)."""
    while len(hits := await target.hits()) < n and time.time() < deadline:
        await asyncio.sleep(0.5)
    return hits


async def herd(ductape: Ductape, target: Target, n: int) -> tuple[list[float], list[float]]:
    """``n`` one-off jobs due at the same instant, on a worker of this process: the lateness of each
    activity's start (what the herd goal names) and of each target call (what the target sees), in s."""
    # Far enough ahead that dispatching is over by then: what is measured is the herd at the instant.
    due = time.time() + max(15.0, n / 20)
    await target.clear()
    starts = ActivityStarts()
    log = logging.getLogger("temporalio.activity")
    log.addHandler(starts)
    log.setLevel(logging.INFO)
    try:
        await timed(n, lambda i: ductape.processor.job.schedule(job(start_at=int(due * 1000))))
        hits = await await_hits(target, n, time.time() + max(n / 10, 300))
    finally:
        log.removeHandler(starts)
    return [t - due for t in starts.at] or [float("nan")], [h - due for h in hits] or [float("nan")]


def minute_ahead(seconds: float) -> datetime:
    """The first whole minute at least ``seconds`` from now (UTC)."""
    return (datetime.now(UTC) + timedelta(seconds=seconds + 60)).replace(second=0, microsecond=0)


async def recurring_herd(
    n: int, target: Target, create: Callable[[datetime, int], Awaitable[Any]], ahead: float = 45.0
) -> list[float]:
    """Create ``n`` schedules firing at the same minute (the first whole minute at least ``ahead`` s
    away, so that creating them ends before it), then the lateness of each target call after it."""
    minute = minute_ahead(ahead)
    await target.clear()
    await timed(n, lambda i: create(minute, i))
    due = minute.timestamp()
    hits = await await_hits(target, n, due + 180)
    return [h - due for h in hits] or [float("nan")]


def raw_schedule(minute: datetime, url: str, task_queue: str, tz: str = "UTC") -> Schedule:
    """A raw Temporal Schedule of one run of ``RawJob`` at ``minute`` (aware), read in zone ``tz``."""
    from zoneinfo import ZoneInfo

    local = minute.astimezone(ZoneInfo(tz))
    return Schedule(
        action=ScheduleActionStartWorkflow("RawJob", url, id=f"raw-r-{uuid.uuid4().hex}", task_queue=task_queue),
        spec=ScheduleSpec(
            calendars=[ScheduleCalendarSpec(minute=[ScheduleRange(local.minute)], hour=[ScheduleRange(local.hour)])],
            time_zone_name=tz,
        ),
        state=ScheduleState(limited_actions=True, remaining_actions=1),
    )


def worker_process(address: str, task_queue: str, url: str, data_dir: Path) -> subprocess.Popen[bytes]:
    """``ductape-jobs worker`` in its own process, on ``task_queue`` (its memory and CPU are its own)."""
    config = data_dir / "bench.yaml"
    config.write_text(
        "products:\n  bench:\n    envs: [dev]\n    apps:\n      target:\n"
        f"        envs: {{dev: {{base_url: '{url}'}}}}\n        actions: {{hit: {{method: POST, path: /hit}}}}\n"
    )
    env = dict(os.environ, DUCTAPE_ENCRYPTION_KEYS=KEYRING.to_text(), DUCTAPE_TASK_QUEUE=task_queue)
    cli = str(Path(sys.executable).parent / "ductape-jobs")
    return subprocess.Popen([cli, "worker", "--config", str(config), "--address", address], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` (VmRSS), in MB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")) / 1024


def cpu_s(pid: int) -> float:
    """CPU time (user + system) process ``pid`` has used, in seconds."""
    # The command name (field 2) may hold spaces: the fields after it start past its closing parenthesis.
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
