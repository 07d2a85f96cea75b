"""A ``JobPlan`` into Temporal: a ``JobWorkflow`` for a one-off job, a Schedule for a recurring one."""

from __future__ import annotations

import contextlib
import dataclasses
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from temporalio.api.common.v1 import Payload
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    WorkflowExecutionStatus,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from ductape_jobs.planning.plan import JobPlan
from ductape_jobs.planning.preview import next_runs
from ductape_jobs.planning.recurrence import Recurrence
from ductape_jobs.scheduling import SchedulingOptions, discard_orphan_companion, facts, with_arm_shift
from ductape_jobs.scheduling.debounced import offered, supersede
from ductape_jobs.scheduling.dst_schedules import (
    create_companion,
    describe_companion,
    next_action,
    pair_layout,
    restored_companion,
)
from ductape_jobs.scheduling.recurring_arming import (
    EPOCH,
    arm_shift,
    armed_note,
    grid_offset_s,
    nominal,
    shifted_calendars,
    shifted_every,
)
from ductape_jobs.workflows.contracts.dispatch import IDispatchResult
from ductape_jobs.workflows.contracts.instants import to_epoch_ms
from ductape_jobs.workflows.contracts.management import JobMemo
from ductape_jobs.workflows.names import JOB_WORKFLOW

QUEUED_SLACK = timedelta(seconds=1)
TRIGGER_WINDOW = timedelta(seconds=1)
"""An ``every`` job whose first run is at most this far ahead starts it at once (up to 1 s early)."""
"""A recurring job whose first run is at most this far ahead is reported ``queued``."""


async def encoded_memo(client: Client, memo: JobMemo) -> dict[str, Payload]:
    """The memo's fields as payloads, encoded (and encrypted) in one batch: the SDK would encode each
    field on its own, which was most of ``schedule()``'s own CPU time (measured, bench/run.py)."""
    fields = memo.model_dump(mode="json")
    return dict(zip(fields, await client.data_converter.encode(list(fields.values())), strict=True))


async def start_job(
    client: Client, plan: JobPlan, *, task_queue: str, scheduling: SchedulingOptions | None = None
) -> IDispatchResult:
    """Start the plan's workflow or create its schedule; returns the seeds' DispatchResult.

    A caller-chosen ``job_id`` that already exists returns the existing job instead of a second one
    (a recurring job's half-created DST pair is completed). ``scheduling``: arming and the DST
    companion (default: both on).

    Raises:
        temporalio.service.RPCError: the server refused the request (unregistered search attributes...).
    """
    if plan.recurrence is not None:
        options = scheduling or SchedulingOptions()
        return await _create_schedule(client, plan, options.recurrence(plan.recurrence), options, task_queue=task_queue)
    earlier = None
    if plan.debounce is not None:
        plan, earlier = await offered(client, plan, task_queue=task_queue)
    reuse = WorkflowIDReusePolicy.REJECT_DUPLICATE
    if plan.cache_ttl is not None:
        cached = await _cached_result(client, plan, plan.cache_ttl)
        if cached is not None:
            return cached
        reuse = WorkflowIDReusePolicy.ALLOW_DUPLICATE  # expired or failed: an identical job runs again
    # A job that finished earlier under a caller-chosen ID raises here: report it, never start another.
    with contextlib.suppress(WorkflowAlreadyStartedError):
        await client.start_workflow(
            JOB_WORKFLOW,
            plan.workflow_input,
            id=plan.job_id,
            task_queue=task_queue,
            search_attributes=plan.search_attributes,
            memo=await encoded_memo(client, plan.memo),
            static_summary=plan.summary,
            priority=plan.priority,
            # A retried dispatch with the same job ID must not run the job twice.
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=reuse,
        )
    if plan.caller_chose_id:
        result = await _existing_workflow_result(client, plan)
    else:
        scheduled_at = to_epoch_ms(plan.first_run)
        result = IDispatchResult(
            job_id=plan.job_id,
            status="queued" if plan.due_now else "scheduled",
            scheduled_at=scheduled_at,
            recurring=False,
            next_run_at=scheduled_at,
        )
    if earlier is not None and earlier != plan.job_id and await supersede(client, earlier, by=plan.job_id):
        result.supersedes = earlier
    return result


async def _cached_result(client: Client, plan: JobPlan, ttl: timedelta) -> IDispatchResult | None:
    """The stored success of an identical job still within the cache TTL, else None."""
    try:
        described = await client.get_workflow_handle(plan.job_id).describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    closed = described.close_time
    if described.status != WorkflowExecutionStatus.COMPLETED or closed is None or closed + ttl <= datetime.now(UTC):
        return None
    memo = JobMemo.model_validate(await described.memo())
    return IDispatchResult(
        job_id=plan.job_id, status="completed", cached=True, scheduled_at=memo.scheduled_at, recurring=False,
        next_run_at=None,
    )  # fmt: skip


