"""Function, feature, fallback and quota jobs end to end: the real dev server, a real worker, real
user code (tests/support/routing_targets.py) and a real HTTP target."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from ductape_jobs import Ductape, JobFailedError, JobInputError
from ductape_jobs.activities.config.product_config import ConfigError, ProductConfig, parse_product_config
from ductape_jobs.activities.config.secrets import SecretStore
from ductape_jobs.workflows import names
from tests.conftest import SECRETS, product_config_for
from tests.support import routing_targets
from tests.support.http_target import HttpTarget
from tests.support.workers import job_worker

ACTION = {"type": "action", "app": "email-service"}


def routing_config(base_url: str) -> ProductConfig:
    data = product_config_for(base_url).model_dump(mode="json", exclude_defaults=True)
    data["products"]["my-product"] |= {
        "functions": {
            "greet": {"handler": "tests.support.routing_targets:greet"},
            "reject": {"handler": "tests.support.routing_targets:reject"},
            "flaky": {"handler": "tests.support.routing_targets:flaky"},
            "slow": {"handler": "tests.support.routing_targets:slow", "timeout_ms": 300},
            "remote": {"url": f"{base_url}/functions/remote"},
        },
        "features": {
            "onboarding": {"workflow": "tests.support.routing_targets:OnboardingWorkflow"},
            "refund-check": {"workflow": "tests.support.routing_targets:RefundCheckWorkflow"},
        },
        "fallbacks": {
            "welcome": {
                "options": [
                    {**ACTION, "event": "missing", "input": {"body": {"channel": "primary"}}},
                    {**ACTION, "event": "send_welcome_email", "input": {"body": {"channel": "backup"}}},
                ]
            },
            "hopeless": {"options": [{**ACTION, "event": "missing"}, {"type": "function", "event": "reject"}]},
        },
        "quotas": {
            "spread": {
                "options": [
                    {**ACTION, "event": "missing", "weight": 3},
                    {**ACTION, "event": "send_welcome_email", "weight": 1},
                ]
            }
        },
    }
    return parse_product_config(data)


@pytest.fixture
async def ductape(dev_env: WorkflowEnvironment, http_target: HttpTarget, task_queue: str) -> AsyncIterator[Ductape]:
    config = routing_config(http_target.url)
    http_target.script("/missing", [404])
    routing_targets.calls.clear()
    async with job_worker(dev_env.client, task_queue=task_queue, config=config, secrets=SecretStore(SECRETS)):
        yield Ductape(dev_env.client, task_queue=task_queue, config=config, secrets=SecretStore(SECRETS))


def job(event_type: str, event: str, **fields: Any) -> dict[str, Any]:
    return {"product_tag": "my-product", "env": "dev", "type": event_type, "event": event, "input": {}} | fields


async def readable_in_the_web_ui(env: WorkflowEnvironment, job_id: str, event_type: str, summary: str) -> None:
    """What the Web UI's list and job page show: the event type attribute and the summary."""
    description = await env.client.get_workflow_handle(job_id).describe()
    assert description.typed_search_attributes.get(names.EVENT_TYPE) == event_type
    assert await description.static_summary() == summary


async def test_function_job_returns_what_the_callable_returned(ductape: Ductape, dev_env: WorkflowEnvironment) -> None:
    result = await ductape.processor.job.schedule(job("function", "greet", input={"payload": {"name": "Ada"}}))
    assert await ductape.jobs.result(result.job_id) == {"result": {"greeting": "Hello, Ada!", "letters": 3}}
    assert routing_targets.calls["greet"] == 1
    await readable_in_the_web_ui(dev_env, result.job_id, "function", "function greet · my-product/dev")


async def test_function_value_error_is_not_retried(ductape: Ductape) -> None:
    result = await ductape.processor.job.schedule(
        job("function", "reject", input={"payload": {"plan": "gold"}}, retries=3)
    )
    with pytest.raises(JobFailedError) as failed:
        await ductape.jobs.result(result.job_id)
    assert failed.value.error_type == "ValueError"
    assert "no such plan: gold" in failed.value.message
    assert routing_targets.calls["reject"] == 1


