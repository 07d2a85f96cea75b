"""The per-job DST policy (``repeat.dst``): what a cron job at a fixed wall-clock hour does on the days
its time zone changes its UTC offset.

Temporal never runs a local time inside the spring-forward gap, and runs a time inside the repeated
fall-back hour once (at the *second* occurrence) east of Greenwich but twice west of it
(``starter/planning/preview.py`` reproduces this). A local-time calendar cannot single out one of two
occurrences, so a job under the policy is laid out on two schedules:

* its main schedule (in the job's zone) gets ``skip`` calendars for every transition day, so the
  server runs nothing of its own on those days;
* a companion schedule (``<job_id>~dst``, zone UTC) holds explicit calendars for exactly the runs the
  policy wants on those days: every wall time of the day the cron matches, a time in the gap shifted
  to the first instant after it (``shift``, merged with a run already due then) or dropped
  (``skip``), a repeated time run at its first occurrence only (``first``) or at both (``both``).

Transition days are laid out from the job's first run up to its ``endDate``, at most
``HORIZON_YEARS`` ahead; after that the server's native DST handling applies. The policy applies only
when the hour field is fixed (numbers, lists, ranges) and the zone changes offset within the horizon.
Offsets are assumed to change on whole minutes (true of every zone since 1972).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from temporalio.client import ScheduleCalendarSpec, ScheduleRange

from ductape_jobs.planning.calendars import ranges
from ductape_jobs.planning.preview import next_runs
from ductape_jobs.workflows.contracts.timing import IDstPolicy
from ductape_jobs.workflows.cron import LAST_YEAR, CompiledCron

DstPolicy = IDstPolicy
"""``{skipped: "shift" | "skip", repeated: "first" | "both"}``; ``DstPolicy()`` is the default."""
DEFAULT_POLICY = DstPolicy()
HORIZON_YEARS = 10
"""How far ahead transition days are laid out; later ones follow the server's native handling."""
COMPANION_SUFFIX = "~dst"
_STEP = timedelta(hours=6)
"""Scan step for offset changes: zones change at most once in far more than six hours."""
_ALL_SECONDS = [ScheduleRange(0, 59)]
_ALL_HOURS = [ScheduleRange(0, 23)]
_ALL_DOWS = [ScheduleRange(0, 6)]
_END = datetime(LAST_YEAR + 1, 1, 1, tzinfo=UTC)


def companion_id(job_id: str) -> str:
    """The ID of a job's companion schedule."""
    return job_id + COMPANION_SUFFIX


def is_companion(schedule_id: str) -> bool:
    """Whether a schedule ID is a companion's (hidden from listings: it is part of its job)."""
    return schedule_id.endswith(COMPANION_SUFFIX)


@dataclass(frozen=True)
class Transition:
    """One change of a zone's UTC offset."""

    at: datetime
    """The instant (UTC) of the change: the first instant under the new offset."""
    before: timedelta
    after: timedelta


@lru_cache(maxsize=512)
def _year_transitions(zone: str, year: int) -> tuple[Transition, ...]:
    tz, out = ZoneInfo(zone), []
    moment, end = datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)
    while moment < end:
        after = min(moment + _STEP, end)
        low_offset, high_offset = moment.astimezone(tz).utcoffset(), after.astimezone(tz).utcoffset()
        if low_offset != high_offset and low_offset is not None and high_offset is not None:
            low, high = moment, after
            while high - low > timedelta(seconds=1):  # bisect to the second
                mid = low + (high - low) / 2
                low, high = (mid, high) if mid.astimezone(tz).utcoffset() == low_offset else (low, mid)
            out.append(Transition(high.replace(microsecond=0), low_offset, high_offset))
        moment = after
    return tuple(out)


def transitions(zone: str, start: datetime, end: datetime) -> list[Transition]:
    """The offset changes of ``zone`` at instants in ``[start, end]`` (aware datetimes)."""
    found: list[Transition] = []
    for year in range(start.astimezone(UTC).year, min(end.astimezone(UTC).year, LAST_YEAR) + 1):
        found += [t for t in _year_transitions(zone, year) if start <= t.at <= end]
    return found


def transition_days(zone: str, found: Iterable[Transition]) -> dict[date, list[Transition]]:
    """Each local date touched by a change (the dates just before and at it), with its changes."""
    tz, days = ZoneInfo(zone), dict[date, list[Transition]]()
    for t in found:
        for moment in (t.at - timedelta(seconds=1), t.at):
            day = moment.astimezone(tz).date()
            if t not in days.setdefault(day, []):
                days[day].append(t)
    return dict(sorted(days.items()))


def _day_matches(cron: CompiledCron, day: date) -> bool:
    weekday = (day.weekday() + 1) % 7  # cron counts from Sunday = 0
    return any(
        day.day in r.doms and weekday in r.dows and day.month in r.months and day.year in r.years for r in cron.days
    )


