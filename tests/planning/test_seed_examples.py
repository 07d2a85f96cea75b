"""Every example of seeds 000, 001, 003 and 004, as the files in ``examples/seeds/`` hold them, run on the
real dev server against the example product config (``examples/product.yaml``), its URLs pointed at
this test's receivers: each one is dispatched, and the receiver its event reaches saw it.

A recurring example whose first run is not due now, and the one-off example due in 2030, are
triggered (``jobs.trigger``) after their next run time was checked; every job is deleted at the end.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from croniter import croniter
from temporalio.testing import WorkflowEnvironment

from ductape_jobs import Ductape
from ductape_jobs.activities.config.product_config import ProductConfig, parse_product_config
from ductape_jobs.activities.config.secrets import SecretStore
from ductape_jobs.cli.schedule_file import Item, send_item, split_items
from ductape_jobs.workflows.contracts.dispatch import IDispatchResult, IProductJob
from tests.cli.test_cli import CLI, run_cli
from tests.conftest import TEST_KEYRING
from tests.support.http_target import HttpTarget
from tests.support.waiting import eventually
from tests.support.workers import job_worker

ROOT = Path(__file__).resolve().parents[2]
SEEDS = ROOT / "examples" / "seeds"
SECRETS_FILE = ROOT / "examples" / "dev.secrets"
PUSH = "/v1/projects/demo/messages:send"


def example_config(tmp_path: Path, base_url: str) -> tuple[Path, ProductConfig]:
    """``examples/product.yaml`` with its echo target and SQLite file moved to this test's."""
    text = (ROOT / "examples" / "product.yaml").read_text()
    text = text.replace("http://127.0.0.1:8299", base_url).replace(".data/inventory.db", str(tmp_path / "inv.db"))
    path = tmp_path / "product.yaml"
    path.write_text(text)
    return path, parse_product_config(yaml.safe_load(text))


@dataclass
class Seeds:
    ductape: Ductape
    target: HttpTarget
    database: Path
    config_file: Path
    task_queue: str


@pytest.fixture
async def seeds(
    dev_env: WorkflowEnvironment, http_target: HttpTarget, tmp_path: Path, task_queue: str
) -> AsyncIterator[Seeds]:
    config_file, config = example_config(tmp_path, http_target.url)
    secrets = SecretStore.from_sources({}, SECRETS_FILE, names=config.declared_secrets())
    async with job_worker(
        dev_env.client, task_queue=task_queue, config=config, secrets=secrets, fail_workflow_on_bug=True
    ):
        ductape = Ductape(dev_env.client, task_queue=task_queue, config=config, secrets=secrets)
        yield Seeds(ductape, http_target, tmp_path / "inv.db", config_file, task_queue)


def load(name: str) -> Item:
    (item,) = split_items(json.loads((SEEDS / name).read_text()))
    return item


def pushed(target: HttpTarget) -> bool:
    """The seeds' push notification reached the FCM endpoint, as written."""
    for call in target.calls(PUSH):
        message = call.body["message"]
        if message["token"] == "abcdef123456" and message["notification"]["title"] == "Order Shipped":
            assert message["notification"]["body"] == "Your order #12345 has been shipped!"
            assert message["data"] == {"trackingId": "XYZ987"}
            assert call.headers["Authorization"] == "Bearer demo-push-token"  # $Secret{PUSH_TOKEN}
            return True
    return False


def called(path: str, **body: Any) -> Callable[[HttpTarget], bool]:
    return lambda target: any(body.items() <= (c.body or {}).items() for c in target.calls(path))


NOTIFICATION_EXAMPLES = [
    # (file, due at once: else triggered after its next run is checked against the cron)
    ("000-schedule-notification.json", True),
    ("001-example.json", False),
    ("001-repeat-every-24-hours.json", True),
    ("001-repeat-monthly.json", False),
    ("001-repeat-weekly-10-times.json", True),
    ("001-repeat-daily-until.json", True),
    ("001-repeat-time-zone.json", False),
]
ACTION_EXAMPLES = [
    # (file, due at once, what the echo target must have seen)
    ("001-session-input.json", True, called("/v1/welcome", userId="user-123", email="john@example.com")),
    ("003-quick-example.json", False, called("/v1/welcome", userId="user_123", email="john@example.com")),
    ("003-run-immediately.json", True, called("/v1/payments", orderId="order_456", amount=99.99)),
    ("003-specific-time.json", True, called("/v1/campaigns", campaignId="camp_123", audience="active_users")),
]


async def dispatched(seeds: Seeds, name: str, due_now: bool) -> IDispatchResult:
    """Dispatch the example as written; one not due now is checked to wait, then triggered."""
    item = load(name)
    result = await send_item(seeds.ductape, item)
    assert isinstance(result, IDispatchResult)
    assert result.status == ("queued" if due_now else "scheduled")
    repeat = item.data.get("repeat") or item.data.get("schedule") or {}
    if "cron" in repeat:
        zone = ZoneInfo(repeat.get("tz", "UTC"))
        expected = croniter(repeat["cron"], datetime.now(zone)).get_next(datetime)
        assert result.next_run_at == int(expected.timestamp() * 1000)
    if not due_now:
        await seeds.ductape.jobs.trigger(result.job_id)
    return result


@pytest.mark.parametrize(("name", "due_now"), NOTIFICATION_EXAMPLES)
async def test_notification_examples_reach_the_push_endpoint(seeds: Seeds, name: str, due_now: bool) -> None:
    result = await dispatched(seeds, name, due_now)
    try:
        await eventually(lambda: pushed(seeds.target))
        record = await seeds.ductape.jobs.get(result.job_id)
        assert (record.event_type, record.app, record.event) == ("notification", "order_update", "send_notification")
    finally:
        await seeds.ductape.jobs.delete(result.job_id)


