"""Input validation and planning: every malformed seed shape is one JobInputError naming field and reason."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from ductape_jobs.activities.config.secrets import SecretStore
from ductape_jobs.planning.inputs import normalise_dispatch, normalise_job
from ductape_jobs.planning.plan import JobPlan, plan_job
from ductape_jobs.workflows import names
from ductape_jobs.workflows.contracts.instants import parse_instant, to_epoch_ms
from ductape_jobs.workflows.contracts.job import ISession, JobEventType, JobInputError
from tests.conftest import SECRETS, product_config_for

NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)
CONFIG = product_config_for("http://127.0.0.1:9")
DROP: Any = ...
"""A mutation value that removes the key."""
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
AMSTERDAM = ZoneInfo("Europe/Amsterdam")
ONE_TARGET = "exactly one of `event` or `operation`"
ACTION = {"env": "dev", "app": "email-service", "event": "send_welcome_email"}


def job(**changes: Any) -> dict[str, Any]:
    """Seed 001's ``IJobProcessorInput``: a valid action job, changed by ``changes``."""
    base = {**ACTION, "product_tag": "my-product", "input": {}, "retries": 2, "start_at": 0, **changes}
    return {k: v for k, v in base.items() if v is not DROP}


def plan(data: dict[str, Any], *, config: bool = True, now: datetime = NOW) -> JobPlan:
    store = SecretStore(SECRETS) if config else None
    return plan_job(normalise_job(data), now=now, task_queue="tq", config=CONFIG if config else None, secrets=store)


def refused(data: dict[str, Any], *, config: bool = True, now: datetime = NOW) -> JobInputError:
    with pytest.raises(JobInputError) as err:
        plan(data, config=config, now=now)
    return err.value


def params(table: list[Any]) -> list[Any]:
    """Table rows ``(id, *values)`` as pytest params."""
    return [pytest.param(*row[1:], id=row[0]) for row in table]


def every(**repeat: Any) -> dict[str, Any]:
    return {"repeat": {"every": 60_000, **repeat}}


def cron(expression: str, **repeat: Any) -> dict[str, Any]:
    return {"repeat": {"cron": expression, **repeat}}


