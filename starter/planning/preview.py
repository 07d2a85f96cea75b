"""Next run times computed locally, by the rules the Temporal server itself applies to a schedule spec.

The server (``service/worker/scheduler/calendar.go`` and ``spec.go``) walks local wall-clock fields
from the outside in and turns them into instants with Go's ``time.Date``; this module is a faithful
port (the same walk, but jumping straight to the next matching month, day, hour, minute and second
instead of counting), so that our preview and the server's ``next_action_times`` agree to the second
(``tests/test_cron_agreement.py`` checks thousands of cases against a real server). What that means
around DST changes, as measured on the dev server (Server 1.32):

* a local time in the skipped spring-forward hour does not exist and is not run (``30 2 * * *`` has
  no run on that day in Amsterdam, New York or Sydney; ``0 0 * * *`` none on Santiago's midnight gap);
* a local time in the repeated fall-back hour depends on the side of Greenwich, because ``time.Date``
  reads an ambiguous time with the offset in force at that wall-clock reading taken as UTC:
  west of it (New York, Santiago) the time runs **twice**, in summer time then in standard time
  (``30 1 * * *`` on 2027-11-07: 01:30-04:00 and 01:30-05:00); east of it (Amsterdam, Sydney) it runs
  **once**, in standard time (``30 2 * * *`` on 2027-10-31: 02:30+01:00 only), an hourly spec fires
  in the first copy of the hour only, and a spec with several minutes in that hour can even run an
  hour late (``*/20 2 * * *`` in Amsterdam on 2027-10-31: 02:00+01:00 then 03:20+01:00);
* nothing is computed after the year 2100 (UTC or local); ``end_at`` is inclusive; ``start_at``
  may itself be a run; everything works on whole seconds; no jitter (nominal times).

No clock is read here.
"""

from __future__ import annotations

import calendar as _calendar
from collections.abc import Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from temporalio.client import ScheduleCalendarSpec, ScheduleIntervalSpec, ScheduleRange

from ductape_jobs.workflows.contracts.timing import IDstPolicy
from ductape_jobs.workflows.cron import LAST_YEAR

DEFAULT_DST = IDstPolicy()

_HOUR = 3600
_DAYS_IN_MONTH = {(y, m): _calendar.monthrange(y, m)[1] for y in range(1969, LAST_YEAR + 2) for m in range(1, 13)}


def _values(ranges: Sequence[ScheduleRange], size: int) -> list[bool]:
    """The server's bit matcher: ``end < start`` means ``start``, step 0 means 1."""
    hit = [False] * size
    for r in ranges:
        for v in range(r.start, max(r.start, r.end) + 1, r.step or 1):
            if 0 <= v < size:
                hit[v] = True
    return hit


def _following(hit: list[bool]) -> list[int]:
    """For each value, the first matching value at or after it (``len(hit)`` when none)."""
    out = [len(hit)] * (len(hit) + 1)
    for v in range(len(hit) - 1, -1, -1):
        out[v] = v if hit[v] else out[v + 1]
    return out


class _Zone:
    """Go's view of a time zone: instants to wall clock and ``time.Date`` back."""

    def __init__(self, name: str) -> None:
        self.tz = ZoneInfo(name)

    def _exact(self, unix: int) -> int:
        delta = datetime.fromtimestamp(unix, self.tz).utcoffset()
        return int(delta.total_seconds()) if delta is not None else 0

    def local(self, unix: int) -> datetime:
        return datetime.fromtimestamp(unix, self.tz)

    def date(self, y: int, mo: int, d: int, h: int, mi: int, s: int) -> int:
        """Go's ``time.Date(...).Unix()``: an ambiguous or missing local time takes the offset in force
        at the wall-clock reading taken as UTC, re-checked once (``time.Date`` in ``time.go``)."""
        unix = _calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0))
        offset = self._exact(unix)
        if offset:
            unix -= self._exact(unix - offset)
        return unix