@pytest.mark.parametrize(("name", "due_now", "seen"), ACTION_EXAMPLES)
async def test_action_examples_reach_the_app(
    seeds: Seeds, name: str, due_now: bool, seen: Callable[[HttpTarget], bool]
) -> None:
    result = await dispatched(seeds, name, due_now)
    try:
        await eventually(lambda: seen(seeds.target))
        assert (await seeds.ductape.jobs.get(result.job_id)).event_type == "action"
    finally:
        await seeds.ductape.jobs.delete(result.job_id)


async def test_recurring_cron_example_runs_the_daily_report_feature(seeds: Seeds) -> None:
    result = await dispatched(seeds, "003-recurring-cron.json", due_now=False)
    try:
        report = await asyncio.wait_for(seeds.ductape.jobs.result(result.job_id), timeout=20)
        assert report == {"report": "daily", "day": datetime.now(UTC).date().isoformat(), "input": {}}
    finally:
        await seeds.ductape.jobs.delete(result.job_id)


async def test_recurring_interval_example_inserts_the_sync_row(seeds: Seeds) -> None:
    before = int(time.time() * 1000)
    result = await dispatched(seeds, "003-recurring-interval.json", due_now=True)
    try:
        assert result.recurring
        assert result.next_run_at is not None
        assert result.next_run_at - before >= 86_400_000 - 2000  # then every 24 hours

        def rows() -> list[tuple[Any, ...]]:
            if not seeds.database.exists():
                return []
            with sqlite3.connect(seeds.database) as db:
                return db.execute("SELECT sync_type, started_at FROM sync_logs").fetchall()

        await eventually(lambda: bool(rows()))
        ((sync_type, started_at),) = rows()
        assert sync_type == "inventory"
        assert started_at is not None  # $Now() at the run, stored as a timestamp
    finally:
        await seeds.ductape.jobs.delete(result.job_id)


async def test_product_builder_examples_create_update_and_fetch_the_job(seeds: Seeds) -> None:
    created = await send_item(seeds.ductape, load("004-create-job.json"))
    assert isinstance(created, IDispatchResult)
    try:
        assert created.recurring
        assert created.status == "queued"
        await eventually(lambda: called("/v1/action_tag")(seeds.target))
        updated = await send_item(seeds.ductape, load("004-update-job.json"))
        assert isinstance(updated, IProductJob)
        assert (updated.name, updated.executions, updated.intervals) == ("Updated Job Name", 10, 120000)
        everything = await send_item(seeds.ductape, load("004-fetch-jobs.json"))
        assert isinstance(everything, list)
        assert [job.tag for job in everything if isinstance(job, IProductJob)] == ["example_job"]
        fetched = await send_item(seeds.ductape, load("004-fetch-job.json"))
        assert fetched == updated
        record = await seeds.ductape.jobs.get(created.job_id)
        assert (record.event_type, record.app, record.event, record.limit) == (
            "action", "email-service", "action_tag", 10,
        )  # fmt: skip
    finally:
        await seeds.ductape.product("my-product").delete_job("example_job")


def test_every_seed_example_has_a_case_here() -> None:
    covered = {n for n, *_ in NOTIFICATION_EXAMPLES} | {n for n, *_ in ACTION_EXAMPLES}
    covered |= {"003-recurring-cron.json", "003-recurring-interval.json", *(f.name for f in SEEDS.glob("004-*.json"))}
    assert covered == {f.name for f in SEEDS.glob("*.json")}


async def test_the_cli_schedules_each_example_file(seeds: Seeds, dev_env: WorkflowEnvironment) -> None:
    """``ductape-jobs schedule examples/seeds/<file>``, file by file (the builder files in the seed's
    order: create, update, fetch); each prints its result."""
    env = dict(os.environ, DUCTAPE_SECRETS_FILE=str(SECRETS_FILE), DUCTAPE_ENCRYPTION_KEYS=TEST_KEYRING.to_text())
    address = dev_env.client.service_client.config.target_host
    args = ("--address", address, "--task-queue", seeds.task_queue, "--config", str(seeds.config_file))
    files = sorted(f for f in SEEDS.glob("*.json") if not f.name.startswith("004-"))
    builder = ["004-create-job.json", "004-update-job.json", "004-fetch-jobs.json", "004-fetch-job.json"]
    gate = asyncio.Semaphore(3)
    job_ids: list[str] = []

    async def schedule(path: Path) -> Any:
        async with gate:
            code, out, err = await run_cli("schedule", str(path), *args, env=env)
        assert code == 0, f"{path.name}: {err}"
        return json.loads(out)

    assert Path(CLI).exists()
    try:
        for printed in await asyncio.gather(*(schedule(f) for f in files)):
            assert printed["job_id"]
            assert printed["status"] in ("queued", "scheduled")
            job_ids.append(printed["job_id"])
        outputs = [await schedule(SEEDS / name) for name in builder]
        job_ids.append(outputs[0]["job_id"])
        assert outputs[1]["name"] == "Updated Job Name"
        assert [d["tag"] for d in outputs[2]] == ["example_job"]
        assert outputs[3] == outputs[1]
        await eventually(lambda: pushed(seeds.target))  # the worker of this test runs what the CLI sent
    finally:
        for job_id in job_ids:
            await seeds.ductape.jobs.delete(job_id)
