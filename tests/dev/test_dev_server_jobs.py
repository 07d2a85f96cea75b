"""End to end on the real Temporal dev server: the Ductape client, a real worker, a real HTTP target.

These are the spine's acceptance checks: real time, bounded to a few seconds each.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter
from temporalio.testing import WorkflowEnvironment

from ductape_jobs import Ductape, JobFailedError, JobInputError, JobNotFoundError
from ductape_jobs.activities.config.product_config import ProductConfig
from ductape_jobs.activities.config.secrets import SecretStore
from ductape_jobs.activities.session.tokens import issue_session_token
from ductape_jobs.scheduling import facts
from ductape_jobs.workflows import names
from tests.conftest import SECRETS, SESSION_KEY
from tests.support.http_target import HttpTarget
from tests.support.waiting import eventually
from tests.support.workers import job_worker


@pytest.fixture
async def ductape(
    dev_env: WorkflowEnvironment, product_config: ProductConfig, task_queue: str
) -> AsyncIterator[Ductape]:
    async with job_worker(
        dev_env.client,
        task_queue=task_queue,
        config=product_config,
        secrets=SecretStore(SECRETS),
    ):
        yield Ductape(dev_env.client, task_queue=task_queue, config=product_config, secrets=SecretStore(SECRETS))


def job(event: str, **fields: Any) -> dict[str, Any]:
    return {"product_tag": "my-product", "env": "dev", "app": "email-service", "event": event, "input": {}} | fields


async def test_delayed_job_with_session_runs_once_five_seconds_later(ductape: Ductape, http_target: HttpTarget) -> None:
    token = issue_session_token(
        tag="user-session",
        data={"details": {"id": "u-7", "email": "grace@example.com"}},
        key=SESSION_KEY,
        now=datetime.now(UTC),
    )
    dispatched = time.time()
    result = await ductape.processor.job.schedule(
        job(
            "send_welcome_email",
            start_at=int((dispatched + 5) * 1000),
            session={"tag": "user-session", "token": token},
            input={"body": {"userId": "$Session{details}{id}", "to": "$Session{details}{email}", "at": "$Now()"}},
        )
    )
    assert result.status == "scheduled"
    assert result.recurring is False
    assert (await ductape.jobs.get(result.job_id)).status == "scheduled"

    outcome = await ductape.jobs.result(result.job_id)
    (call,) = http_target.calls("/v1/welcome")
    assert 4.0 <= call.at - dispatched <= 6.0
    assert call.body["userId"] == "u-7"
    assert call.body["to"] == "grace@example.com"
    assert call.body["at"] >= int((dispatched + 5) * 1000) - 1000
    assert outcome["status"] == 200
    record = await ductape.jobs.get(result.job_id)
    assert record.status == "completed"
    assert (record.product, record.env, record.event, record.app) == (
        "my-product",
        "dev",
        "send_welcome_email",
        "email-service",
    )


@pytest.mark.parametrize("limit", [3, 1])
async def test_every_two_seconds_with_a_limit_runs_exactly_that_many_times(
    ductape: Ductape, http_target: HttpTarget, limit: int
) -> None:
    result = await ductape.processor.job.schedule(
        job("send_welcome_email", start_at=0, repeat={"every": 2000, "limit": limit})
    )
    assert result.recurring is True
    assert result.status == "queued"
    await eventually(lambda: _count(http_target, "/v1/welcome", limit), within=12)
    await asyncio.sleep(2.5)  # one more period: one run too many would have come by now
    assert len(http_target.calls("/v1/welcome")) == limit
    record = await ductape.jobs.get(result.job_id)
    assert record.execution_count == limit
    assert record.status == "completed"


async def _count(target: HttpTarget, path: str, n: int) -> bool:
    return len(target.calls(path)) >= n


async def test_500_twice_then_200_succeeds_after_three_calls(ductape: Ductape, http_target: HttpTarget) -> None:
    http_target.script("/flaky", [500, 500, 200])
    result = await ductape.actions.dispatch(
        {
            "env": "dev",
            "product": "my-product",
            "app": "email-service",
            "event": "flaky",
            "retries": 3,
            "retry": {"initialDelay": 200},
        }
    )
    assert result.status == "queued"
    outcome = await ductape.jobs.result(result.job_id)
    assert outcome["status"] == 200
    assert len(http_target.calls("/flaky")) == 3
    assert (await ductape.jobs.get(result.job_id)).status == "completed"


async def test_404_is_called_once_and_the_job_is_failed(ductape: Ductape, http_target: HttpTarget) -> None:
    http_target.script("/missing", [404])
    result = await ductape.processor.job.schedule(job("missing", retries=3, start_at=0))
    with pytest.raises(JobFailedError) as failed:
        await ductape.jobs.result(result.job_id)
    assert failed.value.error_type == "NOT_FOUND"
    assert len(http_target.calls("/missing")) == 1
    record = await ductape.jobs.get(result.job_id)
    assert record.status == "failed"
    assert record.last_error is not None
    assert record.last_error.startswith("NOT_FOUND")


async def test_cron_with_time_zone_reports_the_servers_next_run(ductape: Ductape, dev_env: WorkflowEnvironment) -> None:
    result = await ductape.actions.dispatch(
        {
            "env": "dev",
            "product": "my-product",
            "app": "email-service",
            "event": "send_welcome_email",
            "schedule": {"cron": "0 9 * * 1", "tz": "Europe/Amsterdam"},
        }
    )
    described = await dev_env.client.get_schedule_handle(result.job_id).describe()
    # The schedule fires its runs early by the arm shift; the job's own time is the server's plus it.
    server_next = described.info.next_action_times[0] + timedelta(seconds=facts(described).arm_shift_s or 0)
    assert result.next_run_at == int(server_next.timestamp() * 1000)
    zone = ZoneInfo("Europe/Amsterdam")
    expected = croniter("0 9 * * 1", datetime.now(zone)).get_next(datetime)
    assert server_next == expected.astimezone(UTC)
    assert result.status == "scheduled"
    assert described.schedule.spec.cron_expressions == []  # never handed to Temporal as a cron string
    await ductape.jobs.cancel(result.job_id)


async def test_end_date_stops_the_schedule(ductape: Ductape, dev_env: WorkflowEnvironment) -> None:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    end = start + timedelta(minutes=5, seconds=30)
    result = await ductape.processor.job.schedule(
        job("send_welcome_email", start_at=start.isoformat(), repeat={"every": 60_000, "endDate": end.isoformat()})
    )
    described = await dev_env.client.get_schedule_handle(result.job_id).describe()
    times = described.info.next_action_times
    assert times == [start + timedelta(minutes=k) for k in range(6)]
    assert result.scheduled_at == int(start.timestamp() * 1000)
    await ductape.jobs.cancel(result.job_id)


async def test_limit_caps_the_servers_next_runs(ductape: Ductape, dev_env: WorkflowEnvironment) -> None:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
    result = await ductape.processor.job.schedule(
        job("send_welcome_email", start_at=start.isoformat(), repeat={"every": 3_600_000, "limit": 4})
    )
    described = await dev_env.client.get_schedule_handle(result.job_id).describe()
    early = timedelta(seconds=facts(described).arm_shift_s or 0)
    assert [t + early for t in described.info.next_action_times] == [start + timedelta(hours=k) for k in range(4)]
    await ductape.jobs.cancel(result.job_id)


async def test_cron_and_every_the_cron_rules_when_it_has_a_run(ductape: Ductape, dev_env: WorkflowEnvironment) -> None:
    result = await ductape.processor.job.schedule(
        job("send_welcome_email", start_at=0, repeat={"cron": "0 9 * * *", "every": 60_000})
    )
    described = await dev_env.client.get_schedule_handle(result.job_id).describe()
    expected = croniter("0 9 * * *", datetime.now(UTC)).get_next(datetime)
    assert result.next_run_at == int(expected.timestamp() * 1000)
    assert (await ductape.jobs.get(result.job_id)).next_run_at == result.next_run_at
    assert described.schedule.spec.intervals == []
    await ductape.jobs.delete(result.job_id)


@pytest.mark.parametrize("window", ["cron that never fires", "no cron run before endDate"])
async def test_cron_and_every_every_takes_over_when_the_cron_has_no_run_in_the_window(
    ductape: Ductape, dev_env: WorkflowEnvironment, window: str
) -> None:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=10)
    repeat: dict[str, Any] = {"cron": "0 0 31 2 *", "every": 60_000}  # 31 February
    if window == "no cron run before endDate":
        later = datetime.now(UTC) + timedelta(days=2)  # a cron that fires, but only after the job's end
        repeat = {"cron": f"0 0 {later.day} {later.month} *", "every": 60_000}
    repeat["endDate"] = (start + timedelta(minutes=3, seconds=30)).isoformat()
    result = await ductape.processor.job.schedule(job("send_welcome_email", start_at=start.isoformat(), repeat=repeat))
    described = await dev_env.client.get_schedule_handle(result.job_id).describe()
    assert described.info.next_action_times == [start + timedelta(minutes=k) for k in range(4)]
    assert (result.scheduled_at, result.next_run_at) == (int(start.timestamp() * 1000),) * 2
    assert "has no run" in str((await ductape.jobs.get(result.job_id)).summary)
    await ductape.jobs.delete(result.job_id)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"env": None}, "env"),
        ({"retries": -1}, "retries"),
        ({"repeat": {"limit": 3}}, "repeat"),
        ({"repeat": {"cron": "0 9 * * MON#6"}}, "repeat.cron"),
        ({"repeat": {"every": 1000, "tz": "Mars/Olympus"}}, "repeat.tz"),
        ({"repeat": {"every": 1000, "limit": 0}}, "repeat.limit"),
        ({"repeat": {"every": 1000, "endDate": "2020-01-01T00:00:00Z"}}, "repeat.endDate"),
        ({"event": "no_such_action"}, "event"),
        ({"type": "teleport"}, "type"),
        ({"session": "user-session:not-a-jwt"}, "session"),
    ],
)
async def test_malformed_input_raises_before_anything_starts(
    ductape: Ductape, unique: Callable[[str], str], change: dict[str, Any], field: str
) -> None:
    job_id = unique("malformed")
    data = {k: v for k, v in (job("send_welcome_email", job_id=job_id) | change).items() if v is not None}
    with pytest.raises(JobInputError) as err:
        await ductape.processor.job.schedule(data)
    assert err.value.field == field
    with pytest.raises(JobNotFoundError):
        await ductape.jobs.get(job_id)


async def test_job_carries_search_attributes_and_a_readable_summary(
    ductape: Ductape, dev_env: WorkflowEnvironment, http_target: HttpTarget
) -> None:
    result = await ductape.processor.job.schedule(job("send_welcome_email", start_at=0))
    await ductape.jobs.result(result.job_id)
    description = await dev_env.client.get_workflow_handle(result.job_id).describe()
    attributes = description.typed_search_attributes
    assert attributes.get(names.PRODUCT) == "my-product"
    assert attributes.get(names.ENV) == "dev"
    assert attributes.get(names.EVENT_TYPE) == "action"
    assert attributes.get(names.EVENT) == "send_welcome_email"
    assert attributes.get(names.APP) == "email-service"
    assert await description.static_summary() == "action email-service/send_welcome_email · my-product/dev"

    async def listed() -> bool:
        query = f'DuctapeProduct = "my-product" AND WorkflowId = "{result.job_id}"'
        return [w.id async for w in dev_env.client.list_workflows(query)] == [result.job_id]

    await eventually(listed)


async def test_same_caller_job_id_dispatched_twice_runs_once(
    ductape: Ductape, http_target: HttpTarget, unique: Callable[[str], str]
) -> None:
    job_id = unique("idempotent")
    first = await ductape.processor.job.schedule(job("send_welcome_email", job_id=job_id))
    await ductape.jobs.result(job_id)
    second = await ductape.processor.job.schedule(job("send_welcome_email", job_id=job_id))
    assert first.job_id == second.job_id == job_id
    assert first.scheduled_at == second.scheduled_at
    assert len(http_target.calls("/v1/welcome")) == 1


async def test_cancel_a_waiting_job_and_a_recurring_job(ductape: Ductape, http_target: HttpTarget) -> None:
    later = datetime.now(UTC) + timedelta(hours=1)
    one_off = await ductape.processor.job.schedule(job("send_welcome_email", start_at=later.isoformat()))
    recurring = await ductape.processor.job.schedule(
        job("send_welcome_email", start_at=later.isoformat(), repeat={"every": 60_000})
    )
    assert (await ductape.jobs.cancel(one_off.job_id)).status == "cancelled"
    cancelled = await ductape.jobs.cancel(recurring.job_id)
    assert cancelled.status == "cancelled"
    assert cancelled.next_run_at is None
    with pytest.raises(JobFailedError) as failed:
        await ductape.jobs.result(one_off.job_id)
    assert failed.value.error_type == "CANCELLED"
    assert http_target.requests == []


async def test_unknown_job_is_reported(ductape: Ductape) -> None:
    with pytest.raises(JobNotFoundError):
        await ductape.jobs.get("job:nope:nope:nope:0")
