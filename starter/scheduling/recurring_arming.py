"""Arming ahead for recurring jobs: the schedule fires each run a few seconds early.

A Temporal Schedule starts its workflow at the nominal time, and a worker drains only a few dozen
first workflow tasks a second, so 200 jobs due in one minute start seconds late. An armed recurring
job's schedule fires ``shift`` seconds before each run; the run's workflow reads the shift from its
memo, adds it to ``TemporalScheduledStartTime`` (the shifted time the server stamps) and arms its
event activity for the real instant, as a one-off job does (``ductape_jobs.workflows.arming``).
Readers of the schedule add the shift back (``nominal``).

* A cron's calendars move ``shift`` seconds earlier, in the job's zone. A run within ``shift`` of
  local midnight moves to the day before (``_previous_days``: the last day of the previous month for
  a run on the 1st). In a zone whose offset changes, the DST companion owns the change days
  (``ductape_jobs.planning.dst_policy``) and the main schedule skips every shifted time of those
  days (``DstLayout.skips(shift)``), so a shifted time never meets a gap or a fold. A zone that
  changes offset without the companion (it is off, or the hour field is ``*`` or a step) is not
  armed: a shifted time could fall into the skipped hour and the run would be lost.
* An ``every`` job's interval grid moves ``shift`` seconds earlier (``JobMemo.grid_offset_s``
  keeps the nominal grid for the run to tell an early start from a trigger).
* The shift must leave room: the schedule skips a run that overlaps the previous one (SKIP), so the
  shift plus the longest run (``JobMemo.longest_run_s``) must be shorter than the shortest time
  between two runs; for jobs without that bound, runs must be ``MIN_GAP`` apart.
* Never with jitter: jitter asks for runs spread at random, and arming would only make a random
  instant exact (the runs start when the server starts them, as without arming).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from temporalio.client import (
    ScheduleActionResult,
    ScheduleCalendarSpec,
    ScheduleIntervalSpec,
    ScheduleRange,
    ScheduleSpec,
)

from ductape_jobs.planning.calendars import MAX_COMMENT_BYTES, ranges
from ductape_jobs.planning.dst_policy import HORIZON_YEARS, transitions
from ductape_jobs.planning.recurrence import Recurrence
from ductape_jobs.workflows.arming import arm_lead_ms, armed_nominal
from ductape_jobs.workflows.contracts.management import JobMemo
from ductape_jobs.workflows.cron import ALL_DOMS, ALL_MONTHS, ALL_YEARS, MONTH_LENGTHS, CompiledCron, DayRule

UTC_ZONES = frozenset({"UTC", "Etc/UTC"})
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DAY = 86_400
MAX_CALENDARS = 24
"""A shifted cron needing more calendars than this (an irregular time grid) is not armed."""
CREATION_MARGIN = timedelta(seconds=3)
"""The first shifted time must be this far after the schedule is written: the server never runs a
spec time earlier than the schedule's creation (or update)."""
MIN_GAP = timedelta(minutes=10)
"""The shortest time between two runs of an armed recurring job whose longest run is not known
(``JobMemo.longest_run_s`` unset: jobs dispatched before it existed): ten times the longest lead."""
_COMMENT = re.compile(r"^armed -(\d+)s · (.*)$", re.DOTALL)


def recurring_lead_s(job_id: str, memo: JobMemo) -> int | None:
    """The lead of a recurring job whose runs may arm (``JobMemo.arm_shift_s`` set), from its ID."""
    if memo.arm_shift_s is None:
        return None
    return (arm_lead_ms(job_id) or 0) // 1000 or None


def arm_shift(
    recurrence: Recurrence,
    lead_s: int,
    *,
    next_run: datetime | None,
    now: datetime,
    longest_run_s: int | None = None,
) -> int | None:
    """How many seconds early the schedule of a job with lead ``lead_s`` fires, or None (not armed).

    ``next_run``: the job's next nominal run after the schedule is written; the shift is shortened
    so that its shifted time is still ahead (None: no run is left, nothing to arm).
    ``longest_run_s``: how long one run can take (None: unknown, runs must be ``MIN_GAP`` apart).
    """
    if recurrence.jitter or next_run is None or lead_s < 1:
        return None
    if recurrence.every is not None:
        gap = recurrence.every.total_seconds()
        if gap != int(gap):  # the grid is written in whole seconds
            return None
    elif recurrence.cron is not None:
        gap = _smallest_gap(recurrence.cron)
    else:
        return None
    room = gap - longest_run_s - 1 if longest_run_s is not None else (lead_s if gap >= MIN_GAP.total_seconds() else 0)
    shift = int(min(lead_s, room, (next_run - now - CREATION_MARGIN).total_seconds()))
    if shift < 1:
        return None
    if recurrence.cron is None:
        return shift
    if recurrence.dst is None and changes_offset(recurrence.time_zone, now):
        return None  # no companion owns the change days (see the module's docstring)
    if shifted_calendars(recurrence.cron, shift) is None:
        return None
    return shift


