"""Arming ahead for recurring jobs (``ductape_jobs.scheduling.recurring_arming``): the schedule fires each run a few
seconds early, the run arms its event for the nominal instant, and everything a user reads (next
run, runs made) is in the job's own time. The shifted calendars are checked against the server's
calendar semantics (``ductape_jobs.planning.preview``, which mirrors ``compiledCalendar``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import ScheduleActionExecutionStartWorkflow, ScheduleSpec, WorkflowExecutionStatus

from ductape_jobs import Ductape
from ductape_jobs.planning.calendars import calendars_of
from ductape_jobs.planning.preview import next_runs
from ductape_jobs.planning.recurrence import Recurrence, recurrence_for
from ductape_jobs.scheduling import SchedulingOptions
from ductape_jobs.scheduling.recurring_arming import (
    arm_shift,
    grid_offset_s,
    nominal,
    shifted_calendars,
    shifted_every,
)
from ductape_jobs.workflows.arming import armed_nominal
from ductape_jobs.workflows.contracts.timing import IJobRepeatOptions
from ductape_jobs.workflows.cron import parse_cron
from tests.support.http_target import HttpTarget
from tests.workflows.test_arming import ductape, job_id_with_lead, welcome

__all__ = ["ductape"]  # test_arming's fixture: a worker on the session's dev server and its client

AFTER = datetime(2026, 2, 26, 22, 0, tzinfo=UTC)  # across a month's end and a leap-free February


@pytest.mark.parametrize(
    "cron",
    [
        "30 9 * * *",
        "0 0 * * *",  # midnight: the shifted time is on the day before
        "0 0 * * 1-5",  # weekday midnights: the day before is Sunday to Thursday
        "0,30 * * * *",
        "15 */2 * * *",
        "0 0,12 * * 6,0",
        "5 0 0 * * *",  # a seconds field, shifted across the minute, the hour and the day
        "0 9 1-7 * 1",  # day-of-month and day-of-week: not at midnight, so the days stay
        "0 18 L * *",
    ],
)
@pytest.mark.parametrize("shift", [1, 6, 30, 59])
def test_shifted_calendars_fire_exactly_shift_seconds_before_each_run(cron: str, shift: int) -> None:
    compiled = parse_cron(cron)
    shifted = shifted_calendars(compiled, shift, cron)
    assert shifted is not None
    runs = next_runs(calendars_of(compiled, cron), after=AFTER, count=120)
    early = next_runs(shifted, after=AFTER - timedelta(seconds=shift), count=120)
    assert early == [t - timedelta(seconds=shift) for t in runs]
    assert all(c.comment == f"armed -{shift}s · {cron}" for c in shifted)


@pytest.mark.parametrize("cron", ["0 0 1 * *", "0 0 L * *", "0 0 * 2 *", "0 0 29 2 *", "0 0 1 1 *", "0 0 1,15 3 1"])
@pytest.mark.parametrize("shift", [1, 59])
def test_a_midnight_run_on_days_of_the_month_moves_to_the_day_before(cron: str, shift: int) -> None:
    """The 1st moves to the last day of the previous month (28 or 29 February by leap year, 31
    December of the year before)."""
    compiled = parse_cron(cron)
    shifted = shifted_calendars(compiled, shift, cron)
    assert shifted is not None
    after = datetime(2027, 12, 20, tzinfo=UTC)  # a non-leap February, then a leap one (2028)
    runs = next_runs(calendars_of(compiled, cron), after=after, count=40)
    early = next_runs(shifted, after=after - timedelta(seconds=shift), count=40)
    assert early == [t - timedelta(seconds=shift) for t in runs]


NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


def _recurrence(zone: str = "UTC", *, companion: bool = True, **repeat: Any) -> Recurrence:
    options = IJobRepeatOptions.model_validate({**repeat, **({"tz": zone} if zone != "UTC" else {})})
    recurrence = recurrence_for(options, field="repeat", start=NOW)
    return SchedulingOptions(dst_companion=companion).recurrence(recurrence)


@pytest.mark.parametrize(
    ("repeat", "zone", "next_in", "longest", "expected"),
    [
        ({"cron": "30 9 * * *"}, "UTC", timedelta(hours=23), None, 25),
        ({"cron": "0 * * * *"}, "Etc/UTC", timedelta(minutes=50), None, 25),
        ({"cron": "*/10 * * * *"}, "UTC", timedelta(minutes=5), None, 25),
        ({"cron": "30 9 * * *"}, "UTC", timedelta(seconds=20), None, 17),  # the first shifted run must be ahead
        ({"cron": "30 9 * * *"}, "UTC", timedelta(seconds=3), None, None),
        # Runs closer than the fixed bound, without a known longest run: an early run could overlap.
        ({"cron": "*/5 * * * *"}, "UTC", timedelta(minutes=5), None, None),
        # ... and with it: shift plus the longest run fit in the gap.
        ({"cron": "*/5 * * * *"}, "UTC", timedelta(minutes=5), 75, 25),
        ({"cron": "* * * * *"}, "UTC", timedelta(minutes=1), 40, 19),
        ({"cron": "* * * * *"}, "UTC", timedelta(minutes=1), 59, None),
        ({"cron": "30 9 * * *"}, "Asia/Tokyo", timedelta(hours=3), None, 25),  # no DST: a fixed offset
        ({"cron": "30 9 * * *"}, "Europe/Paris", timedelta(hours=3), None, 25),  # the companion owns DST days
        ({"cron": "0 0 * * *"}, "America/New_York", timedelta(hours=3), None, 25),  # across midnight too
        ({"cron": "0,30 * * * *"}, "Europe/Paris", timedelta(minutes=3), None, None),  # hour `*`: no companion
        ({"cron": "30 9 * * *", "jitter": 30_000}, "UTC", timedelta(hours=3), None, None),
        ({"cron": "0 0 1 * *"}, "UTC", timedelta(days=3), None, 25),
        ({"every": 3_600_000}, "UTC", timedelta(minutes=30), None, 25),
        ({"every": 120_000}, "UTC", timedelta(minutes=1), 75, 25),
        ({"every": 90_000}, "UTC", timedelta(minutes=1), 75, 14),
        ({"every": 60_000}, "UTC", timedelta(seconds=30), 75, None),
        ({"every": 120_000, "jitter": 1000}, "UTC", timedelta(minutes=1), 75, None),
    ],
)
def test_which_recurring_jobs_arm(
    repeat: dict[str, Any], zone: str, next_in: timedelta, longest: int | None, expected: int | None
) -> None:
    recurrence = _recurrence(zone, **repeat)
    shift = arm_shift(recurrence, 25, next_run=NOW + next_in, now=NOW, longest_run_s=longest)
    assert shift == expected


def test_a_dst_zone_without_the_companion_is_not_armed() -> None:
    recurrence = _recurrence("Europe/Paris", companion=False, cron="30 9 * * *")
    assert arm_shift(recurrence, 25, next_run=NOW + timedelta(hours=3), now=NOW) is None


@pytest.mark.parametrize(
    ("cron", "zone"),
    [
        ("30 2 * * *", "Europe/Amsterdam"),  # in the skipped and the repeated hour
        ("0 0 * * *", "Europe/Amsterdam"),  # moves to the day before, a change day the day after
        ("0 0 * * 1", "America/New_York"),  # Monday midnight after a Sunday change
        ("0 0 1 * *", "America/New_York"),  # the 1st of November can be a change day
        ("15 9,21 * * *", "Australia/Sydney"),
    ],
)
@pytest.mark.parametrize("shift", [7, 59])
def test_a_dst_zone_main_schedule_fires_shift_early_on_every_other_day(cron: str, zone: str, shift: int) -> None:
    """The armed main schedule (shifted calendars, every shifted time of a change day skipped) fires
    exactly ``shift`` before each run its unarmed self makes: change days stay the companion's."""
    recurrence = _recurrence(zone, cron=cron)
    layout = recurrence.dst
    assert layout is not None
    assert recurrence.cron is not None
    shifted = shifted_calendars(recurrence.cron, shift, cron)
    assert shifted is not None
    after, count = datetime(2026, 12, 1, tzinfo=UTC), 800
    runs = next_runs(recurrence.calendars, layout.skips(), time_zone=zone, after=after, count=count)
    early = next_runs(shifted, layout.skips(shift), time_zone=zone, after=after - timedelta(seconds=shift), count=count)
    assert early == [t - timedelta(seconds=shift) for t in runs]
    assert {t.astimezone(ZoneInfo(zone)).date() for t in runs}.isdisjoint(layout.days)


