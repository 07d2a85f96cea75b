"""The audit trail on the dev server: every management action records who, when and why, readable
through ``jobs.get``/``jobs.history``/``jobs.audit_trail`` and the CLI, in Temporal's own history (so the
Web UI shows it and its buttons cannot rewrite it), kept after the job is deleted, readable with no
worker running."""

from __future__ import annotations

import json
import os
import uuid

import pytest
from temporalio.testing import WorkflowEnvironment

from ductape_jobs import Ductape, JobInputError
from ductape_jobs.activities.config.secrets import SecretStore
from ductape_jobs.management.audit import audit_id
from tests.cli.test_cli import run_cli
from tests.conftest import SECRETS, TEST_KEYRING, product_config_for
from tests.management.conftest import Env, in_
from tests.support.http_target import HttpTarget

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def identity() -> str:
    return "alice@ops"


async def test_each_action_on_a_one_off_job_is_recorded_in_order_with_who_and_why(env: Env) -> None:
    job = await env.ductape.processor.job.schedule(env.job(start_at=in_(3600)))
    jobs = env.ductape.jobs
    await jobs.pause(job.job_id, reason="supplier outage")
    await jobs.resume(job.job_id)
    later = in_(7200)
    await jobs.reschedule(job.job_id, start_at=later, reason="after the outage")
    await jobs.cancel(job.job_id, reason="customer left")

    trail = await jobs.audit_trail(job.job_id)
    assert [(e.action, e.reason) for e in trail] == [
        ("pause", "supplier outage"), ("resume", None), ("reschedule", "after the outage"), ("cancel", "customer left"),
    ]  # fmt: skip
    assert {e.identity for e in trail} == {"alice@ops"}
    assert {e.job_id for e in trail} == {job.job_id}
    assert [e.at for e in trail] == sorted(e.at for e in trail)
    assert trail[2].details["start_at"] is not None
    record = await jobs.get(job.job_id)
    assert record.status == "cancelled"
    assert record.last_action is not None
    assert record.last_action.action == "cancel"
    assert (await jobs.history(job.job_id)).audit == trail
    assert [j.job_id for j in (await jobs.list(product=env.product)).jobs] == [job.job_id]  # the trail is no job


async def test_a_web_ui_pause_rewrites_the_note_but_not_the_trail_and_the_trail_outlives_the_job(
    env: Env, dev_env: WorkflowEnvironment
) -> None:
    job = await env.ductape.processor.job.schedule(env.job(start_at=in_(3600), repeat={"cron": "0 9 * * *"}))
    jobs = env.ductape.jobs
    await jobs.pause(job.job_id, reason="quarter close")
    handle = dev_env.client.get_schedule_handle(job.job_id)
    assert (await handle.describe()).schedule.state.note == "paused by alice@ops: quarter close"
    # The Web UI's own buttons write the schedule's note: what the trail says stays.
    await handle.unpause(note="unpaused in the Web UI")
    await handle.pause(note="paused in the Web UI")
    assert [(e.action, e.reason) for e in await jobs.audit_trail(job.job_id)] == [("pause", "quarter close")]

    await jobs.delete(job.job_id, reason="no longer sold")
    trail = await jobs.audit_trail(job.job_id)
    assert [(e.action, e.reason) for e in trail] == [("pause", "quarter close"), ("delete", "no longer sold")]
    # It is Temporal history, under an ID a person finds in the Web UI.
    audit = await dev_env.client.get_workflow_handle(audit_id(job.job_id)).describe()
    assert audit.workflow_type == "JobAudit"