INVALID = [
    # (id, mutation, field, reason)
    ("missing product_tag", {"product_tag": DROP}, "product_tag", "is required"),
    ("missing env", {"env": DROP}, "env", "is required"),
    ("missing event", {"event": DROP}, "event", "is required"),
    ("missing input", {"input": DROP}, "input", "is required"),
    ("env an int", {"env": 5}, "env", "valid string"),
    ("env empty", {"env": ""}, "env", "at least 1 character"),
    ("input a list", {"input": [1]}, "input", "valid dictionary"),
    ("input null", {"input": None}, "input", "valid dictionary"),
    ("retries a string", {"retries": "3"}, "retries", "whole number"),
    ("retries a bool", {"retries": True}, "retries", "whole number"),
    ("retries a fraction", {"retries": 1.5}, "retries", "whole number"),
    ("retries negative", {"retries": -1}, "retries", "greater than or equal to 0"),
    ("retries too many", {"retries": 1001}, "retries", "less than or equal to 1000"),
    ("start_at a bool", {"start_at": True}, "start_at", "not a boolean"),
    ("start_at a list", {"start_at": [1]}, "start_at", "epoch milliseconds"),
    ("start_at negative", {"start_at": -5}, "start_at", "must not be negative"),
    ("start_at negative string", {"start_at": "-5"}, "start_at", "must not be negative"),
    ("start_at without offset", {"start_at": "2026-12-01T10:00:00"}, "start_at", "no UTC offset"),
    ("start_at a bare date", {"start_at": "2026-12-01"}, "start_at", "no UTC offset"),
    ("start_at garbage", {"start_at": "tomorrow"}, "start_at", "not an ISO-8601 timestamp"),
    ("start_at naive datetime", {"start_at": datetime(2026, 12, 1)}, "start_at", "timezone-aware"),
    ("start_at NaN", {"start_at": float("nan")}, "start_at", "finite"),
    ("start_at far future", {"start_at": 10**30}, "start_at", "too far in the future"),
    ("repeat a string", {"repeat": "daily"}, "repeat", "valid dictionary"),
    ("repeat without cron or every", {"repeat": {"limit": 3}}, "repeat", "needs either `cron` or `every`"),
    ("repeat unknown key", every(colour="red"), "repeat.colour", "is not a known field"),
    ("cron minute 61", cron("61 * * * *"), "repeat.cron", "minute field"),
    ("cron with 3 fields", cron("* * *"), "repeat.cron", "needs 5 fields"),
    ("cron backwards range", cron("0 0 5-2 * *"), "repeat.cron", "day-of-month field: range '5-2' runs backwards"),
    ("cron unknown macro", cron("@sometimes"), "repeat.cron", "unknown macro"),
    ("cron blank", cron("   "), "repeat.cron", "must not be empty"),
    ("cron L with a step", cron("0 0 L/2 * *"), "repeat.cron", "cannot take a range or a step"),
    ("cron W with a range", cron("0 0 1-5W * *"), "repeat.cron", "cannot take a range or a step"),
    ("cron # with a range", cron("0 0 * * 1-5#2"), "repeat.cron", "cannot take a range or a step"),
    ("cron bare L weekday", cron("0 0 * * L"), "repeat.cron", "`L` needs a day"),
    ("cron L in the hour", cron("0 L * * *"), "repeat.cron", "belong in the day fields"),
    ("cron never fires", cron("0 0 31 2 *"), "repeat.cron", "never fire"),
    ("unknown time zone", cron("0 9 * * *", tz="Mars/Olympus"), "repeat.tz", "unknown time zone"),
    ("limit 0", every(limit=0), "repeat.limit", "greater than or equal to 1"),
    ("every 0", {"repeat": {"every": 0}}, "repeat.every", "greater than 0"),
    ("limit a bool", every(limit=True), "repeat.limit", "whole number of runs"),
    ("limit a string", every(limit="3"), "repeat.limit", "whole number of runs"),
    ("every a bool", {"repeat": {"every": True}}, "repeat.every", "number of milliseconds"),
    ("every 2500 ms", {"repeat": {"every": 2500}}, "repeat.every", "whole number of seconds"),
    ("every 500 ms", {"repeat": {"every": 500}}, "repeat.every", "at least 1000"),
    (
        "endDate before start_at",
        {"start_at": "2026-12-10T00:00:00Z", **every(endDate="2026-12-01T00:00:00Z")},
        "repeat.endDate",
        "must be after the start",
    ),
    ("endDate already past", every(endDate="2026-01-01T00:00:00Z"), "repeat.endDate", "must be after the start"),
    ("end_date equal to now", every(end_date=to_epoch_ms(NOW)), "repeat.endDate", "must be after the start"),
    ("endDate garbage", every(endDate="soon"), "repeat.endDate", "not an ISO-8601 timestamp"),
    ("unknown key", {"retires": 3}, "retires", "is not a known field"),
    ("unknown event type", {"type": "teleport"}, "type", "unknown event type 'teleport'"),
    ("event type not a string", {"type": 5}, "type", "must be a string"),
    ("job type, no such definition", {"type": "job"}, "event", "no job definition 'send_welcome_email'"),
    ("job type, seed spelling", {"type": "JOB"}, "event", "no job definition 'send_welcome_email'"),
    ("session without colon", {"session": "nocolon"}, "session", "'tag:token'"),
    ("session with empty tag", {"session": ":token"}, "session", "'tag:token'"),
    ("session without token", {"session": {"tag": "user-session"}}, "session.token", "is required"),
    ("session a number", {"session": 5}, "session", "valid dictionary"),
    ("session unknown key", {"session": {"tag": "t", "token": "x", "kid": 1}}, "session.kid", "not a known field"),
    ("retry maxDelay below initialDelay", {"retry": {"initialDelay": 5000, "maxDelay": 1000}}, "retry", "maxDelay"),
    ("retry initialDelay 0", {"retry": {"initialDelay": 0}}, "retry.initialDelay", "greater than or equal to 1"),
    ("retry backoff below 1", {"retryConfig": {"backoffMultiplier": 0.5}}, "retryConfig.backoffMultiplier", "1"),
    ("job_id empty", {"job_id": ""}, "job_id", "at least 1 character"),
    ("job_id too long", {"job_id": "x" * 201}, "job_id", "at most 200 characters"),
    # Checked against the product config.
    ("unknown product", {"product_tag": "nope"}, "product_tag", "not in the product config"),
    ("env not in the product", {"env": "stg"}, "env", "not one of"),
    ("env the app has no settings for", {"env": "prd"}, "env", "has no settings for env 'prd'"),
    ("unknown app", {"app": "sms-service"}, "app", "'sms-service' does not define event 'send_welcome_email'"),
    ("unknown app, typed", {"app": "sms-service", "type": "action"}, "app", "not in product"),
    ("unknown action", {"event": "launch_rocket"}, "event", "no section of product 'my-product' defines"),
    ("unknown action, typed", {"event": "launch_rocket", "type": "ACTION"}, "event", "has no action 'launch_rocket'"),
    ("no app defines the action", {"app": DROP, "event": "launch_rocket"}, "event", "no section of product"),
    ("no app defines it, typed", {"app": DROP, "event": "launch_rocket", "type": "action"}, "event", "no app of"),
    ("unknown cache tag", {"cache": "forever"}, "cache", "not defined in product"),
]


