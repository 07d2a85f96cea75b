"""Arming ahead for recurring jobs: the schedule fires each run a few seconds early.

A Temporal Schedule starts its workflow at the nominal time, and a worker drains only a few dozen
first workflow tasks a second, so 200 jobs due in one minute start seconds late. An armed recurring
job's schedule has every calendar moved ``shift`` seconds earlier; the run's workflow reads the
shift from its memo, adds it to ``TemporalScheduledStartTime`` (the shifted nominal time the
server stamps) and arms its event activity for the real instant, as a one-off job does
(``ductape_jobs.workflows.arming``). Readers of the schedule add the shift back (``nominal``).

Only where the shift is exact and changes nothing else: a cron (not ``every``) in UTC (no DST gap
can swallow a shifted time), without jitter, whose runs are at least ``MIN_GAP`` apart (a run armed
early must not overlap the previous one, which would make the schedule skip it) and whose
midnight runs, if any, do not depend on the day of the month (moving them to the previous day is
exact only when every day, or a set of weekdays, fires).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from itertools import pairwise

from temporalio.client import ScheduleActionResult, ScheduleCalendarSpec, ScheduleRange, ScheduleSpec

from ductape_jobs.planning.calendars import MAX_COMMENT_BYTES, ranges
from ductape_jobs.workflows.arming import arm_lead_ms, armed_nominal
from ductape_jobs.workflows.contracts.management import JobMemo
from ductape_jobs.workflows.cron import ALL_DOMS, ALL_MONTHS, ALL_YEARS, CompiledCron, DayRule

UTC_ZONES = frozenset({"UTC", "Etc/UTC"})
DAY = 86_400
MAX_CALENDARS = 24
"""A shifted cron needing more calendars than this (an irregular time grid) is not armed."""
CREATION_MARGIN = timedelta(seconds=3)
"""The first shifted time must be this far after the schedule is written: the server never runs a
spec time earlier than the schedule's creation (or update)."""
MIN_GAP = timedelta(minutes=10)
"""The shortest time between two runs of an armed recurring job (ten times the longest lead)."""
_COMMENT = re.compile(r"^armed -(\d+)s · (.*)$", re.DOTALL)


def recurring_lead_s(job_id: str, memo: JobMemo) -> int | None:
    """The lead of a recurring job whose runs may arm (``JobMemo.arm_shift_s`` set), from its ID."""
    if memo.arm_shift_s is None:
        return None
    return (arm_lead_ms(job_id) or 0) // 1000 or None


def arm_shift(
    cron: CompiledCron,
    lead_s: int,
    *,
    time_zone: str,
    jitter: timedelta | None,
    next_run: datetime | None,
    now: datetime,
) -> int | None:
    """How many seconds early the schedule of a job with lead ``lead_s`` fires, or None (not armed).

    ``next_run``: the job's next nominal run after the schedule is written; the shift is shortened
    so that its shifted time is still ahead (None: no run is left, nothing to arm).
    """
    if time_zone not in UTC_ZONES or jitter or next_run is None or lead_s < 1:
        return None
    if _smallest_gap(cron) < MIN_GAP.total_seconds():
        return None
    shift = min(lead_s, int((next_run - now - CREATION_MARGIN).total_seconds()))
    if shift < 1 or shifted_calendars(cron, shift) is None:
        return None
    return shift


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
    """The days before those of ``rules``, when expressible: every day, or weekdays only."""
    out = []
    for rule in rules:
        if rule.doms != ALL_DOMS or rule.months != ALL_MONTHS or rule.years != ALL_YEARS:
            return None
        out.append(DayRule(dows=frozenset((d - 1) % 7 for d in rule.dows)))
    return tuple(out)


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
    if shift <= 0 or spec is None or not _on_calendars(moment, spec.calendars):
        return moment  # not armed, or a triggered run (started at once, at no spec time)
    return moment + timedelta(seconds=shift)


def _on_calendars(moment: datetime, calendars: Sequence[ScheduleCalendarSpec]) -> bool:
    """Whether ``moment`` (UTC: an armed schedule's zone) is a time of one of ``calendars``: a run the
    spec started, not one triggered by hand (a trigger in the very second of a spec time counts as it)."""
    t = moment.astimezone(UTC)
    fields = ((t.second, "second"), (t.minute, "minute"), (t.hour, "hour"), (t.day, "day_of_month"),
              (t.month, "month"), (t.year, "year"), ((t.weekday() + 1) % 7, "day_of_week"))  # fmt: skip
    return any(all(_in_ranges(value, getattr(c, name)) for value, name in fields) for c in calendars)


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
