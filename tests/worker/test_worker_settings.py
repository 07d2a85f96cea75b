"""The worker's tuning settings reach Temporal's ``Worker``: ``DUCTAPE_MAX_CACHED_WORKFLOWS`` was once
read and then silently dropped, which is what a worker's memory with many sleeping jobs depends on."""

from __future__ import annotations

import asyncio
import inspect
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

import ductape_jobs.dev.stack
import ductape_jobs.worker.job_worker
from ductape_jobs.activities.config.product_config import ProductConfig
from ductape_jobs.activities.config.secrets import SecretStore
from ductape_jobs.cli import main as cli
from ductape_jobs.settings import Settings
from ductape_jobs.worker.job_worker import WorkerTuning, run_worker, worker_tuning

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


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


def test_worker_tuning_is_every_worker_setting() -> None:
    settings = Settings.from_env(
        {
            "DUCTAPE_TASK_QUEUE": "q",
            "DUCTAPE_MAX_CACHED_WORKFLOWS": "7",
            "DUCTAPE_MAX_CONCURRENT_WORKFLOW_TASKS": "3",
            "DUCTAPE_HERD_CLAIMS_PER_SECOND": "50",
            "HTTPS_PROXY": "http://proxy.invalid:3128",
        }
    )
    assert worker_tuning(settings) == {
        "task_queue": "q",
        "max_cached_workflows": 7,
        "max_concurrent_workflow_tasks": 3,
        "proxies": {"https": "http://proxy.invalid:3128"},
        "herd_claims_per_second": 50,
    }
    # A field added to the tuning is one `run_worker` takes (both entry points pass the whole of it).
    assert set(WorkerTuning.__annotations__) <= set(inspect.signature(run_worker).parameters)


def test_dev_runs_its_worker_with_every_worker_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``ductape-jobs dev`` once dropped DUCTAPE_MAX_CACHED_WORKFLOWS and the other tuning: the stack's
    worker gets what ``ductape-jobs worker`` would, and its metrics endpoint serves."""
    metrics = f"127.0.0.1:{free_port()}"
    environ = {
        "DUCTAPE_TASK_QUEUE": "dev-queue-from-env",
        "DUCTAPE_MAX_CACHED_WORKFLOWS": "7",
        "DUCTAPE_MAX_CONCURRENT_WORKFLOW_TASKS": "3",
        "DUCTAPE_HERD_CLAIMS_PER_SECOND": "50",
        "HTTPS_PROXY": "http://proxy.invalid:3128",
        "DUCTAPE_METRICS_ADDRESS": metrics,
        # The stack connects to the server it starts, whatever the environment points at.
        "TEMPORAL_ADDRESS": "elsewhere.invalid:7233",
        "TEMPORAL_API_KEY": "not-for-dev",
    }
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    seen: dict[str, Any] = {}

    async def recording_run_worker(client: Client, **kwargs: Any) -> None:
        seen.update(kwargs, target_host=client.service_client.config.target_host, api_key=client.api_key)
        async with httpx.AsyncClient() as http:
            seen["metrics_status"] = (await http.get(f"http://{metrics}/metrics")).status_code

    monkeypatch.setattr(ductape_jobs.dev.stack, "run_worker", recording_run_worker)
    port = free_port()
    args = cli.build_parser().parse_args(
        ["dev", "--config", str(ROOT / "examples" / "product.yaml"),
         "--secrets-file", str(ROOT / "examples" / "dev.secrets"),
         "--port", str(port), "--ui-port", str(free_port()), "--echo-port", "0", "--codec-port", "0",
         "--data-dir", str(tmp_path / "data")]
    )  # fmt: skip
    assert asyncio.run(cli._dev(args, cli._settings(args))) == 0
    assert {k: seen[k] for k in WorkerTuning.__annotations__} == {
        "task_queue": "dev-queue-from-env",
        "max_cached_workflows": 7,
        "max_concurrent_workflow_tasks": 3,
        "proxies": {"https": "http://proxy.invalid:3128"},
        "herd_claims_per_second": 50,
    }
    assert (seen["target_host"], seen["api_key"]) == (f"127.0.0.1:{port}", None)
    assert seen["metrics_status"] == 200
