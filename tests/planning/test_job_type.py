"""``JobEventType.JOB`` on every path, and seed 004's definitions of each of its enum types, on the dev server.

A definition runs its event every ``intervals`` ms, ``executions`` times (0: until cancelled); a job
of type ``job`` runs a definition's event once; a definition of type ``job`` runs another one's event.
Errors name the definition's fields as the user wrote them.
"""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from ductape_jobs import Ductape, JobInputError
from ductape_jobs.activities.config.product_config import ProductConfig, parse_product_config
from ductape_jobs.activities.config.secrets import SecretStore
from ductape_jobs.management.product_jobs import definition_id
from ductape_jobs.planning.plan import JobPlanner
from ductape_jobs.workflows.contracts.dispatch import IJobProcessorInput, IProductJob
from ductape_jobs.workflows.contracts.job import JobEventType as JobEventTypes
from tests.conftest import SECRETS, product_config_for
from tests.support.http_target import HttpTarget
from tests.support.waiting import eventually
from tests.support.workers import job_worker

PUSH = "/v1/projects/p/messages:send"


def config_for(base_url: str, product: str, database: Path) -> ProductConfig:
    """The tests' product, with a notification, a database, a function and a job definition of the config."""
    data = product_config_for(base_url, product).model_dump(mode="json", exclude_defaults=True)
    data["products"][product] |= {
        "notifications": {
            "orders": {"envs": {"dev": {"push": {"url": f"{base_url}{PUSH}", "token": "t"}}},
                       "messages": {"order_shipped": {"push": {"title": {"en": "Shipped"},
                                                               "body": {"en": "Order {{order}}"}}}}},
        },
        "databases": {
            "ledger": {"envs": {"dev": {"url": f"sqlite+aiosqlite:///{database}",
                                        "setup": ["CREATE TABLE IF NOT EXISTS runs (id INTEGER PRIMARY KEY, t TEXT)"]}},
                       "actions": {"record_run": {"operation": "insert", "table": "runs"}}},
        },
        "functions": {"score": {"url": f"{base_url}/functions/score"}},
        "jobs": {"nightly": {"name": "Nightly", "event_type": "FUNCTION", "event_tag": "score", "intervals": 60000,
                             "input": {"payload": {"from": "nightly"}}}},
    }  # fmt: skip
    return parse_product_config(data)


@dataclass
class Env:
    ductape: Ductape
    target: HttpTarget
    product: str
    database: Path


@pytest.fixture
async def env(
    dev_env: WorkflowEnvironment, http_target: HttpTarget, task_queue: str, tmp_path: Path
) -> AsyncIterator[Env]:
    product = f"shop-{uuid.uuid4().hex[:8]}"
    config = config_for(http_target.url, product, tmp_path / "ledger.db")
    async with job_worker(dev_env.client, task_queue=task_queue, config=config, secrets=SecretStore(SECRETS)):
        ductape = Ductape(dev_env.client, task_queue=task_queue, config=config, secrets=SecretStore(SECRETS))
        yield Env(ductape, http_target, product, tmp_path / "ledger.db")


def definition(tag: str, event_type: object, event_tag: str, data: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {"name": f"Job {tag}", "tag": tag, "event_type": event_type, "event_tag": event_tag, "executions": 1,
            "intervals": 60_000, "input": data} | more  # fmt: skip


def rows(database: Path) -> list[str]:
    if not database.exists():
        return []
    with sqlite3.connect(database) as db:
        return [tag for (tag,) in db.execute("SELECT t FROM runs")]


async def test_a_definition_of_each_seed_enum_type_runs_its_event(env: Env) -> None:
    builder = env.ductape.product(env.product)
    await builder.createJob(definition("act", JobEventTypes.ACTION, "send_welcome_email", {"body": {"from": "act"}}))
    await builder.createJob(
        definition("note", "NOTIFICATION", "order_shipped", {"push_notification": {"body": {"order": "42"},
                                                                                   "device_token": "dev-1"}})
    )  # fmt: skip
    await builder.createJob(definition("row", "DATABASE_ACTION", "record_run", {"data": {"t": "row"}}))
    await builder.createJob(definition("row2", "DB_ACTION", "record_run", {"data": {"t": "row2"}}))
    await builder.createJob(definition("fn", JobEventTypes.FUNCTION, "score", {"payload": {"from": "fn"}}))

    def all_ran() -> bool:
        welcome = [c.body for c in env.target.calls("/v1/welcome")]
        pushed = [c.body["message"]["notification"]["body"] for c in env.target.calls(PUSH)]
        functions = [c.body for c in env.target.calls("/functions/score")]
        return (welcome, pushed, functions, sorted(rows(env.database))) == (
            [{"from": "act"}], ["Order 42"], [{"payload": {"from": "fn"}}], ["row", "row2"],
        )  # fmt: skip

    await eventually(all_ran)
    kinds = {job.tag: job.event_type.value for job in await builder.fetchJobs()}
    assert kinds == {"act": "action", "note": "notification", "row": "database_action", "row2": "database_action",
                     "fn": "function"}  # fmt: skip
    for tag in kinds:
        assert (await env.ductape.jobs.get(definition_id(env.product, tag))).status == "completed"


async def test_executions_zero_runs_until_cancelled(env: Env) -> None:
    builder = env.ductape.product(env.product)
    await builder.create_job(definition("forever", "ACTION", "send_welcome_email", {}, executions=0, intervals=1000))
    job_id = definition_id(env.product, "forever")
    await eventually(lambda: len(env.target.calls("/v1/welcome")) >= 4)
    record = await env.ductape.jobs.get(job_id)
    # No limit: its next run is always there (a run in flight at this instant shows as running).
    assert record.limit is None
    assert record.status in ("scheduled", "running")
    await env.ductape.jobs.cancel(job_id)
    made = len(env.target.calls("/v1/welcome"))
    await asyncio.sleep(2.5)  # two more periods: a run after the cancel would have come by now
    assert len(env.target.calls("/v1/welcome")) == made
    assert (await env.ductape.jobs.get(job_id)).status == "cancelled"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"intervals": 1500}, "intervals"),
        ({"intervals": 0}, "intervals"),
        ({"intervals": "60000"}, "intervals"),
        ({"executions": -1}, "executions"),
        ({"executions": True}, "executions"),
        ({"event_tag": "no_such_event"}, "event_tag"),
        ({"event_type": "teleport"}, "event_type"),
        ({"event_type": "JOB", "event_tag": "no_such_definition"}, "event_tag"),
    ],
)
async def test_definition_errors_name_the_field_as_written(env: Env, change: dict[str, Any], field: str) -> None:
    builder = env.ductape.product(env.product)
    with pytest.raises(JobInputError) as created:
        await builder.create_job(definition("bad", "ACTION", "send_welcome_email", {}) | change)
    assert created.value.field == field
    await builder.create_job(definition("good", "ACTION", "send_welcome_email", {}, start_at=4_000_000_000_000))
    if "event_type" not in change:
        with pytest.raises(JobInputError) as updated:
            await builder.update_job("good", change)
        assert updated.value.field == field


