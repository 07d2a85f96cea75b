"""The worker's tuning settings reach Temporal's ``Worker``: ``DUCTAPE_MAX_CACHED_WORKFLOWS`` was once
read and then silently dropped, which is what a worker's memory with many sleeping jobs depends on."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

import ductape_jobs.worker.job_worker
from ductape_jobs.activities.config.product_config import ProductConfig
from ductape_jobs.activities.config.secrets import SecretStore
from ductape_jobs.settings import Settings
from ductape_jobs.worker.job_worker import run_worker


async def test_cache_and_workflow_task_settings_reach_the_temporal_worker(
    dev_env: WorkflowEnvironment, product_config: ProductConfig, task_queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}

    class Recording(Worker):  # the real Worker, recording what it was given
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            seen.update(kwargs)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(ductape_jobs.worker.job_worker, "Worker", Recording)
    settings = Settings.from_env({"DUCTAPE_MAX_CACHED_WORKFLOWS": "7", "DUCTAPE_MAX_CONCURRENT_WORKFLOW_TASKS": "3"})
    stop = asyncio.Event()
    stop.set()
    await run_worker(
        dev_env.client, task_queue=task_queue, config=product_config, secrets=SecretStore({}), stop=stop,
        max_cached_workflows=settings.max_cached_workflows,
        max_concurrent_workflow_tasks=settings.max_concurrent_workflow_tasks,
    )  # fmt: skip
    assert (seen["max_cached_workflows"], seen["max_concurrent_workflow_tasks"]) == (7, 3)
    assert Settings().max_cached_workflows == 10  # the default that keeps 10,000 sleeping jobs under 150 MB
