"""Arming ahead for recurring jobs (``ductape_jobs.scheduling.recurring_arming``): the schedule fires each run a few
seconds early, the run arms its event for the nominal instant, and everything a user reads (next
run, runs made) is in the job's own time. The shifted calendars are checked against the server's
calendar semantics (``ductape_jobs.planning.preview``, which mirrors ``compiledCalendar``)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import ScheduleActionExecutionStartWorkflow, ScheduleSpec, WorkflowExecutionStatus

from ductape_jobs import Ductape
from ductape_jobs.planning.calendars import calendars_of
from ductape_jobs.planning.preview import next_runs
from ductape_jobs.scheduling.recurring_arming import arm_shift, nominal, shifted_calendars
from ductape_jobs.workflows.arming import armed_nominal
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


@pytest.mark.parametrize("cron", ["0 0 1 * *", "0 0 L * *", "0 0 * 2 *", "0 0 29 2 *"])
def test_a_midnight_run_on_days_of_the_month_cannot_move_to_the_day_before(cron: str) -> None:
    assert shifted_calendars(parse_cron(cron), 30, cron) is None


NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("cron", "zone", "jitter", "next_in", "lead", "expected"),
    [
        ("30 9 * * *", "UTC", None, timedelta(hours=23), 25, 25),
        ("0 * * * *", "Etc/UTC", None, timedelta(minutes=50), 40, 40),
        ("*/10 * * * *", "UTC", None, timedelta(minutes=5), 40, 40),
        ("30 9 * * *", "UTC", None, timedelta(seconds=20), 40, 17),  # the first shifted run must be ahead
        ("30 9 * * *", "UTC", None, timedelta(seconds=3), 40, None),
        ("*/5 * * * *", "UTC", None, timedelta(minutes=5), 40, None),  # runs too close: an early run could overlap
        ("* * * * *", "UTC", None, timedelta(minutes=1), 40, None),
        ("30 9 * * *", "Europe/Paris", None, timedelta(hours=3), 40, None),  # DST could swallow a shifted time
        ("30 9 * * *", "UTC", timedelta(seconds=30), timedelta(hours=3), 40, None),
        ("0 0 1 * *", "UTC", None, timedelta(days=3), 40, None),
    ],
)
def test_which_recurring_jobs_arm(
    cron: str, zone: str, jitter: timedelta | None, next_in: timedelta, lead: int, expected: int | None
) -> None:
    shift = arm_shift(parse_cron(cron), lead, time_zone=zone, jitter=jitter, next_run=NOW + next_in, now=NOW)
    assert shift == expected


def test_readers_add_the_shift_back_to_shifted_times_only() -> None:
    cron = "30 9 * * *"
    spec = ScheduleSpec(calendars=shifted_calendars(parse_cron(cron), 25, cron) or [])
    shifted = datetime(2026, 12, 1, 9, 29, 35, tzinfo=UTC)
    assert nominal(shifted, spec) == datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    triggered = datetime(2026, 12, 1, 14, 2, 7, 512_000, tzinfo=UTC)
    assert nominal(triggered, spec) == triggered
    assert nominal(shifted, ScheduleSpec(calendars=calendars_of(parse_cron(cron), cron))) == shifted
    # The workflow's own rule: a triggered run's scheduled time (whole seconds) is not taken for early.
    assert armed_nominal(datetime(2026, 12, 1, 14, 2, 7, tzinfo=UTC), 25, cron) is None
    assert armed_nominal(shifted, 25, cron) == datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


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

    (call,) = await calls(http_target, 1, until=due + timedelta(seconds=10))
    assert due.timestamp() <= call.at <= due.timestamp() + 1.0
    description = await ductape.client.get_schedule_handle(job_id).describe()
    (run,) = description.info.recent_actions
    assert isinstance(run.action, ScheduleActionExecutionStartWorkflow)
    history = [e async for e in ductape.client.get_workflow_handle(run.action.workflow_id).fetch_history_events()]
    (scheduled,) = [e for e in history if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED]
    assert scheduled.event_time.ToDatetime(UTC) <= due - timedelta(seconds=5)
    record = await ductape.jobs.get(job_id)
    assert record.next_run_at == int((due + timedelta(days=1)).timestamp() * 1000)

    # A trigger runs at once: it is not taken for an early run.
    await ductape.jobs.trigger(job_id)
    triggered = datetime.now(UTC)
    (_, second) = await calls(http_target, 2, until=triggered + timedelta(seconds=10))
    assert second.at <= triggered.timestamp() + 3.0


async def calls(http_target: HttpTarget, n: int, *, until: datetime) -> list[Any]:
    while datetime.now(UTC) < until:
        if len(received := http_target.calls("/v1/welcome")) >= n:
            return received
        await asyncio.sleep(0.1)
    return http_target.calls("/v1/welcome")


async def armed_daily_run(ductape: Ductape, prefix: str) -> tuple[str, datetime, str]:
    """A daily job due in 30 s whose run has just been armed (20-26 s ahead, time for a cancel to
    reach the armed activity): its job ID, its run's nominal time and the run's workflow ID."""
    due = (datetime.now(UTC) + timedelta(seconds=30)).replace(microsecond=0)
    job_id = job_id_with_lead(prefix, timedelta(seconds=20), timedelta(seconds=26))
    cron = f"{due.second} {due.minute} {due.hour} * * *"
    await ductape.processor.job.schedule(welcome(job_id=job_id, repeat={"cron": cron}))
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
async def test_pausing_a_recurring_job_stops_its_armed_run(ductape: Ductape, http_target: HttpTarget) -> None:
    """A pause a few seconds before a run stops it, as without arming (the run had started early)."""
    job_id, due, run_id = await armed_daily_run(ductape, "armed-pause")
    record = await ductape.jobs.pause(job_id)
    assert record.status == "paused"
    await assert_cancelled_unrun(ductape, http_target, due, run_id)


@pytest.mark.timeout(120)  # ~31 s measured: a run due 30 s ahead
async def test_rescheduling_a_recurring_job_stops_the_run_armed_for_its_old_time(
    ductape: Ductape, http_target: HttpTarget
) -> None:
    """The new timing is not armed (a midnight run on a day of the month): the run armed under the
    old, shifted spec is still found and cancelled."""
    job_id, due, run_id = await armed_daily_run(ductape, "armed-move")
    record = await ductape.jobs.reschedule(job_id, cron="0 0 1 1 *")
    assert record.status == "scheduled"
    assert record.next_run_at == int(datetime(due.year + 1, 1, 1, tzinfo=UTC).timestamp() * 1000)
    await assert_cancelled_unrun(ductape, http_target, due, run_id)
