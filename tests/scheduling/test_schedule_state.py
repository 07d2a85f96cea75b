"""Schedule state in structured fields (``ductape_jobs.scheduling``): a cancelled recurring job and an armed
schedule's shift are search attributes of the schedule, so a pause and unpause in the Web UI (which
overwrite the note) or a rewritten calendar comment change nothing a user reads; schedules of the
previous version are still read from their note and comment. The settings that turn arming and the
DST companion off, and the server version check."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from temporalio.client import Client, ScheduleSpec, ScheduleUpdate, ScheduleUpdateInput
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.testing import WorkflowEnvironment

from ductape_jobs import Ductape, JobStateError
from ductape_jobs.activities.config.product_config import ProductConfig
from ductape_jobs.activities.config.secrets import SecretStore
from ductape_jobs.scheduling import SchedulingOptions, check_server_version, describe_schedule, version_warning
from ductape_jobs.scheduling.recurring_arming import nominal, shifted_calendars
from ductape_jobs.scheduling.schedule_state import schedule_facts
from ductape_jobs.settings import Settings
from ductape_jobs.workflows.contracts.management import JobMemo
from ductape_jobs.workflows.cron import parse_cron
from ductape_jobs.workflows.names import ARM_SHIFT, CANCELLED_AT, PRODUCT
from tests.conftest import SECRETS


def make_ductape(env: WorkflowEnvironment, config: ProductConfig, task_queue: str, **options: bool) -> Ductape:
    # No worker: every run of these jobs lies hours ahead, after the test.
    return Ductape(
        env.client, task_queue=task_queue, config=config, secrets=SecretStore(SECRETS),
        scheduling=SchedulingOptions(**options),
    )  # fmt: skip


@pytest.fixture
def ductape(dev_env: WorkflowEnvironment, product_config: ProductConfig, task_queue: str) -> Ductape:
    return make_ductape(dev_env, product_config, task_queue)


def daily_utc_cron() -> tuple[str, datetime]:
    """A daily UTC cron six hours ahead (an armable job) and its next run."""
    due = (datetime.now(UTC) + timedelta(hours=6)).replace(second=0, microsecond=0)
    return f"{due.minute} {due.hour} * * *", due


def job(repeat: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {
        "product_tag": "my-product", "env": "dev", "app": "email-service", "event": "send_welcome_email",
        "input": {}, "job_id": f"state-{uuid.uuid4().hex[:10]}", "repeat": repeat, **fields,
    }  # fmt: skip


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


async def cancelled_attribute(client: Client, schedule_id: str) -> bool:
    described = await describe_schedule(client, schedule_id)
    return described is not None and described.typed_search_attributes.get(CANCELLED_AT) is not None


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 10.0) -> None:
    """The server applies a schedule's new search attributes a moment after its new state (the
    status reads the cancel's note meanwhile, ``schedule_state``)."""
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)


# --- Reading the state ---------------------------------------------------------------------------


def test_state_comes_from_search_attributes_and_old_schedules_from_their_note_and_comment() -> None:
    cron = "30 9 * * *"
    old_spec = ScheduleSpec(calendars=shifted_calendars(parse_cron(cron), 25, cron) or [])
    empty = TypedSearchAttributes([])
    # A schedule of the previous version: its cancel note (while paused) and its calendar comment.
    old = schedule_facts(empty, old_spec, note="cancelled at 2026-11-30T10:00:00+00:00", paused=True)
    assert (old.cancelled, old.arm_shift_s) == (True, 25)
    assert not schedule_facts(empty, old_spec, note="cancelled by ops", paused=True).cancelled
    # The attributes, when present, are the state: a note or comment says nothing.
    at = datetime(2026, 12, 1, tzinfo=UTC)
    attributes = TypedSearchAttributes([SearchAttributePair(CANCELLED_AT, at), SearchAttributePair(ARM_SHIFT, 7)])
    new = schedule_facts(attributes, old_spec, note="Unpaused via Web UI", paused=False)
    assert (new.cancelled, new.cancelled_at, new.arm_shift_s) == (True, at, 7)
    unarmed = TypedSearchAttributes([SearchAttributePair(ARM_SHIFT, 0)])
    assert schedule_facts(unarmed, old_spec, note=None, paused=False).arm_shift_s == 0