async def _existing_workflow_result(client: Client, plan: JobPlan) -> IDispatchResult:
    memo = JobMemo.model_validate(await (await client.get_workflow_handle(plan.job_id).describe()).memo())
    now = datetime.now(UTC)
    return IDispatchResult(
        job_id=plan.job_id,
        status="queued" if memo.scheduled_at <= to_epoch_ms(now) else "scheduled",
        scheduled_at=memo.scheduled_at,
        recurring=False,
        next_run_at=memo.scheduled_at,
    )


@dataclass(frozen=True)
class ScheduleTiming:
    """How a recurring job's runs are laid out on a Temporal Schedule."""

    spec: ScheduleSpec
    state: ScheduleState
    trigger_now: bool
    """Start the first run at creation (Temporal never runs spec times that precede the creation)."""
    arm_shift_s: int | None = None
    """The spec fires this many seconds before each run (``ductape_jobs.scheduling.recurring_arming``; 0: not now,
    None: never): the job's memo says so (``JobMemo.arm_shift_s``) for its runs to arm."""
    grid_offset_s: int | None = None
    """An armed ``every`` job's nominal grid (``JobMemo.grid_offset_s``); None otherwise."""


def schedule_timing(
    recurrence: Recurrence,
    *,
    first_run: datetime,
    now: datetime,
    note: str,
    trigger_allowed: bool = True,
    arm_lead_s: int | None = None,
    longest_run_s: int | None = None,
) -> ScheduleTiming:
    """Spec and state of a recurring job's schedule.

    Temporal schedules have a resolution of one second, intervals aligned on the epoch (``offset``
    moves the grid onto the job's start), and they skip every spec time earlier than their own
    creation, even by milliseconds. So an ``every`` job due within a second runs its first run by
    ``trigger_immediately`` (which does not count toward ``remaining_actions``: the limit is
    lowered by one) and the interval grid starts one period later; a later one starts at its
    ``start_at`` rounded up to the second. Without ``trigger_allowed`` (a reschedule), the grid
    starts at ``first_run`` (or one period from now when that is already due). A job with
    ``arm_lead_s`` (``recurring_lead_s``) fires early where ``arm_shift`` allows, given its
    ``longest_run_s``.
    """
    limit = recurrence.limit
    if recurrence.every is None:
        shift = _cron_shift(recurrence, arm_lead_s, first_run=first_run, now=now, longest_run_s=longest_run_s)
        early = timedelta(seconds=shift or 0)
        calendars = recurrence.calendars
        if shift and recurrence.cron is not None:
            calendars = shifted_calendars(recurrence.cron, shift, calendars[0].comment or "") or calendars
        spec = ScheduleSpec(
            calendars=calendars,
            # DST policy: the transition days run on the companion schedule (ductape_jobs.scheduling.dst_schedules).
            skip=recurrence.dst.skips(shift or 0) if recurrence.dst is not None else [],
            time_zone_name=recurrence.time_zone,
            start_at=None if first_run <= now else first_run - early,
            end_at=recurrence.end_at - early if recurrence.end_at else None,
            jitter=recurrence.jitter,
        )
        return ScheduleTiming(
            spec, _limited(armed_note(note, shift), limit), trigger_now=False,
            arm_shift_s=(shift or 0) if arm_lead_s else None,
        )  # fmt: skip
    due = first_run <= now + TRIGGER_WINDOW
    trigger_now = due and trigger_allowed
    start = _ceil_second(first_run + recurrence.every if due else first_run)
    end_at = recurrence.end_at
    if trigger_now and limit is not None:
        limit -= 1
        if limit == 0:  # the triggered run is the only one: nothing left for the spec
            end_at, limit = now, None
    shift = None
    if arm_lead_s and end_at != now:
        shift = arm_shift(recurrence, arm_lead_s, next_run=start, now=now, longest_run_s=longest_run_s)
    spec = dataclasses.replace(shifted_every(recurrence.every, start, end_at, shift or 0), jitter=recurrence.jitter)
    return ScheduleTiming(
        spec, _limited(armed_note(note, shift), limit), trigger_now=trigger_now,
        arm_shift_s=(shift or 0) if arm_lead_s else None,
        grid_offset_s=grid_offset_s(recurrence.every, start) if shift else None,
    )  # fmt: skip


def timed_memo(memo: JobMemo, timing: ScheduleTiming) -> JobMemo:
    """The job's memo under a new ``timing``: its arm shift and, for an armed ``every`` job, its grid."""
    return memo.model_copy(
        update={"arm_shift_s": SchedulingOptions.memo_shift(memo, timing.arm_shift_s),
                "grid_offset_s": timing.grid_offset_s}
    )  # fmt: skip


