"""The DST policy (``repeat.dst``) computed locally: the runs wanted on real 2026 and 2027 transition days,
the calendars that carry them, the limit split, the preview, and the validation of the option."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ductape_jobs.planning.calendars import compile_cron
from ductape_jobs.planning.cron_preview import preview_cron
from ductape_jobs.planning.dst_policy import DstLayout, DstPolicy, dst_layout, split_limit, utc_calendars
from ductape_jobs.planning.inputs import normalise_dispatch, normalise_job
from ductape_jobs.planning.plan import plan_job
from ductape_jobs.planning.preview import next_runs
from ductape_jobs.workflows.contracts.job import JobInputError
from ductape_jobs.workflows.cron import parse_cron

SHIFT_FIRST, SKIP_BOTH = DstPolicy(), DstPolicy(skipped="skip", repeated="both")


def runs_on(expression: str, zone: str, day: str, policy: DstPolicy) -> list[str]:
    """The local run times the policy wants on one day (from a layout started the day before)."""
    start = datetime.fromisoformat(day).replace(tzinfo=ZoneInfo(zone)) - timedelta(days=1)
    layout = dst_layout(parse_cron(expression), zone, policy, start=start.astimezone(UTC))
    assert layout is not None
    assert date.fromisoformat(day) in layout.days
    local = [t.astimezone(ZoneInfo(zone)) for t in layout.instants]
    return [t.strftime("%H:%M%z") for t in local if t.date().isoformat() == day]


CASES = [
    # Europe/Amsterdam: 02:00-03:00 skipped in March, 02:00-03:00 repeated in October
    ("30 2 * * *", "Europe/Amsterdam", "2026-03-29", ["03:00+0200"], [], ),
    ("30 2 * * *", "Europe/Amsterdam", "2026-10-25", ["02:30+0200"], ["02:30+0200", "02:30+0100"]),
    ("30 2 * * *", "Europe/Amsterdam", "2027-03-28", ["03:00+0200"], []),
    ("30 2 * * *", "Europe/Amsterdam", "2027-10-31", ["02:30+0200"], ["02:30+0200", "02:30+0100"]),
    # America/New_York: 02:00-03:00 skipped in March, 01:00-02:00 repeated in November
    ("30 2 * * *", "America/New_York", "2026-03-08", ["03:00-0400"], []),
    ("30 1 * * *", "America/New_York", "2026-11-01", ["01:30-0400"], ["01:30-0400", "01:30-0500"]),
    ("30 2 * * *", "America/New_York", "2027-03-14", ["03:00-0400"], []),
    ("30 1 * * *", "America/New_York", "2027-11-07", ["01:30-0400"], ["01:30-0400", "01:30-0500"]),
    # Australia/Sydney: 02:00-03:00 repeated in April, skipped in October
    ("30 2 * * *", "Australia/Sydney", "2026-04-05", ["02:30+1100"], ["02:30+1100", "02:30+1000"]),
    ("30 2 * * *", "Australia/Sydney", "2026-10-04", ["03:00+1100"], []),
    ("30 2 * * *", "Australia/Sydney", "2027-04-04", ["02:30+1100"], ["02:30+1100", "02:30+1000"]),
    ("30 2 * * *", "Australia/Sydney", "2027-10-03", ["03:00+1100"], []),
    # times outside the change run as on any day; several in the gap shift to one run at its end
    ("0 1,2,3,12 * * *", "Europe/Amsterdam", "2027-03-28", ["01:00+0100", "03:00+0200", "12:00+0200"],
     ["01:00+0100", "03:00+0200", "12:00+0200"]),
    ("0,30 2 * * *", "America/New_York", "2027-03-14", ["03:00-0400"], []),
    ("15,45 1 * * *", "America/New_York", "2027-11-07", ["01:15-0400", "01:45-0400"],
     ["01:15-0400", "01:45-0400", "01:15-0500", "01:45-0500"]),
]  # fmt: skip


@pytest.mark.parametrize(("expression", "zone", "day", "default", "skip_both"), CASES)
def test_runs_wanted_on_real_transition_days(
    expression: str, zone: str, day: str, default: list[str], skip_both: list[str]
) -> None:
    assert runs_on(expression, zone, day, SHIFT_FIRST) == default
    assert runs_on(expression, zone, day, SKIP_BOTH) == skip_both


def test_skip_and_first_drop_the_gap_and_run_the_repeated_time_once() -> None:
    policy = DstPolicy(skipped="skip", repeated="first")
    assert runs_on("30 2 * * *", "Europe/Amsterdam", "2027-03-28", policy) == []
    assert runs_on("30 2 * * *", "Europe/Amsterdam", "2027-10-31", policy) == ["02:30+0200"]
    assert runs_on("30 2 * * *", "Australia/Sydney", "2027-10-03", DstPolicy(repeated="both")) == ["03:00+1100"]


def test_a_zone_without_dst_a_moving_hour_and_native_keep_the_server_rules() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert dst_layout(parse_cron("30 2 * * *"), "Asia/Tokyo", SHIFT_FIRST, start=start) is None
    assert dst_layout(parse_cron("30 2 * * *"), "UTC", SHIFT_FIRST, start=start) is None
    assert dst_layout(parse_cron("30 * * * *"), "Europe/Amsterdam", SHIFT_FIRST, start=start) is None
    assert dst_layout(parse_cron("30 */2 * * *"), "Europe/Amsterdam", SHIFT_FIRST, start=start) is None
    assert dst_layout(parse_cron("30 2 * * *"), "Europe/Amsterdam", None, start=start) is None


def test_the_horizon_ends_at_the_end_date_and_at_most_ten_years_ahead() -> None:
    start = datetime(2027, 1, 1, tzinfo=UTC)
    cron = parse_cron("30 2 * * *")
    ten_years = dst_layout(cron, "Europe/Amsterdam", SHIFT_FIRST, start=start)
    assert ten_years is not None
    assert len(ten_years.days) == 20
    assert ten_years.days[0] == date(2027, 3, 28)
    assert ten_years.days[-1] == date(2036, 10, 26)
    short = dst_layout(cron, "Europe/Amsterdam", SHIFT_FIRST, start=start, end=datetime(2027, 6, 1, tzinfo=UTC))
    assert short is not None
    assert short.days == (date(2027, 3, 28),)


def test_the_main_schedule_runs_nothing_on_transition_days_and_the_companion_exactly_its_runs() -> None:
    zone = "Europe/Amsterdam"
    start = datetime(2027, 3, 26, tzinfo=UTC)
    layout = dst_layout(parse_cron("0,30 2,3 * * *"), zone, SHIFT_FIRST, start=start)
    assert isinstance(layout, DstLayout)
    main = next_runs(compile_cron("0,30 2,3 * * *"), layout.skips(), time_zone=zone, after=start, count=400)
    assert not {r.astimezone(ZoneInfo(zone)).date() for r in main} & set(layout.days)
    companion = next_runs(utc_calendars(layout.instants), time_zone="UTC", after=start, count=len(layout.instants) + 5)
    assert companion == list(layout.instants)
    assert len(utc_calendars(layout.instants)) <= 3 * len(layout.days)


def test_the_limit_is_shared_by_the_first_runs_of_the_union() -> None:
    zone = "Europe/Amsterdam"
    first = datetime(2027, 3, 26, 12, tzinfo=UTC)
    calendars = compile_cron("30 2 * * *")
    layout = dst_layout(parse_cron("30 2 * * *"), zone, SHIFT_FIRST, start=first)
    assert layout is not None
    # 27 March (main), 28 March 03:00 (companion), 29 March (main)
    assert split_limit(calendars, layout, 3, time_zone=zone, first_run=first) == (2, 1)
    assert split_limit(calendars, layout, 1, time_zone=zone, first_run=first) == (1, 0)
    assert split_limit(calendars, layout, 2, time_zone=zone, first_run=first) == (1, 1)
    # 300 daily runs reach January 2028: two of them fall on change days (28 March, 31 October)
    assert split_limit(calendars, layout, 300, time_zone=zone, first_run=first) == (298, 2)


def test_preview_applies_the_policy_and_native_keeps_the_server_behaviour() -> None:
    after = datetime(2027, 11, 6, 12, tzinfo=UTC)
    zone = ZoneInfo("America/New_York")
    default = preview_cron("30 1 * * *", tz="America/New_York", after=after, count=2)
    native = preview_cron("30 1 * * *", tz="America/New_York", after=after, count=2, dst=None)
    assert [r.astimezone(zone).strftime("%d %H:%M%z") for r in default] == ["07 01:30-0400", "08 01:30-0500"]
    assert [r.astimezone(zone).strftime("%d %H:%M%z") for r in native] == ["07 01:30-0400", "07 01:30-0500"]
    amsterdam = preview_cron("30 2 * * *", tz="Europe/Amsterdam", after=datetime(2027, 3, 27, 12, tzinfo=UTC))
    assert amsterdam[0] == datetime(2027, 3, 28, 1, 0, tzinfo=UTC)  # 03:00+02:00, just after the gap


def test_dst_options_are_validated_naming_the_field() -> None:
    base = {"product_tag": "p", "env": "dev", "app": "a", "event": "e", "input": {}}
    with pytest.raises(JobInputError) as err:
        normalise_job(base | {"repeat": {"cron": "30 2 * * *", "dst": {"skipped": "later"}}})
    assert "repeat.dst.skipped" in str(err.value)
    with pytest.raises(JobInputError) as err:
        normalise_job(base | {"repeat": {"every": 60_000, "dst": {"repeated": "both"}}})
    assert "repeat.dst" in str(err.value)
    dispatch = {"product_tag": "p", "env": "dev", "app": "a", "event": "e"}
    with pytest.raises(JobInputError) as err:
        normalise_dispatch("actions", dispatch | {"schedule": {"cron": "30 2 * * *", "dst": {"repeated": "twice"}}})
    assert "schedule.dst.repeated" in str(err.value)


def test_a_planned_job_carries_its_layout_and_policy() -> None:
    now = datetime(2027, 3, 1, tzinfo=UTC)
    data = {"product_tag": "p", "env": "dev", "app": "a", "event": "e", "input": {},
            "repeat": {"cron": "30 2 * * *", "tz": "Europe/Amsterdam", "dst": {"repeated": "both"}}}  # fmt: skip
    plan = plan_job(normalise_job(data), now=now, task_queue="tq", config=None, secrets=None)
    assert plan.recurrence is not None
    assert plan.recurrence.dst is not None
    assert plan.recurrence.dst.policy == DstPolicy(repeated="both")
    assert plan.memo.dst == {"skipped": "shift", "repeated": "both"}


def test_a_recurring_job_id_with_the_companions_suffix_is_refused_before_anything_starts() -> None:
    now = datetime(2027, 3, 1, tzinfo=UTC)
    data = {"product_tag": "p", "env": "dev", "app": "a", "event": "e", "input": {}, "job_id": "nightly~dst"}
    with pytest.raises(JobInputError) as err:
        plan_job(normalise_job(data | {"repeat": {"cron": "0 9 * * *"}}), now=now, task_queue="tq", config=None,
                 secrets=None)  # fmt: skip
    assert (err.value.field, err.value.reason) == ("job_id", "must not end with '~dst' (reserved for DST companions)")
    one_off = plan_job(normalise_job(data), now=now, task_queue="tq", config=None, secrets=None)
    assert one_off.job_id == "nightly~dst"  # only a schedule's ID is read back as a companion