def desired_instants(
    cron: CompiledCron, zone: str, day: date, changes: Sequence[Transition], policy: IDstPolicy
) -> list[datetime]:
    """The runs (UTC, sorted, no duplicates) the policy wants on one transition day ``day``."""
    if not _day_matches(cron, day):
        return []
    # Whole seconds as integers (naive local or UTC epoch): a per-second cron can have 86,400 a day.
    spans = sorted(
        ((_epoch(t.at), int(t.before.total_seconds()), int(t.after.total_seconds())) for t in changes),
    )
    midnight = _epoch(datetime(day.year, day.month, day.day, tzinfo=UTC))
    times = sorted(h * 3600 + m * 60 + s for h in cron.hours for m in cron.minutes for s in cron.seconds)
    out = {moment for offset in times for moment in _resolve(midnight + offset, spans, policy)}
    return [datetime.fromtimestamp(moment, UTC) for moment in sorted(out)]


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _resolve(wall: int, spans: list[tuple[int, int, int]], policy: IDstPolicy) -> tuple[int, ...]:
    """The instants of one local wall time (seconds, read as UTC) on a day with the changes ``spans``
    (``(instant, offset before, offset after)`` in seconds, in order)."""
    offset = spans[0][1]
    for at, before, after in spans:
        low, high = (at + before, at + after) if before < after else (at + after, at + before)
        if low <= wall < high:
            if after > before:  # the gap: this wall time does not exist
                return (at,) if policy.skipped == "shift" else ()
            return (wall - before,) if policy.repeated == "first" else (wall - before, wall - after)
        if wall >= high:
            offset = after
    return (wall - offset,)


@dataclass(frozen=True)
class DstLayout:
    """A job's runs under the policy: what its main schedule skips and what its companion runs."""

    policy: IDstPolicy
    days: tuple[date, ...]
    """The local transition days within the horizon (the main schedule runs nothing on them)."""
    instants: tuple[datetime, ...]
    """The companion's runs (UTC, sorted) from the start to the end of the horizon."""
    horizon_end: datetime

    def skips(self, shift: int = 0) -> list[ScheduleCalendarSpec]:
        """Local-zone ``skip`` calendars covering every second of each transition day, or, for a main
        schedule firing ``shift`` seconds early (``ductape_jobs.scheduling.recurring_arming``), every
        shifted time of those days: from ``shift`` seconds before the day to as much before its end."""
        return skip_calendars(self.days, shift)

    def companion_calendars(self) -> list[ScheduleCalendarSpec]:
        """UTC calendars matching exactly the companion's runs."""
        return utc_calendars(self.instants)


def dst_layout(
    cron: CompiledCron, zone: str, policy: IDstPolicy | None, *, start: datetime, end: datetime | None = None
) -> DstLayout | None:
    """The layout of a cron job in ``zone`` from ``start`` (aware) up to ``end`` (inclusive), or None when
    the policy does not apply: no policy (native), an hour field that is ``*`` or a step, or no offset
    change within the horizon (a zone without DST)."""
    if policy is None or not cron.fixed_hours:
        return None
    horizon = min(_add_years(start, HORIZON_YEARS), _END, *([end] if end is not None else []))
    # A change up to a day either side can touch a local date inside [start, horizon].
    found = transitions(zone, start - timedelta(days=1), horizon + timedelta(days=1))
    tz = ZoneInfo(zone)
    first_day, last_day = start.astimezone(tz).date(), horizon.astimezone(tz).date()
    days = {d: c for d, c in transition_days(zone, found).items() if first_day <= d <= last_day}
    if not days:
        return None
    instants = [
        moment
        for day, changes in days.items()
        for moment in desired_instants(cron, zone, day, changes, policy)
        if start <= moment <= horizon
    ]
    return DstLayout(policy=policy, days=tuple(days), instants=tuple(sorted(set(instants))), horizon_end=horizon)


def _add_years(moment: datetime, years: int) -> datetime:
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year + years, day=28)


_Ranges = tuple[ScheduleRange, ...]
_ALL_MINUTES = (ScheduleRange(0, 59),)


