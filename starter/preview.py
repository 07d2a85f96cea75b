"""Next run times computed locally, by the rules the Temporal server itself applies to a schedule spec.

The server (``service/worker/scheduler/calendar.go`` and ``spec.go``) walks local wall-clock fields
from the outside in and converts them with Go's ``time.Date``; around DST changes that has precise
consequences, reproduced here so that our preview and the server's ``next_action_times`` agree to the
second (``tests/test_cron_agreement.py`` proves it):

* a local time in the skipped (spring-forward) hour does not exist: it is not run;
* a fixed local time in the repeated (fall-back) hour runs once, at the occurrence Go's ``time.Date``
  picks (the one in the new, standard-time offset);
* intervals count whole seconds from the epoch plus their offset; ``end_at`` is inclusive.

Everything works on whole seconds, as the server does. No clock is read here.
"""

from __future__ import annotations

import calendar as _calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from temporalio.client import ScheduleCalendarSpec, ScheduleIntervalSpec, ScheduleRange

from starter.cron import LAST_YEAR, parse_cron


def _matcher(values: Sequence[ScheduleRange], *, default_all: bool = False) -> frozenset[int] | None:
    if not values:
        return None if default_all else frozenset()
    out: set[int] = set()
    for r in values:
        out.update(range(r.start, max(r.start, r.end) + 1, r.step or 1))
    return frozenset(out)


@dataclass(frozen=True)
class _Calendar:
    tz: ZoneInfo
    year: frozenset[int] | None
    month: frozenset[int]
    dom: frozenset[int]
    dow: frozenset[int]
    hour: frozenset[int]
    minute: frozenset[int]
    second: frozenset[int]

    @classmethod
    def of(cls, spec: ScheduleCalendarSpec, tz: ZoneInfo) -> _Calendar:
        return cls(
            tz=tz, year=_matcher(spec.year, default_all=True), month=_matcher(spec.month) or frozenset(),
            dom=_matcher(spec.day_of_month) or frozenset(),
            dow=frozenset(d % 7 for d in (_matcher(spec.day_of_week) or ())),
            hour=_matcher(spec.hour) or frozenset(), minute=_matcher(spec.minute) or frozenset(),
            second=_matcher(spec.second) or frozenset(),
        )  # fmt: skip

    def matches(self, ts: int) -> bool:
        local = _local(ts, self.tz)
        return (
            (self.year is None or local.year in self.year)
            and local.month in self.month
            and local.day in self.dom
            and (local.weekday() + 1) % 7 in self.dow
            and local.hour in self.hour
            and local.minute in self.minute
            and local.second in self.second
        )

    def next(self, ts: int) -> int | None:
        tz = self.tz
        local = _local(ts, tz)
        y, mo, d, h, m, s = local.year, local.month, local.day, local.hour, local.minute, local.second
        dst_offset = 3600 if _local(ts - 3600, tz).hour == h else 0  # in the second copy of a repeated hour
        s += 1
        while True:
            if s >= 60:
                m, s = m + 1, 0
            if m >= 60:
                prev = go_date(y, mo, d, h, 0, 0, tz)
                h, m = h + 1, 0
                following = go_date(y, mo, d, h, 0, 0, tz)
                if dst_offset == 0 and following - prev > 3600:  # jumped over a repeated hour: redo it
                    h, dst_offset = h - 1, 3600
                else:
                    dst_offset = 0
            if h >= 24:
                d, h = d + 1, 0
            if d > _days_in_month(mo, y):
                mo, d = mo + 1, 1
            if mo > 12:
                y, mo = y + 1, 1
            if y > LAST_YEAR:
                return None
            if self.year is not None and y not in self.year:
                y, mo, d, h, m, s, dst_offset = y + 1, 1, 1, 0, 0, 0, 0
                continue
            restart = False
            while mo not in self.month:
                mo, d, h, m, s, dst_offset = mo + 1, 1, 0, 0, 0, 0
                if mo > 12:
                    restart = True
                    break
            if restart:
                continue
            while d not in self.dom or _weekday(go_date(y, mo, d, h, m, s, tz), tz) not in self.dow:
                d, h, m, s, dst_offset = d + 1, 0, 0, 0, 0
                if d > _days_in_month(mo, y):
                    restart = True
                    break
            if restart:
                continue
            while h not in self.hour:
                h, m, s, dst_offset = h + 1, 0, 0, 0
                if h >= 24:
                    restart = True
                    break
            if restart:
                continue
            while m not in self.minute:
                m, s = m + 1, 0
                if m >= 60:
                    restart = True
                    break
            if restart:
                continue
            while s not in self.second:
                s += 1
                if s >= 60:
                    restart = True
                    break
            if restart:
                continue
            found = go_date(y, mo, d, h, m, s, tz)
            if _local(found, tz).hour != h:  # a nonexistent local time skipped over by DST
                h, m, s = h + 1, 0, 0
                continue
            return found + dst_offset


