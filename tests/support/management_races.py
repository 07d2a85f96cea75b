"""Management near the instant: cancel, pause and reschedule sent at ``start - Δ``, every promise checked.

Each trial is one one-off job whose action calls a real HTTP target with its trial number. Its
operation is sent ``Δ`` before the job's start, Δ from 0.2 s to 60 s, so it reaches jobs waiting,
armed (``ductape_jobs.workflows.arming``) and, at the smallest Δ, jobs whose claim may come first. Afterwards
the target's records and the server's state must agree with every answer:

- ``cancel`` answered cancelled: the target never heard of the job, which ended CANCELED;
- ``pause`` answered paused: nothing ran by the old start (the job says paused), and it ran once,
  after ``resume``;
- ``reschedule`` answered: it ran once, not before the new time;
- any answer "too late" (``JobStateError``): the event had started: it ran once, before the answer,
  and the job completed;
- and no job's target was called twice.

Used by ``tests/management/test_management_races.py`` (CI) and ``python -m bench.races`` (more trials).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from temporalio.client import WorkflowExecutionStatus

from ductape_jobs import Ductape, JobStateError
from ductape_jobs.workflows.contracts.job import JobState
from tests.support.http_target import HttpTarget

OPS = ("cancel", "pause", "reschedule")
DELTAS = (0.2, 0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 3.0, 5.0, 8.0, 13.0, 20.0, 30.0, 45.0, 60.0)
PAIRS = [(op, delta) for delta in DELTAS for op in OPS]
"""Every (operation, Δ): trial ``n`` takes ``PAIRS[n % len(PAIRS)]``."""
PATH = "/v1/welcome"
MOVE_BY = timedelta(seconds=12)
"""A reschedule moves the job this much later."""
PAUSE_HOLD = 3.0
"""A paused job is resumed this long after its old start (having run nothing by then)."""


@dataclass
class Trial:
    n: int
    op: str
    delta: float
    start_at: datetime
    job_id: str = ""
    answer: str = ""
    """``held`` (the operation took effect), ``late:<phase>`` (JobStateError) or ``error:<text>``."""
    answered_at: float = 0.0
    moved_to: datetime | None = None
    paused_phase: str | None = None
    calls_while_paused: int = 0
    resumed_at: float | None = None


def plan(count: int, *, first_start: datetime, spread: float) -> list[Trial]:
    """``count`` trials cycling through every (operation, Δ) pair, starts spread over ``spread`` s."""
    return [
        Trial(n, *PAIRS[n % len(PAIRS)], start_at=first_start + timedelta(seconds=spread * n / max(count, 1)))
        for n in range(count)
    ]


async def run_trials(ductape: Ductape, target: HttpTarget, trials: list[Trial], *, product: str) -> list[str]:
    """Dispatch, operate, wait for every job to end; returns the violations (empty: every promise held)."""
    for trial in trials:
        dispatched = await ductape.processor.job.schedule(
            {
                "product_tag": product, "env": "dev", "app": "email-service", "event": "send_welcome_email",
                "input": {"body": {"trial": trial.n}}, "start_at": trial.start_at.isoformat(),
            }
        )  # fmt: skip
        trial.job_id = dispatched.job_id
    await asyncio.gather(*(_operate(ductape, target, trial) for trial in trials))
    await asyncio.gather(*(_finished(ductape, trial) for trial in trials))
    return [v for trial in trials for v in _violations(ductape, target, trial)] + await _closed_as_said(ductape, trials)


def summary(trials: list[Trial]) -> str:
    answers = Counter(t.answer.split(":")[0] for t in trials)
    late = sorted({t.delta for t in trials if t.answer.startswith("late")})
    return f"{len(trials)} trials: {dict(answers)}; too late at Δ {late or 'none'}"


async def _sleep_until(moment: float) -> None:
    await asyncio.sleep(max(moment - time.time(), 0))


async def _operate(ductape: Ductape, target: HttpTarget, trial: Trial) -> None:
    await _sleep_until(trial.start_at.timestamp() - trial.delta)
    jobs = ductape.jobs
    try:
        if trial.op == "cancel":
            record = await jobs.cancel(trial.job_id)
            trial.answer = "held" if record.status == "cancelled" else f"error:status {record.status}"
        elif trial.op == "pause":
            record = await jobs.pause(trial.job_id)
            trial.answer = "held" if record.status == "paused" else f"error:status {record.status}"
        else:
            trial.moved_to = trial.start_at + MOVE_BY
            await jobs.reschedule(trial.job_id, start_at=trial.moved_to.isoformat())
            trial.answer = "held"
    except JobStateError as err:
        trial.answer = f"late:{err.phase}"
    except Exception as err:  # any other answer is itself a violation, reported with the rest
        trial.answer = f"error:{type(err).__name__}: {err}"
    trial.answered_at = time.time()
    if trial.op == "pause" and trial.answer == "held":
        await _sleep_until(trial.start_at.timestamp() + PAUSE_HOLD)
        handle = ductape.client.get_workflow_handle(trial.job_id)
        trial.paused_phase = (await handle.query("state", result_type=JobState)).phase
        trial.calls_while_paused = len(_calls(target, trial))
        trial.resumed_at = time.time()
        await jobs.resume(trial.job_id)


async def _finished(ductape: Ductape, trial: Trial) -> None:
    handle = ductape.client.get_workflow_handle(trial.job_id)
    for _ in range(600):
        if (await handle.describe()).status != WorkflowExecutionStatus.RUNNING:
            return
        await asyncio.sleep(0.2)


async def _closed_as_said(ductape: Ductape, trials: list[Trial]) -> list[str]:
    """The server's status of each job against its answer."""
    found = []
    for trial in trials:
        status = (await ductape.client.get_workflow_handle(trial.job_id).describe()).status
        expected = (
            WorkflowExecutionStatus.CANCELED
            if trial.op == "cancel" and trial.answer == "held"
            else WorkflowExecutionStatus.COMPLETED
        )
        if status != expected:
            found.append(f"{_name(trial)}: closed {status.name if status else None}, expected {expected.name}")
    return found