async def test_function_connection_error_is_retried_until_it_succeeds(ductape: Ductape) -> None:
    result = await ductape.processor.job.schedule(
        job("function", "flaky", retries=3, retry={"initialDelay": 100, "maxDelay": 200})
    )
    assert await ductape.jobs.result(result.job_id) == {"result": "ready"}
    assert routing_targets.calls["flaky"] == 3


async def test_function_timeout_fails_as_timeout(ductape: Ductape) -> None:
    result = await ductape.processor.job.schedule(job("function", "slow"))
    with pytest.raises(JobFailedError) as failed:
        await ductape.jobs.result(result.job_id)
    assert failed.value.error_type == "TIMEOUT"


async def test_http_function_gets_the_payload(ductape: Ductape, http_target: HttpTarget) -> None:
    result = await ductape.processor.job.schedule(job("function", "remote", input={"payload": {"n": 7}}))
    outcome = await ductape.jobs.result(result.job_id)
    (call,) = http_target.calls("/functions/remote")
    assert call.body == {"payload": {"n": 7}}
    assert outcome["result"]["echo"] == {"payload": {"n": 7}}  # the target echoes what it received


async def test_workflow_job_runs_the_feature_as_a_child(ductape: Ductape, dev_env: WorkflowEnvironment) -> None:
    result = await ductape.workflows.dispatch(
        {"product_tag": "my-product", "env": "dev", "workflow": "onboarding", "input": {"user": "u-9"}}
    )
    assert await ductape.jobs.result(result.job_id) == {"user": "u-9", "steps": ["account", "profile", "welcome"]}
    handle = dev_env.client.get_workflow_handle(result.job_id)
    children = [
        e.start_child_workflow_execution_initiated_event_attributes
        async for e in handle.fetch_history_events()
        if e.event_type == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED
    ]
    assert [c.workflow_type.name for c in children] == ["Onboarding"]
    description = await handle.describe()
    assert description.typed_search_attributes.get(names.EVENT_TYPE) == "feature"
    assert await description.static_summary() == "feature onboarding · my-product/dev"


async def test_failing_feature_fails_the_job_with_its_cause(ductape: Ductape) -> None:
    result = await ductape.workflows.dispatch(
        {"product_tag": "my-product", "env": "dev", "workflow": "refund-check", "input": {"amount": 900}}
    )
    with pytest.raises(JobFailedError) as failed:
        await ductape.jobs.result(result.job_id)
    assert failed.value.error_type == "REFUND_TOO_LARGE"
    assert "refund of 900 is over the limit" in failed.value.message


async def test_fallback_moves_to_the_next_option_when_one_fails(
    ductape: Ductape, http_target: HttpTarget, dev_env: WorkflowEnvironment
) -> None:
    result = await ductape.processor.job.schedule(job("fallback", "welcome", input={"body": {"to": "ada@example.com"}}))
    outcome = await ductape.jobs.result(result.job_id)
    assert outcome["option"] == "action email-service/send_welcome_email"
    assert outcome["index"] == 1
    assert [f["option"] for f in outcome["failed"]] == ["action email-service/missing"]
    assert outcome["failed"][0]["error"].startswith("NOT_FOUND")
    assert len(http_target.calls("/missing")) == 1
    (call,) = http_target.calls("/v1/welcome")
    # The job's input is laid over the option's own input, object by object.
    assert call.body == {"to": "ada@example.com", "channel": "backup"}
    description = await dev_env.client.get_workflow_handle(result.job_id).describe()
    assert description.typed_search_attributes.get(names.EVENT_TYPE) == "fallback"