def test_nominal_adds_the_structured_shift_to_spec_times_only() -> None:
    cron = "30 9 * * *"
    spec = ScheduleSpec(calendars=shifted_calendars(parse_cron(cron), 25, "") or [])
    for calendar in spec.calendars:
        calendar.comment = "anything at all"  # no longer read
    shifted = datetime(2026, 12, 1, 9, 29, 35, tzinfo=UTC)
    assert nominal(shifted, spec, 25) == datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    triggered = datetime(2026, 12, 1, 14, 2, 7, tzinfo=UTC)  # a manual trigger: at no spec time
    assert nominal(triggered, spec, 25) == triggered
    assert nominal(shifted, spec, 0) == shifted


# --- On the dev server ---------------------------------------------------------------------------


async def test_a_cancelled_job_stays_cancelled_after_a_pause_and_unpause_in_the_web_ui(
    ductape: Ductape, dev_env: WorkflowEnvironment
) -> None:
    cron, _ = daily_utc_cron()
    result = await ductape.processor.job.schedule(job({"cron": cron}))
    job_id = result.job_id
    try:
        assert (await ductape.jobs.cancel(job_id)).status == "cancelled"
        await eventually(lambda: cancelled_attribute(dev_env.client, job_id))
        described = await describe_schedule(dev_env.client, job_id)
        assert described is not None
        assert described.typed_search_attributes.get(PRODUCT) == "my-product"  # the job's own kept
        # What the Web UI's buttons send: its own notes replace ours, and the unpause clears paused.
        handle = dev_env.client.get_schedule_handle(job_id)
        await handle.pause(note="Paused via Web UI")
        await handle.unpause(note="Unpaused via Web UI")
        described = await handle.describe()
        assert (described.schedule.state.paused, described.schedule.state.note) == (False, "Unpaused via Web UI")
        record = await ductape.jobs.get(job_id)
        assert (record.status, record.next_run_at) == ("cancelled", None)
        with pytest.raises(JobStateError, match="cancelled"):
            await ductape.jobs.resume(job_id)
        (listed,) = [r for r in (await ductape.jobs.list(product="my-product", limit=1000)).jobs if r.job_id == job_id]
        assert listed.status == "cancelled"
    finally:
        await ductape.jobs.delete(job_id)


async def test_the_arm_shift_is_a_search_attribute_and_the_comment_is_not_read(
    ductape: Ductape, dev_env: WorkflowEnvironment
) -> None:
    cron, due = daily_utc_cron()
    result = await ductape.processor.job.schedule(job({"cron": cron}))
    job_id = result.job_id
    try:
        assert result.next_run_at == ms(due)
        handle = dev_env.client.get_schedule_handle(job_id)
        described = await handle.describe()
        shift = described.typed_search_attributes.get(ARM_SHIFT)
        memo = await ductape.jobs.schedule_memo(described)
        assert shift is not None
        assert shift > 0
        assert memo.arm_shift_s == shift  # the workflow reads the memo's
        assert described.info.next_action_times[0] == due - timedelta(seconds=shift)

        def rewrite(update: ScheduleUpdateInput) -> ScheduleUpdate:
            for calendar in update.description.schedule.spec.calendars:
                calendar.comment = "edited in the Web UI"
            return ScheduleUpdate(schedule=update.description.schedule)

        await handle.update(rewrite)
        assert (await ductape.jobs.get(job_id)).next_run_at == ms(due)
        (listed,) = [r for r in (await ductape.jobs.list(product="my-product", limit=1000)).jobs if r.job_id == job_id]
        assert listed.next_run_at == ms(due)

        # A reschedule writes the new timing's shift (a cron at another time: same lead).
        later = due + timedelta(minutes=30)
        record = await ductape.jobs.reschedule(job_id, cron=f"{later.minute} {later.hour} * * *")
        assert record.next_run_at == ms(later)
        described = await handle.describe()
        assert described.typed_search_attributes.get(ARM_SHIFT) == shift
        assert described.info.next_action_times[0] == later - timedelta(seconds=shift)
    finally:
        await ductape.jobs.delete(job_id)


