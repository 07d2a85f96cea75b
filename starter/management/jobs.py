"""``ductape.jobs``: find, wait for, pause, resume, reschedule, trigger, retry, cancel and delete jobs.

Records and the status rule are in ``ductape_jobs.management.records``; listing, history and statistics in
``ductape_jobs.management.queries``; ``schedule_many`` in ``ductape_jobs.management.bulk_dispatch``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import (
    Client,
    ScheduleDescription,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowUpdateFailedError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from ductape_jobs.management.audit import AuditTrail, checked_reason
from ductape_jobs.management.backfill import Backfills
from ductape_jobs.management.bulk_actions import BulkActions
from ductape_jobs.management.bulk_dispatch import BulkScheduling
from ductape_jobs.management.dead_letters import DeadLetters
from ductape_jobs.management.job_events import JobEventEmitter
from ductape_jobs.management.records import (
    JobFailedError,
    JobNotFoundError,
    JobStateError,
    JobTimeoutError,
    failure_details,
    run_details,
    schedule_memo,
    schedule_record,
    workflow_record,
)
from ductape_jobs.management.reschedule import known_dst, repeat_options, replace_spec
from ductape_jobs.management.waiting import JobWaiting
from ductape_jobs.planning.dst_policy import is_companion
from ductape_jobs.planning.plan import recurrence_for
from ductape_jobs.scheduling import (
    SchedulingOptions,
    cancel_pair,
    delete_pair,
    describe_pair,
    facts,
    pause_pair,
    resume_pair,
)
from ductape_jobs.scheduling.dst_schedules import describe_companion, latest_of
from ductape_jobs.workflows.contracts.audit import AuditAction, AuditEntry
from ductape_jobs.workflows.contracts.instants import parse_instant, to_epoch_ms
from ductape_jobs.workflows.contracts.job import JobInputError, JobState, RescheduleRequest
from ductape_jobs.workflows.contracts.management import JobEventName, JobMemo, JobRecord

__all__ = ["JobFailedError", "JobNotFoundError", "JobStateError", "JobTimeoutError", "Jobs"]


class Jobs(BulkActions, DeadLetters, JobWaiting, BulkScheduling, Backfills):
    """Job management over the workflows and schedules of one client."""

    def __init__(
        self,
        client: Client,
        *,
        events: JobEventEmitter | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        scheduling: SchedulingOptions | None = None,
        audit: AuditTrail | None = None,
    ) -> None:
        super().__init__(client, clock=clock, audit=audit)
        self._events = events
        self.scheduling = scheduling or SchedulingOptions()

    async def _announce(self, name: JobEventName, record: JobRecord) -> JobRecord:
        if self._events is not None:
            await self._events.emit(
                name, job_id=record.job_id, status=record.status, product=record.product, env=record.env,
                event_type=record.event_type, scheduled_at=record.scheduled_at, execution_count=record.execution_count,
            )  # fmt: skip
        return record

    async def _audit(
        self, job_id: str, action: AuditAction, reason: str | None, bulk: str | None, **details: object
    ) -> None:
        await self.audit.record(self.audit.entry(job_id, action, reason=reason, bulk=bulk, details=details))

    # --- reading ---------------------------------------------------------------------------

    async def get(self, job_id: str) -> JobRecord:
        """The job's record and status.

        Raises:
            JobNotFoundError: neither a job workflow nor a schedule has this ID.
        """
        workflow = await self._describe_workflow(job_id)
        schedule = None if workflow is not None else await self.describe_schedule(job_id)
        if workflow is not None:
            record = await self._workflow_record(job_id, workflow)
        elif schedule is not None:
            record = await self._schedule_record(job_id, schedule)
        else:
            raise JobNotFoundError(f"no job with ID {job_id!r}")
        trail = await self.audit.read(job_id)
        record.last_action = trail[-1] if trail else None
        return record

    async def audit_trail(self, job_id: str) -> list[AuditEntry]:
        """Every management action taken on the job, oldest first: who, when, why, what changed
        (kept after the job is deleted).

        Raises:
            temporalio.service.RPCError: the server failed (not: no such job, which has an empty trail).
        """
        return await self.audit.read(job_id)

    # --- changing --------------------------------------------------------------------------

    async def cancel(self, job_id: str, *, reason: str | None = None, bulk: str | None = None) -> JobRecord:
        """A waiting or running one-off job ends ``cancelled``; a recurring job starts no more runs
        (its schedule is kept, paused, so ``get`` still reports it) and its running run is cancelled.
        Cancelling a finished job changes nothing. ``reason`` goes to the audit trail (``bulk``: the bulk
        operation this is part of), as it does for every call below that changes a job.

        Raises:
            JobNotFoundError: no such job. JobInputError: ``reason`` is not a short text.
            JobStateError: its event already started (``phase`` running or done), or the job did not
            decide the cancel in time (``phase`` undecided: its worker is down or far behind).
        """
        reason = checked_reason(reason)
        workflow = await self._describe_workflow(job_id)
        if workflow is not None:
            if workflow.status != WorkflowExecutionStatus.RUNNING:
                return await self.get(job_id)
            outcome = await self.cancel_run(job_id)
            if outcome == "undecided":
                raise JobStateError(
                    f"the cancel of job {job_id} is requested but the job has not decided it (is its worker "
                    "running?): it ends cancelled, or runs to its end if its event had started; jobs.get tells",
                    phase="undecided",
                )
            if outcome != "cancelled":
                phase = "running" if outcome == "refused" else "done"
                raise JobStateError(
                    f"cannot cancel job {job_id}: its event already started (the job is {phase}); "
                    "it runs to its end and reports how it ended",
                    phase=phase,
                )
            await self._audit(job_id, "cancel", reason, bulk)
            return await self._announce("job.cancelled", await self.get(job_id))
        # A DST companion left alone (its main schedule gone) is stopped too: the job is then not found.
        for run in await self._stop_pair(job_id):
            await self.cancel_run(run)  # a run whose event started runs to its end
        await self._audit(job_id, "cancel", reason, bulk)
        return await self._announce("job.cancelled", await self.get(job_id))

    async def pause(self, job_id: str, *, reason: str | None = None, bulk: str | None = None) -> JobRecord:
        """A recurring job starts no runs until resumed (a run armed ahead of its time is cancelled);
        a one-off job still waiting for ``start_at`` holds (past its start time too) until resumed.

        Raises:
            JobNotFoundError: no such job.
            JobStateError: the one-off job already started.
        """
        reason = checked_reason(reason)
        if await self._describe_workflow(job_id) is not None:
            await self._update(job_id, "pause")
        else:
            await self.require_schedule(job_id)
            await pause_pair(self.client, job_id, note=self._note("paused", reason))
            await self._cancel_armed(job_id)
        await self._audit(job_id, "pause", reason, bulk)
        return await self._announce("job.paused", await self.get(job_id))

    async def resume(self, job_id: str, *, reason: str | None = None, bulk: str | None = None) -> JobRecord:
        """Undo ``pause``; a one-off job whose start time passed while paused runs at once.

        Raises:
            JobNotFoundError, JobStateError: as ``pause``; resuming a cancelled recurring job too.
        """
        reason = checked_reason(reason)
        if await self._describe_workflow(job_id) is not None:
            await self._update(job_id, "resume")
        else:
            schedule = await self.require_schedule(job_id)
            if facts(schedule).cancelled:
                raise JobStateError(f"job {job_id} was cancelled; it cannot be resumed")
            await resume_pair(self.client, job_id, note=self._note("resumed", reason))
        await self._audit(job_id, "resume", reason, bulk)
        return await self._announce("job.resumed", await self.get(job_id))

    async def trigger(self, job_id: str, *, reason: str | None = None, bulk: str | None = None) -> JobRecord:
        """Run now: a waiting one-off job starts at once; a recurring job runs once more now (the
        run does not count toward its ``limit``; a DST companion is not triggered).

        Raises:
            JobNotFoundError: no such job. JobStateError: the one-off job already started.
        """
        reason = checked_reason(reason)
        if await self._describe_workflow(job_id) is not None:
            await self._update(job_id, "trigger")
        else:
            await self.require_schedule(job_id)
            await self.client.get_schedule_handle(job_id).trigger()
        await self._audit(job_id, "trigger", reason, bulk)
        return await self.get(job_id)

    async def reschedule(
        self,
        job_id: str,
        *,
        start_at: object = None,
        cron: str | None = None,
        every: int | None = None,
        tz: str | None = None,
        reason: str | None = None,
    ) -> JobRecord:
        """Move a waiting one-off job to ``start_at`` (same job ID); give a recurring job a new
        ``cron`` (with ``tz``) or ``every``, keeping its ID, its runs so far and its remaining limit
        (a run armed for the old timing is cancelled).

        Raises:
            JobInputError: invalid time, cron, interval or zone (names the field).
            JobNotFoundError: no such job. JobStateError: the one-off job already started.
        """
        reason = checked_reason(reason)
        if await self._describe_workflow(job_id) is not None:
            try:
                moment = parse_instant(start_at)
            except ValueError as err:
                raise JobInputError.one("start_at", str(err)) from None
            await self._update(job_id, "reschedule", RescheduleRequest(start_at=moment))
            await self._audit(job_id, "reschedule", reason, None, start_at=moment and to_epoch_ms(moment))
            return await self.get(job_id)
        schedule = await self.require_schedule(job_id)
        memo = await self.schedule_memo(schedule)
        options = {"cron": cron, "every": every} if cron or every else {"cron": memo.cron, "every": memo.every}
        dst = known_dst(memo.dst) if options["cron"] else None
        repeat = repeat_options(options | {"tz": tz or (memo.tz if cron or not every else None), "dst": dst})
        now = self.clock()
        try:
            first = parse_instant(start_at) or now
        except ValueError as err:
            raise JobInputError.one("start_at", str(err)) from None
        recurrence = recurrence_for(repeat, field="repeat", start=first)
        await replace_spec(
            self.client, schedule, recurrence, first=first, memo=memo, repeat=repeat, now=self.clock(),
            scheduling=self.scheduling,
        )  # fmt: skip
        await self._cancel_armed(job_id, schedule)  # the old spec and shift tell its armed runs
        await self._audit(job_id, "reschedule", reason, None, start_at=to_epoch_ms(first), cron=repeat.cron,
                          every=repeat.every, tz=repeat.tz)  # fmt: skip
        return await self.get(job_id)

    async def delete(self, job_id: str, *, reason: str | None = None, bulk: str | None = None) -> None:
        """Remove the job: a running one is terminated, then its workflow or schedule is deleted (its
        audit trail stays, and records the deletion).

        Raises:
            JobNotFoundError: no such job.
        """
        reason = checked_reason(reason)
        if await self._describe_workflow(job_id) is not None:
            await self.client.workflow_service.delete_workflow_execution(
                DeleteWorkflowExecutionRequest(
                    namespace=self.client.namespace, workflow_execution=WorkflowExecution(workflow_id=job_id)
                )
            )
            await self._audit(job_id, "delete", reason, bulk)
            return
        # A DST companion left alone (its main schedule gone) is deleted too; the companion goes first.
        runs = await self._stop_pair(job_id)
        await delete_pair(self.client, job_id)
        for run in runs:
            await self.cancel_run(run)
        await self._audit(job_id, "delete", reason, bulk)

    # --- helpers ---------------------------------------------------------------------------

    def _note(self, what: str, reason: str | None) -> str:
        """A schedule's note for the Web UI (which rewrites it; the audit trail is the record)."""
        return f"{what} by {self.audit.identity}" + (f": {reason}" if reason else "")

    async def _stop_pair(self, job_id: str) -> list[str]:
        """Cancel the job's schedules for good; the runs they had started (to be cancelled next).
        Described again once stopped: a run armed between the first look and the stop is listed only
        then, and none starts after it.

        Raises:
            JobNotFoundError: no such job.
        """
        before = await self._pair(job_id)
        await cancel_pair(self.client, job_id, at=self.clock())
        after = await describe_pair(self.client, job_id)
        return sorted({getattr(r, "workflow_id", "") for d in (*before, *after) if d for r in d.info.running_actions})

    async def _pair(self, job_id: str) -> tuple[ScheduleDescription | None, ScheduleDescription | None]:
        """The job's main schedule and DST companion, either possibly missing (a half pair).

        Raises:
            JobNotFoundError: neither exists, or ``job_id`` names a companion (not a job of its own).
        """
        schedule, companion = (None, None) if is_companion(job_id) else await describe_pair(self.client, job_id)
        if schedule is None and companion is None:
            raise JobNotFoundError(f"no job with ID {job_id!r}")
        return schedule, companion

    async def _update(self, job_id: str, name: str, arg: Any = None) -> JobState:
        handle = self.client.get_workflow_handle(job_id)
        try:
            if arg is None:
                state: JobState = await handle.execute_update(name, result_type=JobState)
            else:
                state = await handle.execute_update(name, arg, result_type=JobState)
        except WorkflowUpdateFailedError as err:
            cause = err.cause
            details = cause.details if isinstance(cause, ApplicationError) else ()
            phase = details[0].get("phase") if details and isinstance(details[0], dict) else None
            raise JobStateError(f"cannot {name} job {job_id}: {getattr(cause, 'message', err)}", phase=phase) from None
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:  # the workflow already finished
                raise JobStateError(f"cannot {name} job {job_id}: it already finished", phase="done") from None
            raise
        return state

    async def _workflow_record(self, job_id: str, desc: WorkflowExecutionDescription) -> JobRecord:
        memo = JobMemo.model_validate(await desc.memo())
        details: dict[str, Any] = {}
        if desc.status != WorkflowExecutionStatus.RUNNING:
            handle = self.client.get_workflow_handle(job_id, run_id=desc.run_id)
            details["started_at"], details["retry_count"] = run_details(
                [e async for e in handle.fetch_history_events()]
            )
            try:
                details["result"] = await self._workflow_result(job_id, desc.run_id)
            except JobFailedError as err:
                details.update(failure_details(err))
        return workflow_record(job_id, desc, memo, now=self.clock(), **details)

    async def schedule_memo(self, desc: ScheduleDescription) -> JobMemo:
        return await schedule_memo(self.client.data_converter, desc)

    async def _schedule_record(self, job_id: str, desc: ScheduleDescription) -> JobRecord:
        memo = await self.schedule_memo(desc)
        details: dict[str, Any] = {}
        companion = await describe_companion(self.client, job_id)
        latest = latest_of(desc, companion)
        if latest is not None:
            with contextlib.suppress(RPCError):
                run = await self._describe_workflow(latest.workflow_id)
                if run is not None:
                    details["started_at"] = to_epoch_ms(run.start_time)
                    if run.status in (WorkflowExecutionStatus.FAILED, WorkflowExecutionStatus.TIMED_OUT):
                        try:
                            await self._workflow_result(latest.workflow_id, latest.first_execution_run_id)
                        except JobFailedError as err:
                            details.update(failure_details(err))
        return schedule_record(job_id, desc, memo, companion=companion, now=self.clock(), **details)