def go_date(y: int, mo: int, d: int, h: int, mi: int, s: int, tz: ZoneInfo) -> int:
    """Go's ``time.Date(...).Unix()``: a local time to epoch seconds, choosing as Go does when it is
    ambiguous (the offset in force at the local time read as UTC, then re-checked) or missing."""
    unix = _calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0))
    offset = _offset(unix, tz)
    if offset:
        unix -= _offset(unix - offset, tz)
    return unix


@lru_cache(maxsize=65536)
def _offset(unix: int, tz: ZoneInfo) -> int:
    found = datetime.fromtimestamp(unix, tz).utcoffset()
    return int(found.total_seconds()) if found is not None else 0


def _local(unix: int, tz: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(unix, tz)


def _weekday(unix: int, tz: ZoneInfo) -> int:
    return (_local(unix, tz).weekday() + 1) % 7


def _days_in_month(month: int, year: int) -> int:
    # Go normalises month 13 to January of the next year; the loop relies on it.
    return _calendar.monthrange(year + (month - 1) // 12, (month - 1) % 12 + 1)[1]


def next_runs(
    *,
    calendars: Sequence[ScheduleCalendarSpec] = (),
    intervals: Sequence[ScheduleIntervalSpec] = (),
    skip: Sequence[ScheduleCalendarSpec] = (),
    time_zone: str = "UTC",
    after: datetime,
    count: int = 10,
    start_at: datetime | None = None,
    end_at: datetime | None = None,
) -> list[datetime]:
    """The next ``count`` nominal run times (aware, UTC) strictly after ``after`` (no jitter)."""
    tz = ZoneInfo(time_zone)
    compiled = [_Calendar.of(c, tz) for c in calendars]
    excluded = [_Calendar.of(c, tz) for c in skip]
    cursor = int(after.timestamp() // 1)
    if start_at is not None:
        cursor = max(cursor, int(start_at.timestamp() // 1) - 1)
    end = None if end_at is None else end_at.timestamp()
    out: list[datetime] = []
    while len(out) < count:
        nominal = None
        while nominal is None or any(x.matches(nominal) for x in excluded):
            nominal = _raw_next(compiled, intervals, cursor)
            if nominal is None or (end is not None and nominal > end) or _year(nominal) > LAST_YEAR:
                return out
            cursor = nominal
        out.append(datetime.fromtimestamp(nominal, UTC))
    return out


def _year(unix: int) -> int:
    return datetime.fromtimestamp(unix, UTC).year


def _raw_next(calendars: list[_Calendar], intervals: Sequence[ScheduleIntervalSpec], ts: int) -> int | None:
    candidates = [n for c in calendars if (n := c.next(ts)) is not None]
    for iv in intervals:
        every = max(int(iv.every.total_seconds()), 1)
        phase = max(int(iv.offset.total_seconds()) if iv.offset else 0, 0)
        candidates.append(((ts - phase) // every + 1) * every + phase)
    return min(candidates) if candidates else None


def preview_cron(expression: str, *, tz: str = "UTC", after: datetime, count: int = 10) -> list[datetime]:
    """The next runs of a cron expression in ``tz``, as the server will compute them.

    Raises:
        CronError: the expression is invalid.
    """
    return next_runs(calendars=parse_cron(expression).calendars(), time_zone=tz, after=after, count=count)
