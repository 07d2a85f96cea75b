"""``ductape_jobs.workflows.catch_up``: which late runs still run, for each policy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ductape_jobs.workflows.catch_up import missed_reason, newer_runs
from ductape_jobs.workflows.contracts.catchup import CatchupSettings

T0 = datetime(2027, 3, 27, 23, 0, tzinfo=UTC)


def late(settings: CatchupSettings, seconds: float, **job: object) -> str | None:
    fields: dict[str, object] = {"cron": None, "tz": None, "every_ms": None} | job
    return missed_reason(settings, started=T0, now=T0 + timedelta(seconds=seconds), **fields)  # type: ignore[arg-type]


def test_within_the_grace_every_policy_runs() -> None:
    for settings in (
        CatchupSettings(policy="skip", window_ms=10_000),
        CatchupSettings(policy="once", window_ms=60_000),
        CatchupSettings(policy="all", window_ms=60_000, max_runs=1),
    ):
        assert late(settings, 9.9, every_ms=1000) is None


def test_skip_runs_no_late_run_and_the_window_bounds_once_and_all() -> None:
    assert "policy skip" in (late(CatchupSettings(policy="skip", window_ms=10_000), 11) or "")
    once = CatchupSettings(policy="once", window_ms=60_000)
    assert late(once, 59) is None
    assert "catch-up window of 60 s" in (late(once, 61) or "")
    every = CatchupSettings(policy="all", window_ms=3_600_000, max_runs=3)
    assert "catch-up window" in (late(every, 3601, every_ms=60_000) or "")


def test_all_runs_the_newest_max_runs_of_the_runs_that_waited() -> None:
    every = CatchupSettings(policy="all", window_ms=3_600_000, max_runs=3)
    assert late(every, 179, every_ms=60_000) is None  # 2 newer runs waited with it
    assert "runs the newest 3" in (late(every, 180, every_ms=60_000) or "")
    # No run time after the job's endDate counts.
    assert late(every, 600, every_ms=60_000, end=T0 + timedelta(seconds=150)) is None


def test_newer_runs_of_a_cron_in_its_zone_across_the_dst_change() -> None:
    # 23:00Z to 02:00Z is 00:00 CET to 04:00 CEST on 2027-03-28: 02:00-03:00 local never happens, so
    # `30 * * * *` fires at 00:30, 01:30 and 03:30 local, and `30 2 * * *` not at all.
    after, until = T0, T0 + timedelta(hours=3)
    assert newer_runs(after, until, cron="30 * * * *", tz="Europe/Amsterdam", every_ms=None, stop=100) == 3
    assert newer_runs(after, until, cron="30 2 * * *", tz="Europe/Amsterdam", every_ms=None, stop=100) == 0
    assert newer_runs(after, until, cron="30 1 * * *", tz="Europe/Amsterdam", every_ms=None, stop=100) == 1
    assert newer_runs(after, until, cron="* * * * *", tz=None, every_ms=None, stop=5) == 5  # counting stops
    assert newer_runs(until, after, cron="* * * * *", tz=None, every_ms=None, stop=5) == 0
