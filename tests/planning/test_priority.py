"""Priority and fair shares at planning: where each setting comes from (the job, its action, its app,
the product), a fairness key read from the input, and field-named errors before anything starts."""

from __future__ import annotations

from typing import Any

import pytest

from ductape_jobs import JobInputError
from ductape_jobs.activities.config.product_config import parse_product_config
from ductape_jobs.planning.plan import JobPlanner
from ductape_jobs.planning.priority import MAX_FAIRNESS_KEY_BYTES

CONFIG = parse_product_config({"products": {"shop": {
    "envs": ["dev"],
    "apps": {
        "billing": {
            "envs": {"dev": {"base_url": "http://127.0.0.1:9"}},
            "priority": 4, "fairness_key": "$Input{body.tenant}",
            "actions": {
                "invoice": {"path": "/invoice", "priority": 1, "fairness_weight": 2.5},
                "refund": {"path": "/refund"},
            },
        },
        "mail": {"envs": {"dev": {"base_url": "http://127.0.0.1:9"}}, "actions": {"send": {"path": "/send"}}},
    },
}}})  # fmt: skip
PLANNER = JobPlanner(task_queue="tq", config=CONFIG)


def job(app: str = "mail", event: str = "send", **fields: Any) -> dict[str, Any]:
    body = {"tenant": "acme", "n": 7, "tags": ["a"], "deep": {"x": [{"y": "z"}]}}
    return {"product_tag": "shop", "env": "dev", "app": app, "event": event, "input": {"body": body}} | fields


def test_a_job_without_settings_shares_by_product_at_the_default_priority() -> None:
    plan = PLANNER.plan(None, job())
    given = plan.priority
    assert (given.priority_key, given.fairness_key, given.fairness_weight) == (None, "shop", None)
    assert "priority" not in plan.summary
    assert "fair share" not in plan.summary


def test_the_job_beats_its_action_which_beats_its_app() -> None:
    action = PLANNER.plan(None, job("billing", "invoice")).priority
    assert (action.priority_key, action.fairness_key, action.fairness_weight) == (1, "acme", 2.5)
    app = PLANNER.plan(None, job("billing", "refund")).priority
    assert (app.priority_key, app.fairness_key, app.fairness_weight) == (4, "acme", None)
    own = PLANNER.plan(None, job("billing", "invoice", priority=5, fairness_key="vip", fairness_weight=1)).priority
    assert (own.priority_key, own.fairness_key, own.fairness_weight) == (5, "vip", 1)


def test_the_summary_shows_what_differs_from_the_defaults() -> None:
    plan = PLANNER.plan(None, job("billing", "invoice"))
    assert plan.summary.endswith(" · priority 1 · fair share acme ×2.5")


@pytest.mark.parametrize(
    ("template", "key"),
    [
        ("$Input{body.tenant}", "acme"),
        ("$Input{body}{tenant}", "acme"),
        ("tenant-$Input{body.n}", "tenant-7"),
        ("$Input{body}{tags}[0]", "a"),
        ("$Input{body.deep.x[0].y}", "z"),
        ("plain", "plain"),
    ],
)
def test_a_fairness_key_reads_the_input(template: str, key: str) -> None:
    assert PLANNER.plan(None, job(fairness_key=template)).priority.fairness_key == key


@pytest.mark.parametrize(
    ("fields", "field", "reason"),
    [
        ({"priority": 0}, "priority", "greater than or equal to 1"),
        ({"priority": 6}, "priority", "less than or equal to 5"),
        ({"priority": True}, "priority", "valid integer"),
        ({"priority": "1"}, "priority", "valid integer"),
        ({"fairness_weight": 0}, "fairness_weight", "greater than 0"),
        ({"fairness_key": ""}, "fairness_key", "at least 1 character"),
        ({"fairness_key": "$Input{body.missing}"}, "fairness_key", "$Input{body.missing} is not in the job's input"),
        ({"fairness_key": "$Input{body.deep}"}, "fairness_key", "must name text or a number, not dict"),
        ({"fairness_key": "$Session{user}{id}"}, "fairness_key", "stored in clear"),
        ({"fairness_key": "x" * (MAX_FAIRNESS_KEY_BYTES + 1)}, "fairness_key", f"at most {MAX_FAIRNESS_KEY_BYTES}"),
    ],
)
def test_bad_settings_name_the_field_before_anything_starts(fields: dict[str, Any], field: str, reason: str) -> None:
    with pytest.raises(JobInputError) as error:
        PLANNER.plan(None, job(**fields))
    assert [f for f, _ in error.value.problems] == [field]
    assert reason in error.value.problems[0][1]


def test_a_key_from_the_app_that_the_input_lacks_names_where_it_came_from() -> None:
    with pytest.raises(JobInputError) as error:
        PLANNER.plan(None, job("billing", "refund", input={"body": {}}))
    assert error.value.problems[0][0] == "fairness_key (of app billing in the product config)"


def test_dispatch_takes_the_same_settings() -> None:
    plan = PLANNER.plan("actions", {"product": "shop", "env": "dev", "app": "mail", "event": "send",
                                    "input": {"body": {"tenant": "t1"}}, "priority": 2,
                                    "fairness_key": "$Input{body.tenant}"})  # fmt: skip
    assert (plan.priority.priority_key, plan.priority.fairness_key) == (2, "t1")


def test_the_config_refuses_a_bad_priority_naming_its_place() -> None:
    with pytest.raises(ValueError, match=r"apps\.a\.priority"):
        parse_product_config({"products": {"p": {"envs": ["dev"], "apps": {"a": {"envs": {}, "priority": 9}}}}})