@pytest.mark.parametrize(("change", "field", "reason"), params(INVALID))
def test_invalid_job_is_refused_naming_field_and_reason(change: dict[str, Any], field: str, reason: str) -> None:
    err = refused(job(**change))
    assert err.field == field
    assert reason in err.reason
    assert str(err).startswith(f"{field}: ")
    assert (field, err.reason) == err.problems[0]


def test_action_without_app_needs_a_config() -> None:
    err = refused(job(app=DROP), config=False)
    assert err.field == "app"
    assert err.reason.startswith("is required for this action job")


@pytest.mark.parametrize("data", [[1], "job", 5, None])
def test_input_that_is_not_an_object_is_refused(data: object) -> None:
    with pytest.raises(JobInputError) as err:
        normalise_job(data)
    assert err.value.field == ""
    assert "must be an object" in err.value.reason


def test_several_problems_are_all_listed_first_one_named() -> None:
    with pytest.raises(JobInputError) as err:
        normalise_job({"input": {}})
    assert err.value.field == "env"
    assert {f for f, _ in err.value.problems} == {"env", "product_tag", "event"}


START_AT = [
    # (id, start_at, instant it parses to; None = now)
    ("zero", 0, None),
    ("absent", DROP, None),
    ("epoch ms", 1_795_424_400_000, datetime(2026, 11, 23, 9, tzinfo=UTC)),
    ("epoch ms float", 1_795_424_400_000.0, datetime(2026, 11, 23, 9, tzinfo=UTC)),
    ("epoch seconds below 10^11", 1_704_067_200, datetime(2024, 1, 1, tzinfo=UTC)),
    ("ISO with offset", "2026-11-23T10:00:00+01:00", datetime(2026, 11, 23, 9, tzinfo=UTC)),
    ("ISO with Z", "2026-11-23T09:00:00Z", datetime(2026, 11, 23, 9, tzinfo=UTC)),
    ("ISO with lowercase z", "2026-11-23T09:00:00z", datetime(2026, 11, 23, 9, tzinfo=UTC)),
    ("digit string ms", "1795424400000", datetime(2026, 11, 23, 9, tzinfo=UTC)),
    ("digit string seconds", " 1704067200 ", datetime(2024, 1, 1, tzinfo=UTC)),
    ("aware datetime", datetime(2026, 11, 23, 10, tzinfo=AMSTERDAM), datetime(2026, 11, 23, 9, tzinfo=UTC)),
    ("past ISO", "2020-01-01T00:00:00Z", datetime(2020, 1, 1, tzinfo=UTC)),
    ("seed 000 epoch seconds", 198_766_789, datetime(1976, 4, 19, 12, 59, 49, tzinfo=UTC)),
]  # fmt: skip


@pytest.mark.parametrize(("value", "instant"), params(START_AT))
def test_start_at_formats_and_when_the_job_runs(value: object, instant: datetime | None) -> None:
    if value is not DROP:
        assert parse_instant(value) == instant
    assert normalise_job(job(start_at=value)).start_at == instant
    planned = plan(job(start_at=value))
    due_now = instant is None or instant <= NOW
    assert planned.due_now is due_now
    assert planned.first_run == (NOW if due_now else instant)
    assert planned.workflow_input.start_at == (None if due_now else instant)
    assert planned.memo.scheduled_at == to_epoch_ms(planned.first_run)


@pytest.mark.parametrize("key", ["endDate", "end_date"])
def test_both_end_date_spellings_and_the_product_alias(key: str) -> None:
    data = job(product_tag=DROP, product="my-product", **every(**{key: "2027-01-01T00:00:00Z"}))
    planned = plan(data)
    assert planned.recurrence is not None
    assert planned.recurrence.end_at == datetime(2027, 1, 1, tzinfo=UTC)
    assert (planned.memo.end_date, planned.workflow_input.product) == (1_798_761_600_000, "my-product")