def _calls(target: HttpTarget, trial: Trial) -> list[float]:
    return [r.at for r in target.calls(PATH) if isinstance(r.body, dict) and r.body.get("trial") == trial.n]


def _name(trial: Trial) -> str:
    return f"trial {trial.n} ({trial.op} at start - {trial.delta} s, answered {trial.answer!r})"


def _violations(ductape: Ductape, target: HttpTarget, trial: Trial) -> list[str]:
    calls = _calls(target, trial)
    name = _name(trial)
    if trial.answer.startswith("error"):
        return [f"{name}: unexpected answer"]
    if len(calls) > 1:
        return [f"{name}: the target was called {len(calls)} times"]
    if trial.answer.startswith("late"):
        if trial.answer not in ("late:running", "late:done"):
            return [f"{name}: a late answer must name the phase"]
        if not calls or calls[0] > trial.answered_at:
            return [f"{name}: said the event had started, but it had not"]
        return []
    if trial.op == "cancel":
        return [f"{name}: cancelled, yet the target was called"] if calls else []
    if trial.op == "pause":
        problems = []
        if trial.calls_while_paused or trial.paused_phase != "paused":
            problems.append(f"{name}: ran or left paused before resume (phase {trial.paused_phase})")
        if len(calls) != 1 or trial.resumed_at is None or calls[0] < trial.resumed_at:
            problems.append(f"{name}: did not run exactly once after resume")
        return problems
    assert trial.moved_to is not None
    if len(calls) != 1 or calls[0] < trial.moved_to.timestamp() - 0.01:
        return [f"{name}: rescheduled to {trial.moved_to.isoformat()}, calls at {calls}"]
    return []


def first_start(lead: timedelta) -> datetime:
    return datetime.now(UTC) + lead