async def test_job_type_runs_a_definition_through_dicts_models_and_inference(env: Env) -> None:
    later = 4_000_000_000_000  # a definition that waits, so only the jobs below run its event
    builder = env.ductape.product(env.product)
    await builder.create_job(definition("later", "ACTION", "send_welcome_email", {"body": {"from": "later"}},
                                        start_at=later))  # fmt: skip
    as_dict = await env.ductape.processor.job.schedule(
        {"product_tag": env.product, "env": "dev", "type": "JOB", "event": "later", "input": {}}
    )
    model = IJobProcessorInput(product_tag=env.product, env="dev", type=JobEventTypes.JOB, event="later", input={})
    as_model = await env.ductape.processor.job.schedule(model)
    inferred = await env.ductape.processor.job.schedule(  # `nightly` is a job definition of the config only
        {"product_tag": env.product, "env": "dev", "event": "nightly", "input": {}}
    )
    for result in (as_dict, as_model):
        assert await env.ductape.jobs.result(result.job_id) is not None
    assert await env.ductape.jobs.result(inferred.job_id) is not None
    assert [c.body for c in env.target.calls("/v1/welcome")] == [{"from": "later"}] * 2
    assert [c.body for c in env.target.calls("/functions/score")] == [{"payload": {"from": "nightly"}}]
    assert (await env.ductape.jobs.get(inferred.job_id)).event_type == "function"


async def test_a_definition_of_type_job_runs_the_other_definitions_event(env: Env) -> None:
    builder = env.ductape.product(env.product)
    await builder.create_job(definition("inner", "ACTION", "send_welcome_email", {"body": {"from": "inner"}},
                                        start_at=4_000_000_000_000))  # fmt: skip
    outer = await builder.createJob(
        IProductJob.model_validate(definition("outer", JobEventTypes.JOB, "inner", {}, executions=2, intervals=1000))
    )
    assert outer.event_type is JobEventTypes.JOB
    await eventually(lambda: len(env.target.calls("/v1/welcome")) >= 2)
    await asyncio.sleep(1.5)
    assert [c.body for c in env.target.calls("/v1/welcome")] == [{"from": "inner"}] * 2
    record = await env.ductape.jobs.get(definition_id(env.product, "outer"))
    assert (record.event_type, record.event, record.execution_count) == ("action", "send_welcome_email", 2)


def test_the_planner_runs_a_config_definition_and_refuses_a_cycle(tmp_path: Path) -> None:
    config = config_for("http://127.0.0.1:9", "shop", tmp_path / "x.db")
    planner = JobPlanner(task_queue="tq", config=config)
    plan = planner.plan(None, {"product_tag": "shop", "env": "dev", "type": "job", "event": "nightly", "input": {}})
    assert (plan.workflow_input.event_type.value, plan.workflow_input.event) == ("function", "score")
    data = config.model_dump(mode="json", exclude_defaults=True)
    data["products"]["shop"]["jobs"] = {
        "a": {"name": "A", "event_type": "job", "event_tag": "b", "intervals": 60000},
        "b": {"name": "B", "event_type": "job", "event_tag": "a", "intervals": 60000},
    }
    looping = JobPlanner(task_queue="tq", config=parse_product_config(data))
    with pytest.raises(JobInputError) as err:
        looping.plan(None, {"product_tag": "shop", "env": "dev", "event": "a", "input": {}})
    assert err.value.field == "event"
    assert "a -> b -> a" in err.value.reason