def skip_calendars(days: Iterable[date], shift: int = 0) -> list[ScheduleCalendarSpec]:
    """Calendars matching every second of the given local dates (one per month and day, years
    listed), or, with ``shift`` (1-59), the local times ``shift`` seconds before each of those
    seconds: the last ``shift`` seconds of the day before, and the day itself but its last ``shift``."""
    assert 0 <= shift < 60, shift
    parts: list[tuple[date, _Ranges, _Ranges, _Ranges]] = []
    for day in days:
        if not shift:
            parts.append((day, tuple(_ALL_HOURS), _ALL_MINUTES, tuple(_ALL_SECONDS)))
            continue
        last, minute = (ScheduleRange(23),), (ScheduleRange(59),)
        parts += [
            (day - timedelta(days=1), last, minute, (ScheduleRange(60 - shift, 59),)),
            (day, (ScheduleRange(0, 22),), _ALL_MINUTES, tuple(_ALL_SECONDS)),
            (day, last, (ScheduleRange(0, 58),), tuple(_ALL_SECONDS)),
            (day, last, minute, (ScheduleRange(0, 59 - shift),)),
        ]
    years: dict[tuple[int, int, _Ranges, _Ranges, _Ranges], set[int]] = {}
    for day, hours, minutes, seconds in parts:
        years.setdefault((day.month, day.day, hours, minutes, seconds), set()).add(day.year)
    comment = "DST change day" + (", armed" if shift else "") + " (runs on the companion schedule)"
    return [
        ScheduleCalendarSpec(
            second=list(seconds),
            minute=list(minutes),
            hour=list(hours),
            day_of_month=[ScheduleRange(dom)],
            month=[ScheduleRange(month)],
            year=ranges(ys),
            day_of_week=_ALL_DOWS,
            comment=comment,
        )
        for (month, dom, hours, minutes, seconds), ys in sorted(years.items(), key=lambda item: item[0][:2])
    ]


def utc_calendars(instants: Iterable[datetime]) -> list[ScheduleCalendarSpec]:
    """UTC calendars whose union is exactly ``instants`` (whole seconds), grouped per UTC hour: within
    an hour, minutes sharing the same seconds form one calendar; hours of a date sharing the same
    minutes and seconds are then merged."""
    per_hour: dict[tuple[int, int, int, int], dict[int, set[int]]] = {}
    for moment in instants:
        t = moment.astimezone(UTC)
        per_hour.setdefault((t.year, t.month, t.day, t.hour), {}).setdefault(t.minute, set()).add(t.second)
    per_day: dict[tuple[int, int, int, frozenset[int], frozenset[int]], set[int]] = {}
    for (year, month, dom, hour), minutes in per_hour.items():
        by_seconds: dict[frozenset[int], set[int]] = {}
        for minute, in_minute in minutes.items():
            by_seconds.setdefault(frozenset(in_minute), set()).add(minute)
        for shared, mins in by_seconds.items():
            per_day.setdefault((year, month, dom, frozenset(mins), shared), set()).add(hour)
    return [
        ScheduleCalendarSpec(
            second=ranges(seconds),
            minute=ranges(minutes),
            hour=ranges(hours),
            day_of_month=[ScheduleRange(dom)],
            month=[ScheduleRange(month)],
            year=[ScheduleRange(year)],
            day_of_week=_ALL_DOWS,
            comment="DST policy run",
        )
        for (year, month, dom, minutes, seconds), hours in sorted(per_day.items(), key=_day_key)
    ]


def _day_key(item: tuple[tuple[int, int, int, frozenset[int], frozenset[int]], set[int]]) -> tuple[int, ...]:
    (year, month, dom, minutes, seconds), hours = item
    return year, month, dom, min(hours), min(minutes), min(seconds)


def union_runs(
    calendars: Sequence[ScheduleCalendarSpec],
    layout: DstLayout | None,
    *,
    time_zone: str,
    after: datetime,
    count: int,
    start_at: datetime | None = None,
    end_at: datetime | None = None,
) -> list[datetime]:
    """The next ``count`` runs (UTC) of a job under its layout: the main schedule (``calendars`` minus
    the transition days) merged with the companion's runs, strictly after ``after``."""
    skips = layout.skips() if layout is not None else []
    main = next_runs(calendars, skips, time_zone=time_zone, after=after, count=count, start_at=start_at, end_at=end_at)
    if layout is None:
        return main
    floor = max(after + timedelta(seconds=1), start_at or after).replace(microsecond=0)
    extra = [t for t in layout.instants if t >= floor and (end_at is None or t <= end_at)]
    return sorted({*main, *extra})[:count]


def split_limit(
    calendars: Sequence[ScheduleCalendarSpec],
    layout: DstLayout,
    limit: int,
    *,
    time_zone: str,
    first_run: datetime,
    end_at: datetime | None = None,
) -> tuple[int, int]:
    """``(main, companion)`` remaining actions: Temporal counts a limit per schedule, so the first
    ``limit`` runs of the union from ``first_run`` (inclusive) are counted and each schedule gets its
    own share."""
    if not layout.instants:
        return limit, 0
    # Main runs after the companion's last one cannot change the split: stop counting there.
    last = layout.instants[-1] if end_at is None else min(end_at, layout.instants[-1])
    runs = union_runs(
        calendars, layout, time_zone=time_zone, after=first_run - timedelta(seconds=1), count=limit,
        start_at=first_run, end_at=last,
    )  # fmt: skip
    companion = len(set(runs) & set(layout.instants))
    return limit - companion, companion
