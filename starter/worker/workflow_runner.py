"""The sandbox every workflow of this worker (and the replayer) runs in.

Two changes to the SDK's default sandbox, both for the worker's CPU per workflow task. Measured by
replaying the committed plain job history 300 times in one process (CPU per replay, which is what
a job evicted from the workflow cache costs when it comes back): stock sandbox 9.7-10.1 ms; our
package passed through 5.4-6.7 ms; snippets compiled once as well 3.8-4.4 ms (no sandbox: 3.8 ms).

- Our own ``workflows`` package is passed through: the sandbox otherwise re-executes the workflow
  module for every new run (and every run brought back after eviction), class body and
  ``@workflow.defn`` processing included. What the sandbox's import-time proxies guarded in that
  package (no wall clock, no I/O modules) is checked instead by ``tests/test_workflow_sandbox.py``
  (from the source) and by the replay tests, which run every recorded path in the stock sandbox too.
  Code outside the package, such as a user's feature workflow, keeps the full sandbox.
- The sandbox runs each activation through ``exec`` of a short source string, compiling it each
  time (about a dozen times per job); the compiled code is kept instead.
"""

from __future__ import annotations

import functools
from types import CodeType
from typing import Any, cast

from temporalio.worker import WorkflowInstance, WorkflowInstanceDetails
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

# Private to the SDK (pinned in pyproject.toml); tests/test_workflow_sandbox.py fails if its shape changes.
from temporalio.worker.workflow_sandbox._runner import _Instance

PASSED_THROUGH = ("opentelemetry", "ductape_jobs.workflows")
"""OpenTelemetry: the tracing interceptor's context crosses into workflow code (deterministic-safe
state, not workflow logic). ``ductape_jobs.workflows``: this project's workflow code and contracts (see above)."""


@functools.lru_cache(maxsize=64)
def _compiled(source: str) -> CodeType:
    # The sandbox's snippets are a handful of fixed strings; 64 leaves room for an SDK that adds more.
    return compile(source, "<workflow sandbox>", "exec")


class _CompiledCodeInstance(_Instance):
    def _run_code(self, code: str, **extra_globals: Any) -> None:
        # exec() takes a code object wherever it takes source: the same snippet, compiled once.
        super()._run_code(cast(str, _compiled(code)), **extra_globals)


class JobWorkflowRunner(SandboxedWorkflowRunner):
    """The SDK's sandboxed runner, reusing the compiled code of its snippets."""

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        return _CompiledCodeInstance(det, self.runner_class, self.restrictions)


WORKFLOW_RUNNER = JobWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSED_THROUGH))
"""The runner the worker and the replayer share (a replay must run in the sandbox the run ran in)."""