def changes_offset(zone: str, now: datetime) -> bool:
    """Whether ``zone`` changes its UTC offset within the DST layout's horizon from ``now``."""
    if zone in UTC_ZONES:
        return False
    return bool(transitions(zone, now, now + timedelta(days=366 * HORIZON_YEARS)))


def shifted_every(every: timedelta, start: datetime, end_at: datetime | None, shift: int) -> ScheduleSpec:
    """The interval spec of an ``every`` job whose grid starts at ``start`` (whole seconds), firing
    ``shift`` seconds before each run (0: at each run)."""
    early = timedelta(seconds=shift)
    return ScheduleSpec(
        intervals=[ScheduleIntervalSpec(every=every, offset=(start - early - EPOCH) % every)],
        start_at=start - early,
        end_at=end_at - early if end_at is not None else None,
    )


def grid_offset_s(every: timedelta, start: datetime) -> int:
    """Where the nominal grid of an ``every`` job starting at ``start`` sits (``JobMemo.grid_offset_s``)."""
    return int(((start - EPOCH) % every).total_seconds())


def armed_note(note: str, shift: int | None) -> str:
    """A schedule's note (display) saying that it fires early, and that runs start at their times."""
    if not shift:
        return note
    return f"{note} · runs start at their times exactly; the schedule fires {shift} s early to arm them"


def _times_of_day(cron: CompiledCron) -> list[int]:
    return sorted(h * 3600 + m * 60 + s for h in cron.hours for m in cron.minutes for s in cron.seconds)


def _smallest_gap(cron: CompiledCron) -> int:
    """A lower bound of the time between two runs: within a day, and from the last of a day to the
    first of the next (days that do not fire only make gaps longer)."""
    times = _times_of_day(cron)
    gaps = [b - a for a, b in pairwise(times)]
    return min([*gaps, DAY - times[-1] + times[0]])


def shifted_calendars(cron: CompiledCron, shift: int, expression: str = "") -> list[ScheduleCalendarSpec] | None:
    """Calendars firing exactly ``shift`` seconds (< one day) before each run of ``cron``, or None
    when that cannot be written exactly (see the module's docstring). Their comment says so, with
    the cron ``expression``: readers of the spec find the shift there (``nominal``)."""
    same_day: list[int] = []
    day_before: list[int] = []
    for t in _times_of_day(cron):
        (same_day if t >= shift else day_before).append((t - shift) % DAY)
    days: list[tuple[list[int], tuple[DayRule, ...]]] = [(same_day, cron.days)]
    if day_before:
        previous = _previous_days(cron.days)
        if previous is None:
            return None
        days.append((day_before, previous))
    # Display, and what a client of the previous version reads during a rolling deploy: the shift
    # itself is the schedule's DuctapeArmShift search attribute (ductape_jobs.scheduling.schedule_state).
    note = f"armed -{shift}s · {expression}".encode()[:MAX_COMMENT_BYTES].decode(errors="ignore")
    calendars = [
        ScheduleCalendarSpec(
            second=ranges(seconds),
            minute=ranges(minutes),
            hour=ranges(hours),
            day_of_month=ranges(rule.doms),
            month=ranges(rule.months),
            day_of_week=ranges(rule.dows),
            year=[] if rule.years == ALL_YEARS else ranges(rule.years),
            comment=note,
        )
        for times, rules in days
        if times
        for hours, minutes, seconds in _products(times)
        for rule in rules
    ]
    return calendars if len(calendars) <= MAX_CALENDARS else None


def _previous_days(rules: tuple[DayRule, ...]) -> tuple[DayRule, ...] | None:
    """The days before those of ``rules``: the day of the month before (the last day of the previous
    month for the 1st: 31, 30, or 29 or 28 in February by leap year) and the weekday before. None
    when a rule lists years and fires on the 1st of January (the day before is in another year)."""
    out: list[DayRule] = []
    for rule in rules:
        if rule.years != ALL_YEARS and 1 in rule.doms and 1 in rule.months:
            return None
        dows = frozenset((d - 1) % 7 for d in rule.dows)
        if rule.doms == ALL_DOMS and rule.months == ALL_MONTHS:  # every day (or weekday): one rule
            out.append(DayRule(dows=dows))
            continue
        for months, years, n in MONTH_LENGTHS:  # only days that exist: 30 February never comes before anything
            if inner := frozenset(d - 1 for d in rule.doms if 1 < d <= n):
                out.append(DayRule(inner, dows, rule.months & months, rule.years & years))
        if 1 in rule.doms:
            before = frozenset(12 if m == 1 else m - 1 for m in rule.months)
            out += [DayRule(frozenset({n}), dows, before & m, y & rule.years) for m, y, n in MONTH_LENGTHS]
    return tuple(r for r in out if r.possible())


