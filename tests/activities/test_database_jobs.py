"""``database_action`` jobs end to end: the Ductape client, the real Temporal dev server and worker,
and real SQLite, PostgreSQL and MariaDB, read back with the test's own engine."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from ductape_jobs import Ductape, JobFailedError, JobInputError
from ductape_jobs.activities.config.product_config import ProductConfig, parse_product_config
from ductape_jobs.activities.database.activity import close_database_engines
from ductape_jobs.planning.plan import JobPlanner
from ductape_jobs.workflows.contracts.job import JobEventType
from tests.support.database_engines import EngineDb, db
from tests.support.workers import job_worker

__all__ = ["db"]  # the parametrized fixture: one run per engine


@asynccontextmanager
async def running(env: WorkflowEnvironment, db: EngineDb, task_queue: str) -> AsyncIterator[Ductape]:
    config = db.config()
    try:
        async with job_worker(env.client, task_queue=task_queue, config=config, secrets=db.secrets()):
            yield Ductape(env.client, task_queue=task_queue, config=config, secrets=db.secrets())
    finally:
        await close_database_engines()  # the worker's pools (job_worker does not close them yet)


@pytest.mark.parametrize("target", [{"event": "log_sync"}, {"operation": "insert"}], ids=["action", "operation"])
async def test_seed_003_daily_sync_log_inserts_a_row(
    dev_env: WorkflowEnvironment, db: EngineDb, task_queue: str, target: dict[str, str]
) -> None:
    data: dict[str, Any] = {"data": {"status": "ok", "started_at": "$Now()"}}
    if "operation" in target:
        data["table"] = db.name
    before = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    async with running(dev_env, db, task_queue) as ductape:
        dispatched = await ductape.database.dispatch(
            {
                "product": "shop",
                "env": "dev",
                "database": "analytics",
                **target,
                "input": data,
                "schedule": {"every": 86_400_000},
            }
        )
        try:
            assert dispatched.recurring is True
            result = await ductape.jobs.result(dispatched.job_id)
        finally:
            await ductape.jobs.delete(dispatched.job_id)
    (row,) = await db.rows()
    assert row["status"] == "ok"
    assert before <= row["started_at"] <= datetime.now(UTC).replace(tzinfo=None)
    assert result["operation"] == "insert"
    assert result["inserted_ids"] == [row["id"]]
    assert result["action"] == target.get("event")


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
async def test_failed_job_reports_invalid_input_without_retrying(
    dev_env: WorkflowEnvironment, db: EngineDb, task_queue: str
) -> None:
    async with running(dev_env, db, task_queue) as ductape:
        started = time.monotonic()
        dispatched = await ductape.database.dispatch(
            {
                "product": "shop",
                "env": "dev",
                "database": "analytics",
                "operation": "insert",
                "retries": 3,
                "retry": {"initial_delay": 2000},
                "input": {"table": db.name, "data": {"status": "x", "no_such_column": 1}},
            }
        )
        with pytest.raises(JobFailedError) as failed:
            await ductape.jobs.result(dispatched.job_id)
    assert failed.value.error_type == "INVALID_INPUT"
    assert "no_such_column" in failed.value.message
    assert time.monotonic() - started < 2  # no retry waited its 2 s
    assert await db.rows() == []


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
async def test_processor_schedule_finds_the_only_database_of_an_action(
    dev_env: WorkflowEnvironment, db: EngineDb, task_queue: str
) -> None:
    async with running(dev_env, db, task_queue) as ductape:
        scheduled = await ductape.processor.job.schedule(
            {
                "product_tag": "shop",
                "env": "dev",
                "type": "database_action",
                "event": "log_sync",
                "input": {"data": {"status": "found"}},
            }
        )
        result = await ductape.jobs.result(scheduled.job_id)
        record = await ductape.jobs.get(scheduled.job_id)
    assert result["rowcount"] == 1
    assert record.app == "analytics"
    assert [r["status"] for r in await db.rows()] == ["found"]


def _config() -> ProductConfig:
    db_def = {
        "envs": {"dev": {"url": "sqlite+aiosqlite:///unused.db"}},
        "actions": {"log_sync": {"statement": "SELECT 1"}},
    }
    return parse_product_config(
        {
            "products": {
                "shop": {
                    "envs": ["dev", "prd"],
                    "databases": {"analytics": db_def, "billing": {"envs": db_def["envs"]}},
                }
            }
        }
    )


@pytest.mark.parametrize(
    ("fields", "field", "reason"),
    [
        ({"database": "nope", "event": "log_sync"}, "database", "'nope' is not in the product"),
        ({"database": "analytics", "event": "log_sync", "env": "prd"}, "env", "no settings for env 'prd'"),
        ({"database": "analytics", "event": "explode"}, "event", "neither an action"),
        ({"database": "analytics", "operation": "explode"}, "event", "nor an operation"),
        ({"database": "analytics"}, "", "exactly one of `event` or `operation`"),
    ],
)
def test_dispatch_refuses_what_the_config_does_not_know(fields: dict[str, Any], field: str, reason: str) -> None:
    planner = JobPlanner(task_queue="tq", config=_config())
    with pytest.raises(JobInputError) as caught:
        planner.plan("database", {"product": "shop", "env": "dev", "input": {}} | fields)
    assert caught.value.field == field
    assert reason in caught.value.reason


def test_schedule_without_a_database_needs_exactly_one_candidate() -> None:
    planner = JobPlanner(task_queue="tq", config=_config())
    job = {"product_tag": "shop", "env": "dev", "type": "database_action", "input": {}}
    plan = planner.plan(None, job | {"event": "log_sync"})
    assert plan.workflow_input.app == "analytics"
    assert plan.workflow_input.event_type is JobEventType.DB_ACTION
    for event, field in [("insert", "app"), ("unknown", "event")]:
        with pytest.raises(JobInputError) as caught:
            planner.plan(None, job | {"event": event})
        assert caught.value.field == field


async def test_dispatch_error_reaches_the_caller_before_anything_starts(dev_env: WorkflowEnvironment) -> None:
    ductape = Ductape(dev_env.client, task_queue="tq-unused", config=_config())
    with pytest.raises(JobInputError) as caught:
        await ductape.database.dispatch(
            {"product": "shop", "env": "dev", "database": "warehouse", "operation": "count", "input": {}}
        )
    assert caught.value.field == "database"
