"""``ductape.jobs.schedule_many`` on the dev server: every item validated before any is sent, sends
bounded by ``concurrency`` (counted by a client interceptor on the real calls), one result per item
in order, and an item failing when sent never stops or loses the others.

The jobs are due an hour ahead and no worker runs: what the tests check is what reached the server.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from temporalio.client import (
    Client,
    Interceptor,
    OutboundInterceptor,
    StartWorkflowInput,
    WorkflowExecutionStatus,
    WorkflowHandle,
)
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from ductape_jobs import BulkItemResult, BulkProgress, Ductape, JobInputError
from ductape_jobs.activities.config.secrets import SecretStore
from ductape_jobs.management.bulk_dispatch import send_all
from ductape_jobs.management.jobs import Jobs
from tests.conftest import SECRETS, product_config_for
from tests.support.http_target import HttpTarget

HOUR_MS = 3_600_000


@dataclass
class Bulk:
    ductape: Ductape
    client: Client
    product: str
    start_at: int
    """Epoch ms an hour ahead: item ``n`` is due ``n`` seconds after it, so its result shows its place."""

    def item(self, n: int, **fields: Any) -> dict[str, Any]:
        return {
            "product_tag": self.product, "env": "dev", "app": "email-service", "event": "send_welcome_email",
            "input": {"body": {"n": n}}, "start_at": self.start_at + n * 1000,
        } | fields  # fmt: skip

    def items(self, count: int) -> list[dict[str, Any]]:
        return [self.item(n) for n in range(count)]

    async def exists(self, job_id: str) -> bool:
        try:
            described = await self.client.get_workflow_handle(job_id).describe()
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return False
            raise
        return described.status == WorkflowExecutionStatus.RUNNING  # waiting for its start time


class InFlight(Interceptor):
    """Counts the client's ``start_workflow`` calls in flight to the server, and their peak."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0
        self.calls = 0

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        return _Counting(next, self)


class _Counting(OutboundInterceptor):
    def __init__(self, next: OutboundInterceptor, counter: InFlight) -> None:
        super().__init__(next)
        self.counter = counter

    async def start_workflow(self, input: StartWorkflowInput) -> WorkflowHandle[Any, Any]:
        self.counter.now += 1
        self.counter.calls += 1
        self.counter.peak = max(self.counter.peak, self.counter.now)
        try:
            return await super().start_workflow(input)
        finally:
            self.counter.now -= 1


def bulk_on(client: Client, http_target: HttpTarget, task_queue: str) -> Bulk:
    product = f"bulk-{uuid.uuid4().hex[:8]}"
    config = product_config_for(http_target.url, product)
    ductape = Ductape(client, task_queue=task_queue, config=config, secrets=SecretStore(SECRETS))
    return Bulk(ductape, client, product, int(time.time() * 1000) + HOUR_MS)


@pytest.fixture
def bulk(dev_env: WorkflowEnvironment, http_target: HttpTarget, task_queue: str) -> Bulk:
    return bulk_on(dev_env.client, http_target, task_queue)


def job_ids(results: Sequence[BulkItemResult]) -> list[str]:
    return [r.result.job_id for r in results if r.result is not None]


@pytest.mark.timeout(180)
async def test_300_items_are_all_scheduled_in_order_with_progress(bulk: Bulk) -> None:
    seen: list[BulkProgress] = []
    results = await bulk.ductape.jobs.schedule_many(bulk.items(300), concurrency=8, on_progress=seen.append)

    assert [r.index for r in results] == list(range(300))
    assert all(r.ok and r.error is None and r.error_type is None for r in results)
    # In input order: item n is due n seconds after the first.
    assert [r.result.scheduled_at for r in results if r.result] == [bulk.start_at + n * 1000 for n in range(300)]
    assert len(set(job_ids(results))) == 300
    assert [p.done for p in seen] == list(range(1, 301))
    assert seen[-1] == BulkProgress(done=300, total=300, failed=0)

    listed = [
        w.id async for w in bulk.client.list_workflows(f'DuctapeProduct = "{bulk.product}"', page_size=1000)
    ]  # eventually consistent: the authoritative check is each workflow's own description below
    assert set(listed) <= set(job_ids(results))
    gate = asyncio.Semaphore(16)

    async def exists(job_id: str) -> bool:
        async with gate:
            return await bulk.exists(job_id)

    assert all(await asyncio.gather(*(exists(job_id) for job_id in job_ids(results))))