def _cron_shift(
    recurrence: Recurrence, lead_s: int | None, *, first_run: datetime, now: datetime, longest_run_s: int | None
) -> int | None:
    if not lead_s or recurrence.cron is None:
        return None
    upcoming = next_runs(
        recurrence.calendars, recurrence.dst.skips() if recurrence.dst is not None else [],
        time_zone=recurrence.time_zone, after=max(now, first_run - timedelta(seconds=1)), count=1,
        end_at=recurrence.end_at,
    )  # fmt: skip
    return arm_shift(
        recurrence, lead_s, next_run=upcoming[0] if upcoming else None, now=now, longest_run_s=longest_run_s
    )


def _limited(note: str, limit: int | None) -> ScheduleState:
    return ScheduleState(note=note, limited_actions=limit is not None, remaining_actions=limit or 0)


async def _create_schedule(
    client: Client, plan: JobPlan, recurrence: Recurrence, options: SchedulingOptions, *, task_queue: str
) -> IDispatchResult:
    now = datetime.now(UTC)
    pair = pair_layout(recurrence, first_run=plan.first_run, now=now)
    timing = schedule_timing(
        pair.main, first_run=plan.first_run, now=now, note=plan.summary,
        arm_lead_s=options.arm_lead_s(plan.job_id, plan.memo), longest_run_s=plan.memo.longest_run_s,
    )  # fmt: skip
    job_memo = timed_memo(plan.memo, timing)
    memo = job_memo.model_dump(mode="json")
    action = ScheduleActionStartWorkflow(
        JOB_WORKFLOW,
        plan.workflow_input,
        id=plan.job_id,
        task_queue=task_queue,
        typed_search_attributes=plan.search_attributes,
        memo=memo,
        static_summary=plan.summary,
        priority=plan.priority,
    )
    schedule = Schedule(
        action=action,
        spec=timing.spec,
        # A run still going when the next is due makes the next one skip (DESIGN.md).
        # Runs missed while the server was down start late only within the catch-up window, and
        # SKIP makes the first late run hold off the others: at most one late run by default
        # (catch-up ``all`` allows them all, ductape_jobs.planning.catch_up).
        policy=SchedulePolicy(
            overlap=recurrence.overlap,
            catchup_window=recurrence.catchup,
            pause_on_failure=recurrence.pause_on_failure,
        ),
        state=timing.state,
    )
    # The main schedule's own memo says it has a companion (``list`` reads it, see JobMemo).
    main_memo = job_memo.model_copy(update={"dst_companion": True}) if pair.companion is not None else job_memo
    # The main schedule goes first: a companion created alone would run the job on DST days for a
    # job that does not exist (hidden from ``jobs``, its caller told the dispatch failed). A crash
    # between the two creations leaves the flagged main schedule alone instead, and the dispatch
    # retried under the same ID (``existing`` below) creates the missing companion.
    try:
        handle = await client.create_schedule(
            plan.job_id,
            schedule,
            memo=main_memo.model_dump(mode="json"),
            # The arm shift is schedule state (ductape_jobs.scheduling.schedule_state), the job's attributes plus it.
            search_attributes=with_arm_shift(plan.search_attributes, job_memo.arm_shift_s),
            trigger_immediately=timing.trigger_now,
        )
        if plan.recurrence is not None and plan.recurrence.dst is not None:  # (before SchedulingOptions)
            # A companion of an earlier job under this ID, left without its main schedule, would run
            # this one on DST change days with the old timing: replaced (or removed) here.
            await discard_orphan_companion(client, plan.job_id)
        if pair.companion is not None:
            await create_companion(
                client, plan.job_id, action, pair, memo=memo, search_attributes=plan.search_attributes,
                note=plan.summary,
            )  # fmt: skip
        existing = False
    except ScheduleAlreadyRunningError:
        handle = client.get_schedule_handle(plan.job_id)  # same caller-chosen ID: the existing job
        existing = True
    description = await handle.describe()
    if existing:
        companion = await restored_companion(client, description, pair, wanted=plan.memo, limit=recurrence.limit)
    else:
        companion = await describe_companion(client, plan.job_id) if pair.companion else None
    spec, shift = description.schedule.spec, facts(description).arm_shift_s
    upcoming = next_action(
        [nominal(t, spec, shift) for t in description.info.next_action_times],
        companion.info.next_action_times if companion else [],
    )
    # A run due at once may already have started by the time we describe: it is the first one.
    started = [nominal(r.scheduled_at, spec, shift) for r in description.info.recent_actions]
    first = min([*started, *([upcoming] if upcoming else [])], default=plan.first_run)
    now = datetime.now(UTC)
    return IDispatchResult(
        job_id=plan.job_id,
        status="queued" if first <= now + QUEUED_SLACK else "scheduled",
        scheduled_at=to_epoch_ms(first),
        recurring=True,
        next_run_at=to_epoch_ms(upcoming) if upcoming else None,
    )


def _ceil_second(moment: datetime) -> datetime:
    seconds = math.ceil((moment - EPOCH).total_seconds())
    return EPOCH + timedelta(seconds=seconds)
