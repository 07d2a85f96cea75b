"""Backfill: ``ductape.jobs.backfill(job_id, start, end)`` starts a recurring job's runs over a range
now, as its schedule would have started them (Temporal's schedule backfill, run by the server: it
survives the caller's crash), with a dry run that lists them first.

The runs are the job's own: its cron in its zone (the DST companion's runs on change days
included) or its ``every`` grid, each started with the nominal time it stands for (an armed schedule's
shift is taken off the range and added back to the times, ``ductape_jobs.scheduling.recurring_arming``).
A schedule runs nothing before its start, so neither does a backfill: the range is clipped to the
job's first run and the result says so.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel
from temporalio.client import Client, ScheduleBackfill, ScheduleDescription, ScheduleOverlapPolicy

from ductape_jobs.management.audit import AuditTrail, checked_reason
from ductape_jobs.management.records import JobNotFoundError, JobStateError
from ductape_jobs.planning.preview import next_runs
from ductape_jobs.scheduling import facts
from ductape_jobs.scheduling.pair import describe_pair
from ductape_jobs.workflows.contracts.instants import parse_instant, to_epoch_ms
from ductape_jobs.workflows.contracts.job import JobInputError

BackfillOverlap = Literal["buffer_all", "allow_all", "skip"]
"""``buffer_all``: the runs one after another, in order (the default); ``allow_all``: all at once;
``skip``: a run due while another runs is skipped (the job's own rule, which keeps only the first)."""

_OVERLAP = {
    "buffer_all": ScheduleOverlapPolicy.BUFFER_ALL,
    "allow_all": ScheduleOverlapPolicy.ALLOW_ALL,
    "skip": ScheduleOverlapPolicy.SKIP,
}

MAX_BACKFILL_RUNS = 1000
"""Runs one backfill may start: the server buffers at most this many runs of a schedule."""


class BackfillResult(BaseModel):
    """What a backfill started (or, in a dry run, would start)."""

    job_id: str
    dry_run: bool
    overlap: BackfillOverlap
    occurrences: list[int]
    """The nominal times (epoch ms) of the runs, in order."""
    clipped_to: int | None = None
    """Set when the range began before the job's first run: the backfill starts from this instant."""


class Backfills:
    """The ``backfill`` part of ``ductape_jobs.management.jobs.Jobs``."""

    client: Client
    clock: Callable[[], datetime]
    audit: AuditTrail

    async def backfill(
        self,
        job_id: str,
        start: object,
        end: object,
        *,
        overlap: BackfillOverlap = "buffer_all",
        dry_run: bool = False,
        reason: str | None = None,
    ) -> BackfillResult:
        """Start the recurring job's runs whose nominal times fall in ``[start, end]`` (epoch ms,
        ISO-8601 or aware datetimes), even while it is paused; ``dry_run`` lists them and starts nothing
        (over any range: a dry run ahead of now previews the job's runs there, DST days included).

        Raises:
            JobInputError: ``start``/``end`` not instants, ``end`` not after ``start`` or (not a dry
                run) in the future, more than ``MAX_BACKFILL_RUNS`` runs in the range, ``overlap`` unknown,
                ``reason`` not a short text (it goes to the audit trail).
            JobNotFoundError: no recurring job ``job_id``. JobStateError: the job was cancelled.
        """
        first, last = _range(start, end)
        reason = checked_reason(reason)
        if overlap not in _OVERLAP:
            raise JobInputError.one("overlap", f"must be one of {', '.join(_OVERLAP)}")
        if not dry_run and last > self.clock():
            # A run started ahead of its time would wait for it, under the ID its schedule gives it then.
            raise JobInputError.one("end", "must not be in the future: the schedule starts those runs at their time")
        main, companion = await describe_pair(self.client, job_id)
        if main is None:
            raise JobNotFoundError(f"no recurring job {job_id}")
        if facts(main).cancelled:
            raise JobStateError(f"job {job_id} was cancelled; a backfill would run a job that no longer exists")
        pair = [d for d in (main, companion) if d is not None]
        plans = [(d, _runs(d, first, last)) for d in pair]
        occurrences = sorted(t for _, runs in plans for t in runs)
        if len(occurrences) > MAX_BACKFILL_RUNS:
            raise JobInputError.one(
                "end", f"the range holds {len(occurrences)} runs, more than {MAX_BACKFILL_RUNS}: backfill it in parts"
            )
        if not dry_run:
            for desc, runs in plans:
                if not runs:
                    continue
                shift = timedelta(seconds=facts(desc).arm_shift_s or 0)
                # The server's range is its spec's times: the shifted ones, each within the second.
                await self.client.get_schedule_handle(desc.id).backfill(
                    ScheduleBackfill(start_at=runs[0] - shift, end_at=runs[-1] - shift, overlap=_OVERLAP[overlap])
                )
            entry = self.audit.entry(
                job_id, "backfill", reason=reason,
                details={"start": to_epoch_ms(first), "end": to_epoch_ms(last), "overlap": overlap,
                         "runs": len(occurrences)},
            )  # fmt: skip
            await self.audit.record(entry)
        spec_start = main.schedule.spec.start_at
        job_start = spec_start + _shift(main) if spec_start is not None else None
        return BackfillResult(
            job_id=job_id,
            dry_run=dry_run,
            overlap=overlap,
            occurrences=[to_epoch_ms(t) for t in occurrences],
            clipped_to=to_epoch_ms(job_start) if job_start is not None and job_start > first else None,
        )


def _range(start: object, end: object) -> tuple[datetime, datetime]:
    """Raises: JobInputError naming ``start`` or ``end``."""
    bounds: list[datetime] = []
    for field, value in (("start", start), ("end", end)):
        try:
            instant = parse_instant(value)
        except ValueError as err:
            raise JobInputError.one(field, str(err)) from None
        if instant is None:
            raise JobInputError.one(field, "is required (epoch ms or ISO-8601)")
        bounds.append(instant)
    if bounds[1] <= bounds[0]:
        raise JobInputError.one("end", "must be after `start`")
    return bounds[0], bounds[1]


def _shift(desc: ScheduleDescription) -> timedelta:
    return timedelta(seconds=facts(desc).arm_shift_s or 0)


def _whole_second_up(moment: datetime) -> datetime:
    whole = moment.replace(microsecond=0)
    return whole if whole == moment else whole + timedelta(seconds=1)


def _runs(desc: ScheduleDescription, first: datetime, last: datetime) -> list[datetime]:
    """The nominal times of ``desc``'s runs in ``[first, last]`` (at most one past the cap, so that
    the caller can refuse), computed as the server computes its spec (``planning.preview``)."""
    spec = desc.schedule.spec
    shift = _shift(desc)
    end = last - shift if spec.end_at is None else min(spec.end_at, last - shift)
    times = next_runs(
        spec.calendars,
        spec.skip,
        time_zone=spec.time_zone_name or "UTC",
        after=_whole_second_up(first - shift) - timedelta(seconds=1),
        count=MAX_BACKFILL_RUNS + 1,
        start_at=spec.start_at,
        end_at=end,
        intervals=spec.intervals,
    )
    return [t + shift for t in times]
