"""The kit on the time-skipping server: a job dispatched through ``ductape_test_env`` reaches the
recording target, at its virtual time; retries are counted from the history; recorded histories replay,
and one that does not names its file."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from ductape_jobs.activities.config.product_config import load_product_config
from ductape_jobs.activities.config.secrets import SecretStore
from ductape_jobs.management.records import JobFailedError
from ductape_jobs.testing import (
    DuctapeTestEnv,
    HistoryReplayError,
    HttpTarget,
    activity_attempts,
    assert_attempts,
    ductape_test_env,
    replay_histories,
    save_history,
)
from tests.conftest import SECRETS, product_config_for

ROOT = Path(__file__).resolve().parents[2]


def job(event: str, **fields: Any) -> dict[str, Any]:
    return {"product_tag": "my-product", "env": "dev", "app": "email-service", "event": event, "input": {}} | fields


@pytest.fixture
async def kit(http_target: HttpTarget) -> AsyncIterator[DuctapeTestEnv]:
    async with ductape_test_env(product_config_for(http_target.url), secrets=SecretStore(SECRETS)) as env:
        yield env


async def test_a_job_due_in_three_days_calls_the_target_at_its_virtual_time(
    kit: DuctapeTestEnv, http_target: HttpTarget
) -> None:
    now = await kit.now()
    due = now + timedelta(days=3)
    dispatched = await kit.ductape.processor.job.schedule(
        job("send_welcome_email", start_at=due.isoformat(), input={"body": {"userId": "u1", "at": "$Now()"}})
    )
    result = await kit.result(dispatched.job_id, timeout=30)  # three virtual days, in well under 30 s
    assert result["status"] == 200
    [call] = http_target.calls("/v1/welcome")
    assert call.body["userId"] == "u1"
    assert call.headers["Authorization"] == "Bearer email-secret-value"
    resolve, activity = await activity_attempts(kit.handle(dispatched.job_id))
    assert (resolve.activity_type, resolve.is_job_event) == ("ductape.resolve_placeholders", False)
    assert (activity.activity_type, activity.is_job_event, activity.outcome) == (
        "ductape.run_action",
        True,
        "completed",
    )
    assert activity.last_started_at is not None
    assert due <= activity.last_started_at < due + timedelta(seconds=30)
    # A known limit (README): `$Now()` is resolved by an activity, which reads the wall clock, not the virtual one.
    assert abs(int(call.body["at"]) - call.at * 1000) < 30_000


async def test_retries_are_counted_from_the_history(kit: DuctapeTestEnv, http_target: HttpTarget) -> None:
    http_target.script("/flaky", [500, 500, 200])
    ok = await kit.ductape.processor.job.schedule(job("flaky", retries=3, retry={"initialDelay": 60_000}))
    await kit.result(ok.job_id)  # a minute between attempts, skipped
    await assert_attempts(kit.handle(ok.job_id), 3)
    [activity] = await activity_attempts(kit.handle(ok.job_id))
    assert activity.outcome == "completed"

    http_target.script("/missing", [500])
    failing = await kit.ductape.processor.job.schedule(job("missing", retries=2))
    with pytest.raises(JobFailedError):
        await kit.result(failing.job_id)
    await assert_attempts(kit.handle(failing.job_id), 3)
    with pytest.raises(AssertionError) as wrong:
        await assert_attempts(kit.handle(failing.job_id), 1)
    assert "the job's event activity ran 3 time(s), expected 1" in str(wrong.value)
    assert "ductape.run_action #1: 3 attempt(s), failed, last failure SERVER_ERROR" in str(wrong.value)


async def test_a_recorded_history_replays_and_a_changed_one_names_its_file(kit: DuctapeTestEnv, tmp_path: Path) -> None:
    dispatched = await kit.ductape.processor.job.schedule(job("send_welcome_email", input={"body": {"n": 1}}))
    await kit.result(dispatched.job_id)
    saved = await save_history(kit.handle(dispatched.job_id), tmp_path / "histories")
    assert saved.name == f"{dispatched.job_id}.json"
    assert await replay_histories(saved.parent) == 1

    data = json.loads(saved.read_text())
    for event in data["events"]:  # as if the workflow now called another activity: non-deterministic
        if event["eventType"] == "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED":
            event["activityTaskScheduledEventAttributes"]["activityType"]["name"] = "ductape.something_else"
    changed = tmp_path / "changed" / saved.name
    changed.parent.mkdir()
    changed.write_text(json.dumps(data))
    broken = tmp_path / "changed" / "not-a-history.json"
    broken.write_text("{")
    with pytest.raises(HistoryReplayError) as failed:
        await replay_histories([saved, changed.parent])
    assert [r.source for r in failed.value.failures] == [str(changed), str(broken)]
    message = str(failed.value)
    assert f"{changed} (workflow {dispatched.job_id}): NondeterminismError" in message
    assert f"{broken} (workflow not-a-history): cannot read the history" in message
    with pytest.raises(FileNotFoundError, match="no history file or folder"):
        await replay_histories(tmp_path / "nowhere")


def test_load_product_config_substitutes_text_before_parsing() -> None:
    config = load_product_config(
        ROOT / "examples" / "product.yaml", replace={"http://127.0.0.1:8299": "http://127.0.0.1:9"}
    )
    app = config.products["my-product"].apps["email-service"]
    assert {env.base_url for env in app.envs.values()} == {"http://127.0.0.1:9"}
