"""The cost of each flow control on a plain job, configured but not binding, against the same job
without it, in one run on one embedded dev server (issue "Flow control").

    .venv/bin/python -m bench.controls            # 300 jobs per variant
    .venv/bin/python -m bench.controls --jobs 100
    .venv/bin/python -m bench.controls --dynamic-config history.maxInFlightUpdates=10   # a server setting

Each variant runs the same action against the bench target (its own process), end to end (dispatch,
then wait for the result, 32 callers), in alternating rounds so a slow spell falls on all alike:

- ``priority``: ``priority: 2`` and a fairness key read from the input;
- ``rate_limit``: the app limited to 10,000 calls/s (its calls go through the target's own queue);
- ``concurrency``: one key for all, limit 10,000 (every run asks the key's keeper, never waits);
- ``debounce``: a key per job, ``period_ms: 1`` (every dispatch offers itself to its own window).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import port
from bench.run import _interleaved
from bench.target import Target
from ductape_jobs import Ductape
from ductape_jobs.activities.config.product_config import parse_product_config
from ductape_jobs.activities.config.secrets import SecretStore
from ductape_jobs.client import connect_client
from ductape_jobs.dev.server import DevServer, DevServerOptions
from ductape_jobs.settings import Settings
from ductape_jobs.worker.job_worker import job_worker

APPS: dict[str, dict[str, Any]] = {
    "plain": {},
    "priority": {},
    "rate_limit": {"rate_limit": {"per_second": 10_000}},
    "concurrency": {"concurrency": {"key": "$Input{body.tenant}", "limit": 10_000}},
    "debounce": {"debounce": {"key": "$Input{body.n}", "period_ms": 1}},
}
"""Each variant is an app of its own (a rate limit is per app), otherwise the same."""
JOB_FIELDS: dict[str, dict[str, Any]] = {"priority": {"priority": 2, "fairness_key": "$Input{body.tenant}"}}


def _config(url: str) -> Any:
    apps = {name: {"envs": {"dev": {"base_url": url}}, "actions": {"hit": {"method": "POST", "path": "/hit"}}} | extra
            for name, extra in APPS.items()}  # fmt: skip
    return parse_product_config({"products": {"bench": {"envs": ["dev"], "apps": apps}}})


async def bench(jobs: int, dynamic_config: dict[str, object]) -> dict[str, float]:
    options = DevServerOptions(
        port=port(), data_dir=Path(tempfile.mkdtemp(prefix="ductape-controls-")), headless=True,
        dynamic_config=dynamic_config,
    )  # fmt: skip
    async with Target(port()) as target, DevServer(options):
        config = _config(target.url)
        settings = Settings(address=options.address, task_queue=f"controls-{uuid.uuid4().hex[:6]}")
        client = await connect_client(settings, None)
        ductape = Ductape(client, task_queue=settings.task_queue, config=config, secrets=SecretStore({}))
        counter = iter(range(10**9))

        def side(app: str) -> Any:
            async def one(_: int) -> None:
                data = {"product_tag": "bench", "env": "dev", "app": app, "event": "hit",
                        "input": {"body": {"tenant": "t1", "n": next(counter)}}} | JOB_FIELDS.get(app, {})  # fmt: skip
                await ductape.jobs.result((await ductape.processor.job.schedule(data)).job_id)

            return one

        async with job_worker(client, task_queue=settings.task_queue, config=config, secrets=SecretStore({}),
                              fail_workflow_on_bug=True):  # fmt: skip
            rates = await _interleaved(jobs, *(side(app) for app in APPS))
    return dict(zip(APPS, rates, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=300, help="jobs per variant (default 300)")
    parser.add_argument(
        "--dynamic-config", action="append", default=[], metavar="KEY=JSON",
        help="a server dynamic config value laid over the product's (repeatable)",
    )  # fmt: skip
    args = parser.parse_args()
    overrides = {key: json.loads(value) for key, _, value in (item.partition("=") for item in args.dynamic_config)}
    started = datetime.now(UTC)
    rates = asyncio.run(bench(args.jobs, overrides))
    print(f"\nflow-control cost, {started:%Y-%m-%d %H:%M} UTC, {args.jobs} jobs per variant, end to end, {overrides}")
    print("| control (configured, not binding) | jobs/s | against plain |")
    print("|---|---|---|")
    for name, rate in rates.items():
        print(f"| {name} | {rate:.1f} | {rate / rates['plain']:.2f}x |")
    sys.stdout.flush()
    os._exit(0)  # the SDK's native threads can abort interpreter exit (temporalio/sdk-python#300)


if __name__ == "__main__":
    main()
