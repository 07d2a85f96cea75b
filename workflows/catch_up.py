"""Catch-up: whether a recurring job's run that reaches a worker late still runs (README "Catch-up and
backfill").

The schedule owns the server's side: runs it missed while it was down start only within its
catch-up window (``ductape_jobs.planning.catch_up``). This is the workers' side: a run the server
started on time but no worker took up (every worker was down, or too busy) is late by the time it
waited, ``now - start``. Within ``GRACE_MS`` it is on time. Beyond it, ``skip`` runs nothing, every
policy runs nothing past its window, and ``all`` runs only the newest ``max_runs`` of the runs that
waited together (each counts the job's run times that passed while it waited).

Deterministic (the workflow imports it): the clock is the workflow's, the run times come from the
job's cron or interval.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from ductape_jobs.workflows.contracts.catchup import GRACE_MS, CatchupSettings
from ductape_jobs.workflows.cron import CronError, parse_cron

CATCH_UP = "catch-up"
"""Patch of the check: only a run that ends missed records it (older runs never meet it)."""


def missed_reason(
    settings: CatchupSettings,
    *,
    started: datetime,
    now: datetime,
    cron: str | None,
    tz: str | None,
    every_ms: int | None,
    end: datetime | None = None,
) -> str | None:
    """Why the run, started at ``started`` and taken up by a worker at ``now``, must not run; None
    when it runs. ``end``: the job's ``endDate`` (no run time after it)."""
    late = now - started
    if late <= timedelta(milliseconds=GRACE_MS):
        return None
    waited = f"waited {int(late.total_seconds())} s for a worker"
    if settings.policy == "skip":
        return f"{waited}; catch-up policy skip runs no late run"
    if late > timedelta(milliseconds=settings.window_ms):
        return f"{waited}, past its catch-up window of {settings.window_ms // 1000} s"
    if settings.max_runs is not None:
        until = now if end is None else min(now, end)
        newer = newer_runs(started, until, cron=cron, tz=tz, every_ms=every_ms, stop=settings.max_runs)
        if newer >= settings.max_runs:
            return (
                f"{waited}; {newer} newer runs waited too and catch-up policy all runs the newest {settings.max_runs}"
            )
    return None


def newer_runs(
    after: datetime, until: datetime, *, cron: str | None, tz: str | None, every_ms: int | None, stop: int
) -> int:
    """How many of the job's run times fall in ``(after, until]``, counted up to ``stop``.

    ``all``'s window is at most 7 days (``CatchupDef``), so a cron is read minute by minute over at
    most 10,080 minutes."""
    if until <= after:
        return 0
    if every_ms:
        return min(int((until - after) / timedelta(milliseconds=every_ms)), stop)
    try:
        compiled = parse_cron(cron) if cron else None
    except CronError:
        compiled = None
    if compiled is None:
        return 0
    minute = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
    count = 0
    while minute <= until and count < stop:
        count += compiled.matches(minute, tz)
        minute += timedelta(minutes=1)
    return count
