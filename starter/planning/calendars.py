"""Compiled crons as Temporal calendar specs, for the schedules the client creates. A user's cron string
never reaches Temporal: ``ductape_jobs.workflows.cron`` parses it (the workflow only needs to match
times), and this module writes the specs whose union fires exactly when the expression does."""

from __future__ import annotations

from functools import lru_cache

from temporalio.client import ScheduleCalendarSpec, ScheduleRange

from ductape_jobs.workflows.cron import ALL_YEARS, CompiledCron, parse_cron

MAX_COMMENT_BYTES = 200
"""The server refuses a calendar comment longer than this."""


def calendars_of(cron: CompiledCron, comment: str = "") -> list[ScheduleCalendarSpec]:
    """One calendar spec per day rule of ``cron``, each with its times of day."""
    note = comment.encode()[:MAX_COMMENT_BYTES].decode(errors="ignore")
    return [
        ScheduleCalendarSpec(
            second=ranges(cron.seconds),
            minute=ranges(cron.minutes),
            hour=ranges(cron.hours),
            day_of_month=ranges(rule.doms),
            month=ranges(rule.months),
            day_of_week=ranges(rule.dows),
            year=[] if rule.years == ALL_YEARS else ranges(rule.years),
            comment=note,
        )
        for rule in cron.days
    ]


def compile_cron(expression: str) -> list[ScheduleCalendarSpec]:
    """Calendar specs whose union fires exactly when the cron expression does (no skip specs needed).

    Raises:
        CronError: naming the field and the reason.
    """
    return calendars_of(parse_cron(expression), expression.strip())


def ranges(values: frozenset[int] | set[int] | None) -> list[ScheduleRange]:
    """Values as few ``start-end/step`` ranges as found greedily (non-leap years: 4 ranges, not 25)."""
    return list(_ranges(frozenset(values or ())))


@lru_cache(maxsize=4096)
def _ranges(values: frozenset[int]) -> tuple[ScheduleRange, ...]:
    ordered = sorted(values)
    top = ordered[-1] if ordered else 0
    covered: set[int] = set()
    out: list[ScheduleRange] = []
    for start in ordered:
        if start in covered:
            continue
        best, best_new = [start], 1
        for step in range(1, top - start + 1):
            run = list(range(start, top + 1, step))
            run = run[: next((i for i, v in enumerate(run) if v not in values), len(run))]
            new = sum(v not in covered for v in run)
            if new > best_new:
                best, best_new = run, new
        covered.update(best)
        out.append(ScheduleRange(start, best[-1], best[1] - start if len(best) > 1 else 1))
    return tuple(out)