def _products(times: list[int]) -> list[tuple[frozenset[int], frozenset[int], frozenset[int]]]:
    """Times of day as a union of (hours x minutes x seconds) products: hours grouped by the same
    minute-and-second pattern, minutes within a pattern by the same seconds."""
    by_hour: dict[int, dict[int, set[int]]] = defaultdict(lambda: defaultdict(set))
    for t in times:
        by_hour[t // 3600][t // 60 % 60].add(t % 60)
    patterns: dict[tuple[tuple[int, frozenset[int]], ...], set[int]] = defaultdict(set)
    for hour, minutes in by_hour.items():
        patterns[tuple(sorted((m, frozenset(s)) for m, s in minutes.items()))].add(hour)
    out: list[tuple[frozenset[int], frozenset[int], frozenset[int]]] = []
    for pattern, hours in patterns.items():
        by_seconds: dict[frozenset[int], set[int]] = defaultdict(set)
        for minute, seconds in pattern:
            by_seconds[seconds].add(minute)
        out.extend((frozenset(hours), frozenset(minutes), seconds) for seconds, minutes in by_seconds.items())
    return out


def nominal(moment: datetime, spec: ScheduleSpec | None, shift: int | None = None) -> datetime:
    """A time read off a job's schedule (a next run, a run's scheduled time) as the job's own: the
    shift added back when the schedule is armed and ``moment`` is one of its shifted times.

    ``shift``: the schedule's arm shift (``ductape_jobs.scheduling.schedule_facts``); None reads it from
    the calendar comment, as schedules of the previous version need (``legacy_shift``)."""
    if shift is None:
        return _legacy_nominal(moment, spec)
    if shift <= 0 or spec is None or not _on_spec(moment, spec):
        return moment  # not armed, or a triggered run (started at once, at no spec time)
    return moment + timedelta(seconds=shift)


def _on_spec(moment: datetime, spec: ScheduleSpec) -> bool:
    """Whether ``moment`` is a time of ``spec`` (its calendars in its zone, or its interval grid): a
    run the spec started, not one triggered by hand (a trigger in the very second of a spec time
    counts as it)."""
    if spec.intervals:
        return not moment.microsecond and any(
            (moment - EPOCH - (i.offset or timedelta(0))) % i.every == timedelta(0) for i in spec.intervals
        )
    t = moment.astimezone(ZoneInfo(spec.time_zone_name) if spec.time_zone_name else UTC)
    fields = ((t.second, "second"), (t.minute, "minute"), (t.hour, "hour"), (t.day, "day_of_month"),
              (t.month, "month"), (t.year, "year"), ((t.weekday() + 1) % 7, "day_of_week"))  # fmt: skip
    return any(all(_in_ranges(value, getattr(c, name)) for value, name in fields) for c in spec.calendars)


def _in_ranges(value: int, ranges: Sequence[ScheduleRange]) -> bool:
    # An empty field matches every value (how the armed calendars leave ``year``).
    return not ranges or any(
        r.start <= value <= max(r.end, r.start) and (value - r.start) % max(r.step, 1) == 0 for r in ranges
    )


def legacy_shift(spec: ScheduleSpec | None) -> int | None:
    """The arm shift a schedule of the previous version wrote into its calendar comment (fallback
    only: the shift is now a search attribute; the comment is display)."""
    match = _comment_match(spec)
    return int(match[1]) if match is not None else None


def _comment_match(spec: ScheduleSpec | None) -> re.Match[str] | None:
    comment = (spec.calendars[0].comment if spec is not None and spec.calendars else None) or ""
    return _COMMENT.match(comment)


def _legacy_nominal(moment: datetime, spec: ScheduleSpec | None) -> datetime:
    match = _comment_match(spec)
    if match is None:
        return moment
    return armed_nominal(moment, int(match[1]), match[2]) or moment


def armed_runs(
    recent: Iterable[ScheduleActionResult], spec: ScheduleSpec | None, now: datetime, shift: int | None = None
) -> dict[str, datetime]:
    """The runs a schedule started early that are still ahead of their nominal time (workflow ID ->
    nominal time): armed, waiting for their instant, so the job's next run, not one in progress.
    ``spec`` and ``shift``: the spec that started them and its shift (after a reschedule, the ones
    before it)."""
    return {
        getattr(r.action, "workflow_id", ""): t for r in recent if (t := nominal(r.scheduled_at, spec, shift)) > now
    }
