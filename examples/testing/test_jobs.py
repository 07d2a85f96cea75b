"""An example suite for a product's jobs, on the ductape testing kit (see conftest.py)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ductape_jobs import Ductape, JobFailedError
from ductape_jobs.testing import (
    DuctapeTestEnv,
    HttpTarget,
    assert_attempts,
    assert_occurrences,
    replay_histories,
    save_history,
)

JOB = {"product_tag": "shop", "env": "dev", "app": "mailer"}
JOB_START = datetime(2027, 3, 20, tzinfo=ZoneInfo("Europe/Amsterdam"))


def test_the_weekly_digest_runs_at_nine_amsterdam_time_across_the_dst_change() -> None:
    # The time-skipping server has no Schedules: a recurring job's runs are checked with the planner's own code.
    assert_occurrences(
        {"cron": "0 9 * * MON", "tz": "Europe/Amsterdam"},
        ["2027-03-22T09:00:00+01:00", "2027-03-29T09:00:00+02:00", "2027-04-05T09:00:00+02:00"],
        start=JOB_START,
        end=JOB_START + timedelta(days=20),
    )


async def test_a_receipt_is_sent_after_its_start_at(
    ductape: Ductape, ductape_env: DuctapeTestEnv, ductape_target: HttpTarget
) -> None:
    due = await ductape_env.now() + timedelta(hours=6)
    job = await ductape.processor.job.schedule(
        JOB | {"event": "send_receipt", "input": {"body": {"order": 42}}, "start_at": due.isoformat()}
    )
    assert ductape_target.calls("/v1/receipts") == []  # not yet: six hours to go
    result = await ductape_env.result(job.job_id)  # the server skips the six hours
    assert result["status"] == 200
    [call] = ductape_target.calls("/v1/receipts")
    assert call.body == {"order": 42}
    assert call.headers["Authorization"] == "Bearer test-key"
    assert await ductape_env.now() >= due


async def test_a_failing_mailer_is_tried_retries_plus_one_times(
    ductape: Ductape, ductape_env: DuctapeTestEnv, ductape_target: HttpTarget
) -> None:
    ductape_target.script("/v1/receipts", [503])  # every call answers 503
    job = await ductape.processor.job.schedule(
        JOB | {"event": "send_receipt", "input": {}, "retries": 2, "retry": {"initialDelay": 30_000}}
    )
    with pytest.raises(JobFailedError):
        await ductape_env.result(job.job_id)
    await assert_attempts(ductape_env.handle(job.job_id), 3)
    assert len(ductape_target.calls("/v1/receipts")) == 3


async def test_a_history_recorded_here_replays_on_the_current_code(
    ductape: Ductape, ductape_env: DuctapeTestEnv, tmp_path: Path
) -> None:
    job = await ductape.processor.job.schedule(JOB | {"event": "send_receipt", "input": {"body": {"order": 7}}})
    await ductape_env.result(job.job_id)
    await save_history(ductape_env.handle(job.job_id), tmp_path)
    # Commit such files (e.g. under tests/histories/) and replay them on every change of the code.
    assert await replay_histories(tmp_path) == 1
