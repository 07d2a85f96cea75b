"""The event type of a job that gives none: looked up in every section of the product config, or read
from the input's shape without one (``ductape_jobs.planning.event_inference``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from ductape_jobs.activities.config.product_config import ProductConfig, parse_product_config
from ductape_jobs.planning.plan import JobPlan, JobPlanner
from ductape_jobs.workflows.contracts.job import JobEventType, JobInputError
from tests.conftest import product_config_for

NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)
SEED_NOTIFICATION = {
    "slug": "order_update",
    "push_notification": {
        "title": {"en": "Order Shipped"},
        "body": {"en": "Your order #12345 has been shipped!"},
        "data": {"trackingId": "XYZ987"},
        "device_token": "abcdef123456",
    },
}
"""Seed 000's input, as written."""


def sectioned_config() -> ProductConfig:
    """One product defining events in every section, some tags twice on purpose."""
    data = product_config_for("http://127.0.0.1:9").model_dump(mode="json", exclude_defaults=True)
    push = {"push": {"url": "http://127.0.0.1:9/fcm", "token": "t"}}
    data["products"]["my-product"] |= {
        "notifications": {
            "order_update": {"envs": {"dev": push}, "messages": {"send_notification": {}, "shared": {}}},
            "billing": {"envs": {"dev": push}, "messages": {"send_notification": {}}},
        },
        "databases": {
            "inventory-db": {"envs": {"dev": {"url": "sqlite+aiosqlite:///x.db"}},
                             "actions": {"log_sync": {"operation": "insert", "table": "sync_logs"}}},
        },
        "storage": {"files": {"envs": {"dev": {"backend": "local", "root": "/tmp/x"}},
                              "actions": {"save_avatar": {"operation": "upload"}}}},
        "brokers": {"bus": {"envs": {"dev": {"kind": "redis", "url": "redis://127.0.0.1:6379/0"}},
                            "events": {"order_created": {"topic": "orders"},
                                       "orders_in": {"topic": "orders", "target": {"app": "email-service",
                                                                                    "event": "send_welcome_email"}}}}},
        "graphs": {"social": {"envs": {"dev": {"kind": "falkordb", "url": "redis://127.0.0.1:6380", "graph": "g"}},
                              "actions": {"friends_of": {"query": "MATCH (n) RETURN n"}}}},
        "functions": {"greet": {"handler": "tests.support.routing_targets:greet"}, "shared": {"url": "http://127.0.0.1:9/f"}},
        "features": {"onboarding": {"workflow": "tests.support.routing_targets:OnboardingWorkflow"}},
        "fallbacks": {"welcome": {"options": [{"type": "action", "event": "send_welcome_email"}]}},
        "quotas": {"spread": {"options": [{"type": "action", "event": "send_welcome_email"}]}},
        "jobs": {"nightly": {"name": "Nightly", "event_type": "FUNCTION", "event_tag": "greet", "intervals": 60000,
                             "input": {"payload": {"name": "Ada"}}}},
    }  # fmt: skip
    return parse_product_config(data)


PLANNER = JobPlanner(task_queue="tq", config=sectioned_config(), clock=lambda: NOW)
BARE = JobPlanner(task_queue="tq", clock=lambda: NOW)