# --- recurring jobs: a run armed ahead of its time (``ductape_jobs.scheduling.recurring_arming``) -----------------


RecurringTrial = Trial
"""``start_at`` is the nominal time of the job's next run (a daily UTC cron at that second)."""


def plan_recurring(count: int, *, first_start: datetime, spread: float) -> list[RecurringTrial]:
    """As ``plan``, the runs on whole seconds (a cron's)."""
    base = first_start.replace(microsecond=0)
    return [
        RecurringTrial(n, *PAIRS[n % len(PAIRS)], start_at=base + timedelta(seconds=int(spread * n / max(count, 1))))
        for n in range(count)
    ]


def _daily(at: datetime) -> str:
    return f"{at.second} {at.minute} {at.hour} * * *"


async def run_recurring_trials(
    ductape: Ductape, target: HttpTarget, trials: list[RecurringTrial], *, product: str
) -> list[str]:
    """Each a daily cron job whose run is armed ahead of its time; the operation is sent ``Δ``
    before it. The run either never called its target (it was taken back, or never started) or its
    event had started before the answer came: it called once, and ran to the end."""
    for trial in trials:
        dispatched = await ductape.processor.job.schedule(
            {
                "product_tag": product, "env": "dev", "app": "email-service", "event": "send_welcome_email",
                "input": {"body": {"recurring": trial.n}}, "repeat": {"cron": _daily(trial.start_at)},
            }
        )  # fmt: skip
        trial.job_id = dispatched.job_id
    try:
        await asyncio.gather(*(_operate_recurring(ductape, trial) for trial in trials))
        await _sleep_until(max(t.start_at.timestamp() for t in trials) + 8)
        return [v for trial in trials for v in await _recurring_violations(ductape, target, trial)]
    finally:
        for trial in trials:
            with contextlib.suppress(Exception):
                await ductape.jobs.delete(trial.job_id)


async def _operate_recurring(ductape: Ductape, trial: RecurringTrial) -> None:
    await _sleep_until(trial.start_at.timestamp() - trial.delta)
    try:
        if trial.op == "cancel":
            record = await ductape.jobs.cancel(trial.job_id)
        elif trial.op == "pause":
            record = await ductape.jobs.pause(trial.job_id)
        else:
            record = await ductape.jobs.reschedule(trial.job_id, cron=_daily(trial.start_at + timedelta(hours=1)))
        trial.answer = f"held:{record.status}"
    except Exception as err:
        trial.answer = f"error:{type(err).__name__}: {err}"
    trial.answered_at = time.time()


async def _recurring_violations(ductape: Ductape, target: HttpTarget, trial: RecurringTrial) -> list[str]:
    name = f"recurring trial {trial.n} ({trial.op} at its run - {trial.delta} s, answered {trial.answer!r})"
    if trial.answer.startswith("error"):
        return [f"{name}: unexpected answer"]
    calls = [r.at for r in target.calls(PATH) if isinstance(r.body, dict) and r.body.get("recurring") == trial.n]
    schedule = await ductape.client.get_schedule_handle(trial.job_id).describe()
    runs = [getattr(r.action, "workflow_id", "") for r in schedule.info.recent_actions]
    statuses = [(await ductape.client.get_workflow_handle(run).describe()).status for run in runs]
    if len(calls) > 1 or len(runs) > 1:
        return [f"{name}: {len(calls)} calls, {len(runs)} runs"]
    if calls:
        if statuses != [WorkflowExecutionStatus.COMPLETED] or calls[0] > trial.answered_at:
            return [f"{name}: its run called the target after the change took hold ({statuses})"]
        return []
    if statuses not in ([], [WorkflowExecutionStatus.CANCELED]):
        return [f"{name}: its run ended {statuses} without calling the target"]
    return []


def recurring_summary(trials: list[RecurringTrial]) -> str:
    return f"{len(trials)} recurring trials: {dict(Counter(t.answer for t in trials))}"
