"""Rate limits and concurrency limits at planning: which target's queue a job waits on (the action's own limit, else its
app's), no arming ahead for a limited job, the Web UI's summary, and config errors naming the key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ductape_jobs import JobInputError
from ductape_jobs.activities.config.product_config import parse_product_config
from ductape_jobs.planning.plan import JobPlanner

CONFIG = parse_product_config({"products": {"shop": {
    "envs": ["dev", "prd"],
    "apps": {
        "partner": {
            "envs": {"dev": {"base_url": "http://127.0.0.1:9"}, "prd": {"base_url": "http://127.0.0.1:8"}},
            "rate_limit": {"per_second": 20},
            "actions": {"sync": {"path": "/sync"}, "export": {"path": "/export", "rate_limit": {"per_minute": 6}}},
        },
        "mail": {"envs": {"dev": {"base_url": "http://127.0.0.1:9"}}, "actions": {"send": {"path": "/send"}}},
    },
}}})  # fmt: skip
PLANNER = JobPlanner(task_queue="jobs", config=CONFIG)


def job(app: str, event: str, env: str = "dev", **fields: Any) -> dict[str, Any]:
    return {"product_tag": "shop", "env": env, "app": app, "event": event, "input": {}} | fields


def test_each_limited_target_has_its_own_queue_and_an_unlimited_one_none() -> None:
    assert PLANNER.plan(None, job("partner", "sync")).workflow_input.event_task_queue == "jobs@rate:shop/dev/partner"
    assert PLANNER.plan(None, job("partner", "sync", "prd")).workflow_input.event_task_queue == (
        "jobs@rate:shop/prd/partner"
    )
    assert PLANNER.plan(None, job("partner", "export")).workflow_input.event_task_queue == (
        "jobs@rate:shop/dev/partner/export"
    )
    assert PLANNER.plan(None, job("mail", "send")).workflow_input.event_task_queue is None


def test_the_worker_polls_every_limited_queue_at_its_rate() -> None:
    assert CONFIG.rate_limited_queues("jobs") == {
        "jobs@rate:shop/dev/partner": 20, "jobs@rate:shop/prd/partner": 20,
        "jobs@rate:shop/dev/partner/export": 0.1, "jobs@rate:shop/prd/partner/export": 0.1,
    }  # fmt: skip


def test_a_limited_job_is_not_armed_and_says_so_in_its_summary() -> None:
    later = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    limited = PLANNER.plan(None, job("partner", "export", start_at=later))
    assert limited.workflow_input.arm_lead_ms is None
    assert limited.summary.endswith("· rate limited 6/min")
    assert PLANNER.plan(None, job("mail", "send", start_at=later)).workflow_input.arm_lead_ms is not None
    recurring = PLANNER.plan(None, job("partner", "sync", repeat={"cron": "0 * * * *"}))
    assert recurring.memo.arm_shift_s is None  # its runs are never armed either


@pytest.mark.parametrize(
    ("limit", "reason"),
    [
        ({}, "exactly one of `per_second` or `per_minute`"),
        ({"per_second": 1, "per_minute": 60}, "exactly one of `per_second` or `per_minute`"),
        ({"per_second": 0}, "greater than 0"),
        ({"per_second": 10, "burst": 5}, "`burst` cannot be set"),
    ],
)
def test_a_bad_limit_is_refused_naming_its_key(limit: dict[str, Any], reason: str) -> None:
    with pytest.raises(ValueError, match=r"products\.p\.apps\.a\.rate_limit") as error:
        parse_product_config({"products": {"p": {"envs": ["dev"], "apps": {"a": {"envs": {}, "rate_limit": limit}}}}})
    assert reason in str(error.value)


KEYED = parse_product_config({"products": {"shop": {
    "envs": ["dev"],
    "apps": {"users": {
        "envs": {"dev": {"base_url": "http://127.0.0.1:9"}},
        "concurrency": {"limit": 5},
        "actions": {"sync": {"path": "/s", "concurrency": {"key": "$Input{body.user}", "limit": 1}},
                    "export": {"path": "/e"}},
    }},
}}})  # fmt: skip
KEYED_PLANNER = JobPlanner(task_queue="jobs", config=KEYED)


def keyed(event: str, user: str = "ann", **fields: Any) -> dict[str, Any]:
    return {
        "product_tag": "shop",
        "env": "dev",
        "app": "users",
        "event": event,
        "input": {"body": {"user": user}},
    } | fields


def test_a_concurrency_key_names_one_keeper_per_value_without_showing_the_value() -> None:
    ann, bob = (KEYED_PLANNER.plan(None, keyed("sync", u)).workflow_input.concurrency for u in ("ann", "bob"))
    assert ann is not None
    assert bob is not None
    assert (ann.limit, ann.key_class) == (1, "$Input{body.user}")
    assert ann.slots_id != bob.slots_id
    assert ann.slots_id.startswith("slots:shop:dev:")
    assert "ann" not in ann.slots_id
    assert ann == KEYED_PLANNER.plan(None, keyed("sync", "ann")).workflow_input.concurrency  # one keeper per value


def test_an_app_limit_without_a_key_is_one_line_for_the_whole_event_and_a_job_may_set_its_own() -> None:
    export = KEYED_PLANNER.plan(None, keyed("export"))
    assert export.workflow_input.concurrency is not None
    assert (export.workflow_input.concurrency.limit, export.workflow_input.concurrency.key_class) == (5, "users/export")
    assert export.summary.endswith("· at most 5 per users/export")
    assert export.workflow_input.arm_lead_ms is None
    own = KEYED_PLANNER.plan(None, keyed("export", concurrency={"key": "tenant-$Input{body.user}", "limit": 3}))
    assert own.workflow_input.concurrency is not None
    assert (own.workflow_input.concurrency.limit, own.workflow_input.concurrency.key_class) == (
        3,
        "tenant-$Input{body.user}",
    )


@pytest.mark.parametrize(
    ("concurrency", "field", "reason"),
    [
        ({"limit": 0}, "concurrency.limit", "greater than or equal to 1"),
        ({"key": "x"}, "concurrency.limit", "is required"),
        ({"key": "$Input{body.missing}", "limit": 1}, "concurrency.key", "is not in the job's input"),
    ],
)
def test_a_bad_concurrency_is_refused_naming_the_field(concurrency: dict[str, Any], field: str, reason: str) -> None:
    with pytest.raises(JobInputError) as error:
        KEYED_PLANNER.plan(None, keyed("export", concurrency=concurrency))
    assert [f for f, _ in error.value.problems] == [field]
    assert reason in error.value.problems[0][1]


@pytest.mark.parametrize(
    ("fields", "field", "reason"),
    [
        ({"repeat": {"cron": "0 * * * *"}}, "debounce", "applies to one-off jobs"),
        ({"start_at": "2030-01-01T00:00:00Z"}, "start_at", "its window decides when it runs"),
        ({"debounce": {"key": "$Input{body.nobody}", "period_ms": 10}}, "debounce.key", "is not in the job's input"),
        ({"debounce": {"period_ms": 0}}, "debounce.period_ms", "greater than or equal to 1"),
    ],
)
def test_a_bad_debounce_is_refused_naming_the_field(fields: dict[str, Any], field: str, reason: str) -> None:
    data = keyed("export") | {"debounce": {"key": "$Input{body.user}", "period_ms": 500}} | fields
    with pytest.raises(JobInputError) as error:
        KEYED_PLANNER.plan(None, data)
    assert [f for f, _ in error.value.problems] == [field]
    assert reason in error.value.problems[0][1]


def test_one_debounce_window_per_key_value() -> None:
    plans = [KEYED_PLANNER.plan(None, keyed("export", u, debounce={"key": "$Input{body.user}", "period_ms": 500}))
             for u in ("ann", "ann", "bob")]  # fmt: skip
    ids = [p.debounce.window_id if p.debounce else None for p in plans]
    assert ids[0] == ids[1] != ids[2]
    assert all(i is not None and i.startswith("debounce:shop:dev:") and "ann" not in i for i in ids)
    assert plans[0].workflow_input.arm_lead_ms is None