def job(event: str, input: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    return {"product_tag": "my-product", "env": "dev", "event": event, "input": input or {}} | fields


def planned(planner: JobPlanner, data: dict[str, Any]) -> tuple[JobEventType, str | None, JobPlan]:
    plan = planner.plan(None, data)
    return plan.workflow_input.event_type, plan.workflow_input.app, plan


def refused(planner: JobPlanner, data: dict[str, Any]) -> JobInputError:
    with pytest.raises(JobInputError) as err:
        planner.plan(None, data)
    return err.value


FOUND = [
    # (id, event, input, type, component)
    ("app action", "send_welcome_email", {}, JobEventType.ACTION, "email-service"),
    ("notification named by its slug", "send_notification", SEED_NOTIFICATION, JobEventType.NOTIFICATION,
     "order_update"),
    ("database action", "log_sync", {"data": {"status": "ok"}}, JobEventType.DB_ACTION, "inventory-db"),
    ("storage action", "save_avatar", {"fileName": "a.txt", "text": "hi"}, JobEventType.STORAGE, "files"),
    ("broker event", "order_created", {"message": {}}, JobEventType.PUBLISH, "bus"),
    ("graph action", "friends_of", {"params": {}}, JobEventType.GRAPH, "social"),
    ("function", "greet", {"payload": {"name": "Ada"}}, JobEventType.FUNCTION, None),
    ("feature", "onboarding", {"user": "u-1"}, JobEventType.FEATURE, None),
    ("fallback", "welcome", {}, JobEventType.FALLBACK, None),
    ("quota", "spread", {}, JobEventType.QUOTA, None),
]  # fmt: skip


@pytest.mark.parametrize(("event", "data", "kind", "component"), [pytest.param(*row[1:], id=row[0]) for row in FOUND])
def test_one_match_in_the_config_gives_the_type_and_its_component(
    event: str, data: dict[str, Any], kind: JobEventType, component: str | None
) -> None:
    found, app, plan = planned(PLANNER, job(event, data))
    assert (found, app) == (kind, component)
    assert plan.memo.event_type is kind


def test_a_job_definition_of_the_config_runs_its_event() -> None:
    found, app, plan = planned(PLANNER, job("nightly"))
    assert (found, app) == (JobEventType.FUNCTION, None)
    assert plan.workflow_input.event == "greet"
    assert plan.workflow_input.input == {"payload": {"name": "Ada"}}  # the definition's, the job gave none


@pytest.mark.parametrize(
    ("event", "data", "listed"),
    [
        ("send_notification", {"push_notification": SEED_NOTIFICATION["push_notification"]},
         ["notification order_update/send_notification", "notification billing/send_notification"]),
        ("shared", {}, ["notification order_update/shared", "function shared"]),
        ("orders_in", {}, ["publish bus/orders_in", "subscribe bus/orders_in"]),
    ],
)  # fmt: skip
def test_several_matches_are_listed_and_type_is_asked_for(event: str, data: dict[str, Any], listed: list[str]) -> None:
    err = refused(PLANNER, job(event, data))
    assert err.field == "type"
    for label in listed:
        assert label in err.reason
    assert "set `type`" in err.reason


def test_type_or_app_or_slug_settles_several_matches() -> None:
    assert planned(PLANNER, job("orders_in", type="subscribe"))[:2] == (JobEventType.SUBSCRIBE, "bus")
    assert planned(PLANNER, job("shared", type="FUNCTION"))[:2] == (JobEventType.FUNCTION, None)
    assert planned(PLANNER, job("shared", app="order_update"))[:2] == (JobEventType.NOTIFICATION, "order_update")
    with_slug = {"slug": "billing", "push_notification": {"device_token": "d"}}
    assert planned(PLANNER, job("send_notification", with_slug))[:2] == (JobEventType.NOTIFICATION, "billing")


def test_no_match_names_event_and_a_wrong_component_names_app() -> None:
    nothing = refused(PLANNER, job("launch_rocket"))
    assert nothing.field == "event"
    assert "no section of product 'my-product' defines 'launch_rocket'" in nothing.reason
    elsewhere = refused(PLANNER, job("send_welcome_email", app="files"))
    assert elsewhere.field == "app"
    assert "action email-service/send_welcome_email" in elsewhere.reason
    unknown_slug = refused(PLANNER, job("send_notification", {"slug": "nope", "push_notification": {}}))
    assert unknown_slug.field == "event"


def test_an_operation_of_the_named_component_gives_its_type() -> None:
    row = {"table": "sync_logs", "data": {"sync_type": "inventory"}}
    assert planned(PLANNER, job("insert", row, app="inventory-db"))[:2] == (JobEventType.DB_ACTION, "inventory-db")
    upload = {"fileName": "a.txt", "text": "hi"}
    assert planned(PLANNER, job("upload", upload, app="files"))[:2] == (JobEventType.STORAGE, "files")
    assert refused(PLANNER, job("insert", row)).field == "event"  # which database? `app` or `type` says


SHAPES = [
    # (id, input, type); without a config, app "c" names the component
    ("seed 000 notification", SEED_NOTIFICATION, JobEventType.NOTIFICATION),
    ("email notification", {"email": {"recipients": ["a@example.com"]}}, JobEventType.NOTIFICATION),
    ("database request", {"data": {"status": "ok"}, "filter": {}}, JobEventType.DB_ACTION),
    ("database operation input", {"table": "sync_logs", "data": {"a": 1}}, JobEventType.DB_ACTION),
    ("storage request", {"buffer": "aGk=", "fileName": "a.txt", "mimeType": "text/plain"}, JobEventType.STORAGE),
    ("function payload", {"payload": {"name": "Ada"}}, JobEventType.FUNCTION),
    ("action request", {"body": {"a": 1}, "headers": {}}, JobEventType.ACTION),
    ("flat action input", {"userId": "u-1", "email": "john@example.com"}, JobEventType.ACTION),
    ("data next to other keys", {"data": {"a": 1}, "body": {}}, JobEventType.ACTION),
    ("payload next to other keys", {"payload": 1, "userId": "u"}, JobEventType.ACTION),
    ("storage without buffer", {"fileName": "a.txt"}, JobEventType.ACTION),
    ("email as a flat string", {"email": "john@example.com"}, JobEventType.ACTION),
    ("empty input", {}, JobEventType.ACTION),
]


@pytest.mark.parametrize(("data", "kind"), [pytest.param(*row[1:], id=row[0]) for row in SHAPES])
def test_without_a_config_the_input_shape_decides(data: dict[str, Any], kind: JobEventType) -> None:
    assert planned(BARE, job("some_event", data, app="c"))[0] is kind


def test_seed_000_runs_as_written_without_a_config_its_slug_naming_the_notification() -> None:
    seed = {"env": "prd", "product_tag": "my-product", "event": "send_notification", "input": SEED_NOTIFICATION,
            "start_at": 198766789}  # fmt: skip
    found, app, plan = planned(BARE, seed)
    assert (found, app) == (JobEventType.NOTIFICATION, "order_update")
    assert plan.due_now  # 198766789 is epoch seconds, in 1976


def test_without_a_config_a_type_that_needs_a_component_needs_app() -> None:
    err = refused(BARE, job("log_sync", {"data": {"a": 1}}))
    assert err.field == "app"
    assert err.reason.startswith("is required for this database_action job")
