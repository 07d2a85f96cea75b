"""How recurring jobs are laid out on Temporal Schedules (pure: no server)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ductape_jobs.planning.inputs import normalise_job
from ductape_jobs.planning.plan import JobPlan, plan_job
from ductape_jobs.scheduling.dispatch import schedule_timing
from ductape_jobs.workflows.contracts.job import JobInputError

NOW = datetime(2026, 11, 22, 12, 0, 0, 250_000, tzinfo=UTC)


def plan(**fields: object) -> JobPlan:
    data = {"product_tag": "p", "env": "dev", "app": "a", "event": "e", "input": {}} | fields
    return plan_job(normalise_job(data), now=NOW, task_queue="tq", config=None, secrets=None)


def test_every_due_now_triggers_the_first_run_and_starts_the_grid_one_period_later() -> None:
    job = plan(repeat={"every": 60_000, "limit": 5})
    assert job.recurrence is not None
    timing = schedule_timing(job.recurrence, first_run=job.first_run, now=NOW, note=job.summary)
    assert timing.trigger_now
    assert timing.spec.start_at == datetime(2026, 11, 22, 12, 1, 1, tzinfo=UTC)
    assert timing.spec.intervals[0].offset == timedelta(seconds=1)  # 12:01:01 on a one-minute grid
    assert timing.state.limited_actions
    assert timing.state.remaining_actions == 4  # the triggered run does not count for Temporal


def test_every_with_limit_one_due_now_leaves_nothing_for_the_spec() -> None:
    job = plan(repeat={"every": 60_000, "limit": 1})
    assert job.recurrence is not None
    timing = schedule_timing(job.recurrence, first_run=job.first_run, now=NOW, note=job.summary)
    assert timing.trigger_now
    assert timing.spec.end_at == NOW
    assert timing.spec.start_at is not None
    assert timing.spec.end_at < timing.spec.start_at
    assert not timing.state.limited_actions


def test_every_in_the_future_starts_at_start_at_rounded_up() -> None:
    start = NOW + timedelta(hours=1, milliseconds=300)
    job = plan(start_at=start.isoformat(), repeat={"every": 7_000, "limit": 2, "endDate": "2027-01-01T00:00:00Z"})
    assert job.recurrence is not None
    timing = schedule_timing(job.recurrence, first_run=job.first_run, now=NOW, note=job.summary)
    assert not timing.trigger_now
    assert timing.spec.start_at == datetime(2026, 11, 22, 13, 0, 1, tzinfo=UTC)
    assert timing.spec.end_at == datetime(2027, 1, 1, tzinfo=UTC)
    assert timing.state.remaining_actions == 2
    epoch_seconds = int(timing.spec.start_at.timestamp())
    assert timing.spec.intervals[0].offset == timedelta(seconds=epoch_seconds % 7)


def test_cron_becomes_calendars_in_its_zone_and_never_a_cron_string() -> None:
    job = plan(repeat={"cron": "0 9 * * 1", "tz": "Europe/Amsterdam", "limit": 10})
    assert job.recurrence is not None
    timing = schedule_timing(job.recurrence, first_run=job.first_run, now=NOW, note=job.summary)
    assert not timing.trigger_now
    assert timing.spec.cron_expressions == []
    assert timing.spec.time_zone_name == "Europe/Amsterdam"
    assert timing.spec.calendars[0].day_of_week[0].start == 1
    assert timing.state.remaining_actions == 10


CRON_AND_EVERY = [
    # (id, repeat, which rules: "cron" or "every")
    ("the cron has runs", {"cron": "0 9 * * *", "every": 60_000}, "cron"),
    ("the cron never fires", {"cron": "0 0 31 2 *", "every": 60_000}, "every"),
    ("no cron run before endDate", {"cron": "0 0 1 1 *", "every": 60_000, "endDate": "2026-12-01T00:00:00Z"}, "every"),
    ("a cron run before endDate", {"cron": "0 0 25 11 *", "every": 60_000, "endDate": "2026-12-01T00:00:00Z"}, "cron"),
    ("with a DST policy", {"cron": "30 2 * * *", "tz": "Europe/Amsterdam", "every": 60_000, "dst": {"skipped": "skip"}},
     "cron"),
]  # fmt: skip


@pytest.mark.parametrize(("repeat", "rules"), [pytest.param(*row[1:], id=row[0]) for row in CRON_AND_EVERY])
def test_cron_and_every_together_the_cron_rules_unless_it_has_no_run_in_the_window(
    repeat: dict[str, Any], rules: str
) -> None:
    recurrence = plan(repeat=repeat).recurrence
    assert recurrence is not None
    if rules == "cron":
        assert (recurrence.every, recurrence.cron is not None, bool(recurrence.calendars)) == (None, True, True)
    else:
        assert (recurrence.every, recurrence.cron, recurrence.calendars) == (timedelta(minutes=1), None, [])
        assert f"(cron {repeat['cron']} has no run)" in recurrence.description


def test_cron_and_every_a_malformed_cron_is_still_refused() -> None:
    with pytest.raises(JobInputError) as malformed:
        plan(repeat={"cron": "0 9 * * MON#6", "every": 60_000})
    assert malformed.value.field == "repeat.cron"
    with pytest.raises(JobInputError) as never:
        plan(repeat={"cron": "0 0 31 2 *"})  # no `every` to take over
    assert never.value.reason.endswith("(it would never fire)")
