"""A recurring job's catch-up policy in Temporal's terms: the schedule's catch-up window and overlap
rule, and the settings its runs check when they start late (``ductape_jobs.workflows.catch_up``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise

from temporalio.client import ScheduleCalendarSpec, ScheduleOverlapPolicy

from ductape_jobs.planning.preview import next_runs
from ductape_jobs.workflows.contracts.catchup import GRACE_MS, CatchupSettings
from ductape_jobs.workflows.contracts.flow_control import CatchupDef

DEFAULT_WINDOW_MS = 60_000
DEFAULT_MAX_RUNS = 10
_GAP_SAMPLE = 200
"""Coming runs of a cron read for its shortest gap."""


@dataclass(frozen=True)
class CatchUp:
    window: timedelta
    """The schedule's catch-up window: the server starts a run it missed only within it."""
    overlap: ScheduleOverlapPolicy
    settings: CatchupSettings | None
    """What each run checks (None: a job without a policy, as earlier versions ran it)."""


def catch_up_for(
    catchup: CatchupDef | None,
    *,
    every: timedelta | None,
    calendars: list[ScheduleCalendarSpec],
    time_zone: str,
    start: datetime,
) -> CatchUp:
    """``repeat.catchup`` compiled. ``all`` bounds the server's window by ``max_runs`` of the job's
    shortest gap, so that after an outage of the server it starts at most ``max_runs`` runs (for a
    cron whose gaps vary, fewer in its sparse stretches); runs that waited for a worker are capped
    by the runs themselves."""
    if catchup is None:  # as earlier versions: one late run within 60 s, however long it waits for a worker
        return CatchUp(timedelta(milliseconds=DEFAULT_WINDOW_MS), ScheduleOverlapPolicy.SKIP, None)
    if catchup.policy == "skip":
        settings = CatchupSettings(policy="skip", window_ms=GRACE_MS)
        return CatchUp(timedelta(milliseconds=GRACE_MS), ScheduleOverlapPolicy.SKIP, settings)
    window_ms = catchup.window_ms or DEFAULT_WINDOW_MS
    if catchup.policy == "once":
        settings = CatchupSettings(policy="once", window_ms=window_ms)
        return CatchUp(timedelta(milliseconds=window_ms), ScheduleOverlapPolicy.SKIP, settings)
    max_runs = catchup.max_runs or DEFAULT_MAX_RUNS
    gap = every or _shortest_gap(calendars, time_zone, start)
    server_window = min(timedelta(milliseconds=window_ms), max(gap * max_runs, timedelta(milliseconds=GRACE_MS)))
    settings = CatchupSettings(policy="all", window_ms=window_ms, max_runs=max_runs)
    # Every run starts on time, each in its own workflow, so the runs that waited for a worker are
    # all there when it comes back, and each can tell how many newer ones wait with it.
    return CatchUp(server_window, ScheduleOverlapPolicy.ALLOW_ALL, settings)


def _shortest_gap(calendars: list[ScheduleCalendarSpec], time_zone: str, start: datetime) -> timedelta:
    runs = next_runs(calendars, time_zone=time_zone, after=start.astimezone(UTC), count=_GAP_SAMPLE)
    return min((b - a for a, b in pairwise(runs)), default=timedelta(days=1))
