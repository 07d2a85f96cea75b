"""Rate limits at planning: which target's queue a job waits on (the action's own limit, else its
app's), no arming ahead for a limited job, the Web UI's summary, and config errors naming the key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

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