class _Calendar:
    """One ``ScheduleCalendarSpec`` compiled as the server does (``compiledCalendar``)."""

    def __init__(self, spec: ScheduleCalendarSpec, zone: _Zone) -> None:
        self.zone = zone
        self.years = None if not spec.year else frozenset(v for r in spec.year for v in _span(r))
        self.month, self.dom, self.dow = (
            _values(spec.month, 13),
            _values(spec.day_of_month, 32),
            _values(spec.day_of_week, 7),
        )
        self.hour, self.minute, self.second = _values(spec.hour, 24), _values(spec.minute, 60), _values(spec.second, 60)
        self.next_month, self.next_dom = _following(self.month), _following(self.dom)
        self.every_dow = all(self.dow)
        self.next_hour, self.next_minute, self.next_second = (
            _following(self.hour), _following(self.minute), _following(self.second)
        )  # fmt: skip

    def matches(self, unix: int) -> bool:
        t = self.zone.local(unix)
        return (
            (self.years is None or t.year in self.years)
            and self.month[t.month]
            and self.dom[t.day]
            and self.dow[(t.weekday() + 1) % 7]
            and self.hour[t.hour]
            and self.minute[t.minute]
            and self.second[t.second]
        )

    def next(self, unix: int) -> int | None:
        """The first matching instant after ``unix`` by ``compiledCalendar.next``, or None."""
        zone = self.zone
        t = zone.local(unix)
        y, mo, d, h, m, s = t.year, t.month, t.day, t.hour, t.minute, t.second
        dst = _HOUR if zone.local(unix - _HOUR).hour == h else 0  # in the second copy of a repeated hour
        s += 1
        while True:
            if s >= 60:
                m, s = m + 1, 0
            if m >= 60:
                before = zone.date(y, mo, d, h, 0, 0)
                h, m = h + 1, 0
                # a jump of two hours passed over a repeated hour: redo it an hour later
                if dst == 0 and zone.date(y, mo, d, h, 0, 0) - before > _HOUR:
                    h, dst = h - 1, _HOUR
                else:
                    dst = 0
            if h >= 24:
                d, h = d + 1, 0
            if mo <= 12 and d > _days_in_month(y, mo):
                mo, d = mo + 1, 1
            if mo > 12:
                y, mo = y + 1, 1
            if y > LAST_YEAR:
                return None
            if self.years is not None and y not in self.years:
                y, mo, d, h, m, s, dst = y + 1, 1, 1, 0, 0, 0, 0
                continue
            if not self.month[mo]:
                mo, d, h, m, s, dst = self.next_month[mo], 1, 0, 0, 0, 0
                if mo > 12:
                    continue
            last = _days_in_month(y, mo)
            while True:  # the weekday is that of Go's time.Date, which a DST gap can move to another day
                if not self.dom[d]:
                    d, h, m, s, dst = self.next_dom[d], 0, 0, 0, 0
                elif self.every_dow or self.dow[(zone.local(zone.date(y, mo, d, h, m, s)).weekday() + 1) % 7]:
                    break
                else:
                    d, h, m, s, dst = d + 1, 0, 0, 0, 0
                if d > last:
                    break
            if d > last:
                continue
            if not self.hour[h]:
                h, m, s, dst = self.next_hour[h], 0, 0, 0
                if h >= 24:
                    continue
            if not self.minute[m]:
                m, s = self.next_minute[m], 0
                if m >= 60:
                    continue
            if not self.second[s]:
                s = self.next_second[s]
                if s >= 60:
                    continue
            found = zone.date(y, mo, d, h, m, s)
            if zone.local(found).hour != h:  # a nonexistent local time, jumped over by DST
                h, m, s = h + 1, 0, 0
                continue
            return found + dst


def _days_in_month(year: int, month: int) -> int:
    return _DAYS_IN_MONTH.get((year, month)) or _calendar.monthrange(year, month)[1]


def _span(r: ScheduleRange) -> range:
    return range(r.start, max(r.start, r.end) + 1, r.step or 1)


def next_runs(
    calendars: Sequence[ScheduleCalendarSpec],
    skips: Sequence[ScheduleCalendarSpec] = (),
    *,
    time_zone: str = "UTC",
    after: datetime,
    count: int = 10,
    start_at: datetime | None = None,
    end_at: datetime | None = None,
    intervals: Sequence[ScheduleIntervalSpec] = (),
) -> list[datetime]:
    """The next ``count`` nominal run times (aware, UTC) of a spec, strictly after ``after``.

    As the server's ``GetNextTime``: the union of ``calendars`` (and epoch-aligned ``intervals``),
    minus times any of ``skips`` matches, from ``max(after, start_at - 1 s)``, up to ``end_at``
    inclusive and the end of 2100. Jitter is not applied. ``after`` must be aware.
    """
    zone = _Zone(time_zone)
    wanted = [_Calendar(c, zone) for c in calendars]
    excluded = [_Calendar(c, zone) for c in skips]
    cursor = int(after.timestamp() // 1)
    if start_at is not None:
        cursor = max(cursor, int(start_at.timestamp() // 1) - 1)
    end = None if end_at is None else end_at.timestamp()
    out: list[datetime] = []
    while len(out) < count:
        nominal = None
        while nominal is None or any(x.matches(nominal) for x in excluded):
            nominal = _raw_next(wanted, intervals, cursor)
            if nominal is None or (end is not None and nominal > end) or _utc_year(nominal) > LAST_YEAR:
                return out
            cursor = nominal
        out.append(datetime.fromtimestamp(nominal, UTC))
    return out


def _utc_year(unix: int) -> int:
    return datetime.fromtimestamp(unix, UTC).year


def _raw_next(calendars: list[_Calendar], intervals: Sequence[ScheduleIntervalSpec], unix: int) -> int | None:
    candidates = [n for c in calendars if (n := c.next(unix)) is not None]
    for iv in intervals:
        every = max(int(iv.every.total_seconds()), 1)
        phase = max(int(iv.offset.total_seconds()) if iv.offset else 0, 0)
        candidates.append(((unix - phase) // every + 1) * every + phase)
    return min(candidates) if candidates else None