async def test_fallback_whose_options_all_fail_fails_naming_each(ductape: Ductape) -> None:
    result = await ductape.processor.job.schedule(job("fallback", "hopeless", input={"payload": {"plan": "x"}}))
    with pytest.raises(JobFailedError) as failed:
        await ductape.jobs.result(result.job_id)
    assert failed.value.error_type == "ALL_OPTIONS_FAILED"
    assert "action email-service/missing: NOT_FOUND" in failed.value.message
    assert "function reject: ValueError" in failed.value.message


async def test_quota_runs_one_option_and_takes_the_next_on_failure(
    ductape: Ductape, http_target: HttpTarget, dev_env: WorkflowEnvironment
) -> None:
    outcomes = []
    for _ in range(4):
        result = await ductape.processor.job.schedule(job("quota", "spread"))
        outcomes.append(await ductape.jobs.result(result.job_id))
    await readable_in_the_web_ui(dev_env, result.job_id, "quota", "quota spread · my-product/dev")
    assert all(o["option"] == "action email-service/send_welcome_email" for o in outcomes)
    assert len(http_target.calls("/v1/welcome")) == 4
    # Whenever the failing option was drawn first, it was tried once, then the next one took over.
    assert len(http_target.calls("/missing")) == sum(len(o["failed"]) for o in outcomes)


@pytest.mark.parametrize(
    ("data", "field", "reason"),
    [
        (job("function", "nope"), "event", "function 'nope' is not defined"),
        (job("quota", "nope"), "event", "quota 'nope' is not defined"),
        (job("fallback", "nope"), "event", "fallback 'nope' is not defined"),
    ],
)
async def test_unknown_tags_are_refused_before_anything_starts(
    ductape: Ductape, data: dict[str, Any], field: str, reason: str
) -> None:
    with pytest.raises(JobInputError) as err:
        await ductape.processor.job.schedule(data)
    assert err.value.field == field
    assert reason in str(err.value)


async def test_unknown_feature_names_the_workflow_field(ductape: Ductape) -> None:
    with pytest.raises(JobInputError) as err:
        await ductape.workflows.dispatch({"product_tag": "my-product", "env": "dev", "workflow": "nope"})
    assert err.value.field == "workflow"


def test_config_refuses_a_function_with_two_targets_and_a_nested_option() -> None:
    with pytest.raises(ConfigError, match="exactly one of `handler` and `url`"):
        parse_product_config(
            {"products": {"p": {"envs": ["dev"], "functions": {"f": {"handler": "a:b", "url": "http://x"}}}}}
        )
    with pytest.raises(ConfigError, match="cannot itself be a fallback"):
        parse_product_config(
            {"products": {"p": {"envs": ["dev"], "quotas": {"q": {"options": [{"type": "fallback", "event": "x"}]}}}}}
        )


async def test_worker_refuses_to_start_with_a_bad_handler(dev_env: WorkflowEnvironment, task_queue: str) -> None:
    config = parse_product_config(
        {"products": {"p": {"envs": ["dev"], "functions": {"f": {"handler": "tests.support.routing_targets:missing"}}}}}
    )
    with pytest.raises(ConfigError, match=r"products\.p\.functions\.f\.handler: .*has no 'missing'"):
        async with job_worker(dev_env.client, task_queue=task_queue, config=config, secrets=SecretStore({})):
            pass


async def test_a_type_without_a_config_section_fails_at_once_naming_the_section(
    ductape: Ductape, dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    # A client without the config cannot check the job; the worker's config has no `brokers`.
    blind = Ductape(dev_env.client, task_queue=task_queue)
    job = await blind.events.dispatch(
        {"product": "my-product", "env": "dev", "broker": "bus", "event": "x", "input": {"message": 1}, "retries": 3}
    )
    with pytest.raises(JobFailedError) as failed:
        await blind.jobs.result(job.job_id)
    assert failed.value.error_type == "CONFIG_ERROR"
    assert "no `brokers` section" in failed.value.message
    assert (await blind.jobs.get(job.job_id)).retry_count == 0
