"""Rolling deploys: an older worker or client handles what a newer one wrote (unknown fields are
ignored on the wire), while what users write still refuses unknown fields with a clear error."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import typing
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError
from temporalio import workflow
from temporalio.client import ScheduleActionStartWorkflow, ScheduleUpdate, ScheduleUpdateInput
from temporalio.testing import WorkflowEnvironment

import ductape_jobs.activities
from ductape_jobs import Ductape, JobInputError
from ductape_jobs.activities.config.product_config import ProductConfig
from ductape_jobs.activities.config.secrets import SecretStore
from ductape_jobs.activities.session.tokens import issue_session_token
from ductape_jobs.management.product_jobs import definition_id
from ductape_jobs.management.records import schedule_memo
from ductape_jobs.planning.inputs import normalise_job
from ductape_jobs.planning.plan import plan_job
from ductape_jobs.worker.job_worker import WORKFLOWS
from ductape_jobs.workflows.contracts.job import ISession, JobOutcome
from ductape_jobs.workflows.contracts.management import JobMemo
from ductape_jobs.workflows.names import JOB_WORKFLOW
from tests.conftest import SECRETS, SESSION_KEY
from tests.support.http_target import HttpTarget
from tests.support.workers import job_worker


def _signatures() -> Iterator[Callable[..., Any]]:
    """Every workflow run/signal/query/update method and every activity of the worker."""
    for cls in WORKFLOWS:
        definition = workflow._Definition.must_from_class(cls)
        yield definition.run_fn
        for handlers in (definition.signals, definition.queries, definition.updates):
            yield from (handler.fn for handler in handlers.values())
    for info in pkgutil.walk_packages(ductape_jobs.activities.__path__, "ductape_jobs.activities."):
        module = importlib.import_module(info.name)
        for _, member in inspect.getmembers(module):
            methods = [m for _, m in inspect.getmembers(member, inspect.isfunction)] if inspect.isclass(member) else []
            yield from (f for f in [member, *methods] if hasattr(f, "__temporal_activity_definition"))


def _models(annotation: Any, found: set[type[BaseModel]]) -> None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation is not BaseModel and annotation not in found:
            found.add(annotation)
            for field in annotation.model_fields.values():
                _models(field.annotation, found)
        return
    for argument in typing.get_args(annotation):
        _models(argument, found)


def test_every_model_that_crosses_temporal_ignores_unknown_fields() -> None:
    crossing: set[type[BaseModel]] = set()
    for function in _signatures():
        for annotation in typing.get_type_hints(function).values():
            _models(annotation, crossing)
    _models(JobMemo, crossing)  # memo of every job workflow and schedule
    names = {model.__name__ for model in crossing}
    assert {"JobWorkflowInput", "EventActivityInput", "ResolveRequest", "JobState", "JobMemo"} <= names
    strict = sorted(m.__name__ for m in crossing if m.model_config.get("extra") == "forbid")
    assert strict == [], "these models cross Temporal but refuse unknown fields: an older worker would fail"


def session_token() -> str:
    return issue_session_token(
        tag="user-session", data={"details": {"id": "u-42"}}, key=SESSION_KEY, now=datetime.now(UTC)
    )


async def test_a_worker_runs_a_job_written_by_a_newer_client_with_fields_it_does_not_know(
    ts_env: WorkflowEnvironment, product_config: ProductConfig, task_queue: str, http_target: HttpTarget
) -> None:
    data = {"product_tag": "my-product", "env": "dev", "app": "email-service", "event": "send_welcome_email",
            "input": {"body": {"userId": "$Session{details}{id}"}}, "session": f"user-session:{session_token()}",
            "retries": 1}  # fmt: skip
    plan = plan_job(
        normalise_job(data), now=await ts_env.get_current_time(), task_queue=task_queue, config=product_config,
        secrets=SecretStore(SECRETS), arm_ahead=timedelta(0),
    )  # fmt: skip
    newer = plan.workflow_input.model_dump(mode="json")
    newer["deadline"] = "tomorrow"  # a top-level field of a newer JobWorkflowInput
    newer["session"]["device"] = "ios"  # a nested one, in the model users also write (ISession)
    newer["retry"]["jitter_ms"] = 250
    async with job_worker(ts_env.client, task_queue=task_queue, config=product_config, secrets=SecretStore(SECRETS)):
        outcome = await ts_env.client.execute_workflow(
            JOB_WORKFLOW, newer, id=plan.job_id, task_queue=task_queue, result_type=JobOutcome
        )
    assert outcome.result["status"] == 200
    (call,) = http_target.calls("/v1/welcome")
    assert call.body == {"userId": "u-42"}  # the session still verified and resolved


def job(**changes: Any) -> dict[str, Any]:
    return {"product_tag": "my-product", "env": "dev", "app": "email-service", "event": "send_welcome_email",
            "input": {}} | changes  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"deadline": "tomorrow"}, "deadline"),
        ({"session": {"tag": "user-session", "token": "t", "device": "ios"}}, "session.device"),
        ({"retry": {"initialDelay": 100, "jitter": 5}}, "retry.jitter"),
        ({"repeat": {"every": 60_000, "colour": "red"}}, "repeat.colour"),
    ],
    ids=["top-level", "session", "retry", "repeat"],
)
async def test_the_public_api_still_refuses_an_unknown_field_and_names_it(
    dev_env: WorkflowEnvironment, product_config: ProductConfig, task_queue: str, changes: dict[str, Any], field: str
) -> None:
    ductape = Ductape(dev_env.client, task_queue=task_queue, config=product_config, secrets=SecretStore(SECRETS))
    with pytest.raises(JobInputError) as refused:
        await ductape.processor.job.schedule(job(**changes))
    assert (refused.value.field, refused.value.reason) == (field, "is not a known field")


async def test_dispatch_builder_and_typed_models_refuse_unknown_fields_too(
    dev_env: WorkflowEnvironment, product_config: ProductConfig, task_queue: str
) -> None:
    ductape = Ductape(dev_env.client, task_queue=task_queue, config=product_config, secrets=SecretStore(SECRETS))
    dispatch = {"product": "my-product", "env": "dev", "app": "email-service", "event": "send_welcome_email"}
    with pytest.raises(JobInputError) as refused:
        await ductape.actions.dispatch(dispatch | {"schedule": {"start_at": 0, "colour": "red"}})
    assert refused.value.field == "schedule.colour"
    with pytest.raises(JobInputError) as refused:
        await ductape.product("my-product").create_job(
            {"name": "n", "tag": "t", "event_type": "ACTION", "event_tag": "send_welcome_email", "intervals": 1000,
             "colour": "red"}
        )  # fmt: skip
    assert refused.value.field == "colour"
    with pytest.raises(ValidationError, match="device"):
        ISession(tag="user-session", token="t", device="ios")  # type: ignore[call-arg]


async def test_an_older_client_reads_and_updates_a_definition_a_newer_one_stored(
    dev_env: WorkflowEnvironment, product_config: ProductConfig, task_queue: str
) -> None:
    ductape = Ductape(dev_env.client, task_queue=task_queue, config=product_config, secrets=SecretStore(SECRETS))
    builder = ductape.product("my-product")
    tag = f"nightly-{uuid.uuid4().hex[:8]}"
    start_at = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    await builder.create_job({"name": "Nightly", "tag": tag, "event_type": "ACTION", "event_tag": "send_welcome_email",
                              "intervals": 60_000, "start_at": start_at})  # fmt: skip
    handle = dev_env.client.get_schedule_handle(definition_id("my-product", tag))
    converter = dev_env.client.data_converter
    memo = await schedule_memo(converter, await handle.describe())
    assert memo.definition is not None
    newer = memo.model_dump(mode="json") | {"definition": memo.definition | {"deadline": "tomorrow"}}

    def written_by_a_newer_client(update: ScheduleUpdateInput) -> ScheduleUpdate:
        action = update.description.schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow)
        action.memo = newer
        return ScheduleUpdate(schedule=update.description.schedule)

    await handle.update(written_by_a_newer_client)
    try:
        stored = await schedule_memo(converter, await handle.describe())
        assert stored.definition is not None
        assert stored.definition["deadline"] == "tomorrow"
        fetched = await builder.fetch_job(tag)
        assert (fetched.tag, fetched.intervals) == (tag, 60_000)
        updated = await builder.update_job(tag, {"intervals": 120_000})
        assert updated.intervals == 120_000
    finally:
        await handle.delete()


async def test_an_older_client_reschedules_a_cron_job_whose_dst_policy_a_newer_one_extended(
    dev_env: WorkflowEnvironment, product_config: ProductConfig, task_queue: str
) -> None:
    ductape = Ductape(dev_env.client, task_queue=task_queue, config=product_config, secrets=SecretStore(SECRETS))
    job_id = f"dst-{uuid.uuid4().hex[:8]}"
    await ductape.processor.job.schedule(
        {"product_tag": "my-product", "env": "dev", "app": "email-service", "event": "send_welcome_email",
         "input": {}, "job_id": job_id,
         "repeat": {"cron": "30 2 * * *", "tz": "Europe/Amsterdam", "dst": {"skipped": "skip"}}}
    )  # fmt: skip
    handle = dev_env.client.get_schedule_handle(job_id)
    memo = await schedule_memo(dev_env.client.data_converter, await handle.describe())
    assert memo.dst == {"skipped": "skip", "repeated": "first"}
    newer = memo.model_dump(mode="json", exclude_none=True) | {"dst": memo.dst | {"ambiguous": "later"}}

    def written_by_a_newer_client(update: ScheduleUpdateInput) -> ScheduleUpdate:
        action = update.description.schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow)
        action.memo = newer
        return ScheduleUpdate(schedule=update.description.schedule)

    await handle.update(written_by_a_newer_client)
    try:
        record = await ductape.jobs.reschedule(job_id, cron="45 3 * * *")
        assert record.cron == "45 3 * * *"
        # The newer client's key is neither used nor dropped.
        after = await schedule_memo(dev_env.client.data_converter, await handle.describe())
        assert after.dst == {"skipped": "skip", "repeated": "first", "ambiguous": "later"}
    finally:
        await ductape.jobs.delete(job_id)
