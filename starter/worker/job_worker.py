"""The worker: ``JobWorkflow`` and every activity on one task queue, and the activities of each
rate-limited target on that target's own queue (``ductape_jobs.activities.config.flow``)."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta
from typing import TypedDict

from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.worker import Worker

from ductape_jobs.activities.arming.armed_start import ArmedStartInterceptor
from ductape_jobs.activities.arming.herd_claims import DEFAULT_CLAIMS_PER_SECOND
from ductape_jobs.activities.config.product_config import ConfigError, ProductConfig
from ductape_jobs.activities.config.secrets import SecretStore
from ductape_jobs.activities.flow.target_pause_activity import release_stale_pause
from ductape_jobs.activities.http.pool import worker_http_client
from ductape_jobs.activities.registry import EVENT_TYPE_OF_ACTIVITY, open_activities, require_drivers
from ductape_jobs.activities.routing.config import ConfigImportError
from ductape_jobs.activities.session.store import SessionStore
from ductape_jobs.scheduling.server_version import check_server_version
from ductape_jobs.settings import Settings
from ductape_jobs.worker.search_attributes import ensure_search_attributes
from ductape_jobs.worker.workflow_runner import WORKFLOW_RUNNER
from ductape_jobs.workflows.concurrency_slots import ConcurrencySlots
from ductape_jobs.workflows.debounce_window import DebounceWindow
from ductape_jobs.workflows.job_audit_workflow import JobAudit
from ductape_jobs.workflows.job_event_workflow import JobEventWorkflow
from ductape_jobs.workflows.job_workflow import JobWorkflow
from ductape_jobs.workflows.target_pause import TargetPause

log = logging.getLogger(__name__)

GRACEFUL_SHUTDOWN = timedelta(seconds=10)

MAX_CONCURRENT_ACTIVITIES = 2000
"""Armed jobs (``ductape_jobs.workflows.arming``) hold an activity slot while they wait for their instant, as
sleeping coroutines: a herd of a thousand needs a thousand slots, not the SDK's default 100."""

WORKFLOWS = [JobWorkflow, JobEventWorkflow, ConcurrencySlots, DebounceWindow, JobAudit, TargetPause]
"""Every workflow the worker runs; the replayer uses the same list."""


class WorkerTuning(TypedDict):
    """What ``run_worker`` takes from ``Settings``. ``ductape-jobs worker`` and ``ductape-jobs dev`` both
    pass ``worker_tuning(settings)``: a setting added here reaches both, none is dropped by one of them."""

    task_queue: str
    max_cached_workflows: int
    max_concurrent_workflow_tasks: int | None
    proxies: Mapping[str, str]
    herd_claims_per_second: int


def worker_tuning(settings: Settings) -> WorkerTuning:
    """The worker's settings, as ``run_worker``'s keyword arguments."""
    return WorkerTuning(
        task_queue=settings.task_queue,
        max_cached_workflows=settings.max_cached_workflows,
        max_concurrent_workflow_tasks=settings.max_concurrent_workflow_tasks,
        proxies=settings.proxies,
        herd_claims_per_second=settings.herd_claims_per_second,
    )


def feature_workflows(config: ProductConfig) -> list[type]:
    """The workflow classes of the config's features that run on this worker's task queue.

    Raises:
        ConfigError: a feature's class cannot be imported or is not a ``@workflow.defn`` class.
    """
    found: dict[str, type] = {}
    for product_tag, product in config.products.items():
        for tag, feature in product.features.items():
            if feature.task_queue is not None:
                continue  # another worker, on that queue, registers it
            try:
                found[feature.workflow] = feature.load()
            except ConfigImportError as err:
                raise ConfigError(f"products.{product_tag}.features.{tag}.workflow: {err}") from None
    return list(found.values())