async def test_one_invalid_item_among_50_starts_nothing_and_names_its_index(bulk: Bulk) -> None:
    prefix = f"bulk-invalid-{uuid.uuid4().hex[:8]}"
    items = [bulk.item(n, job_id=f"{prefix}-{n}") for n in range(50)]
    items[17]["retries"] = -1
    items[33]["dispatch"] = "nowhere"
    seen: list[BulkProgress] = []

    with pytest.raises(JobInputError) as caught:
        await bulk.ductape.jobs.schedule_many(items, on_progress=seen.append)

    assert caught.value.field == "[17].retries"
    assert "greater than or equal to 0" in caught.value.reason
    assert [field for field, _ in caught.value.problems] == ["[17].retries", "[33].dispatch"]  # every bad item
    assert seen == []
    assert not any(await asyncio.gather(*(bulk.exists(f"{prefix}-{n}") for n in range(50))))


def oversized(bulk: Bulk) -> dict[str, Any]:
    """An input past the server's 2 MB payload limit (``limit.blobSize.error``): valid, refused when sent."""
    return bulk.item(25, input={"body": {"blob": "x" * 2_500_000}})


def missing_definition(bulk: Bulk) -> dict[str, Any]:
    """A ``type: job`` item whose definition is neither in the config nor on the server (read when sent)."""
    return {"product_tag": bulk.product, "env": "dev", "type": "job", "event": "no_such_definition", "input": {}}


@pytest.mark.parametrize(
    ("failing", "error_type", "message"),
    [
        (oversized, "RPCError", "size exceeds limit"),
        (missing_definition, "JobInputError", "event: no job definition 'no_such_definition'"),
    ],
)
async def test_an_item_failing_when_sent_does_not_stop_or_lose_the_others(
    bulk: Bulk, failing: Any, error_type: str, message: str
) -> None:
    items = bulk.items(50)
    items[25] = failing(bulk)
    seen: list[BulkProgress] = []

    results = await bulk.ductape.jobs.schedule_many(items, concurrency=4, on_progress=seen.append)

    assert [r.index for r in results] == list(range(50))
    failed = results[25]
    assert (failed.ok, failed.result, failed.error_type) == (False, None, error_type)
    assert failed.error is not None
    assert message in failed.error
    assert "xxxx" not in failed.error  # the input is never part of the error
    others = results[:25] + results[26:]
    assert all(r.ok for r in others)
    assert seen[-1] == BulkProgress(done=50, total=50, failed=1)
    assert all(await asyncio.gather(*(bulk.exists(job_id) for job_id in job_ids(others))))
    assert len(job_ids(others)) == 49


@pytest.mark.parametrize("concurrency", [1, 5])
async def test_sends_in_flight_never_exceed_the_concurrency(
    dev_env: WorkflowEnvironment, http_target: HttpTarget, task_queue: str, concurrency: int
) -> None:
    counter = InFlight()
    client = Client(**(dev_env.client.config() | {"interceptors": [counter]}))
    bulk = bulk_on(client, http_target, task_queue)

    results = await bulk.ductape.jobs.schedule_many(bulk.items(40), concurrency=concurrency)

    assert all(r.ok for r in results)
    assert counter.calls == 40
    assert counter.peak == concurrency  # never more, and the bound is used (the sends do overlap)
    assert counter.now == 0


@pytest.mark.parametrize("concurrency", [0, -3, 1.5, True])
async def test_concurrency_below_one_is_refused_before_anything_is_sent(bulk: Bulk, concurrency: Any) -> None:
    prefix = f"bulk-concurrency-{uuid.uuid4().hex[:8]}"
    with pytest.raises(ValueError, match="concurrency must be a whole number of at least 1"):
        await bulk.ductape.jobs.schedule_many([bulk.item(0, job_id=prefix)], concurrency=concurrency)
    assert not await bulk.exists(prefix)


async def test_items_must_be_a_list(bulk: Bulk) -> None:
    with pytest.raises(JobInputError, match="items must be a list"):
        await bulk.ductape.jobs.schedule_many(bulk.item(0))  # type: ignore[arg-type]


async def test_an_on_progress_error_is_raised_as_itself_and_stops_the_sending() -> None:
    sent: list[int] = []

    async def send(n: int) -> int:
        await asyncio.sleep(0)
        sent.append(n)
        return n

    def stop_at_three(progress: BulkProgress) -> None:
        if progress.done == 3:
            raise KeyError("the caller's bug")

    with pytest.raises(KeyError, match="the caller's bug"):
        await send_all(list(range(100)), send, concurrency=2, on_progress=stop_at_three)
    assert len(sent) < 10
    assert await send_all([], send) == []


async def test_jobs_without_a_client_dispatcher_say_so(dev_env: WorkflowEnvironment) -> None:
    with pytest.raises(RuntimeError, match=r"needs the jobs of a Ductape client"):
        await Jobs(dev_env.client).schedule_many([])
