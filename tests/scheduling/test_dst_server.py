"""The DST policy on the real dev server: the union of a job's main schedule and its ``~dst`` companion
lists exactly the runs the policy wants (the server's own ``next_action_times``, no waiting), and
``ductape.jobs`` treats the pair as one job.

The transitions are those of 2027 (the server lists only future times; 2026's are checked locally
in tests/planning/test_dst_policy.py)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from temporalio.client import (
    Client,
    DescribeScheduleInput,
    Interceptor,
    OutboundInterceptor,
    ScheduleDescription,
)
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

import ductape_jobs.scheduling.dispatch
from ductape_jobs import Ductape, JobInputError, JobNotFoundError
from ductape_jobs.activities.config.product_config import ProductConfig
from ductape_jobs.activities.config.secrets import SecretStore
from ductape_jobs.scheduling import facts
from ductape_jobs.workflows.contracts.management import JobMemo
from tests.conftest import SECRETS


@pytest.fixture
def ductape(dev_env: WorkflowEnvironment, product_config: ProductConfig, task_queue: str) -> Ductape:
    # No worker: every run asserted here lies in 2027, far after the test ends.
    return Ductape(dev_env.client, task_queue=task_queue, config=product_config, secrets=SecretStore(SECRETS))


def job(cron: str, zone: str, start: datetime, **repeat: Any) -> dict[str, Any]:
    return {
        "product_tag": "my-product", "env": "dev", "app": "email-service", "event": "send_welcome_email",
        "input": {}, "job_id": f"dst-{uuid.uuid4().hex[:10]}", "start_at": start.isoformat(),
        "repeat": {"cron": cron, "tz": zone, **repeat},
    }  # fmt: skip


async def describe(client: Client, schedule_id: str) -> ScheduleDescription | None:
    try:
        return await client.get_schedule_handle(schedule_id).describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return None
        raise


async def union(client: Client, job_id: str, until: datetime) -> list[datetime]:
    """The pair's next action times up to ``until``, as the server lists them: the main schedule's
    plus its arm shift (an armed main schedule fires that much early; its companion never does)."""
    times: list[datetime] = []
    for schedule_id in (job_id, f"{job_id}~dst"):
        described = await describe(client, schedule_id)
        if described is None:
            continue
        early = timedelta(seconds=facts(described).arm_shift_s or 0)
        assert schedule_id == job_id or not early
        times += [t + early for t in described.info.next_action_times]
    return sorted(t for t in times if t < until)


def local(times: list[datetime], zone: str) -> list[str]:
    return [t.astimezone(ZoneInfo(zone)).strftime("%m-%d %H:%M%z") for t in times]


CASES = [
    ("30 2 * * *", "Europe/Amsterdam", "2027-03-27",
     ["03-27 02:30+0100", "03-28 03:00+0200", "03-29 02:30+0200"],
     ["03-27 02:30+0100", "03-29 02:30+0200"]),
    ("30 2 * * *", "Europe/Amsterdam", "2027-10-30",
     ["10-30 02:30+0200", "10-31 02:30+0200", "11-01 02:30+0100"],
     ["10-30 02:30+0200", "10-31 02:30+0200", "10-31 02:30+0100", "11-01 02:30+0100"]),
    ("30 2 * * *", "America/New_York", "2027-03-13",
     ["03-13 02:30-0500", "03-14 03:00-0400", "03-15 02:30-0400"],
     ["03-13 02:30-0500", "03-15 02:30-0400"]),
    ("30 1 * * *", "America/New_York", "2027-11-06",
     ["11-06 01:30-0400", "11-07 01:30-0400", "11-08 01:30-0500"],
     ["11-06 01:30-0400", "11-07 01:30-0400", "11-07 01:30-0500", "11-08 01:30-0500"]),
    ("30 2 * * *", "Australia/Sydney", "2027-04-03",
     ["04-03 02:30+1100", "04-04 02:30+1100", "04-05 02:30+1000"],
     ["04-03 02:30+1100", "04-04 02:30+1100", "04-04 02:30+1000", "04-05 02:30+1000"]),
    ("30 2 * * *", "Australia/Sydney", "2027-10-02",
     ["10-02 02:30+1000", "10-03 03:00+1100", "10-04 02:30+1100"],
     ["10-02 02:30+1000", "10-04 02:30+1100"]),
]  # fmt: skip


@pytest.mark.parametrize(("cron", "zone", "day", "default", "skip_both"), CASES)
async def test_the_server_runs_what_the_policy_wants(
    ductape: Ductape, dev_env: WorkflowEnvironment, cron: str, zone: str, day: str, default: list[str],
    skip_both: list[str],
) -> None:  # fmt: skip
    start = datetime.fromisoformat(day).replace(tzinfo=ZoneInfo(zone))
    until = start + timedelta(days=3)
    plain = await ductape.processor.job.schedule(job(cron, zone, start))
    other = await ductape.processor.job.schedule(job(cron, zone, start, dst={"skipped": "skip", "repeated": "both"}))
    try:
        assert local(await union(dev_env.client, plain.job_id, until), zone) == default
        assert local(await union(dev_env.client, other.job_id, until), zone) == skip_both
        assert plain.next_run_at == int(start.replace(hour=int(cron.split()[1]), minute=30).timestamp() * 1000)
    finally:
        await ductape.jobs.delete(plain.job_id)
        await ductape.jobs.delete(other.job_id)


async def test_no_companion_for_a_moving_hour_or_a_zone_without_dst(
    ductape: Ductape, dev_env: WorkflowEnvironment
) -> None:
    start = datetime(2027, 3, 28, tzinfo=ZoneInfo("Europe/Amsterdam"))
    hourly = await ductape.processor.job.schedule(job("30 * * * *", "Europe/Amsterdam", start))
    tokyo = await ductape.processor.job.schedule(job("30 2 * * *", "Asia/Tokyo", start))
    try:
        for result in (hourly, tokyo):
            assert await describe(dev_env.client, f"{result.job_id}~dst") is None
            main = await describe(dev_env.client, result.job_id)
            assert main is not None
            assert not main.schedule.spec.skip
        # the hourly job keeps the server's real-time cadence through the gap: 01:30 then 03:30
        times = local(await union(dev_env.client, hourly.job_id, start + timedelta(days=3)), "Europe/Amsterdam")
        assert times[:3] == ["03-28 00:30+0100", "03-28 01:30+0100", "03-28 03:30+0200"]
    finally:
        await ductape.jobs.delete(hourly.job_id)
        await ductape.jobs.delete(tokyo.job_id)


async def test_the_limit_is_shared_between_the_two_schedules(ductape: Ductape, dev_env: WorkflowEnvironment) -> None:
    zone = "Europe/Amsterdam"
    start = datetime(2027, 3, 27, tzinfo=ZoneInfo(zone))
    result = await ductape.processor.job.schedule(job("30 2 * * *", zone, start, limit=3))
    try:
        assert local(await union(dev_env.client, result.job_id, start + timedelta(days=30)), zone) == [
            "03-27 02:30+0100", "03-28 03:00+0200", "03-29 02:30+0200",
        ]  # fmt: skip
        companion = await describe(dev_env.client, f"{result.job_id}~dst")
        assert companion is not None
        assert companion.schedule.state.remaining_actions == 1
    finally:
        await ductape.jobs.delete(result.job_id)


async def _listed(ductape: Ductape, job_id: str) -> list[Any]:
    for _ in range(50):  # visibility is eventually consistent
        page = await ductape.jobs.list(product="my-product", recurring=True, limit=500)
        found = [r for r in page.jobs if r.job_id.startswith(job_id)]
        if found:
            return found
        await asyncio.sleep(0.2)
    return []


async def test_get_list_pause_resume_reschedule_cancel_and_delete_treat_the_pair_as_one(
    ductape: Ductape, dev_env: WorkflowEnvironment
) -> None:
    zone = "Europe/Amsterdam"
    start = datetime(2027, 3, 28, tzinfo=ZoneInfo(zone))  # the change day itself: the companion runs first
    result = await ductape.processor.job.schedule(job("30 2 * * *", zone, start))
    job_id, companion_id = result.job_id, f"{result.job_id}~dst"
    first = datetime(2027, 3, 28, 1, 0, tzinfo=UTC)  # 03:00+02:00, just after the gap
    assert result.next_run_at == int(first.timestamp() * 1000)
    try:
        record = await ductape.jobs.get(job_id)
        assert (record.status, record.next_run_at, record.execution_count) == ("scheduled", result.next_run_at, 0)
        listed = await _listed(ductape, job_id)
        assert [r.job_id for r in listed] == [job_id]  # the companion is not a job of its own
        assert listed[0].next_run_at == result.next_run_at

        assert (await ductape.jobs.pause(job_id)).status == "paused"
        for schedule_id in (job_id, companion_id):
            described = await describe(dev_env.client, schedule_id)
            assert described is not None
            assert described.schedule.state.paused
        assert (await ductape.jobs.resume(job_id)).status == "scheduled"
        companion = await describe(dev_env.client, companion_id)
        assert companion is not None
        assert not companion.schedule.state.paused

        await ductape.jobs.reschedule(job_id, cron="45 2 * * *", start_at=start.isoformat())
        assert local(await union(dev_env.client, job_id, start + timedelta(days=2)), zone) == [
            "03-28 03:00+0200", "03-29 02:45+0200",
        ]  # fmt: skip
        companion = await describe(dev_env.client, companion_id)
        assert companion is not None
        memo = await ductape.jobs.schedule_memo(companion)
        assert (memo.cron, memo.companion_of) == ("45 2 * * *", job_id)

        assert (await ductape.jobs.history(job_id)).total_executions == 0  # runs of both schedules: none yet
        record = await ductape.jobs.cancel(job_id)
        assert (record.status, record.next_run_at) == ("cancelled", None)
        for schedule_id in (job_id, companion_id):
            described = await describe(dev_env.client, schedule_id)
            assert described is not None
            assert described.schedule.state.paused
            assert described.info.next_action_times == []
    finally:
        await ductape.jobs.delete(job_id)
    assert await describe(dev_env.client, job_id) is None
    assert await describe(dev_env.client, companion_id) is None


class DescribeCounter(Interceptor):
    """Records the ID of every schedule the client describes."""

    def __init__(self) -> None:
        self.ids: list[str] = []

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        ids = self.ids

        class Counting(OutboundInterceptor):
            async def describe_schedule(self, input: DescribeScheduleInput) -> ScheduleDescription:
                ids.append(input.id)
                return await super().describe_schedule(input)

        return Counting(next)


async def test_list_learns_the_companion_from_the_dispatch_flag_not_a_describe_per_zoned_cron_job(
    dev_env: WorkflowEnvironment, product_config: ProductConfig, task_queue: str
) -> None:
    counter = DescribeCounter()
    config = dev_env.client.config()
    config["interceptors"] = [counter]
    client = Client(**config)
    ductape = Ductape(client, task_queue=task_queue, config=product_config, secrets=SecretStore(SECRETS))
    zone = "Europe/Amsterdam"
    start = datetime(2027, 3, 28, tzinfo=ZoneInfo(zone))
    split = await ductape.processor.job.schedule(job("30 2 * * *", zone, start))
    hourly = await ductape.processor.job.schedule(job("30 * * * *", zone, start))  # zoned cron, no companion
    tokyo = await ductape.processor.job.schedule(job("30 2 * * *", "Asia/Tokyo", start))
    try:
        for result, flag in ((split, True), (hourly, None), (tokyo, None)):
            main = await describe(dev_env.client, result.job_id)
            assert main is not None
            assert JobMemo.model_validate(await main.memo()).dst_companion is flag
        counter.ids.clear()
        listed = {r.job_id: r for j in (split, hourly, tokyo) for r in await _listed(ductape, j.job_id)}
        # the companion's run just after the gap (03:00+02:00) comes before the main schedule's
        assert listed[split.job_id].next_run_at == int(datetime(2027, 3, 28, 1, 0, tzinfo=UTC).timestamp() * 1000)
        assert listed[hourly.job_id].next_run_at == hourly.next_run_at
        assert listed[tokyo.job_id].next_run_at == tokyo.next_run_at
        assert not {f"{hourly.job_id}~dst", f"{tokyo.job_id}~dst"} & set(counter.ids)
    finally:
        for result in (split, hourly, tokyo):
            await ductape.jobs.delete(result.job_id)


async def test_a_companion_id_is_no_job(ductape: Ductape, dev_env: WorkflowEnvironment) -> None:
    zone = "Europe/Amsterdam"
    result = await ductape.processor.job.schedule(job("30 2 * * *", zone, datetime(2027, 3, 28, tzinfo=ZoneInfo(zone))))
    companion_id = f"{result.job_id}~dst"
    jobs = ductape.jobs
    try:
        for call in (
            jobs.get,
            jobs.pause,
            jobs.resume,
            jobs.trigger,
            jobs.retry,
            jobs.cancel,
            jobs.result,
            jobs.delete,
        ):
            with pytest.raises(JobNotFoundError):
                await call(companion_id)
        with pytest.raises(JobNotFoundError):
            await jobs.reschedule(companion_id, cron="45 2 * * *")
        assert (await jobs.history(companion_id)).total_executions == 0
        companion = await describe(dev_env.client, companion_id)  # untouched by all of the above
        assert companion is not None
        assert not companion.schedule.state.paused
        assert (await jobs.get(result.job_id)).status == "scheduled"
        # no recurring job can take such an ID: it would be unreachable
        with pytest.raises(JobInputError) as err:
            await ductape.processor.job.schedule(
                job("30 2 * * *", "UTC", datetime(2027, 3, 28, tzinfo=UTC)) | {"job_id": companion_id}
            )
        assert err.value.field == "job_id"
    finally:
        await jobs.delete(result.job_id)


async def test_a_dispatch_retried_after_a_crash_creates_the_missing_companion(
    ductape: Ductape, dev_env: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch
) -> None:
    zone = "Europe/Amsterdam"
    start = datetime(2027, 3, 27, tzinfo=ZoneInfo(zone))
    payload = job("30 2 * * *", zone, start, limit=3)
    job_id, companion_id = payload["job_id"], f"{payload['job_id']}~dst"

    async def crash(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("the process died after creating the main schedule")

    monkeypatch.setattr(ductape_jobs.scheduling.dispatch, "create_companion", crash)
    with pytest.raises(ConnectionError):
        await ductape.processor.job.schedule(payload)
    monkeypatch.undo()
    try:
        assert await describe(dev_env.client, companion_id) is None
        result = await ductape.processor.job.schedule(payload)  # the caller retries: same job, same ID
        assert result.next_run_at == int(datetime(2027, 3, 27, 1, 30, tzinfo=UTC).timestamp() * 1000)
        assert local(await union(dev_env.client, job_id, start + timedelta(days=30)), zone) == [
            "03-27 02:30+0100", "03-28 03:00+0200", "03-29 02:30+0200",
        ]  # fmt: skip
        companion = await describe(dev_env.client, companion_id)
        assert companion is not None
        assert companion.schedule.state.remaining_actions == 1  # the limit of 3 still holds for the pair
        # another job dispatched under the ID gets the existing job back, and no companion of its own
        await dev_env.client.get_schedule_handle(companion_id).delete()
        await ductape.processor.job.schedule(job("45 2 * * *", zone, start, limit=3) | {"job_id": job_id})
        assert await describe(dev_env.client, companion_id) is None
    finally:
        await ductape.jobs.delete(job_id)
