"""Workers as tests build them: a bug in workflow code fails the workflow at once.

By default Temporal treats an unexpected exception in workflow code (a TypeError, a pydantic
ValidationError while decoding an input) as a failed workflow *task* and retries it forever: the
test waiting for the result hangs until its timeout, with no hint of the bug. Every worker a test
or a recording script starts comes from here, so the bug shows as a failed workflow with its
traceback instead (tests/worker/test_harness.py checks both the behaviour and that no test bypasses this).
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker

from ductape_jobs.activities.config.product_config import ProductConfig
from ductape_jobs.activities.config.secrets import SecretStore
from ductape_jobs.worker import job_worker as production

BUGS_FAIL_THE_WORKFLOW: list[type[BaseException]] = [Exception]
"""``workflow_failure_exception_types`` of test workers: any exception fails the workflow."""


def job_worker(
    client: Client,
    *,
    task_queue: str,
    config: ProductConfig,
    secrets: SecretStore,
    fail_workflow_on_bug: bool = True,
    **options: Any,
) -> AbstractAsyncContextManager[Worker]:
    """The production worker (``ductape_jobs.worker.job_worker``), failing the workflow on a bug unless a
    test asks for the production behaviour with ``fail_workflow_on_bug=False``."""
    return production.job_worker(
        client, task_queue=task_queue, config=config, secrets=secrets, fail_workflow_on_bug=fail_workflow_on_bug,
        **options,
    )  # fmt: skip


def plain_worker(client: Client, *, task_queue: str, **options: Any) -> Worker:
    """A bare Temporal ``Worker`` for a test's own workflows, failing the workflow on a bug."""
    options.setdefault("workflow_failure_exception_types", BUGS_FAIL_THE_WORKFLOW)
    return Worker(client, task_queue=task_queue, **options)
