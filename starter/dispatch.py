"""A ``JobPlan`` into Temporal: a ``JobWorkflow`` for a one-off job, a Schedule for a recurring one."""

from __future__ import annotations

import contextlib
import math
from datetime import UTC, datetime, timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from starter.job_plan import JobPlan, Recurrence
from workflows.contracts import IDispatchResult, JobMemo, to_epoch_ms
from workflows.names import JOB_WORKFLOW

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
QUEUED_SLACK = timedelta(seconds=1)
"""A recurring job whose first run is at most this far ahead is reported ``queued``."""


async def start_job(client: Client, plan: JobPlan, *, task_queue: str) -> IDispatchResult:
    """Start the plan's workflow or create its schedule; returns the seeds' DispatchResult.

    A caller-chosen ``job_id`` that already exists returns the existing job instead of a second one.

    Raises:
        temporalio.service.RPCError: the server refused the request (unregistered search attributes...).
    """
    if plan.recurrence is not None:
        return await _create_schedule(client, plan, plan.recurrence, task_queue=task_queue)
    # A job that finished earlier under a caller-chosen ID raises here: report it, never start another.
    with contextlib.suppress(WorkflowAlreadyStartedError):
        await client.start_workflow(
            JOB_WORKFLOW,
            plan.workflow_input,
            id=plan.job_id,
            task_queue=task_queue,
            search_attributes=plan.search_attributes,
            memo=plan.memo.model_dump(mode="json"),
            static_summary=plan.summary,
            # A retried dispatch with the same job ID must not run the job twice.
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    if plan.caller_chose_id:
        return await _existing_workflow_result(client, plan)
    scheduled_at = to_epoch_ms(plan.first_run)
    return IDispatchResult(
        job_id=plan.job_id,
        status="queued" if plan.due_now else "scheduled",
        scheduled_at=scheduled_at,
        recurring=False,
        next_run_at=scheduled_at,
    )


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


def schedule_spec(plan: JobPlan, recurrence: Recurrence) -> ScheduleSpec:
    """The schedule spec of a recurring job.

    Temporal schedules have a resolution of one second and intervals aligned on the epoch; the
    first run is at ``first_run`` rounded up to the second, and ``offset`` moves the interval grid
    onto it.
    """
    if recurrence.every is not None:
        start = _ceil_second(plan.first_run)
        offset = (start - _EPOCH) % recurrence.every
        return ScheduleSpec(
            intervals=[ScheduleIntervalSpec(every=recurrence.every, offset=offset)],
            start_at=start,
            end_at=recurrence.end_at,
        )
    return ScheduleSpec(
        calendars=recurrence.calendars,
        time_zone_name=recurrence.time_zone,
        start_at=None if plan.due_now else plan.first_run,
        end_at=recurrence.end_at,
    )


async def _create_schedule(
    client: Client, plan: JobPlan, recurrence: Recurrence, *, task_queue: str
) -> IDispatchResult:
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(
            JOB_WORKFLOW,
            plan.workflow_input,
            id=plan.job_id,
            task_queue=task_queue,
            typed_search_attributes=plan.search_attributes,
            memo=plan.memo.model_dump(mode="json"),
            static_summary=plan.summary,
        ),
        spec=schedule_spec(plan, recurrence),
        # A run still going when the next is due makes the next one skip (DESIGN.md).
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
        state=ScheduleState(
            note=plan.summary,
            limited_actions=recurrence.limit is not None,
            remaining_actions=recurrence.limit or 0,
        ),
    )
    try:
        handle = await client.create_schedule(
            plan.job_id,
            schedule,
            memo=plan.memo.model_dump(mode="json"),
            search_attributes=plan.search_attributes,
        )
    except ScheduleAlreadyRunningError:
        handle = client.get_schedule_handle(plan.job_id)  # same caller-chosen ID: the existing job
    description = await handle.describe()
    upcoming = description.info.next_action_times
    # A run due at once may already have started by the time we describe: it is the first one.
    started = [r.scheduled_at for r in description.info.recent_actions]
    first = min([*started, *upcoming[:1]], default=plan.first_run)
    now = datetime.now(UTC)
    return IDispatchResult(
        job_id=plan.job_id,
        status="queued" if first <= now + QUEUED_SLACK else "scheduled",
        scheduled_at=to_epoch_ms(first),
        recurring=True,
        next_run_at=to_epoch_ms(upcoming[0]) if upcoming else None,
    )


def _ceil_second(moment: datetime) -> datetime:
    seconds = math.ceil((moment - _EPOCH).total_seconds())
    return _EPOCH + timedelta(seconds=seconds)