async def test_the_trail_is_recorded_and_read_with_no_worker_for_it(
    env: Env, dev_env: WorkflowEnvironment, http_target: HttpTarget
) -> None:
    job = await env.ductape.processor.job.schedule(env.job(start_at=in_(3600), repeat={"every": 60_000}))
    # A client on a task queue no worker polls: its audit workflows never run a task, yet the signals
    # are in their histories, which is what a reader decodes.
    config = product_config_for(http_target.url, env.product)
    lonely = Ductape(dev_env.client, task_queue=f"nobody-{uuid.uuid4().hex[:8]}", config=config,
                     secrets=SecretStore(SECRETS), identity="bob@night")  # fmt: skip
    await lonely.jobs.pause(job.job_id, reason="night freeze")
    trail = await lonely.jobs.audit_trail(job.job_id)
    assert [(e.action, e.identity, e.reason) for e in trail] == [("pause", "bob@night", "night freeze")]


async def test_a_reason_too_long_is_refused_before_anything_changes(env: Env) -> None:
    job = await env.ductape.processor.job.schedule(env.job(start_at=in_(3600)))
    with pytest.raises(JobInputError) as caught:
        await env.ductape.jobs.pause(job.job_id, reason="x" * 501)
    assert caught.value.problems[0][0] == "reason"
    assert (await env.ductape.jobs.get(job.job_id)).status == "scheduled"
    assert await env.ductape.jobs.audit_trail(job.job_id) == []


async def test_a_bulk_cancel_names_one_operation_on_every_job_and_definitions_are_audited(env: Env) -> None:
    jobs = [await env.ductape.processor.job.schedule(env.job(start_at=in_(3600))) for _ in range(3)]
    await env.listed('ExecutionStatus = "Running"', 3)
    assert (await env.ductape.jobs.cancel_many(product=env.product, reason="tenant offboarded")).done == 3
    entries = [(await env.ductape.jobs.audit_trail(j.job_id))[-1] for j in jobs]
    assert {(e.action, e.reason) for e in entries} == {("cancel", "tenant offboarded")}
    assert len({e.bulk for e in entries}) == 1
    assert entries[0].bulk is not None

    builder = env.ductape.product(env.product)
    definition = {"name": "Nightly", "tag": "nightly", "event_type": "ACTION", "event_tag": "send_welcome_email",
                  "executions": 1, "intervals": 3_600_000, "start_at": in_(3600)}  # fmt: skip
    await builder.create_job(definition, reason="launch")
    await builder.update_job("nightly", {"intervals": 7_200_000}, reason="slower")
    await builder.delete_job("nightly", reason="done")
    trail = await env.ductape.jobs.audit_trail(f"jobdef:{env.product}:nightly")
    assert [(e.action, e.reason) for e in trail] == [
        ("definition.create", "launch"), ("definition.update", "slower"), ("delete", "done"),
    ]  # fmt: skip
    assert trail[1].details == {"fields": ["intervals"]}


async def test_the_cli_records_its_identity_in_the_trail_and_in_temporals_own_history(
    env: Env, dev_env: WorkflowEnvironment
) -> None:
    job = await env.ductape.processor.job.schedule(env.job(start_at=in_(3600)))
    cli_env = dict(os.environ, DUCTAPE_ENCRYPTION_KEYS=TEST_KEYRING.to_text(), DUCTAPE_IDENTITY="carol@cli")
    address = dev_env.client.service_client.config.target_host
    code, _, err = await run_cli("jobs", "pause", job.job_id, "--reason", "checking the invoice", "--address", address,
                                 env=cli_env)  # fmt: skip
    assert code == 0, err
    code, out, err = await run_cli("jobs", "audit", job.job_id, "--json", "--address", address, env=cli_env)
    assert code == 0, err
    assert [(e["action"], e["identity"], e["reason"]) for e in json.loads(out)] == [
        ("pause", "carol@cli", "checking the invoice")
    ]
    # The pause itself is an update in the job's history, which the Web UI shows with its sender.
    events = [e async for e in dev_env.client.get_workflow_handle(job.job_id).fetch_history_events()]
    accepted = [e.workflow_execution_update_accepted_event_attributes for e in events
                if e.HasField("workflow_execution_update_accepted_event_attributes")]  # fmt: skip
    assert [a.accepted_request.meta.identity for a in accepted] == ["carol@cli"]