def test_readers_add_the_shift_back_to_shifted_times_only() -> None:
    cron = "30 9 * * *"
    spec = ScheduleSpec(calendars=shifted_calendars(parse_cron(cron), 25, cron) or [])
    shifted = datetime(2026, 12, 1, 9, 29, 35, tzinfo=UTC)
    assert nominal(shifted, spec, 25) == datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    assert nominal(shifted, spec) == datetime(2026, 12, 1, 9, 30, tzinfo=UTC)  # the previous version's comment
    triggered = datetime(2026, 12, 1, 14, 2, 7, 512_000, tzinfo=UTC)
    assert nominal(triggered, spec, 25) == triggered
    assert nominal(shifted, ScheduleSpec(calendars=calendars_of(parse_cron(cron), cron)), 0) == shifted
    # The workflow's own rule: a triggered run's scheduled time (whole seconds) is not taken for early.
    assert armed_nominal(datetime(2026, 12, 1, 14, 2, 7, tzinfo=UTC), 25, cron) is None
    assert armed_nominal(shifted, 25, cron) == datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def test_readers_and_runs_read_zones_and_interval_grids() -> None:
    cron, zone = "30 9 * * *", "Europe/Amsterdam"
    spec = ScheduleSpec(calendars=shifted_calendars(parse_cron(cron), 25, cron) or [], time_zone_name=zone)
    shifted = datetime(2026, 12, 1, 8, 29, 35, tzinfo=UTC)  # 09:29:35 in Amsterdam (UTC+1)
    assert nominal(shifted, spec, 25) == shifted + timedelta(seconds=25)
    assert armed_nominal(shifted, 25, cron, time_zone=zone) == shifted + timedelta(seconds=25)
    assert armed_nominal(shifted, 25, cron) is None  # read in UTC, 08:30 is no run of it
    start = datetime(2026, 12, 1, 10, 0, 7, tzinfo=UTC)
    every = timedelta(hours=1)
    grid = grid_offset_s(every, start)
    spec = shifted_every(every, start, None, 25)
    early = start + 3 * every - timedelta(seconds=25)
    assert nominal(early, spec, 25) == start + 3 * every
    assert nominal(early + timedelta(seconds=1), spec, 25) == early + timedelta(seconds=1)  # a trigger
    assert armed_nominal(early, 25, None, every_ms=3_600_000, grid_offset_s=grid) == start + 3 * every
    assert armed_nominal(early + timedelta(seconds=1), 25, None, every_ms=3_600_000, grid_offset_s=grid) is None
    # A cron that never fires next to ``every``: the grid decides, not the cron.
    assert armed_nominal(early, 25, "0 0 31 2 *", every_ms=3_600_000, grid_offset_s=grid) == start + 3 * every


