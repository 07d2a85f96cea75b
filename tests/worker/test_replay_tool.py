"""``ductape-jobs replay`` and ``assert_histories_replay``: the deploy check users run."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from ductape_jobs import Ductape
from ductape_jobs.activities.config.secrets import SecretStore
from ductape_jobs.worker.replay import assert_histories_replay
from tests.cli.test_cli import run_cli
from tests.conftest import SECRETS, TEST_KEYRING
from tests.support.http_target import HttpTarget
from tests.support.workers import job_worker


@pytest.fixture
async def exported(
    dev_env: WorkflowEnvironment, product_config: Any, task_queue: str, tmp_path: Path, http_target: HttpTarget
) -> tuple[str, Path]:
    """A real job's history, saved as `<workflow id>.json` the way users export them."""
    async with job_worker(dev_env.client, task_queue=task_queue, config=product_config, secrets=SecretStore(SECRETS)):
        ductape = Ductape(dev_env.client, task_queue=task_queue, config=product_config, secrets=SecretStore(SECRETS))
        job = await ductape.processor.job.schedule(
            {"product_tag": "my-product", "env": "dev", "app": "email-service", "event": "send_welcome_email",
             "input": {"body": {"at": "$Now()"}}}
        )  # fmt: skip
        await ductape.jobs.result(job.job_id)
    history = await dev_env.client.get_workflow_handle(job.job_id).fetch_history()
    path = tmp_path / "good" / f"{job.job_id}.json"
    path.parent.mkdir()
    path.write_text(history.to_json())
    return job.job_id, path


def _tampered(path: Path, tmp_path: Path) -> Path:
    """The same history as if the workflow had called another activity: what a careless change does."""
    data = json.loads(path.read_text())
    for event in data["events"]:
        if event["eventType"] == "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED":
            event["activityTaskScheduledEventAttributes"]["activityType"]["name"] = "ductape.something_else"
    bad = tmp_path / "bad" / path.name
    bad.parent.mkdir()
    bad.write_text(json.dumps(data))
    return bad


async def test_replay_command_reports_non_determinism_by_workflow_id(
    exported: tuple[str, Path], tmp_path: Path, dev_env: WorkflowEnvironment
) -> None:
    job_id, good = exported
    env = dict(os.environ, DUCTAPE_ENCRYPTION_KEYS=TEST_KEYRING.to_text())
    code, out, err = await run_cli("replay", str(good), env=env)
    assert code == 0, err
    assert f"ok   {job_id}" in out
    assert "1 replayed, 0 non-deterministic" in out

    code, out, _ = await run_cli("replay", str(good), str(_tampered(good, tmp_path)), env=env)
    assert code == 1
    assert f"FAIL {job_id}" in out
    assert "Nondeterminism" in out
    assert "1 non-deterministic" in out

    address = dev_env.client.service_client.config.target_host
    code, out, err = await run_cli("replay", "--query", f'WorkflowId = "{job_id}"', "--address", address, env=env)
    assert code == 0, err
    assert "1 replayed, 0 non-deterministic" in out


async def test_pytest_helper_for_users_suites(exported: tuple[str, Path], tmp_path: Path) -> None:
    _, good = exported
    assert await assert_histories_replay(good.parent, keyring=TEST_KEYRING) == 1
    with pytest.raises(AssertionError, match="no longer replay"):
        await assert_histories_replay(_tampered(good, tmp_path).parent, keyring=TEST_KEYRING)
