"""Management near the instant, at more trials than CI runs (``tests.support.management_races``).

    .venv/bin/python -m bench.races --trials 1000 --spread 60

Its own dev server (in memory) and an in-process worker; loopback only. Prints the answers by kind,
the Δs at which a call came too late (truthfully: the event had started), and every violation.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from datetime import timedelta

from temporalio.testing import WorkflowEnvironment

from ductape_jobs import Ductape
from ductape_jobs.activities.config.secrets import SecretStore
from ductape_jobs.dev.server import temporal_binary
from ductape_jobs.worker.job_worker import job_worker
from ductape_jobs.workflows.names import SEARCH_ATTRIBUTES
from tests.conftest import CONVERTER, SECRETS, product_config_for
from tests.support.http_target import HttpTarget
from tests.support.management_races import first_start, plan, run_trials, summary


async def main(trials: int, spread: float) -> int:
    target = HttpTarget()
    await target.start()
    async with await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(temporal_binary()),
        search_attributes=list(SEARCH_ATTRIBUTES),
        data_converter=CONVERTER,
    ) as env:
        config = product_config_for(target.url)
        secrets = SecretStore(SECRETS)
        task_queue = f"races-{uuid.uuid4().hex[:8]}"
        async with job_worker(
            env.client, task_queue=task_queue, config=config, secrets=secrets, fail_workflow_on_bug=True
        ):
            ductape = Ductape(env.client, task_queue=task_queue, config=config, secrets=secrets)
            # Dispatching takes ~10 ms a job here: the first start leaves room for it and Δ = 60 s.
            lead = timedelta(seconds=65 + trials * 0.02)
            started = time.monotonic()
            batch = plan(trials, first_start=first_start(lead), spread=spread)
            violations = await run_trials(ductape, target, batch, product="my-product")
    await target.stop()
    print(f"{summary(batch)}; {time.monotonic() - started:.0f} s")
    print(f"violations: {len(violations)}")
    for violation in violations:
        print("  " + violation)
    return 1 if violations else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--spread", type=float, default=60.0, help="seconds over which the jobs' starts spread")
    args = parser.parse_args()
    code = asyncio.run(main(args.trials, args.spread))
    sys.stdout.flush()
    os._exit(code)  # the SDK's native threads can abort interpreter exit (temporalio/sdk-python#300)