def test_cron_matches_its_own_run_times_only() -> None:
    compiled = parse_cron("0 0 9 L * *")
    for run in next_runs(calendars_of(compiled), after=AFTER, count=12):
        assert compiled.matches(run)
        assert not compiled.matches(run + timedelta(seconds=1))
        assert not compiled.matches(run - timedelta(days=1))


# --- On the dev server --------------------------------------------------------------------------


@pytest.mark.timeout(120)  # ~16 s measured: a run due 16 s ahead
async def test_a_recurring_run_fires_early_and_starts_at_its_instant(ductape: Ductape, http_target: HttpTarget) -> None:
    due = (datetime.now(UTC) + timedelta(seconds=16)).replace(microsecond=0)
    job_id = job_id_with_lead("armed-cron", timedelta(seconds=8), timedelta(seconds=12))
    cron = f"{due.second} {due.minute} {due.hour} * * *"  # daily, at a second 16 s from now
    result = await ductape.processor.job.schedule(welcome(job_id=job_id, repeat={"cron": cron}))
    assert result.next_run_at == int(due.timestamp() * 1000)

    # The server's own next run is early by the shift; what the job says is its nominal time.
    description = await ductape.client.get_schedule_handle(job_id).describe()
    shift = (due - description.info.next_action_times[0]).total_seconds()
    assert 8 <= shift < 12
    assert (await ductape.jobs.get(job_id)).next_run_at == int(due.timestamp() * 1000)

    # Armed (started early, waiting for its instant): still the job's next run, not one in progress.
    handle = ductape.client.get_schedule_handle(job_id)
    for _ in range(200):
        if (await handle.describe()).info.recent_actions:
            break
        await asyncio.sleep(0.05)
    assert datetime.now(UTC) < due - timedelta(seconds=5)
    record = await ductape.jobs.get(job_id)
    assert (record.status, record.next_run_at) == ("scheduled", int(due.timestamp() * 1000))

    await assert_armed_run_at(ductape, http_target, job_id, due)
    record = await ductape.jobs.get(job_id)
    assert record.next_run_at == int((due + timedelta(days=1)).timestamp() * 1000)

    # A trigger runs at once: it is not taken for an early run.
    await ductape.jobs.trigger(job_id)
    triggered = datetime.now(UTC)
    (_, second) = await calls(http_target, 2, until=triggered + timedelta(seconds=10))
    assert second.at <= triggered.timestamp() + 3.0


