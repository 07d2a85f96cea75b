"""A recurring job's timing in Temporal's terms: ``repeat``/``schedule`` options compiled into a ``Recurrence``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from temporalio.client import ScheduleCalendarSpec, ScheduleOverlapPolicy

from ductape_jobs.planning.calendars import calendars_of
from ductape_jobs.planning.catch_up import catch_up_for
from ductape_jobs.planning.dst_policy import DEFAULT_POLICY, DstLayout, dst_layout
from ductape_jobs.planning.preview import next_runs
from ductape_jobs.workflows.contracts.catchup import CatchupSettings
from ductape_jobs.workflows.contracts.job import JobInputError
from ductape_jobs.workflows.contracts.timing import IJobRepeatOptions
from ductape_jobs.workflows.cron import CompiledCron, CronError, CronNeverFires, parse_cron


@dataclass(frozen=True, kw_only=True)
class Recurrence:
    """How a recurring job repeats, in Temporal's terms."""

    calendars: list[ScheduleCalendarSpec]
    every: timedelta | None
    time_zone: str
    limit: int | None
    end_at: datetime | None
    description: str
    catchup: timedelta = timedelta(seconds=60)
    overlap: ScheduleOverlapPolicy = ScheduleOverlapPolicy.SKIP
    """A run due while another runs is skipped, but with catch-up policy ``all`` (``planning.catch_up``)."""
    catchup_settings: CatchupSettings | None = None
    """What the job's runs check when they start late (None: no policy given)."""
    jitter: timedelta | None = None
    cron: CompiledCron | None = None
    """The compiled cron (None: ``every``)."""
    pause_on_failure: bool = False
    """A failed run pauses the schedule (Temporal's ``pause_on_failure``)."""
    dst: DstLayout | None = None
    """The DST policy's layout (transition days the main schedule skips, the companion's runs), or None
    when the policy does not apply (``every``, an hour that is ``*`` or a step, a zone without DST)."""


def recurrence_for(repeat: IJobRepeatOptions, *, field: str, start: datetime) -> Recurrence:
    """Compile validated repeat options into Temporal terms. With both ``cron`` and ``every``, the
    cron rules; ``every`` takes over when the cron has no run in the job's window (``_cron_in_force``).

    Raises:
        JobInputError: ``<field>.cron`` that cannot be compiled (or never fires, without ``every``),
            ``<field>.endDate`` not after ``start``.
    """
    if repeat.end_date is not None and repeat.end_date <= start:
        raise JobInputError.one(f"{field}.endDate", f"must be after the start ({start.isoformat()})")
    calendars: list[ScheduleCalendarSpec] = []
    every = None
    layout = None
    compiled = _cron_in_force(repeat, field=field, start=start)
    if compiled is not None:
        assert repeat.cron is not None
        calendars = calendars_of(compiled, repeat.cron)
        layout = dst_layout(
            compiled, repeat.tz or "UTC", repeat.dst or DEFAULT_POLICY, start=start, end=repeat.end_date
        )
        description = f"cron {repeat.cron}" + (f" {repeat.tz}" if repeat.tz else "")
    else:
        assert repeat.every is not None
        every = timedelta(milliseconds=repeat.every)
        description = f"every {_human(every)}" + (f" (cron {repeat.cron} has no run)" if repeat.cron else "")
    if repeat.limit is not None:
        description += f" · {repeat.limit}x"
    catch_up = catch_up_for(repeat.catchup, every=every, calendars=calendars, time_zone=repeat.tz or "UTC", start=start)
    if catch_up.settings is not None:
        description += f" · catch-up {catch_up.settings.policy}"
    return Recurrence(
        calendars=calendars,
        every=every,
        time_zone=repeat.tz or "UTC",
        limit=repeat.limit,
        end_at=repeat.end_date,
        description=description,
        catchup=catch_up.window,
        overlap=catch_up.overlap,
        catchup_settings=catch_up.settings,
        jitter=timedelta(milliseconds=repeat.jitter) if repeat.jitter else None,
        dst=layout,
        cron=compiled,
        pause_on_failure=repeat.pause_on_failure,
    )


def _cron_in_force(repeat: IJobRepeatOptions, *, field: str, start: datetime) -> CompiledCron | None:
    """The compiled cron, or None when ``every`` rules: no cron, or (both given) a cron with no run
    between ``start`` and ``endDate`` (or the end of 2100, as far as Temporal computes).

    Raises:
        JobInputError: ``<field>.cron`` that is not valid cron, or that never fires and has no ``every``.
    """
    if repeat.cron is None:
        return None
    try:
        compiled = parse_cron(repeat.cron)
    except CronNeverFires as err:
        if repeat.every is not None:
            return None
        raise JobInputError.one(f"{field}.cron", str(err)) from None
    except CronError as err:
        raise JobInputError.one(f"{field}.cron", str(err)) from None
    if repeat.every is None:
        return compiled
    first = next_runs(
        calendars_of(compiled), time_zone=repeat.tz or "UTC", after=start - timedelta(seconds=1), count=1,
        end_at=repeat.end_date,
    )  # fmt: skip
    return compiled if first else None


def _human(every: timedelta) -> str:
    seconds = int(every.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
