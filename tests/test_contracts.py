"""Input validation: every malformed seed shape raises one JobInputError naming the field and the reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from activities.secrets import SecretStore
from activities.session_tokens import issue_session_token
from starter.job_plan import JobPlan, normalise_dispatch, normalise_job, plan_job
from tests.conftest import SECRETS, SESSION_KEY, product_config_for
from workflows import names
from workflows.contracts import ISession, JobInputError, parse_instant

NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)
CONFIG = product_config_for("http://127.0.0.1:9")


def job(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "product_tag": "my-product",
        "env": "dev",
        "app": "email-service",
        "event": "send_welcome_email",
        "input": {},
        "retries": 2,
        "start_at": 0,
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not ...}


def plan(data: dict[str, Any], *, config: bool = True, now: datetime = NOW) -> JobPlan:
    return plan_job(
        normalise_job(data),
        now=now,
        task_queue="tq",
        config=CONFIG if config else None,
        secrets=SecretStore(SECRETS) if config else None,
    )


INVALID: list[tuple[str, dict[str, Any], str, str]] = [
    ("missing product_tag", {"product_tag": ...}, "product_tag", "is required"),
    ("missing env", {"env": ...}, "env", "is required"),
    ("missing event", {"event": ...}, "event", "is required"),
    ("missing input", {"input": ...}, "input", "is required"),
    ("env not a string", {"env": 5}, "env", "valid string"),
    ("input a list", {"input": [1]}, "input", "valid dictionary"),
    ("retries a string", {"retries": "3"}, "retries", "whole number"),
    ("retries a bool", {"retries": True}, "retries", "whole number"),
    ("retries a fraction", {"retries": 1.5}, "retries", "whole number"),
    ("negative retries", {"retries": -1}, "retries", "greater than or equal to 0"),
    ("start_at a bool", {"start_at": True}, "start_at", "boolean"),
    ("start_at a list", {"start_at": [1]}, "start_at", "epoch milliseconds"),
    ("start_at negative", {"start_at": -5}, "start_at", "negative"),
    ("start_at without offset", {"start_at": "2026-12-01T10:00:00"}, "start_at", "no UTC offset"),
    ("start_at garbage", {"start_at": "tomorrow"}, "start_at", "not an ISO-8601"),
    ("repeat a string", {"repeat": "daily"}, "repeat", "valid dictionary"),
    ("repeat without cron or every", {"repeat": {"limit": 3}}, "repeat", "either `cron` or `every`"),
    ("repeat with both", {"repeat": {"cron": "0 * * * *", "every": 1000}}, "repeat", "not both"),
    ("every zero", {"repeat": {"every": 0}}, "repeat.every", "greater than 0"),
    ("every not whole seconds", {"repeat": {"every": 2500}}, "repeat.every", "whole number of seconds"),
    ("limit zero", {"repeat": {"every": 1000, "limit": 0}}, "repeat.limit", "greater than or equal to 1"),
    ("unknown zone", {"repeat": {"cron": "0 9 * * *", "tz": "Mars/Olympus"}}, "repeat.tz", "unknown time zone"),
    (
        "endDate before start_at",
        {"start_at": "2026-12-10T00:00:00Z", "repeat": {"every": 60_000, "endDate": "2026-12-01T00:00:00Z"}},
        "repeat.endDate",
        "must be after",
    ),
    ("unknown key", {"retires": 3}, "retires", "is not a known field"),
    ("unknown event type", {"type": "teleport"}, "type", "unknown event type"),
    ("session without colon", {"session": "nocolon"}, "session", "tag:token"),
    ("session without token", {"session": {"tag": "user-session"}}, "session.token", "is required"),
]


@pytest.mark.parametrize(("change", "field", "reason"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_malformed_job_is_refused_naming_field_and_reason(change: dict[str, Any], field: str, reason: str) -> None:
    with pytest.raises(JobInputError) as err:
        plan(job(**change))
    assert err.value.field == field
    assert reason in err.value.reason


CHECKED_AT_PLAN: list[tuple[str, dict[str, Any], str, str]] = [
    ("invalid cron minute", {"repeat": {"cron": "61 * * * *"}}, "repeat.cron", "minute field"),
    ("cron with 3 fields", {"repeat": {"cron": "* * *"}}, "repeat.cron", "needs 5 fields"),
    ("backwards range", {"repeat": {"cron": "0 0 5-2 * *"}}, "repeat.cron", "runs backwards"),
    ("unknown macro", {"repeat": {"cron": "@sometimes"}}, "repeat.cron", "unknown macro"),
    ("cron with a sixth Monday", {"repeat": {"cron": "0 9 * * MON#6"}}, "repeat.cron", "outside 1-5"),
    ("cron with a bare L weekday", {"repeat": {"cron": "0 0 * * L"}}, "repeat.cron", "`L` needs a day"),
    ("endDate already past", {"repeat": {"every": 1000, "endDate": "2026-01-01T00:00:00Z"}}, "repeat.endDate", "after"),
    ("not yet supported type", {"type": "notification"}, "type", "not supported yet"),
    ("unknown product", {"product_tag": "nope"}, "product_tag", "not in the product config"),
    ("env not in product", {"env": "stg"}, "env", "not one of"),
    ("unknown app", {"app": "sms-service"}, "app", "not in product"),
    ("unknown action", {"event": "launch_rocket"}, "event", "has no action"),
]


@pytest.mark.parametrize(
    ("change", "field", "reason"), [c[1:] for c in CHECKED_AT_PLAN], ids=[c[0] for c in CHECKED_AT_PLAN]
)
def test_job_checked_against_clock_cron_and_config(change: dict[str, Any], field: str, reason: str) -> None:
    with pytest.raises(JobInputError) as err:
        plan(job(**change))
    assert err.value.field == field
    assert reason in err.value.reason


def test_action_without_app_and_without_config_is_refused() -> None:
    with pytest.raises(JobInputError) as err:
        plan(job(app=...), config=False)
    assert err.value.field == "app"


def test_app_is_found_in_the_config_when_only_the_event_is_given() -> None:
    assert plan(job(app=...)).workflow_input.app == "email-service"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, None),
        (1_795_000_000_000, datetime(2026, 11, 18, 11, 6, 40, tzinfo=UTC)),
        (1_704_067_200, datetime(2024, 1, 1, tzinfo=UTC)),
        ("2026-11-23T10:00:00+01:00", datetime(2026, 11, 23, 9, tzinfo=UTC)),
        ("2026-11-23T09:00:00Z", datetime(2026, 11, 23, 9, tzinfo=UTC)),
        ("1704067200000", datetime(2024, 1, 1, tzinfo=UTC)),
        (datetime(2026, 11, 23, 9, tzinfo=UTC), datetime(2026, 11, 23, 9, tzinfo=UTC)),
    ],
)
def test_start_at_formats(value: object, expected: datetime | None) -> None:
    assert parse_instant(value) == expected


def test_future_one_off_sleeps_until_start_and_past_or_zero_runs_now() -> None:
    future = plan(job(start_at="2026-11-23T09:00:00Z"))
    assert future.workflow_input.start_at == datetime(2026, 11, 23, 9, tzinfo=UTC)
    assert not future.due_now
    for start in (0, "2020-01-01T00:00:00Z", 198_766_789):  # seed 000's example is epoch seconds in 1976
        now_job = plan(job(start_at=start))
        assert now_job.due_now
        assert now_job.workflow_input.start_at is None
        assert now_job.first_run == NOW


def test_both_end_date_spellings_and_product_alias() -> None:
    for key in ("endDate", "end_date"):
        data = job(product_tag=..., product="my-product", repeat={"every": 60_000, key: "2027-01-01T00:00:00Z"})
        recurrence = plan(data).recurrence
        assert recurrence is not None
        assert recurrence.end_at == datetime(2027, 1, 1, tzinfo=UTC)


def test_session_string_and_object_forms() -> None:
    assert ISession.model_validate("user-session:a.b:c") == ISession(tag="user-session", token="a.b:c")
    assert ISession.model_validate({"tag": "t", "token": "x"}).token == "x"
    assert "a.b" not in repr(ISession(tag="t", token="a.b.secret"))


def test_retry_settings_and_aliases_reach_the_workflow() -> None:
    retry = {"initialDelay": 500, "maxDelay": 8000, "backoffMultiplier": 3, "nonRetryableErrors": ["CONFLICT"]}
    for key in ("retry", "retryConfig"):
        settings = plan(job(retries=4, **{key: retry})).workflow_input.retry
        assert settings.maximum_attempts == 5
        assert (settings.initial_delay_ms, settings.max_delay_ms, settings.backoff_multiplier) == (500, 8000, 3)
        assert settings.non_retryable_errors == ["CONFLICT"]
    with pytest.raises(JobInputError) as err:
        plan(job(retry={"initialDelay": 5000, "maxDelay": 1000}))
    assert err.value.field == "retry"


def test_ids_summary_and_search_attributes() -> None:
    first, second = plan(job()), plan(job())
    prefix = "job:my-product:dev:send_welcome_email:"
    assert first.job_id.startswith(prefix)
    assert len(first.job_id) == len(prefix) + 26
    assert first.job_id != second.job_id
    assert plan(job(job_id="order-42-welcome")).job_id == "order-42-welcome"
    assert first.summary == "action email-service/send_welcome_email · my-product/dev"
    attributes = first.search_attributes
    assert attributes.get(names.PRODUCT) == "my-product"
    assert attributes.get(names.ENV) == "dev"
    assert attributes.get(names.EVENT_TYPE) == "action"
    assert attributes.get(names.EVENT) == "send_welcome_email"
    assert attributes.get(names.APP) == "email-service"
    recurring = plan(job(repeat={"cron": "0 9 * * 1", "tz": "Europe/Amsterdam", "limit": 10}))
    assert recurring.summary.endswith("· cron 0 9 * * 1 Europe/Amsterdam · 10x")
    assert recurring.workflow_input.start_at is None


def test_seed_003_dispatch_examples_validate() -> None:
    action = normalise_dispatch(
        "actions",
        {
            "env": "prd",
            "product": "my-app",
            "app": "email-service",
            "event": "send_welcome_email",
            "input": {"userId": "user_123", "email": "john@example.com"},
            "retries": 3,
            "schedule": {"start_at": 1_795_000_000_000},
        },
    )
    assert action.app == "email-service"
    assert action.start_at is not None
    database = normalise_dispatch(
        "database",
        {
            "env": "prd",
            "product": "sync",
            "database": "inventory-db",
            "operation": "insert",
            "input": {"table": "sync_logs", "data": {"started_at": "$Now()"}},
            "schedule": {"every": 86_400_000},
        },
    )
    assert database.event == "insert"
    assert database.repeat is not None


@pytest.mark.parametrize(
    ("namespace", "data", "field"),
    [
        ("actions", {"app": "a", "event": "e", "schedule": {"every": 1000, "limit": 0}}, "schedule.limit"),
        ("actions", {"app": "a", "event": "e", "schedule": {"limit": 2}}, "schedule"),
        ("storage", {"storage": "s", "event": "e", "operation": "upload"}, ""),
        ("database", {"database": "d"}, ""),
        ("graphs", {"graph": "g"}, ""),
        ("actions", {"event": "e"}, "app"),
        ("teleport", {}, "namespace"),
    ],
)
def test_dispatch_errors(namespace: str, data: dict[str, Any], field: str) -> None:
    with pytest.raises(JobInputError) as err:
        normalise_dispatch(namespace, {"env": "dev", "product": "p", **data})
    assert err.value.field == field


def test_session_is_verified_at_dispatch() -> None:
    real_now = datetime.now(UTC)

    def token(**kw: Any) -> str:
        args: dict[str, Any] = {"tag": "user-session", "data": {"id": 1}, "key": SESSION_KEY, "now": real_now} | kw
        return issue_session_token(**args)

    plan(job(session={"tag": "user-session", "token": token()}), now=real_now)
    refused = {
        "expired": token(now=real_now - timedelta(hours=3)),
        "other key": token(key="not-the-key-at-all-0123456789"),
        "other tag": token(tag="admin-session"),
    }
    for case, bad in refused.items():
        with pytest.raises(JobInputError) as err:
            plan(job(session=f"user-session:{bad}"), now=real_now)
        assert err.value.field == "session", case
        assert bad not in str(err.value)
    # Without the key, a client still refuses what it can see: expiry and tag, not the signature.
    with pytest.raises(JobInputError):
        plan(job(session=f"user-session:{refused['expired']}"), config=False, now=real_now)
    plan(job(session=f"user-session:{refused['other key']}"), config=False, now=real_now)
