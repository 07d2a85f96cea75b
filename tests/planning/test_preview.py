"""The local preview: done-when examples and the server's DST behaviour (as measured on the dev server,
Server 1.32; ``tests/workflows/test_cron_agreement.py`` re-checks all of it against a live server)."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from temporalio.client import ScheduleCalendarSpec, ScheduleIntervalSpec, ScheduleRange

from ductape_jobs.planning.calendars import compile_cron
from ductape_jobs.planning.cron_preview import preview_cron
from ductape_jobs.planning.preview import next_runs

AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def local(runs: list[datetime], zone: str) -> list[str]:
    return [r.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M%z") for r in runs]


def test_first_mondays_in_amsterdam_only() -> None:
    runs = preview_cron("0 9 * * MON#1", tz="Europe/Amsterdam", after=datetime(2027, 1, 1, tzinfo=UTC), count=24)
    days = [r.astimezone(AMSTERDAM) for r in runs]
    assert all(d.weekday() == 0 and d.day <= 7 and (d.hour, d.minute) == (9, 0) for d in days)
    assert [(d.year, d.month) for d in days] == [(2027 + i // 12, i % 12 + 1) for i in range(24)]
    assert {d.utcoffset() for d in days} == {timedelta(hours=1), timedelta(hours=2)}  # 09:00 local all year


def test_last_day_of_every_month_including_the_leap_day() -> None:
    runs = preview_cron("0 0 L * *", after=datetime(2027, 12, 31, tzinfo=UTC), count=13)
    assert [(r.year, r.month, r.day) for r in runs] == [
        (2028, 1, 31), (2028, 2, 29), (2028, 3, 31), (2028, 4, 30), (2028, 5, 31), (2028, 6, 30), (2028, 7, 31),
        (2028, 8, 31), (2028, 9, 30), (2028, 10, 31), (2028, 11, 30), (2028, 12, 31), (2029, 1, 31),
    ]  # fmt: skip
    assert (2029, 2, 28) in {(r.year, r.month, r.day) for r in preview_cron("0 0 L * *", after=runs[-1], count=1)}


def test_the_first_or_any_monday() -> None:
    runs = preview_cron("0 9 1 * MON", tz="Europe/Amsterdam", after=datetime(2027, 1, 1, tzinfo=UTC), count=200)
    days = {r.astimezone(AMSTERDAM).date() for r in runs}
    span = [runs[0].astimezone(AMSTERDAM).date() + timedelta(days=i) for i in range(365)]
    expected = {d for d in span if d.day == 1 or d.weekday() == 0}
    assert {d for d in days if d <= span[-1]} == expected
    assert all(r.astimezone(AMSTERDAM).hour == 9 for r in runs)


DST_CASES = [
    # the spring-forward gap: 02:30 does not exist that day and is not run
    ("30 2 * * *", "Europe/Amsterdam", "2027-03-27T12:00:00Z", ["2027-03-29 02:30+0200"]),
    ("30 2 * * *", "America/New_York", "2027-03-13T12:00:00Z", ["2027-03-15 02:30-0400"]),
    ("30 2 * * *", "Australia/Sydney", "2027-10-02T00:00:00Z", ["2027-10-04 02:30+1100"]),
    ("0 0 * * *", "America/Santiago", "2027-09-04T12:00:00Z", ["2027-09-06 00:00-0300"]),
    # the fall-back overlap west of Greenwich: both copies run
    ("30 1 * * *", "America/New_York", "2027-11-06T12:00:00Z",
     ["2027-11-07 01:30-0400", "2027-11-07 01:30-0500", "2027-11-08 01:30-0500"]),
    ("30 23 * * *", "America/Santiago", "2027-04-03T12:00:00Z",
     ["2027-04-03 23:30-0300", "2027-04-03 23:30-0400", "2027-04-04 23:30-0400"]),
    ("0 * * * *", "America/New_York", "2027-11-07T03:30:00Z",
     ["2027-11-07 00:00-0400", "2027-11-07 01:00-0400", "2027-11-07 01:00-0500", "2027-11-07 02:00-0500"]),
    # east of Greenwich: once, in standard time; hourly runs in the first copy only; */20 runs 03:20
    ("30 2 * * *", "Europe/Amsterdam", "2027-10-30T12:00:00Z", ["2027-10-31 02:30+0100", "2027-11-01 02:30+0100"]),
    ("30 2 * * *", "Australia/Sydney", "2027-04-03T00:00:00Z", ["2027-04-04 02:30+1000", "2027-04-05 02:30+1000"]),
    ("0 * * * *", "Europe/Amsterdam", "2027-10-30T22:30:00Z",
     ["2027-10-31 01:00+0200", "2027-10-31 02:00+0200", "2027-10-31 03:00+0100"]),
    ("*/20 2 * * *", "Europe/Amsterdam", "2027-10-30T12:00:00Z",
     ["2027-10-31 02:00+0100", "2027-10-31 03:20+0100", "2027-11-01 02:00+0100"]),
    # Lord Howe's half-hour change
    ("0,30 * * * *", "Australia/Lord_Howe", "2027-04-03T13:00:00Z",
     ["2027-04-04 00:00+1100", "2027-04-04 00:30+1100", "2027-04-04 01:00+1100", "2027-04-04 01:30+1030"]),
]  # fmt: skip
"""(expression, zone, start_at, the first local run times) as the dev server lists them."""


@pytest.mark.parametrize(("expression", "zone", "start", "expected"), DST_CASES)
def test_dst_changes_as_the_server_treats_them(expression: str, zone: str, start: str, expected: list[str]) -> None:
    start_at = datetime.fromisoformat(start)
    runs = next_runs(compile_cron(expression), time_zone=zone, after=start_at - timedelta(days=1), start_at=start_at)
    assert local(runs, zone)[: len(expected)] == expected


def test_start_and_end_are_inclusive_and_skips_apply() -> None:
    hourly = compile_cron("0 * * * *")
    start, end = datetime(2027, 5, 1, 10, tzinfo=UTC), datetime(2027, 5, 1, 14, tzinfo=UTC)
    runs = next_runs(hourly, time_zone="UTC", after=datetime(2027, 1, 1, tzinfo=UTC), start_at=start, end_at=end)
    assert [r.hour for r in runs] == [10, 11, 12, 13, 14]
    skip = [ScheduleCalendarSpec(hour=[ScheduleRange(11, 12)], minute=[ScheduleRange(0)], second=[ScheduleRange(0)])]
    runs = next_runs(hourly, skip, after=datetime(2027, 1, 1, tzinfo=UTC), start_at=start, end_at=end)
    assert [r.hour for r in runs] == [10, 13, 14]
    assert next_runs(hourly, after=start, count=2) == [start + timedelta(hours=1), start + timedelta(hours=2)]


def test_nothing_after_2100_and_intervals_are_epoch_aligned() -> None:
    runs = preview_cron("0 0 1 1 *", tz="Asia/Tokyo", after=datetime(2097, 6, 1, tzinfo=UTC), count=10)
    assert local(runs, "Asia/Tokyo") == ["2098-01-01 00:00+0900", "2099-01-01 00:00+0900", "2100-01-01 00:00+0900"]
    every = [ScheduleIntervalSpec(every=timedelta(hours=6), offset=timedelta(minutes=5))]
    runs = next_runs([], intervals=every, time_zone="Europe/Amsterdam", after=datetime(2027, 1, 1, 1, tzinfo=UTC))
    assert [r.strftime("%H:%M") for r in runs[:4]] == ["06:05", "12:05", "18:05", "00:05"]


def test_two_thousand_previews_take_seconds() -> None:
    rng = random.Random(7)
    expressions = ["0 9 * * MON#1", "0 0 L * *", "*/15 9-17 * * MON-FRI", "0 12 LW * *", "30 2 15W * *",
                   "0 0 29 2 *", "0 8 1 * MON", "0 6 L-2 FEB,AUG *", "0 0 * * 5L", "@hourly"]  # fmt: skip
    zones = ["UTC", "Europe/Amsterdam", "America/New_York", "Australia/Sydney", "America/Santiago", "Asia/Tokyo"]
    started = time.monotonic()
    for _ in range(2000):
        after = datetime(2027, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(3 * 365 * 86400))
        assert len(preview_cron(rng.choice(expressions), tz=rng.choice(zones), after=after)) == 10
    elapsed = time.monotonic() - started
    print(f"\n2000 previews x 10 runs: {elapsed:.2f} s")
    assert elapsed < 15  # a few seconds normally; generous for a loaded CI machine
