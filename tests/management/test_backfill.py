"""``ductape.jobs.backfill`` on the dev server with a real target: the dry run lists exactly the runs
the server then starts, missed runs of a paused job, DST days through the companion schedule, and the
errors that name their field."""

from __future__ import annotations

import asyncio
import json
import os
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.testing import WorkflowEnvironment

from ductape_jobs import JobInputError, JobNotFoundError, JobStateError
from tests.cli.test_cli import run_cli
from tests.conftest import TEST_KEYRING
from tests.management.conftest import Env, in_
from tests.support.waiting import eventually


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


async def nominal_times(env: Env, job_id: str, expected: int) -> list[int]:
    """The nominal times of the job's completed runs, once there are ``expected`` of them."""
    found: list[int] = []

    async def done() -> bool:
        history = await env.ductape.jobs.history(job_id)
        found[:] = sorted(r.scheduled_at for r in history.executions if r.status == "completed" and r.scheduled_at)
        return len(found) >= expected

    await eventually(done, within=30)
    return found


@pytest.mark.timeout(90)
async def test_a_paused_jobs_missed_runs_are_backfilled_exactly_as_the_dry_run_listed(env: Env) -> None:
    job = await env.ductape.processor.job.schedule(env.job(repeat={"every": 2000}))
    created = datetime.now(UTC)
    await env.ductape.jobs.pause(job.job_id)
    await asyncio.sleep(7)
    calls_before = len(env.target.calls("/v1/welcome"))  # a run may have begun before the pause
    end = datetime.now(UTC)
    planned = await env.ductape.jobs.backfill(job.job_id, created.isoformat(), ms(end), dry_run=True)
    assert planned.dry_run
    assert 3 <= len(planned.occurrences) <= 4  # every 2 s over about 7 s
    assert all(ms(created) <= t <= ms(end) for t in planned.occurrences)
    assert {b - a for a, b in zip(planned.occurrences, planned.occurrences[1:], strict=False)} == {2000}
    assert len(env.target.calls("/v1/welcome")) == calls_before  # a dry run starts nothing

    started = await env.ductape.jobs.backfill(job.job_id, created.isoformat(), ms(end))
    assert started.occurrences == planned.occurrences
    assert not started.dry_run
    runs = await nominal_times(env, job.job_id, calls_before + len(planned.occurrences))
    assert [t for t in runs if t in planned.occurrences] == planned.occurrences
    assert len(env.target.calls("/v1/welcome")) == calls_before + len(planned.occurrences)
    assert (await env.ductape.jobs.get(job.job_id)).status == "paused"  # a backfill does not resume it


async def test_a_dry_run_lists_a_dst_zone_crons_change_day_from_its_companion(env: Env) -> None:
    # 02:30 in Amsterdam does not exist on 2027-03-28: the default policy runs it at 03:00 (01:00Z),
    # on the job's DST companion schedule. A dry run previews any range; a backfill needs a past one.
    job = await env.ductape.processor.job.schedule(env.job(repeat={"cron": "30 2 * * *", "tz": "Europe/Amsterdam"}))
    expected = ["2027-03-27T01:30:00+00:00", "2027-03-28T01:00:00+00:00", "2027-03-29T00:30:00+00:00"]
    planned = await env.ductape.jobs.backfill(job.job_id, "2027-03-27T00:00:00Z", "2027-03-29T23:00:00Z", dry_run=True)
    assert planned.occurrences == [ms(datetime.fromisoformat(t)) for t in expected]
    assert planned.clipped_to is None
    with pytest.raises(JobInputError) as err:
        await env.ductape.jobs.backfill(job.job_id, "2027-03-27T00:00:00Z", "2027-03-29T23:00:00Z")
    assert (err.value.field, "future" in err.value.reason) == ("end", True)


async def test_backfill_refuses_what_it_cannot_do_and_names_the_field(env: Env) -> None:
    job = await env.ductape.processor.job.schedule(env.job(start_at=in_(3600), repeat={"every": 1000}))
    now = datetime.now(UTC)
    with pytest.raises(JobInputError) as err:
        await env.ductape.jobs.backfill(job.job_id, ms(now), ms(now - timedelta(hours=1)))
    assert err.value.field == "end"
    with pytest.raises(JobInputError) as err:
        await env.ductape.jobs.backfill(job.job_id, "yesterday", ms(now))
    assert err.value.field == "start"
    with pytest.raises(JobInputError) as err:
        await env.ductape.jobs.backfill(job.job_id, in_(3600), in_(3 * 3600), dry_run=True)  # 7,200 runs
    assert (err.value.field, "more than 1000" in err.value.reason) == ("end", True)
    with pytest.raises(JobInputError) as err:
        await env.ductape.jobs.backfill(job.job_id, in_(3600), in_(3660), overlap="sometimes")  # type: ignore[arg-type]
    assert err.value.field == "overlap"
    # Before the job's first run there is nothing of the job's to start.
    clipped = await env.ductape.jobs.backfill(job.job_id, ms(now - timedelta(hours=1)), in_(3605), dry_run=True)
    assert clipped.clipped_to is not None
    assert clipped.clipped_to >= ms(now + timedelta(seconds=3599))
    assert 4 <= len(clipped.occurrences) <= 6
    one_off = await env.ductape.processor.job.schedule(env.job(start_at=in_(3600)))
    with pytest.raises(JobNotFoundError):
        await env.ductape.jobs.backfill(one_off.job_id, ms(now - timedelta(hours=1)), ms(now))
    await env.ductape.jobs.cancel(job.job_id)
    with pytest.raises(JobStateError):
        await env.ductape.jobs.backfill(job.job_id, ms(now - timedelta(hours=1)), ms(now))


async def test_the_cli_dry_run_lists_the_runs(env: Env, dev_env: WorkflowEnvironment) -> None:
    job = await env.ductape.processor.job.schedule(
        env.job(start_at=in_(60), repeat={"cron": "0 9 * * *", "tz": "America/New_York"})
    )
    code, out, err = await run_cli(
        "jobs", "backfill", job.job_id, "--start", "2030-01-01T00:00:00Z", "--end", "2030-01-03T23:59:59Z",
        "--dry-run", "--json", "--address", dev_env.client.service_client.config.target_host,
        env=dict(os.environ, DUCTAPE_ENCRYPTION_KEYS=TEST_KEYRING.to_text()),
    )  # fmt: skip
    assert code == 0, err
    shown = json.loads(out)
    assert shown["dry_run"] is True
    assert shown["occurrences"] == [ms(datetime(2030, 1, d, 14, tzinfo=UTC)) for d in (1, 2, 3)]
