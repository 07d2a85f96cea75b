"""Bulk actions by filter on the dev server: 2,000 jobs cancelled by a server-side batch and paused from
the client, a dry run that changes nothing, one outcome per matched job (none skipped silently), a
batch cancel that a running event refuses, and the CLI's ``--filter``."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.api.workflowservice.v1 import DescribeBatchOperationRequest
from temporalio.testing import WorkflowEnvironment

from ductape_jobs import JobInputError
from ductape_jobs.management.bulk_dispatch import BulkProgress
from tests.cli.test_cli import run_cli
from tests.conftest import TEST_KEYRING
from tests.management.conftest import Env, in_
from tests.support.waiting import eventually


@pytest.fixture
def identity() -> str:
    return "ops@bulk"


@pytest.mark.timeout(600)
async def test_two_thousand_jobs_half_cancelled_on_the_server_half_paused_from_the_client(
    env: Env, dev_env: WorkflowEnvironment
) -> None:
    soon, later = datetime.now(UTC) + timedelta(hours=1), datetime.now(UTC) + timedelta(hours=3)
    items = [env.job(start_at=(soon if i % 2 else later).isoformat(), input={"body": {"n": i}}) for i in range(2000)]
    sent = await env.ductape.jobs.schedule_many(items, concurrency=32)
    assert all(item.ok for item in sent)
    await env.listed('ExecutionStatus = "Running"', 2000, within=120)
    split = (soon + timedelta(hours=1)).isoformat()

    preview = await env.ductape.jobs.cancel_many(product=env.product, to=split, dry_run=True)
    assert (preview.matched, preview.eligible, len(preview.sample), preview.items) == (1000, 1000, 5, [])
    assert await env.count('ExecutionStatus = "Running"') == 2000  # a dry run changes nothing

    seen: list[BulkProgress] = []
    cancelled = await env.ductape.jobs.cancel_many(product=env.product, to=split, reason="sale ended", rate=500,
                                                   on_progress=seen.append)  # fmt: skip
    assert cancelled.server_side
    assert (cancelled.matched, cancelled.done, cancelled.skipped, cancelled.failed) == (1000, 1000, 0, 0)
    assert seen[-1].done == 1000
    await env.listed('ExecutionStatus = "Canceled"', 1000, within=60)
    # The server's own record of the batch: its ID is the call's bulk_id.
    described = await dev_env.client.workflow_service.describe_batch_operation(
        _describe_request(dev_env, cancelled.bulk_id)
    )
    assert described.complete_operation_count == 1000

    paused = await env.ductape.jobs.pause_many(product=env.product, from_=split, reason="audit", rate=1000)
    assert not paused.server_side
    assert (paused.matched, paused.done, paused.skipped, paused.failed) == (1000, 1000, 0, 0)
    for item in paused.items[::100]:
        record = await env.ductape.jobs.get(item.job_id)
        assert record.status == "paused"
        assert record.last_action is not None
        assert (record.last_action.bulk, record.last_action.reason) == (paused.bulk_id, "audit")
    assert len(env.target.calls("/v1/welcome")) == 0


def _describe_request(dev_env: WorkflowEnvironment, job_id: str) -> DescribeBatchOperationRequest:
    return DescribeBatchOperationRequest(namespace=dev_env.client.namespace, job_id=job_id)


@pytest.mark.timeout(120)
async def test_each_matched_job_gets_an_outcome_and_a_running_event_refuses_the_batch_cancel(env: Env) -> None:
    jobs = env.ductape.jobs
    done = await env.ductape.processor.job.schedule(env.job())
    await jobs.result(done.job_id, timeout=30)
    waiting = await env.ductape.processor.job.schedule(env.job(start_at=in_(3600)))
    env.target.delays["/v1/welcome"] = 4.0
    running = await env.ductape.processor.job.schedule(env.job())
    await eventually(lambda: len(env.target.calls("/v1/welcome")) == 2, within=30)  # its event is running
    await env.listed('ExecutionStatus = "Running"', 2)

    result = await jobs.cancel_many(product=env.product)
    outcomes = {item.job_id: (item.outcome, item.status_before) for item in result.items}
    assert outcomes == {
        done.job_id: ("skipped", "completed"), waiting.job_id: ("done", "scheduled"),
        running.job_id: ("skipped", "running"),
    }  # fmt: skip
    details = {item.job_id: item.detail for item in result.items}
    assert details[done.job_id] == "it is completed"
    assert "already started" in (details[running.job_id] or "")
    assert (result.done, result.skipped, result.failed) == (1, 2, 0)
    assert await jobs.result(running.job_id, timeout=30) is not None  # the refused cancel: it ran to its end
    assert (await jobs.get(running.job_id)).status == "completed"
    assert (await jobs.get(waiting.job_id)).status == "cancelled"


@pytest.mark.timeout(120)
async def test_resume_retry_and_trigger_many_act_only_where_they_apply(env: Env) -> None:
    jobs = env.ductape.jobs
    env.target.script("/v1/welcome", [500, 200])
    broken = await env.ductape.processor.job.schedule(env.job(retries=0))
    with pytest.raises(Exception):  # noqa: B017,PT011 (JobFailedError: the target answered 500)
        await jobs.result(broken.job_id, timeout=30)
    held = await env.ductape.processor.job.schedule(env.job(start_at=in_(3600)))
    await jobs.pause(held.job_id)
    await env.listed('ExecutionStatus != "Running"', 1)
    await env.listed('ExecutionStatus = "Running"', 1)

    resumed = await jobs.resume_many(product=env.product)
    assert {i.job_id: i.outcome for i in resumed.items} == {broken.job_id: "skipped", held.job_id: "done"}
    retried = await jobs.retry_many(product=env.product, status="failed")
    assert [(i.job_id, i.outcome) for i in retried.items] == [(broken.job_id, "done")]
    assert await jobs.result(broken.job_id, timeout=30) is not None  # the target answers 200 now
    await env.listed('ExecutionStatus = "Completed"', 1)
    triggered = await jobs.trigger_many(product=env.product, recurring=False)
    assert {i.job_id: i.outcome for i in triggered.items} == {broken.job_id: "skipped", held.job_id: "done"}
    await eventually(lambda: len(env.target.calls("/v1/welcome")) == 3, within=30)


async def test_a_bulk_call_without_a_filter_or_with_a_bad_rate_is_refused(env: Env) -> None:
    with pytest.raises(JobInputError) as caught:
        await env.ductape.jobs.cancel_many()
    assert caught.value.problems[0][0] == "filter"
    with pytest.raises(JobInputError) as caught:
        await env.ductape.jobs.pause_many(product=env.product, rate=0)
    assert caught.value.problems[0][0] == "rate"


@pytest.mark.timeout(120)
async def test_the_cli_filters_dry_runs_then_pauses(env: Env, dev_env: WorkflowEnvironment) -> None:
    for _ in range(3):
        await env.ductape.processor.job.schedule(env.job(start_at=in_(3600)))
    await env.listed('ExecutionStatus = "Running"', 3)
    cli_env = dict(os.environ, DUCTAPE_ENCRYPTION_KEYS=TEST_KEYRING.to_text())
    address = dev_env.client.service_client.config.target_host
    code, out, err = await run_cli("jobs", "pause", "--filter", f"product={env.product}", "--dry-run", "--json",
                                   "--address", address, env=cli_env)  # fmt: skip
    assert code == 0, err
    assert (json.loads(out)["matched"], json.loads(out)["dry_run"]) == (3, True)
    code, out, err = await run_cli("jobs", "pause", "--filter", f"product={env.product}", "--reason", "freeze",
                                   "--address", address, env=cli_env)  # fmt: skip
    assert code == 0, err
    assert "3 done, 0 skipped, 0 failed of 3 matched" in out
    listed = await env.ductape.jobs.list(product=env.product)
    assert {j.status for j in listed.jobs} == {"paused"}
    code, _, err = await run_cli("jobs", "pause", "--filter", "colour=red", "--address", address, env=cli_env)
    assert code == 2
    assert "--filter" in err