@asynccontextmanager
async def job_worker(
    client: Client,
    *,
    task_queue: str,
    config: ProductConfig,
    secrets: SecretStore,
    session_store: SessionStore | None = None,
    fail_workflow_on_bug: bool = False,
    max_cached_workflows: int = Settings().max_cached_workflows,
    max_concurrent_workflow_tasks: int | None = None,
    max_concurrent_activities: int = MAX_CONCURRENT_ACTIVITIES,
    proxies: Mapping[str, str] | None = None,
    herd_claims_per_second: int = DEFAULT_CLAIMS_PER_SECOND,
) -> AsyncIterator[Worker]:
    """A running worker (and its HTTP connection pool) for the duration of the ``async with``.

    ``fail_workflow_on_bug`` makes an unexpected exception fail the workflow instead of retrying
    the workflow task forever; tests turn it on so a bug shows as a failure, not a hang.
    ``proxies``: the proxy environment (``Settings.proxies``) every activity's HTTP call honours.
    ``herd_claims_per_second``: ``Settings.herd_claims_per_second``. ``max_concurrent_activities``:
    fewer slots make jobs queue on the server, where priority and fair shares order them.

    Raises:
        ConfigError: a section of ``config`` needs a driver that is not installed (naming the extra).
    """
    require_drivers(config, secrets=secrets)
    async with (
        worker_http_client(proxies=proxies) as http,
        open_activities(config, secrets, http, session_store) as activities,
    ):
        # Collect pending garbage first: a finalizer that imports (a ResourceWarning) while the sandbox
        # validates the workflows can trip CPython 3.10/3.11's non-reentrant module lock
        # (temporalio/sdk-python#585, "Failed validating workflow ... KeyError: <thread id>").
        gc.collect()
        interceptors = [
            ArmedStartInterceptor(event_types=EVENT_TYPE_OF_ACTIVITY, herd_claims_per_second=herd_claims_per_second)
        ]
        worker = Worker(
            client,
            task_queue=task_queue,
            workflows=[*WORKFLOWS, *feature_workflows(config)],
            activities=activities,
            workflow_failure_exception_types=[Exception] if fail_workflow_on_bug else [],
            # On SIGTERM, requests in flight get this long to finish before they are cancelled
            # (a cancelled attempt is retried by the server, so nothing is lost either way).
            graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
            max_cached_workflows=max_cached_workflows,
            max_concurrent_activities=max_concurrent_activities,
            max_concurrent_workflow_tasks=max_concurrent_workflow_tasks,
            interceptors=interceptors,
            workflow_runner=WORKFLOW_RUNNER,
        )
        async with AsyncExitStack() as running:
            await running.enter_async_context(worker)
            for queue, per_second in config.rate_limited_queues(task_queue).items():
                await _release_stale_pause(client, queue)
                # The server hands out this queue's tasks at the limit, to all its workers together.
                limited = Worker(
                    client, task_queue=queue, activities=activities, interceptors=interceptors,
                    graceful_shutdown_timeout=GRACEFUL_SHUTDOWN, max_concurrent_activities=max_concurrent_activities,
                    max_task_queue_activities_per_second=per_second,
                    workflow_failure_exception_types=[Exception] if fail_workflow_on_bug else [],
                )  # fmt: skip
                await running.enter_async_context(limited)
            yield worker


async def _release_stale_pause(client: Client, queue: str) -> None:
    """A 429 pause whose keeper was terminated would hold its target's queue for ever: lift it."""
    try:
        if await release_stale_pause(client, queue):
            log.warning("lifted a 429 pause of task queue %r whose keeper is gone", queue)
    except RPCError as err:  # a server without task-queue config: its workers pause on their own
        log.info("could not check task queue %r for a 429 pause: %s", queue, err)


async def run_worker(
    client: Client,
    *,
    task_queue: str,
    config: ProductConfig,
    secrets: SecretStore,
    stop: asyncio.Event,
    session_store: SessionStore | None = None,
    max_cached_workflows: int = Settings().max_cached_workflows,
    max_concurrent_workflow_tasks: int | None = None,
    proxies: Mapping[str, str] | None = None,
    herd_claims_per_second: int = DEFAULT_CLAIMS_PER_SECOND,
) -> None:
    """Register the search attributes and check the server version (a warning outside the versions
    the time rules were verified on), then run until ``stop`` is set (then drain and return)."""
    await ensure_search_attributes(client)
    await check_server_version(client)
    if session_store is not None:
        await session_store.create_schema()
    # max_cached_workflows is passed on: without it the setting was silently ignored (the cache is what
    # a worker's memory grows by with many sleeping jobs; see Settings.max_cached_workflows).
    async with job_worker(
        client,
        task_queue=task_queue,
        config=config,
        secrets=secrets,
        session_store=session_store,
        max_cached_workflows=max_cached_workflows,
        max_concurrent_workflow_tasks=max_concurrent_workflow_tasks,
        proxies=proxies,
        herd_claims_per_second=herd_claims_per_second,
    ):
        log.info("worker running on task queue %r of namespace %r", task_queue, client.namespace)
        await stop.wait()
        log.info("worker stopping")
