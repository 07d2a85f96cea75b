"""The test harness keeps its promises: a workflow bug fails the test instead of hanging it, no test
builds a worker that would hang, and under ``CI=true`` a skip is a failure."""

from __future__ import annotations

import ast
import asyncio
import time
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError
from temporalio.testing import WorkflowEnvironment

from ductape_jobs.activities.config.product_config import ProductConfig
from ductape_jobs.activities.config.secrets import SecretStore
from ductape_jobs.workflows.names import JOB_WORKFLOW
from tests.support.workers import job_worker

ROOT = Path(__file__).resolve().parents[2]
UNDECODABLE = {"job_id": "no-product-no-event"}
"""A ``JobWorkflow`` input missing required fields: decoding it raises a pydantic ValidationError
inside the workflow, as a bug in our own contracts would."""


async def test_a_workflow_bug_fails_the_workflow_at_once_in_a_test_worker(
    dev_env: WorkflowEnvironment, product_config: ProductConfig, task_queue: str
) -> None:
    handle = await dev_env.client.start_workflow(
        JOB_WORKFLOW, UNDECODABLE, id=f"bug-{task_queue}", task_queue=task_queue
    )
    started = time.monotonic()
    async with job_worker(dev_env.client, task_queue=task_queue, config=product_config, secrets=SecretStore({})):
        with pytest.raises(WorkflowFailureError) as failed:
            await asyncio.wait_for(handle.result(), 30)
    assert time.monotonic() - started < 30
    assert (await handle.describe()).status == WorkflowExecutionStatus.FAILED
    assert "validation error" in str(failed.value.cause).lower()


async def test_the_production_worker_retries_the_buggy_task_instead(
    dev_env: WorkflowEnvironment, product_config: ProductConfig, task_queue: str
) -> None:
    """Why test workers differ: in production the task is retried (a fixed worker can pick it up),
    which in a test is a hang."""
    handle = await dev_env.client.start_workflow(
        JOB_WORKFLOW, UNDECODABLE, id=f"bug-{task_queue}", task_queue=task_queue
    )
    try:
        async with job_worker(
            dev_env.client, task_queue=task_queue, config=product_config, secrets=SecretStore({}),
            fail_workflow_on_bug=False,
        ):  # fmt: skip
            deadline = time.monotonic() + 30
            while EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED not in [
                e.event_type async for e in handle.fetch_history_events()
            ]:
                assert time.monotonic() < deadline, "the workflow task never failed"
                await asyncio.sleep(0.2)
            assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
    finally:
        await handle.terminate("test over")


def worker_bypasses(path: Path) -> list[str]:
    """Where a file builds a worker that would retry a buggy workflow task forever: a bare
    ``Worker(...)`` or the production ``job_worker`` (in bench/, one without the failing switch)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if (
            isinstance(node, ast.ImportFrom)
            and node.module == "ductape_jobs.worker.job_worker"
            and path.parent.name != "bench"
        ):
            found += [f"{path.name}:{node.lineno} imports job_worker" for a in node.names if a.name == "job_worker"]
        if isinstance(node, ast.Call):
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            keywords = {k.arg for k in node.keywords}
            if name == "Worker" and "workflow_failure_exception_types" not in keywords:
                found.append(f"{path.name}:{node.lineno} Worker(...)")
            if name == "job_worker" and path.parent.name == "bench" and "fail_workflow_on_bug" not in keywords:
                found.append(f"{path.name}:{node.lineno} job_worker(...)")
    return found


def test_no_test_or_bench_builds_a_worker_that_hangs_on_a_bug(tmp_path: Path) -> None:
    files = [p for p in (ROOT / "tests").rglob("*.py") if p != ROOT / "tests" / "support" / "workers.py"]
    files += list((ROOT / "bench").glob("*.py"))
    assert [bypass for path in sorted(files) for bypass in worker_bypasses(path)] == []
    probe = tmp_path / "probe.py"  # the scan itself sees both ways around tests/support/workers.py
    probe.write_text("from ductape_jobs.worker.job_worker import job_worker\nw = Worker(client, task_queue='q')\n")
    assert worker_bypasses(probe) == ["probe.py:1 imports job_worker", "probe.py:2 Worker(...)"]


SKIPPING = """
import pytest

def test_needs_a_service():
    pytest.skip("Redis is not reachable on 127.0.0.1:6379")

@pytest.fixture
def browser():
    pytest.skip("chromium not found on PATH")

def test_needs_a_browser(browser):
    pass

@pytest.mark.xfail(reason="a decision written in the test")
def test_expected_to_fail():
    assert False
"""


@pytest.mark.parametrize("ci", [True, False], ids=["ci", "laptop"])
def test_under_ci_every_skip_is_a_failure_that_says_why(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, ci: bool
) -> None:
    if ci:
        monkeypatch.setenv("CI", "true")
    else:
        monkeypatch.delenv("CI", raising=False)
    pytester.makeconftest("from tests.support.strict_ci import pytest_runtest_makereport  # noqa: F401")
    pytester.makepyfile(SKIPPING)
    result = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:asyncio", "-rA")
    if ci:
        result.assert_outcomes(failed=1, errors=1, xfailed=1)
        result.stdout.fnmatch_lines([
            "*skipped under CI=true, where every test must run: Redis is not reachable on 127.0.0.1:6379*",
            "*skipped under CI=true, where every test must run: chromium not found on PATH*",
        ])  # fmt: skip
    else:
        result.assert_outcomes(skipped=2, xfailed=1)


HANGING = """
import asyncio

async def test_hangs():
    await asyncio.Event().wait()

async def test_after_it():
    await asyncio.sleep(0)
"""


def test_a_hanging_async_test_fails_at_its_timeout_and_the_next_test_still_runs(pytester: pytest.Pytester) -> None:
    pytester.makeini(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = session\n"
        "asyncio_default_test_loop_scope = session\ntimeout = 1\n"
    )
    pytester.makepyfile(HANGING)
    started = time.monotonic()
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert time.monotonic() - started < 30
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(["*Failed: Timeout (>1.0s) from pytest-timeout*"])
