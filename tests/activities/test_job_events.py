"""Job events to webhooks on the dev server: signed, each event once, retried, never holding up the job."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from ductape_jobs import Ductape, JobFailedError
from ductape_jobs.activities.config.secrets import SecretStore
from ductape_jobs.workflows.contracts.management import JobEvent, JobEventDeliveries, JobEventJob, WebhookOutcome
from ductape_jobs.workflows.names import JOB_EVENT_WORKFLOW
from tests.conftest import SECRETS, product_config_for
from tests.support.http_target import HttpTarget
from tests.support.waiting import eventually
from tests.support.webhook_receivers import WebhookReceivers, always
from tests.support.workers import job_worker

HOOK_SECRET = "webhook-signing-secret-0123456789"


@dataclass
class Receiver:
    """A webhook receiver that verifies every signature, as a user's would."""

    fail_first: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    rejected: int = 0
    attempts: int = 0
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        stamp, _, mac = request.headers["X-Ductape-Signature"].partition(",v1=")
        timestamp = int(stamp.removeprefix("t="))
        expected = hmac.new(HOOK_SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(mac, expected) or abs(time.time() - timestamp) > 300:
            self.rejected += 1
            return web.Response(status=401)
        self.attempts += 1
        if self.attempts <= self.fail_first:
            return web.Response(status=503)
        event = json.loads(body)
        assert request.headers["X-Ductape-Event"] == event["event"]
        assert request.headers["X-Ductape-Delivery"] == event["delivery_id"]
        self.events.append(event)
        return web.Response(status=204)

    def names(self, job_id: str) -> list[str]:
        return sorted(e["event"] for e in self.events if e["job"]["id"] == job_id)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    app = web.Application()
    app.router.add_post("/hooks", found.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    found.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/hooks"  # type: ignore[union-attr]
    yield found
    await runner.cleanup()


@dataclass
class Stack:
    dev_env: WorkflowEnvironment
    target: HttpTarget
    receiver: Receiver
    task_queue: str

    @contextlib.asynccontextmanager
    async def ductape(self, events: list[str] | None = None) -> AsyncIterator[Ductape]:
        """A worker and a client whose product sends job events (all, or ``events``) to the receiver."""
        hooks = {"ops": {"url": self.receiver.url, "secret": "$Secret{HOOK_SECRET}", "events": events or []}}
        config = product_config_for(self.target.url, webhooks=hooks, secrets=["HOOK_SECRET"])
        secrets = SecretStore({**SECRETS, "HOOK_SECRET": HOOK_SECRET})
        async with job_worker(self.dev_env.client, task_queue=self.task_queue, config=config, secrets=secrets):
            yield Ductape(self.dev_env.client, task_queue=self.task_queue, config=config, secrets=secrets)


@pytest.fixture
def stack(dev_env: WorkflowEnvironment, http_target: HttpTarget, receiver: Receiver, task_queue: str) -> Stack:
    return Stack(dev_env, http_target, receiver, task_queue)


def job(event: str = "send_welcome_email", **fields: Any) -> dict[str, Any]:
    return {"product_tag": "my-product", "env": "dev", "app": "email-service", "event": event,
            "input": {"body": {"n": uuid.uuid4().hex}}} | fields  # fmt: skip


async def test_a_job_sends_scheduled_started_completed_once_each(stack: Stack, receiver: Receiver) -> None:
    async with stack.ductape() as ductape:
        result = await ductape.processor.job.schedule(job())
        await ductape.jobs.result(result.job_id)
        await eventually(lambda: len(receiver.names(result.job_id)) >= 3)
        await asyncio.sleep(1)  # a duplicate would arrive by now
    assert receiver.names(result.job_id) == ["job.completed", "job.scheduled", "job.started"]
    assert len({e["delivery_id"] for e in receiver.events}) == len(receiver.events)
    completed = next(e for e in receiver.events if e["event"] == "job.completed")
    assert completed["job"] | {"scheduled_at": None} == {
        "id": result.job_id, "status": "completed", "namespace": "actions", "product": "my-product", "env": "dev",
        "scheduled_at": None, "execution_count": None, "error": None,
    }  # fmt: skip
    assert receiver.rejected == 0


async def test_a_failed_job_sends_job_failed_with_its_error(
    stack: Stack, receiver: Receiver, http_target: HttpTarget
) -> None:
    http_target.script("/missing", [404])
    async with stack.ductape(events=["job.failed"]) as ductape:
        result = await ductape.processor.job.schedule(job("missing", retries=2))
        with pytest.raises(JobFailedError):
            await ductape.jobs.result(result.job_id)
        await eventually(lambda: receiver.names(result.job_id) == ["job.failed"])
    assert receiver.events[0]["job"]["error"].startswith("NOT_FOUND")


async def test_a_failing_receiver_is_retried_and_never_holds_up_the_job(
    stack: Stack, receiver: Receiver, http_target: HttpTarget
) -> None:
    receiver.fail_first = 2
    async with stack.ductape(events=["job.started"]) as ductape:
        started = time.monotonic()
        result = await ductape.processor.job.schedule(job())
        await ductape.jobs.result(result.job_id)
        job_seconds = time.monotonic() - started
        await eventually(lambda: receiver.names(result.job_id) == ["job.started"])
        delivered_after = time.monotonic() - started
    assert receiver.attempts == 3
    assert job_seconds < 1.5 < delivered_after  # the job finished while its event was still being retried
    assert len(http_target.calls("/v1/welcome")) == 1


async def test_pause_resume_cancel_of_a_recurring_job_are_announced(stack: Stack, receiver: Receiver) -> None:
    async with stack.ductape(events=["job.paused", "job.resumed", "job.cancelled"]) as ductape:
        later = int(time.time() * 1000) + 3_600_000
        result = await ductape.processor.job.schedule(job(start_at=later, repeat={"every": 60_000}))
        await ductape.jobs.pause(result.job_id)
        await ductape.jobs.resume(result.job_id)
        await ductape.jobs.cancel(result.job_id)
        await eventually(lambda: receiver.names(result.job_id) == ["job.cancelled", "job.paused", "job.resumed"])


async def test_each_webhook_is_delivered_or_given_up_on_its_own(
    ts_env: WorkflowEnvironment, http_target: HttpTarget, task_queue: str
) -> None:
    """``healthy`` answers 204, ``down`` 500 every time, ``broken`` lacks its signing secret (given up
    at once): the run ends only once ``down`` has had all its attempts, and reports each webhook."""
    receivers = WebhookReceivers(rules={"/down": always(500)})
    await receivers.start()
    completed_only = ["job.completed"]
    hooks = {
        "healthy": {"url": f"{receivers.url}/healthy", "secret": "$Secret{HOOK_SECRET}"},
        "down": {"url": f"{receivers.url}/down", "secret": "$Secret{HOOK_SECRET}", "events": completed_only},
        "broken": {"url": f"{receivers.url}/broken", "secret": "$Secret{NOT_SET}", "events": completed_only},
    }
    config = product_config_for(http_target.url, webhooks=hooks, secrets=["HOOK_SECRET", "NOT_SET"])
    secrets = SecretStore({**SECRETS, "HOOK_SECRET": HOOK_SECRET})

    def event(name: Any) -> JobEvent:
        return JobEvent(
            event=name, timestamp=int(time.time() * 1000), delivery_id=f"job-1/{name}",
            job=JobEventJob(id="job-1", status=name.removeprefix("job."), product="my-product", env="dev"),
        )  # fmt: skip

    try:
        async with job_worker(ts_env.client, task_queue=task_queue, config=config, secrets=secrets,
                              fail_workflow_on_bug=True):  # fmt: skip
            handle = await ts_env.client.start_workflow(
                JOB_EVENT_WORKFLOW, event("job.completed"), id="deliveries-completed", task_queue=task_queue
            )
            with pytest.raises(WorkflowFailureError) as failed:
                await handle.result()
            started = await ts_env.client.execute_workflow(
                JOB_EVENT_WORKFLOW, event("job.started"), id="deliveries-started", task_queue=task_queue,
                result_type=JobEventDeliveries,
            )  # fmt: skip
    finally:
        await receivers.stop()
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "WEBHOOK_NOT_DELIVERED"
    assert cause.message.startswith("2 of 3 webhooks not delivered: ")
    outcomes = {o.webhook: o for o in JobEventDeliveries.model_validate(cause.details[0]).deliveries}
    assert outcomes["healthy"] == WebhookOutcome(webhook="healthy", delivered=True, status=204)
    assert outcomes["down"] == WebhookOutcome(
        webhook="down", delivered=False,
        error="SERVER_ERROR: webhook 'down' answered HTTP 500 (gave up after 25 attempts)",
    )  # fmt: skip
    assert not outcomes["broken"].delivered
    assert outcomes["broken"].error == (
        "SECRET_MISSING: secret 'NOT_SET' is not set in the worker's environment or secrets file (not retryable)"
    )
    # Not cut short by the broken webhook's immediate failure: every attempt was made.
    assert receivers.attempts["/down"] == 25
    assert [e["event"] for e in receivers.events["/healthy"]] == ["job.completed", "job.started"]
    assert started.deliveries == [WebhookOutcome(webhook="healthy", delivered=True, status=204)]
