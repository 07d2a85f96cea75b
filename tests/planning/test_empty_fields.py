"""Seed 001: "Optional fields can be omitted or passed as empty ``{}``", for every optional field of the
seed shapes (``ductape_jobs.workflows.contracts.job.absent_when_empty``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from ductape_jobs.activities.config.secrets import SecretStore
from ductape_jobs.planning.inputs import normalise_job
from ductape_jobs.planning.plan import JobPlan, plan_job
from ductape_jobs.workflows.contracts.job import JobInputError
from tests.conftest import SECRETS, product_config_for

NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)
CONFIG = product_config_for("http://127.0.0.1:9")


def job(**changes: Any) -> dict[str, Any]:
    base = {"env": "dev", "app": "email-service", "event": "send_welcome_email", "product_tag": "my-product",
            "input": {}, "start_at": 0}  # fmt: skip
    return {k: v for k, v in (base | changes).items() if v is not ...}


def plan(data: dict[str, Any]) -> JobPlan:
    return plan_job(normalise_job(data), now=NOW, task_queue="tq", config=CONFIG, secrets=SecretStore(SECRETS))


def _seed_shapes() -> list[Any]:
    from ductape_jobs.workflows.contracts import dispatch as d
    from ductape_jobs.workflows.contracts import notification as n
    from ductape_jobs.workflows.contracts import timing as t
    from ductape_jobs.workflows.contracts.job import IActionRequest

    dispatch = {"env": "dev", "product": "my-product", "event": "e", "input": {}}
    return [
        # (model, a valid input without the optional fields)
        (d.IJobProcessorInput, {"env": "dev", "product_tag": "my-product", "event": "e", "input": {}}),
        (d.IActionDispatchInput, dispatch | {"app": "a"}),
        (d.IWorkflowDispatchInput, {"env": "dev", "product": "p", "workflow": "w"}),
        (d.INotificationDispatchInput, dispatch | {"notification": "n"}),
        (d.IStorageDispatchInput, dispatch | {"storage": "s"}),
        (d.IPublishDispatchInput, dispatch | {"broker": "b"}),
        (d.IDatabaseDispatchInput, dispatch | {"database": "d"}),
        (d.IGraphDispatchInput, dispatch | {"graph": "g"}),
        (t.IJobRepeatOptions, {"every": 60_000}),
        (t.IDispatchSchedule, {}),
        (t.IRetryConfig, {}),
        (t.IDstPolicy, {}),
        (d.IProductJob, {"name": "n", "tag": "t", "event_type": "ACTION", "event_tag": "e", "intervals": 60_000}),
        (IActionRequest, {}),
        (n.INotificationRequest, {"push_notification": {"device_token": "d"}}),
        (n.IPushInput, {"device_token": "d"}),
        (n.IEmailInput, {"recipients": ["a@example.com"]}),
        (n.ISmsInput, {"recipients": ["+31600000000"]}),
        (n.ICallbackInput, {}),
    ]


@pytest.mark.parametrize(("model", "base"), _seed_shapes(), ids=lambda v: getattr(v, "__name__", ""))
def test_every_optional_field_of_the_seed_shapes_given_as_empty_object_is_absent(model: Any, base: Any) -> None:
    optional = [name for name, field in model.model_fields.items() if not field.is_required() and name not in base]
    assert optional
    without = model.model_validate(base)
    for name in optional:
        field = model.model_fields[name]
        spellings = {name, *getattr(field.validation_alias, "choices", [])} - {None}
        for spelling in spellings:
            assert model.model_validate(base | {spelling: {}}) == without, f"{model.__name__}.{spelling}: {{}}"
    for name, field in model.model_fields.items():  # a required field's {} is kept: refused, or {} itself
        if field.is_required():
            assert _empty_kept(model, base, name), f"{model.__name__}.{name}"


def _empty_kept(model: Any, base: dict[str, Any], name: str) -> bool:
    try:
        return bool(getattr(model.model_validate(base | {name: {}}), name) == {})
    except ValidationError as err:
        return any(e["loc"][:1] == (name,) for e in err.errors())


def test_the_seeds_empty_cache_and_app_plan_like_omitted_ones() -> None:
    empty = plan(job(cache={}, app={}, session={}, repeat={}, retry={}, type={}, job_id={}))
    omitted = plan(job(app=...))
    assert empty.workflow_input.app == omitted.workflow_input.app == "email-service"
    assert (empty.cache_ttl, empty.recurrence, empty.caller_chose_id) == (None, None, False)
    nested = plan(job(repeat={"every": 60_000, "limit": {}, "endDate": {}, "tz": {}, "cron": {}}))
    assert nested.recurrence is not None
    assert (nested.recurrence.limit, nested.recurrence.end_at, nested.recurrence.every) == (
        None, None, timedelta(minutes=1),
    )  # fmt: skip
    with pytest.raises(JobInputError) as required:  # required: {} is no value for it
        plan(job(env={}))
    assert required.value.field == "env"
