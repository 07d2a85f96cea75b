"""``JobWorkflow`` on the time-skipping server, against a real HTTP target and the real activities."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.testing import WorkflowEnvironment

from ductape_jobs.activities.config.product_config import ProductConfig
from ductape_jobs.activities.config.secrets import SecretStore
from ductape_jobs.activities.session.tokens import issue_session_token
from ductape_jobs.planning.inputs import normalise_job
from ductape_jobs.planning.plan import plan_job
from ductape_jobs.workflows.contracts.job import ISession, JobOutcome, JobWorkflowInput
from ductape_jobs.workflows.names import JOB_WORKFLOW, RESOLVE_PLACEHOLDERS
from tests.conftest import SECRETS, SESSION_KEY
from tests.support.http_target import HttpTarget
from tests.support.workers import job_worker


def job(event: str, **fields: Any) -> dict[str, Any]:
    return {"product_tag": "my-product", "env": "dev", "app": "email-service", "event": event, "input": {}} | fields


async def start(
    client: Client, data: dict[str, Any], *, now: datetime, task_queue: str, config: ProductConfig
) -> WorkflowHandle[Any, JobOutcome]:
    """Plan through the real dispatch path, start without search attributes (the test server has none)."""
    plan = plan_job(
        normalise_job(data), now=now, task_queue=task_queue, config=config, secrets=SecretStore(SECRETS),
        arm_ahead=timedelta(0),  # the time-skipping server: an activity's real wait cannot skip its clock
    )  # fmt: skip
    return await client.start_workflow(
        JOB_WORKFLOW, plan.workflow_input, id=plan.job_id, task_queue=task_queue, result_type=JobOutcome
    )


async def events(handle: WorkflowHandle[Any, Any]) -> list[Any]:
    return [e async for e in handle.fetch_history_events()]


def failure_type(err: WorkflowFailureError | None) -> str | None:
    assert err is not None, "the job did not fail"
    assert isinstance(err.cause, ApplicationError)
    return err.cause.type


@dataclass
class Run:
    handle: WorkflowHandle[Any, JobOutcome]
    outcome: JobOutcome | None
    failure: WorkflowFailureError | None


@dataclass
class Runner:
    """Runs one job to its end on the time-skipping server, with the real worker."""

    env: WorkflowEnvironment
    config: ProductConfig
    task_queue: str

    async def run(
        self, data: dict[str, Any] | None = None, *, now: datetime | None = None, raw: JobWorkflowInput | None = None
    ) -> Run:
        async with job_worker(
            self.env.client,
            task_queue=self.task_queue,
            config=self.config,
            secrets=SecretStore(SECRETS),
        ):
            if raw is not None:
                handle = await self.env.client.start_workflow(
                    JOB_WORKFLOW, raw, id=raw.job_id, task_queue=self.task_queue, result_type=JobOutcome
                )
            else:
                assert data is not None
                moment = now or await self.env.get_current_time()
                handle = await start(self.env.client, data, now=moment, task_queue=self.task_queue, config=self.config)
            try:
                return Run(handle, await handle.result(), None)
            except WorkflowFailureError as err:
                return Run(handle, None, err)


@pytest.fixture
def runner(ts_env: WorkflowEnvironment, product_config: ProductConfig, task_queue: str) -> Runner:
    return Runner(ts_env, product_config, task_queue)


async def test_job_three_days_ahead_runs_at_its_virtual_time(
    runner: Runner, ts_env: WorkflowEnvironment, http_target: HttpTarget
) -> None:
    now = await ts_env.get_current_time()
    due = now + timedelta(days=3)
    run = await runner.run(job("send_welcome_email", start_at=due.isoformat(), input={"body": {"id": 1}}), now=now)
    assert run.outcome is not None
    assert run.outcome.result["status"] == 200
    assert len(http_target.calls("/v1/welcome")) == 1
    history = await events(run.handle)
    started = next(e for e in history if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED)
    ran_at = started.event_time.ToDatetime().replace(tzinfo=UTC)
    assert due <= ran_at < due + timedelta(seconds=30)
    assert any(e.event_type == EventType.EVENT_TYPE_TIMER_FIRED for e in history)


async def test_retries_give_retries_plus_one_attempts_then_fail(runner: Runner, http_target: HttpTarget) -> None:
    http_target.script("/flaky", [500])
    run = await runner.run(job("flaky", retries=3))
    assert len(http_target.calls("/flaky")) == 4
    assert failure_type(run.failure) == "SERVER_ERROR"


async def test_500_twice_then_200_succeeds_on_the_third_call_with_one_idempotency_key(
    runner: Runner, http_target: HttpTarget
) -> None:
    http_target.script("/flaky", [500, 500, 200])
    run = await runner.run(job("flaky", retries=3))
    calls = http_target.calls("/flaky")
    assert len(calls) == 3
    assert run.outcome is not None
    assert run.outcome.result["status"] == 200
    keys = {c.headers["Idempotency-Key"] for c in calls}
    assert len(keys) == 1
    assert keys != {""}


async def test_404_fails_at_once_without_retrying(runner: Runner, http_target: HttpTarget) -> None:
    http_target.script("/missing", [404])
    run = await runner.run(job("missing", retries=3))
    assert len(http_target.calls("/missing")) == 1
    assert failure_type(run.failure) == "NOT_FOUND"


async def test_session_placeholders_and_now_are_resolved_and_secrets_sent(
    runner: Runner, http_target: HttpTarget
) -> None:
    token = issue_session_token(
        tag="user-session",
        data={"details": {"id": "u-42", "email": "ada@example.com", "age": 36}},
        key=SESSION_KEY,
        now=datetime.now(UTC),
    )
    body = {
        "userId": "$Session{details}{id}",
        "greeting": "Hello $Session{details}{email}!",
        "age": "$Session{details}{age}",
        "sentAt": "$Now()",
        "nested": [{"who": "$Session{details}{id}"}],
    }
    before_ms = int(datetime.now(UTC).timestamp() * 1000)
    run = await runner.run(job("send_welcome_email", input={"body": body}, session=f"user-session:{token}"))
    (call,) = http_target.calls("/v1/welcome")
    assert call.body["userId"] == "u-42"
    assert call.body["greeting"] == "Hello ada@example.com!"
    assert call.body["age"] == 36
    assert call.body["nested"] == [{"who": "u-42"}]
    assert isinstance(call.body["sentAt"], int)
    assert call.body["sentAt"] >= before_ms
    assert call.headers["Authorization"] == f"Bearer {SECRETS['EMAIL_KEY']}"
    names = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in await events(run.handle)
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]
    assert names == [RESOLVE_PLACEHOLDERS, "ductape.run_action"]


async def test_plain_job_adds_no_resolution_events(runner: Runner, http_target: HttpTarget) -> None:
    run = await runner.run(job("send_welcome_email", input={"body": {"cost": "$5"}}))
    history = await events(run.handle)
    scheduled = [e for e in history if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED]
    assert len(scheduled) == 1
    assert http_target.calls("/v1/welcome")[0].body == {"cost": "$5"}


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("wrong_key", "SESSION_INVALID"),
        ("wrong_tag", "SESSION_WRONG_TAG"),
        ("missing_path", "SESSION_PATH_MISSING"),
        ("expired", "SESSION_EXPIRED"),
    ],
)
async def test_bad_session_at_run_time_fails_without_calling_the_target(
    runner: Runner, product_config: ProductConfig, task_queue: str, http_target: HttpTarget, case: str, expected: str
) -> None:
    real_now = datetime.now(UTC)
    key = "another-key-entirely-0123456789" if case == "wrong_key" else SESSION_KEY
    tag = "admin-session" if case == "wrong_tag" else "user-session"
    issued = real_now - timedelta(hours=2) if case == "expired" else real_now
    token = issue_session_token(tag=tag, data={"details": {"id": "u-1"}}, key=key, now=issued)
    path = "nope" if case == "missing_path" else "id"
    good = issue_session_token(tag="user-session", data={"details": {"id": "u-1"}}, key=SESSION_KEY, now=real_now)
    data = job("send_welcome_email", input={"body": {"id": f"$Session{{details}}{{{path}}}"}},
               session={"tag": "user-session", "token": good})  # fmt: skip
    plan = plan_job(normalise_job(data), now=real_now, task_queue=task_queue, config=product_config, secrets=None)
    # The bad session is planted past the dispatch checks, as if the token went bad while the job waited.
    run = await runner.run(
        raw=plan.workflow_input.model_copy(update={"session": ISession(tag="user-session", token=token)})
    )
    assert failure_type(run.failure) == expected
    assert http_target.requests == []
    assert token not in str(run.failure)


@pytest.mark.parametrize(
    "retry",
    [{"retryableErrors": ["RATE_LIMITED"]}, {"nonRetryableErrors": ["SERVER_ERROR"]}],
    ids=["allow-list-without-5xx", "5xx-marked-non-retryable"],
)
async def test_retry_rules_decide_which_errors_retry(
    runner: Runner, http_target: HttpTarget, retry: dict[str, Any]
) -> None:
    http_target.script("/flaky", [500])
    run = await runner.run(job("flaky", retries=5, retry=retry))
    assert failure_type(run.failure) == "SERVER_ERROR"
    assert len(http_target.calls("/flaky")) == 1


async def test_backoff_follows_the_retry_config(runner: Runner, http_target: HttpTarget) -> None:
    http_target.script("/flaky", [503, 503, 503, 200])
    retry = {"initialDelay": 10_000, "backoffMultiplier": 3, "maxDelay": 20_000}
    run = await runner.run(job("flaky", retries=3, retry=retry))
    (scheduled,) = [e for e in await events(run.handle) if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED]
    policy = scheduled.activity_task_scheduled_event_attributes.retry_policy
    assert policy.maximum_attempts == 4
    assert policy.initial_interval.ToTimedelta() == timedelta(seconds=10)
    assert policy.backoff_coefficient == 3
    assert policy.maximum_interval.ToTimedelta() == timedelta(seconds=20)
    assert len(http_target.calls("/flaky")) == 4


async def test_cancel_while_waiting_for_start_at(
    ts_env: WorkflowEnvironment, http_target: HttpTarget, product_config: ProductConfig, task_queue: str
) -> None:
    now = await ts_env.get_current_time()
    async with job_worker(ts_env.client, task_queue=task_queue, config=product_config, secrets=SecretStore(SECRETS)):
        handle = await start(
            ts_env.client,
            job("send_welcome_email", start_at=(now + timedelta(hours=5)).isoformat()),
            now=now,
            task_queue=task_queue,
            config=product_config,
        )
        await handle.cancel()
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()
    assert isinstance(failed.value.cause, CancelledError)
    assert http_target.requests == []
