"""The worker's workflow sandbox (``starter/worker/workflow_runner.py``).

Our ``workflows`` package is passed through the sandbox for speed, so its modules are not re-imported
under the sandbox's import-time proxies: what those proxies would catch there is checked here from
the source (the replay tests also run every recorded path in the SDK's stock sandbox). Code outside
the package, such as a user's feature workflow, keeps the full sandbox: checked on a real server.
"""

from __future__ import annotations

import ast
import uuid
from pathlib import Path

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.testing import WorkflowEnvironment

from ductape_jobs.worker import workflow_runner
from ductape_jobs.worker.workflow_runner import WORKFLOW_RUNNER
from tests.support.sandbox_probe import SandboxProbe
from tests.support.workers import plain_worker

WORKFLOWS_DIR = Path(__file__).resolve().parents[2] / "workflows"
OWN = "ductape_jobs.workflows"

ALLOWED_IMPORTS = {
    "__future__", "asyncio", "collections", "dataclasses", "datetime", "enum", "functools", "json",
    "math", "pydantic", "re", "temporalio", "typing", "zlib", "zoneinfo",
}  # fmt: skip
"""Deterministic, I/O-free modules workflow code may import. Adding one is a decision: it runs in
every workflow task without the sandbox re-importing it (no clock, no randomness, no I/O)."""

CLOCK_CALLS = {"now", "utcnow", "today", "time", "monotonic", "perf_counter", "sleep"}
"""Calls that read the wall clock unless made on ``workflow`` or ``asyncio`` (durable equivalents)."""


def _sources() -> list[tuple[str, ast.Module]]:
    """Every module under ``workflows/``, packages included (``workflows/contracts/``)."""
    return [
        (path.relative_to(WORKFLOWS_DIR).as_posix(), ast.parse(path.read_text(), str(path)))
        for path in sorted(WORKFLOWS_DIR.rglob("*.py"))
    ]


def _allowed(module: str) -> bool:
    """Workflow code imports deterministic modules and its own package, never the rest of ``ductape_jobs``
    (the client, the activities: I/O)."""
    return module.split(".")[0] in ALLOWED_IMPORTS or module == OWN or module.startswith(OWN + ".")


def test_workflow_modules_import_only_deterministic_modules() -> None:
    found = set()
    for name, tree in _sources():
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found |= {(name, alias.name) for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add((name, node.module))
    assert {(file, module) for file, module in found if not _allowed(module)} == set()
    assert len(found) > 20  # the scan does see the package's imports
    assert any(file.startswith("contracts/") for file, _ in found)  # and the packages' modules
    assert not _allowed("ductape_jobs.activities.http.pool")
    assert not _allowed("ductape_jobs.client")


def _forbidden_calls(name: str, tree: ast.Module) -> list[str]:
    """Calls in ``tree`` that read the wall clock, open files or evaluate code."""
    offences = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id in {"open", "input", "eval", "exec", "__import__"}:
            offences.append(f"{name}:{node.lineno} {func.id}()")
        elif (
            isinstance(func, ast.Attribute)
            and func.attr in CLOCK_CALLS
            and not (isinstance(func.value, ast.Name) and func.value.id in {"workflow", "asyncio"})
        ):
            offences.append(f"{name}:{node.lineno} .{func.attr}()")
    return offences


def test_workflow_modules_never_read_the_wall_clock_or_open_files() -> None:
    assert [offence for name, tree in _sources() for offence in _forbidden_calls(name, tree)] == []


def test_the_call_scan_sees_wall_clock_reads_and_allows_workflow_time() -> None:
    source = "stamp = datetime.now()\nlater = workflow.now()\nawait asyncio.sleep(1)\ntime.sleep(1)\nopen('f')\n"
    assert _forbidden_calls("probe.py", ast.parse(source)) == [
        "probe.py:1 .now()", "probe.py:4 .sleep()", "probe.py:5 open()",
    ]  # fmt: skip


async def test_code_outside_our_package_keeps_the_full_sandbox(dev_env: WorkflowEnvironment) -> None:
    queue = f"sandbox-{uuid.uuid4().hex[:8]}"
    async with plain_worker(
        dev_env.client, task_queue=queue, workflows=[SandboxProbe], workflow_runner=WORKFLOW_RUNNER
    ):
        assert await dev_env.client.execute_workflow(
            SandboxProbe.run, False, id=f"probe-ok-{uuid.uuid4().hex}", task_queue=queue
        )
        with pytest.raises(WorkflowFailureError) as failed:
            await dev_env.client.execute_workflow(
                SandboxProbe.run, True, id=f"probe-clock-{uuid.uuid4().hex}", task_queue=queue
            )
    assert "Cannot access datetime.datetime.now" in str(failed.value.cause)


async def test_each_sandbox_snippet_is_compiled_once(dev_env: WorkflowEnvironment) -> None:
    """The runner's speed-up leans on an SDK internal (``_Instance._run_code`` taking source text);
    an SDK upgrade that changes it fails here rather than silently slowing every workflow task."""
    queue = f"sandbox-{uuid.uuid4().hex[:8]}"
    async with plain_worker(
        dev_env.client, task_queue=queue, workflows=[SandboxProbe], workflow_runner=WORKFLOW_RUNNER
    ):
        for _ in range(3):
            await dev_env.client.execute_workflow(
                SandboxProbe.run, False, id=f"probe-{uuid.uuid4().hex}", task_queue=queue
            )
        before = workflow_runner._compiled.cache_info()
        for _ in range(3):
            await dev_env.client.execute_workflow(
                SandboxProbe.run, False, id=f"probe-{uuid.uuid4().hex}", task_queue=queue
            )
        after = workflow_runner._compiled.cache_info()
    assert after.hits - before.hits >= 6  # at least creation + one activation per run, all reused
    assert after.misses == before.misses