async def assert_armed_run_at(ductape: Ductape, http_target: HttpTarget, job_id: str, due: datetime) -> None:
    """The job's one run called its target within a second of ``due``, its activity scheduled (armed)
    at least 5 s before."""
    (call,) = await calls(http_target, 1, until=due + timedelta(seconds=10))
    assert due.timestamp() <= call.at <= due.timestamp() + 1.0
    description = await ductape.client.get_schedule_handle(job_id).describe()
    (run,) = description.info.recent_actions
    assert isinstance(run.action, ScheduleActionExecutionStartWorkflow)
    history = [e async for e in ductape.client.get_workflow_handle(run.action.workflow_id).fetch_history_events()]
    (scheduled,) = [e for e in history if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED]
    assert scheduled.event_time.ToDatetime(UTC) <= due - timedelta(seconds=5)


async def calls(http_target: HttpTarget, n: int, *, until: datetime) -> list[Any]:
    while datetime.now(UTC) < until:
        if len(received := http_target.calls("/v1/welcome")) >= n:
            return received
        await asyncio.sleep(0.1)
    return http_target.calls("/v1/welcome")


async def armed_daily_run(
    ductape: Ductape, prefix: str, repeat: Callable[[datetime], dict[str, Any]] | None = None
) -> tuple[str, datetime, str]:
    """A daily job (or ``repeat(due)``) due in 30 s whose run has just been armed (20-26 s ahead, time
    for a cancel to reach the armed activity): its job ID, its run's nominal time and the run's workflow ID."""
    due = (datetime.now(UTC) + timedelta(seconds=30)).replace(microsecond=0)
    job_id = job_id_with_lead(prefix, timedelta(seconds=20), timedelta(seconds=26))
    timing = repeat(due) if repeat else {"cron": f"{due.second} {due.minute} {due.hour} * * *"}
    await ductape.processor.job.schedule(welcome(job_id=job_id, start_at=due.isoformat(), repeat=timing))
    handle = ductape.client.get_schedule_handle(job_id)
    for _ in range(200):
        if runs := (await handle.describe()).info.recent_actions:
            break
        await asyncio.sleep(0.05)
    assert datetime.now(UTC) < due - timedelta(seconds=15)
    assert isinstance(runs[0].action, ScheduleActionExecutionStartWorkflow)
    return job_id, due, runs[0].action.workflow_id


async def assert_cancelled_unrun(ductape: Ductape, http_target: HttpTarget, due: datetime, run_id: str) -> None:
    await asyncio.sleep(due.timestamp() + 1.5 - datetime.now(UTC).timestamp())
    assert http_target.calls("/v1/welcome") == []
    run = await ductape.client.get_workflow_handle(run_id).describe()
    assert run.status == WorkflowExecutionStatus.CANCELED