def test_empty_optional_objects_mean_absent() -> None:
    normalised = normalise_job(job(repeat={}, session={}, retries=DROP))
    assert (normalised.repeat, normalised.session, normalised.retries) == (None, None, 0)


@pytest.mark.parametrize(
    ("value", "tag", "token"),
    [
        ("user-session:abc", "user-session", "abc"),
        ("user-session:a.b:c", "user-session", "a.b:c"),
        ({"tag": "user-session", "token": "a.b:c"}, "user-session", "a.b:c"),
        (" user-session : t0k3n ", "user-session", "t0k3n"),
    ],
)
def test_session_string_and_object_forms(value: object, tag: str, token: str) -> None:
    session = normalise_job(job(session=value)).session
    assert session == ISession(tag=tag, token=token)
    assert token not in repr(session)
    assert token not in str(session)


def test_seed_003_quick_example_schedules_an_action_in_an_hour() -> None:
    flat = {"userId": "user_123", "email": "john@example.com"}
    data = {**ACTION, "product": "my-product", "input": flat, "retries": 3, "schedule": {"start_at": 1_795_352_400_000}}
    normalised = normalise_dispatch("actions", data)
    assert (normalised.event_type, normalised.app) == (JobEventType.ACTION, "email-service")
    assert normalised.input == flat
    planned = plan_job(normalised, now=NOW, task_queue="tq", config=CONFIG, secrets=SecretStore(SECRETS))
    assert (planned.first_run, planned.due_now, planned.recurrence) == (NOW + timedelta(hours=1), False, None)
    assert planned.workflow_input.retry.maximum_attempts == 4


@pytest.mark.parametrize(
    ("namespace", "data", "event"),
    [
        ("workflows", {"workflow": "daily_report", "schedule": {"cron": "0 9 * * *", "tz": "America/New_York"}},
         "daily_report"),
        ("database", {"database": "inventory-db", "operation": "insert", "schedule": {"every": 86_400_000}}, "insert"),
        ("storage", {"storage": "files", "event": "upload"}, "upload"),
        ("graphs", {"graph": "social", "operation": "query", "schedule": {}}, "query"),
        ("notifications", {"notification": "order", "event": "shipped"}, "shipped"),
        ("events", {"broker": "kafka", "event": "user.created"}, "user.created"),
    ],
)  # fmt: skip
def test_seed_003_dispatch_shapes_validate(namespace: str, data: dict[str, Any], event: str) -> None:
    normalised = normalise_dispatch(namespace, {"env": "prd", "product": "p", "input": {}, "retries": 2, **data})
    assert normalised.event == event
    schedule = data.get("schedule", {})
    assert (normalised.repeat is not None) == ("cron" in schedule or "every" in schedule)


DISPATCH_INVALID = [
    # (id, namespace, mutation, field, reason)
    ("schedule limit 0", "actions", {"schedule": {"limit": 0, "every": 1000}}, "schedule.limit", "greater than"),
    ("schedule without cron or every", "actions", {"schedule": {"limit": 2}}, "schedule", "needs either"),
    ("schedule every 2500", "actions", {"schedule": {"every": 2500}}, "schedule.every", "whole number of seconds"),
    ("schedule bad zone", "actions", {"schedule": {"cron": "0 9 * * *", "tz": "Mars/Olympus"}}, "schedule.tz",
     "unknown time zone"),
    ("schedule start_at garbage", "actions", {"schedule": {"start_at": "tomorrow"}}, "schedule.start_at", "ISO-8601"),
    ("schedule unknown key", "actions", {"schedule": {"colour": 1}}, "schedule.colour", "not a known field"),
    ("action without app", "actions", {"app": DROP}, "app", "is required"),
    ("storage with both", "storage", {"storage": "s", "operation": "upload"}, "", ONE_TARGET),
    ("storage with neither", "storage", {"storage": "s", "event": DROP}, "", ONE_TARGET),
    ("database with neither", "database", {"database": "d", "event": DROP}, "", ONE_TARGET),
    ("graph with both", "graphs", {"graph": "g", "operation": "q"}, "", ONE_TARGET),
    ("unknown namespace", "teleport", {}, "namespace", "unknown dispatch namespace"),
    ("schedule bad cron", "actions", {"schedule": {"cron": "61 * * * *"}}, "schedule.cron", "minute field"),
    ("schedule endDate past", "actions", {"schedule": {"every": 60_000, "endDate": "2026-01-01T00:00:00Z"}},
     "schedule.endDate", "must be after the start"),
    ("schedule endDate garbage", "actions", {"schedule": {"every": 1000, "endDate": "x"}}, "schedule.endDate",
     "ISO-8601"),
    ("schedule limit a bool", "actions", {"schedule": {"every": 1000, "limit": True}}, "schedule.limit",
     "whole number of runs"),
]  # fmt: skip