async def test_arming_off_leaves_the_schedule_at_the_jobs_own_times(
    dev_env: WorkflowEnvironment, product_config: ProductConfig, task_queue: str
) -> None:
    ductape = make_ductape(dev_env, product_config, task_queue, arm_recurring=False)
    cron, due = daily_utc_cron()
    result = await ductape.processor.job.schedule(job({"cron": cron}))
    try:
        described = await dev_env.client.get_schedule_handle(result.job_id).describe()
        assert described.info.next_action_times[0] == due  # not shifted
        assert described.typed_search_attributes.get(ARM_SHIFT) == 0  # may arm, not armed
        assert (await ductape.jobs.schedule_memo(described)).arm_shift_s == 0
        assert (await ductape.jobs.get(result.job_id)).next_run_at == ms(due)
    finally:
        await ductape.jobs.delete(result.job_id)


async def test_the_companion_off_lays_a_dst_job_on_one_schedule(
    dev_env: WorkflowEnvironment, product_config: ProductConfig, task_queue: str
) -> None:
    ductape = make_ductape(dev_env, product_config, task_queue, dst_companion=False)
    zone = "Europe/Amsterdam"
    start = datetime(2027, 3, 27, tzinfo=ZoneInfo(zone))
    result = await ductape.processor.job.schedule(job({"cron": "30 2 * * *", "tz": zone}, start_at=start.isoformat()))
    try:
        main = await describe_schedule(dev_env.client, result.job_id)
        assert main is not None
        assert main.schedule.spec.skip == []
        assert JobMemo.model_validate(await main.memo()).dst_companion is None
        assert await describe_schedule(dev_env.client, f"{result.job_id}~dst") is None
        # The server's native handling: 02:30 falls in the gap on the change day and does not run.
        runs = [t.astimezone(ZoneInfo(zone)).strftime("%m-%d %H:%M") for t in main.info.next_action_times[:2]]
        assert runs == ["03-27 02:30", "03-29 02:30"]
    finally:
        await ductape.jobs.delete(result.job_id)


def test_the_settings_read_both_switches_from_the_environment() -> None:
    assert (Settings().arm_recurring, Settings().dst_companion) == (True, True)
    settings = Settings.from_env({"DUCTAPE_ARM_RECURRING": "0", "DUCTAPE_DST_COMPANION": "false"})
    assert (settings.arm_recurring, settings.dst_companion) == (False, False)
    assert SchedulingOptions.of(settings) == SchedulingOptions(arm_recurring=False, dst_companion=False)
    assert Settings.from_env({"DUCTAPE_ARM_RECURRING": "1"}).arm_recurring


# --- The server version ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "warns"),
    [
        ("1.32.0", False),
        ("1.32.7", False),
        ("v1.32.1", False),
        ("1.31.9", True),
        ("1.29.1", True),
        ("1.33.0", True),
        ("2.0.0", True),
        ("", True),
        (None, True),
        ("cloud", True),
    ],
)
def test_the_server_version_warning(version: str | None, warns: bool) -> None:
    warning = version_warning(version)
    assert (warning is not None) == warns
    if warning is not None:
        assert "1.32.x" in warning


async def test_the_dev_server_is_inside_the_verified_versions(
    dev_env: WorkflowEnvironment, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="ductape_jobs.scheduling.server_version"):
        assert await check_server_version(dev_env.client) is None
    assert caplog.records == []