@pytest.mark.timeout(120)  # ~31 s measured: a run due 30 s ahead
@pytest.mark.parametrize(
    "repeat",
    [
        pytest.param(None, id="utc-cron"),
        pytest.param(
            lambda due: {"cron": _local_cron(due, "America/New_York"), "tz": "America/New_York"}, id="dst-zone"
        ),
        pytest.param(lambda due: {"every": 600_000}, id="every"),
    ],
)
async def test_pausing_a_recurring_job_stops_its_armed_run(
    ductape: Ductape, http_target: HttpTarget, repeat: Callable[[datetime], dict[str, Any]] | None
) -> None:
    """A pause a few seconds before a run stops it, as without arming (the run had started early)."""
    job_id, due, run_id = await armed_daily_run(ductape, "armed-pause", repeat)
    record = await ductape.jobs.pause(job_id)
    assert record.status == "paused"
    await assert_cancelled_unrun(ductape, http_target, due, run_id)


@pytest.mark.timeout(120)  # ~31 s measured: a run due 30 s ahead
async def test_rescheduling_a_recurring_job_stops_the_run_armed_for_its_old_time(
    ductape: Ductape, http_target: HttpTarget
) -> None:
    """The run armed under the old, shifted spec is still found and cancelled (the new spec, a
    yearly midnight run, has another shift)."""
    job_id, due, run_id = await armed_daily_run(ductape, "armed-move")
    record = await ductape.jobs.reschedule(job_id, cron="0 0 1 1 *")
    assert record.status == "scheduled"
    assert record.next_run_at == int(datetime(due.year + 1, 1, 1, tzinfo=UTC).timestamp() * 1000)
    await assert_cancelled_unrun(ductape, http_target, due, run_id)


@pytest.mark.timeout(120)  # ~18 s measured: a run due 16 s ahead
@pytest.mark.parametrize(
    "repeat",
    [
        pytest.param(
            lambda due: {"cron": _local_cron(due, "Europe/Amsterdam"), "tz": "Europe/Amsterdam"}, id="dst-zone"
        ),
        pytest.param(lambda due: {"cron": _local_cron(due, "Asia/Kolkata"), "tz": "Asia/Kolkata"}, id="fixed-zone"),
        pytest.param(lambda due: {"every": 3_600_000}, id="every"),
    ],
)
async def test_recurring_runs_in_zones_and_intervals_start_at_their_instant(
    ductape: Ductape, http_target: HttpTarget, repeat: Any
) -> None:
    """A cron in a DST zone (its companion owns the change days), in a fixed-offset zone, and an
    ``every`` job: each fires early, arms, and starts its event at the nominal instant; every reader
    reports the nominal time (get, history), and the schedule's note says it fires early."""
    due = (datetime.now(UTC) + timedelta(seconds=16)).replace(microsecond=0)
    job_id = job_id_with_lead("armed-zone", timedelta(seconds=8), timedelta(seconds=12))
    result = await ductape.processor.job.schedule(welcome(job_id=job_id, start_at=due.isoformat(), repeat=repeat(due)))
    assert result.next_run_at == int(due.timestamp() * 1000)
    description = await ductape.client.get_schedule_handle(job_id).describe()
    shift = (due - description.info.next_action_times[0]).total_seconds()
    assert 8 <= shift < 12
    assert f"fires {int(shift)} s early to arm" in (description.schedule.state.note or "")
    assert (await ductape.jobs.get(job_id)).next_run_at == int(due.timestamp() * 1000)

    await assert_armed_run_at(ductape, http_target, job_id, due)

    async def one_run() -> list[Any]:
        return (await ductape.jobs.history(job_id)).executions

    for _ in range(100):
        if runs := await one_run():
            break
        await asyncio.sleep(0.1)
    (listed,) = runs
    assert (listed.scheduled_at, listed.started_at) == (int(due.timestamp() * 1000),) * 2


def _local_cron(due: datetime, zone: str) -> str:
    local = due.astimezone(ZoneInfo(zone))
    return f"{local.second} {local.minute} {local.hour} * * *"
