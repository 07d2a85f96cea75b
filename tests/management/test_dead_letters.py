"""Dead letters on the dev server with a real target: a job that spent its retries is listed as dead with
its error and attempts, retried with a corrected input under the same ID (linked to the failed run),
retried in bulk after a dry run, and from the CLI."""

from __future__ import annotations

import json
import os

import pytest
from temporalio.testing import WorkflowEnvironment

from ductape_jobs import JobInputError, JobStateError
from tests.cli.test_cli import run_cli
from tests.conftest import TEST_KEYRING
from tests.management.conftest import Env, in_

pytestmark = pytest.mark.timeout(120)


async def dead_job(env: Env, body: dict[str, object]) -> str:
    """A job whose two attempts (one retry) both get HTTP 500; returns once it failed."""
    job = await env.ductape.processor.job.schedule(
        env.job(input={"body": body}, retries=1, retry={"initial_delay": 100})
    )
    with pytest.raises(Exception, match="HTTP 500"):  # JobFailedError
        await env.ductape.jobs.result(job.job_id, timeout=30)
    return job.job_id


async def test_a_job_that_spent_its_retries_is_a_dead_letter_with_its_error_and_attempts(env: Env) -> None:
    env.target.script("/v1/welcome", [500, 500, 200])
    dead = await dead_job(env, {"to": "broken"})
    fine = await env.ductape.processor.job.schedule(env.job(input={"body": {"to": "fine"}}))
    await env.ductape.jobs.result(fine.job_id, timeout=30)
    waiting = await env.ductape.processor.job.schedule(env.job(start_at=in_(3600)))
    await env.ductape.jobs.cancel(waiting.job_id)

    record = await env.ductape.jobs.get(dead)
    assert (record.status, record.dead, record.attempts) == ("failed", True, 2)
    assert record.error_type == "SERVER_ERROR"
    assert "HTTP 500" in (record.error_message or "")
    assert not (await env.ductape.jobs.get(fine.job_id)).dead
    await env.listed('ExecutionStatus = "Failed"', 1)
    listed = await env.ductape.jobs.list(product=env.product, status="dead")
    assert [(j.job_id, j.attempts, j.error_type) for j in listed.jobs] == [(dead, 2, "SERVER_ERROR")]


async def test_a_dead_letter_retried_with_a_corrected_input_runs_it_and_links_the_failed_run(env: Env) -> None:
    env.target.script("/v1/welcome", [500, 500, 200])
    dead = await dead_job(env, {"to": "typo@example"})
    failed_run = (await env.ductape.jobs.get(dead)).run_id

    with pytest.raises(JobInputError) as caught:
        await env.ductape.jobs.retry(dead, input=["not", "an", "object"])  # type: ignore[arg-type]
    assert caught.value.problems[0][0] == "input"
    assert (await env.ductape.jobs.get(dead)).run_id == failed_run  # nothing started

    retried = await env.ductape.jobs.retry(dead, input={"body": {"to": "ada@example.com"}}, reason="fixed address")
    assert retried.job_id == dead
    assert (retried.retried_from, retried.input_corrected) == (failed_run, True)
    assert await env.ductape.jobs.result(dead, timeout=30) is not None
    assert env.target.calls("/v1/welcome")[-1].body == {"to": "ada@example.com"}
    await env.listed('ExecutionStatus = "Completed"', 1)
    assert (await env.ductape.jobs.list(product=env.product, status="dead")).jobs == []
    last = (await env.ductape.jobs.get(dead)).last_action
    assert last is not None
    assert (last.action, last.reason, last.details["retried_run"]) == ("retry", "fixed address", failed_run)
    with pytest.raises(JobStateError):
        await env.ductape.jobs.retry(dead)  # it completed: nothing to retry


async def test_dead_letters_are_retried_in_bulk_after_a_dry_run(env: Env) -> None:
    env.target.script("/v1/welcome", [500, 500, 500, 500, 200])
    first, second = await dead_job(env, {"n": 1}), await dead_job(env, {"n": 2})
    await env.listed('ExecutionStatus = "Failed"', 2)
    preview = await env.ductape.jobs.retry_many(product=env.product, status="dead", dry_run=True)
    assert (preview.matched, preview.eligible, sorted(preview.sample)) == (2, 2, sorted([first, second]))
    result = await env.ductape.jobs.retry_many(product=env.product, status="dead", reason="target fixed")
    assert sorted((i.job_id, i.outcome) for i in result.items) == sorted([(first, "done"), (second, "done")])
    for job_id in (first, second):
        assert await env.ductape.jobs.result(job_id, timeout=30) is not None
        assert (await env.ductape.jobs.get(job_id)).last_action.bulk == result.bulk_id  # type: ignore[union-attr]


async def test_the_cli_lists_dead_letters_and_retries_one_with_a_corrected_input(
    env: Env, dev_env: WorkflowEnvironment
) -> None:
    env.target.script("/v1/welcome", [500, 500, 200])
    dead = await dead_job(env, {"to": "typo"})
    await env.listed('ExecutionStatus = "Failed"', 1)
    cli_env = dict(os.environ, DUCTAPE_ENCRYPTION_KEYS=TEST_KEYRING.to_text())
    address = dev_env.client.service_client.config.target_host
    code, out, err = await run_cli("jobs", "list", "--status", "dead", "--product", env.product, "--json",
                                   "--address", address, env=cli_env)  # fmt: skip
    assert code == 0, err
    assert [(j["job_id"], j["attempts"]) for j in json.loads(out)["jobs"]] == [(dead, 2)]
    code, out, err = await run_cli("jobs", "retry", dead, "--input", '{"body": {"to": "fixed"}}', "--json",
                                   "--address", address, env=cli_env)  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["input_corrected"] is True
    assert await env.ductape.jobs.result(dead, timeout=30) is not None
    assert env.target.calls("/v1/welcome")[-1].body == {"to": "fixed"}
