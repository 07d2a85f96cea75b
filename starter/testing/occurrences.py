"""When a recurring job runs, computed by the planning code that lays out its Temporal Schedule.

The time-skipping test server has no Schedules, so a recurring job's runs cannot be watched there;
these helpers answer "does it run at these instants, DST days included" from the same code the
dispatch path uses (``ductape_jobs.planning``: the cron compiler, the DST policy's companion runs,
and a port of the server's own next-time walk), so an expectation checked here is what the server runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ductape_jobs.planning.dst_policy import union_runs
from ductape_jobs.planning.preview import next_runs
from ductape_jobs.planning.recurrence import recurrence_for
from ductape_jobs.scheduling.recurring_arming import shifted_every
from ductape_jobs.workflows.contracts.timing import IJobRepeatOptions

MAX_OCCURRENCES = 10_000
"""The most runs one call computes: a longer period is refused rather than computed for minutes."""

RepeatSpec = IJobRepeatOptions | Mapping[str, Any] | str
"""A job's ``repeat``/``schedule`` options (model or dict as the seeds write them), or a cron expression."""


def occurrences(repeat: RepeatSpec, *, start: datetime, end: datetime, tz: str | None = None) -> list[datetime]:
    """The nominal run times (aware, UTC) of a job with these ``repeat`` options that starts at
    ``start``, within ``[start, end]``: its ``limit`` and ``endDate`` apply, jitter does not.

    ``repeat`` may be a bare cron expression; ``tz`` sets (or overrides) its zone. Cron jobs follow
    their DST policy (default ``shift`` + ``first``), as the server runs them.

    Raises:
        ValueError: ``start``/``end`` are naive or in the wrong order, or the period holds more than
            ``MAX_OCCURRENCES`` runs.
        pydantic.ValidationError: ``repeat`` is not valid repeat options.
        JobInputError: its cron cannot be compiled, or its ``endDate`` is not after ``start``.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be aware datetimes (with a time zone)")
    if end < start:
        raise ValueError(f"end ({end.isoformat()}) is before start ({start.isoformat()})")
    options = _options(repeat, tz)
    recurrence = recurrence_for(options, field="repeat", start=start)
    last = end if recurrence.end_at is None else min(end, recurrence.end_at)
    count = min(recurrence.limit or MAX_OCCURRENCES + 1, MAX_OCCURRENCES + 1)
    # Temporal schedules work on whole seconds, and never run a time before their creation: runs
    # start at ``start`` rounded up to the second (where an ``every`` job's grid starts).
    first = start if start.microsecond == 0 else start.replace(microsecond=0) + timedelta(seconds=1)
    if recurrence.every is not None:
        spec = shifted_every(recurrence.every, first, last, 0)
        runs = next_runs(
            [], time_zone="UTC", after=first - timedelta(seconds=1), count=count, start_at=spec.start_at,
            end_at=spec.end_at, intervals=spec.intervals,
        )  # fmt: skip
    else:
        runs = union_runs(
            recurrence.calendars, recurrence.dst, time_zone=recurrence.time_zone,
            after=first - timedelta(seconds=1), count=count, start_at=first, end_at=last,
        )  # fmt: skip
    if len(runs) > MAX_OCCURRENCES:
        raise ValueError(f"more than {MAX_OCCURRENCES} runs between {start.isoformat()} and {end.isoformat()}")
    return runs


def assert_occurrences(
    repeat: RepeatSpec,
    expected: Iterable[datetime | str],
    *,
    start: datetime,
    end: datetime,
    tz: str | None = None,
) -> None:
    """Assert that the job runs at exactly the ``expected`` instants in ``[start, end]`` (aware
    datetimes or ISO-8601 strings with an offset; compared as instants).

    Raises:
        AssertionError: they differ; the message lists every run, marking those missing and unexpected,
            in the job's zone with its UTC offset.
        ValueError: an expected instant has no offset, or as ``occurrences``.
    """
    options = _options(repeat, tz)
    actual = occurrences(options, start=start, end=end)
    wanted = [_instant(item) for item in expected]
    if sorted(wanted) == actual:
        return
    zone = ZoneInfo(options.tz or "UTC")
    lines = []
    for moment in sorted({*actual, *wanted}):
        mark = "   " if moment in actual and moment in wanted else ("-  " if moment in wanted else "+  ")
        note = "" if mark == "   " else ("  (expected, not run)" if mark == "-  " else "  (runs, not expected)")
        lines.append(f"{mark}{_show(moment, zone)}{note}")
    spec = options.cron or f"every {options.every} ms"
    raise AssertionError(
        f"{spec} in {zone.key} between {start.isoformat()} and {end.isoformat()}: runs differ "
        f"(- expected but not run, + run but not expected)\n" + "\n".join(lines)
    )


def _options(repeat: RepeatSpec, tz: str | None) -> IJobRepeatOptions:
    if isinstance(repeat, str):
        repeat = {"cron": repeat}
    options = repeat if isinstance(repeat, IJobRepeatOptions) else IJobRepeatOptions.model_validate(dict(repeat))
    return options if tz is None else options.model_copy(update={"tz": tz})


def _instant(item: datetime | str) -> datetime:
    moment = datetime.fromisoformat(item) if isinstance(item, str) else item
    if moment.tzinfo is None:
        raise ValueError(f"expected instant {item!s} has no UTC offset")
    return moment.astimezone(UTC)


def _show(moment: datetime, zone: ZoneInfo) -> str:
    local = moment.astimezone(zone)
    return f"{local:%a %Y-%m-%d %H:%M:%S%z} ({local.tzname()}) = {moment:%H:%M:%S} UTC"
