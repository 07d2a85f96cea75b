"""The seeds' names, and every model of the API, import from the package's top level next to ``Ductape``,
and the seeds' enum member names are accepted wherever an event type is given."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

import ductape_jobs
from ductape_jobs import (
    Ductape,
    IDispatchResult,
    IJobProcessorInput,
    IJobRepeatOptions,
    IProductJob,
    ISession,
    JobEventTypes,
)
from ductape_jobs.planning.plan import JobPlanner
from tests.conftest import product_config_for

SEED_001_ENUM = {
    "ACTION": "action", "FEATURE": "feature", "NOTIFICATION": "notification", "DB_ACTION": "database_action",
    "JOB": "job", "STORAGE": "storage", "PUBLISH": "publish", "SUBSCRIBE": "subscribe", "QUOTA": "quota",
    "FALLBACK": "fallback",
}  # fmt: skip
SEED_004_ENUM = {"ACTION": "action", "NOTIFICATION": "notification", "DATABASE_ACTION": "database_action",
                 "FUNCTION": "function"}  # fmt: skip


def test_the_seed_names_import_from_the_top_level() -> None:
    assert Ductape.__name__ == "Ductape"
    for model in (IDispatchResult, IJobProcessorInput, IJobRepeatOptions, IProductJob, ISession):
        assert issubclass(model, BaseModel)
    seeds = {"JobEventTypes", "IProductJob", "IJobProcessorInput", "IDispatchResult", "ISession", "IJobRepeatOptions",
             "IActionRequest", "INotificationRequest", "IDbActionRequest", "IFunctionRequest", "IStorageRequest",
             "IDispatchSchedule", "IRetryConfig", "IActionDispatchInput", "INotificationDispatchInput"}  # fmt: skip
    assert seeds <= set(ductape_jobs.__all__)
    for name in ductape_jobs.__all__:
        assert getattr(ductape_jobs, name) is not None, name


@pytest.mark.parametrize(("name", "value"), sorted((SEED_001_ENUM | SEED_004_ENUM).items()))
def test_each_seed_enum_member_has_the_seeds_value_and_its_name_is_accepted(name: str, value: str) -> None:
    member = getattr(JobEventTypes, name)
    assert member == value
    assert JobEventTypes(value) is member
    base: dict[str, Any] = {"product_tag": "p", "env": "dev", "event": "e", "input": {}}
    for given in (name, name.lower(), member, value):
        assert IJobProcessorInput.model_validate(base | {"type": given}).type is member
        definition = {"name": "n", "tag": "t", "event_tag": "e", "intervals": 60_000, "event_type": given}
        assert IProductJob.model_validate(definition).event_type is member


def test_a_model_built_with_the_seed_enum_plans_like_the_dict() -> None:
    planner = JobPlanner(task_queue="tq", config=product_config_for("http://127.0.0.1:9"))
    model = IJobProcessorInput(
        product_tag="my-product", env="dev", event="send_welcome_email", input={}, type=JobEventTypes.ACTION,
        repeat=IJobRepeatOptions(every=60_000), session=None,
    )  # fmt: skip
    from_model = planner.plan(None, model)
    from_dict = planner.plan(None, {"product_tag": "my-product", "env": "dev", "event": "send_welcome_email",
                                    "input": {}, "type": "ACTION", "repeat": {"every": 60000}})  # fmt: skip
    assert from_model.workflow_input.model_dump(exclude={"job_id"}) == from_dict.workflow_input.model_dump(
        exclude={"job_id"}
    )