@pytest.mark.parametrize(("namespace", "change", "field", "reason"), params(DISPATCH_INVALID))
def test_invalid_dispatch_is_refused(namespace: str, change: dict[str, Any], field: str, reason: str) -> None:
    data = {**ACTION, "product": "my-product", **({"app": DROP} if namespace != "actions" else {}), **change}

    def dispatch() -> JobPlan:
        normalised = normalise_dispatch(namespace, {k: v for k, v in data.items() if v is not DROP})
        return plan_job(normalised, now=NOW, task_queue="tq", config=CONFIG, secrets=None)

    with pytest.raises(JobInputError) as err:
        dispatch()
    assert err.value.field == field
    assert reason in err.value.reason


@pytest.mark.parametrize(("key", "retries"), [("retry", 0), ("retryConfig", 4), ("retry", 1000)])
def test_retries_and_retry_config_reach_the_workflow(key: str, retries: int) -> None:
    retry = {"initialDelay": 500, "maxDelay": 8000, "backoffMultiplier": 3, "nonRetryableErrors": ["CONFLICT"]}
    planned = plan(job(retries=retries, **{key: retry}))
    settings = planned.workflow_input.retry
    assert (settings.maximum_attempts, planned.memo.retries) == (retries + 1, retries)
    assert (settings.initial_delay_ms, settings.max_delay_ms, settings.backoff_multiplier) == (500, 8000, 3.0)
    assert settings.non_retryable_errors == ["CONFLICT"]
    assert settings.retryable_errors is None


def _ulid_ms(ulid: str) -> int:
    return sum(CROCKFORD.index(c) << (5 * (9 - i)) for i, c in enumerate(ulid[:10]))


def test_job_ids_are_readable_unique_and_time_ordered() -> None:
    first, second = plan(job()), plan(job(), now=NOW + timedelta(milliseconds=1))
    pattern = r"job:my-product:dev:send_welcome_email:[0-9A-HJKMNP-TV-Z]{26}"
    assert all(re.fullmatch(pattern, p.job_id) for p in (first, second))
    assert first.job_id < second.job_id
    assert _ulid_ms(first.job_id[-26:]) == to_epoch_ms(NOW)
    assert plan(job()).job_id != first.job_id
    assert not first.caller_chose_id
    chosen = plan(job(job_id="order-42-welcome"))
    assert (chosen.job_id, chosen.workflow_input.job_id, chosen.caller_chose_id) == ("order-42-welcome",) * 2 + (True,)


def test_summary_and_search_attributes() -> None:
    planned = plan(job())
    assert planned.summary == "action email-service/send_welcome_email · my-product/dev"
    keys = (names.PRODUCT, names.ENV, names.EVENT_TYPE, names.EVENT, names.APP, names.SCHEDULED_AT)
    assert [planned.search_attributes.get(key) for key in keys] == [
        "my-product", "dev", "action", "send_welcome_email", "email-service", NOW
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("repeat", "suffix"),
    [
        ({"cron": "0 9 * * 1", "tz": "Europe/Amsterdam", "limit": 10}, " · cron 0 9 * * 1 Europe/Amsterdam · 10x"),
        ({"every": 86_400_000}, " · every 1d"),
        ({"every": 90_000}, " · every 90s"),
        ({"every": 600_000, "limit": 3}, " · every 10min · 3x"),
    ],
)
def test_recurring_jobs_run_each_time_at_once(repeat: dict[str, Any], suffix: str) -> None:
    planned = plan(job(start_at="2026-11-23T09:00:00Z", repeat=repeat))
    assert planned.summary == "action email-service/send_welcome_email · my-product/dev" + suffix
    assert (planned.workflow_input.start_at, planned.first_run) == (None, datetime(2026, 11, 23, 9, tzinfo=UTC))
    assert planned.recurrence is not None
    assert planned.recurrence.time_zone == repeat.get("tz", "UTC")
    assert (planned.memo.recurring, planned.memo.limit) == (True, repeat.get("limit"))


def test_app_is_inferred_from_the_config() -> None:
    planned = plan(job(app=DROP))
    assert planned.workflow_input.app == "email-service"
    assert planned.search_attributes.get(names.APP) == "email-service"
