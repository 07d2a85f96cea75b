"""Listing jobs, a job's run history and statistics, through Temporal's visibility queries.

Visibility is eventually consistent: a job dispatched a moment ago may take up to a second to appear.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from temporalio.client import (
    Client,
    ScheduleDescription,
    ScheduleListDescription,
    WorkflowExecution,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowFailureError,
)
from temporalio.service import RPCError, RPCStatusCode

from ductape_jobs.management.audit import AuditTrail
from ductape_jobs.management.cancelling import CancelOutcome, cancel_run
from ductape_jobs.management.records import (
    CLOSED,
    NAMESPACE_OF,
    JobNotFoundError,
    attributes,
    failed,
    memo_fields,
    run_details,
    run_times,
    schedule_status,
)
from ductape_jobs.planning.dst_policy import companion_id, is_companion
from ductape_jobs.scheduling import facts
from ductape_jobs.scheduling.dst_schedules import describe_companion, may_have_companion
from ductape_jobs.scheduling.recurring_arming import armed_runs, nominal
from ductape_jobs.workflows.contracts.instants import parse_instant, to_epoch_ms
from ductape_jobs.workflows.contracts.job import JobInputError, JobOutcome
from ductape_jobs.workflows.contracts.management import (
    JobHistory,
    JobMemo,
    JobPage,
    JobRecord,
    JobRun,
    JobStats,
    JobStatus,
)
from ductape_jobs.workflows.names import JOB_WORKFLOW

STATS_SAMPLE = 200
_WORKFLOW_STATUS = {
    "completed": ["Completed"], "failed": ["Failed", "TimedOut"], "cancelled": ["Canceled", "Terminated"],
    "scheduled": ["Running"], "queued": ["Running"], "running": ["Running"], "paused": ["Running"],
}  # fmt: skip


def quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def job_filter(
    *,
    product: str | None = None,
    env: str | None = None,
    namespace: str | None = None,
    event: str | None = None,
    event_type: str | None = None,
    app: str | None = None,
    from_: object = None,
    to: object = None,
) -> list[str]:
    """Visibility clauses on the Ductape search attributes.

    Raises:
        JobInputError: unknown namespace, or a bad ``from_``/``to`` time.
    """
    clauses = []
    pairs = (("DuctapeProduct", product), ("DuctapeEnv", env), ("DuctapeEvent", event),
             ("DuctapeEventType", event_type), ("DuctapeApp", app))  # fmt: skip
    for key, text in pairs:
        if text is not None:
            clauses.append(f"{key} = {quote(text)}")
    if namespace is not None:
        types = [t for t, ns in NAMESPACE_OF.items() if ns == namespace]
        if not types:
            raise JobInputError.one("namespace", f"unknown namespace {namespace!r}")
        clauses.append("DuctapeEventType IN (" + ", ".join(quote(str(t)) for t in types) + ")")
    for field, value, op in (("from_", from_, ">="), ("to", to, "<=")):
        if value is not None:
            try:
                moment = parse_instant(value)
            except ValueError as err:
                raise JobInputError.one(field, str(err)) from None
            if moment is not None:
                clauses.append(f"DuctapeScheduledAt {op} {quote(moment.isoformat())}")
    return clauses


class JobQueries:
    """Read-only queries over many jobs; ``Jobs`` adds the calls on one job."""

    def __init__(
        self,
        client: Client,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        audit: AuditTrail | None = None,
    ) -> None:
        self.client = client
        self.clock = clock
        self.audit = audit or AuditTrail(client, clock=clock)

    async def list(
        self,
        *,
        status: JobStatus | None = None,
        recurring: bool | None = None,
        limit: int = 50,
        cursor: str | None = None,
        **filters: Any,
    ) -> JobPage:
        """Jobs matching ``product``, ``env``, ``namespace``, ``event_type``, ``event``, ``app``,
        ``from_``/``to`` (on the scheduled time), ``status`` and ``recurring``; one-off jobs first,
        newest first, then recurring ones.

        Raises:
            JobInputError: a bad filter value or cursor.
        """
        clauses = job_filter(**filters)
        phase, token = decode_cursor(cursor)
        if recurring is True and phase == "one-off":
            phase, token = "recurring", None
        jobs: list[JobRecord] = []
        if phase == "one-off" and recurring is not True:
            query = " AND ".join([f"WorkflowType = {quote(JOB_WORKFLOW)}", "TemporalScheduledById IS NULL", *clauses])
            if status is not None:
                query += " AND ExecutionStatus IN (" + ", ".join(quote(s) for s in _WORKFLOW_STATUS[status]) + ")"
            listing = self.client.list_workflows(query, page_size=limit, next_page_token=token)
            await listing.fetch_next_page(page_size=limit)
            for execution in listing.current_page or []:
                record = await self._listed_workflow(execution)
                if status is None or record.status == status:
                    jobs.append(record)
            if listing.next_page_token:
                return JobPage(jobs=jobs, cursor=encode_cursor("one-off", listing.next_page_token))
            phase, token = "recurring", None
        if phase == "recurring" and recurring is not False:
            schedules = await self.client.list_schedules(
                " AND ".join(clauses) or None, page_size=limit, next_page_token=token
            )
            await schedules.fetch_next_page(page_size=limit)
            page = schedules.current_page or []
            # A DST companion is part of its job, reported with it (from its listing when on this page).
            companions = {listed.id: listed for listed in page if is_companion(listed.id)}
            for listed in page:
                if is_companion(listed.id):
                    continue
                record = await self._listed_schedule(listed, companions.get(companion_id(listed.id)))
                if status is None or record.status == status:
                    jobs.append(record)
            if schedules.next_page_token:
                return JobPage(jobs=jobs, cursor=encode_cursor("recurring", schedules.next_page_token))
        return JobPage(jobs=jobs, cursor=None)

    async def history(self, job_id: str, *, limit: int = 100) -> JobHistory:
        """Each run of the job, newest first (every run of a recurring job, every retry of a one-off
        job), and its audit trail, oldest first."""
        query = f"WorkflowId = {quote(job_id)}"
        if not is_companion(job_id):  # a companion's runs are its job's, not a job of their own
            query = f"TemporalScheduledById IN ({quote(job_id)}, {quote(companion_id(job_id))}) OR " + query
        runs = []
        async for execution in self.client.list_workflows(query, limit=limit):
            runs.append(await self._run(execution))
        return JobHistory(
            job_id=job_id,
            total_executions=len(runs),
            successful_executions=sum(r.status == "completed" for r in runs),
            failed_executions=sum(r.status == "failed" for r in runs),
            missed_executions=sum(r.status == "missed" for r in runs),
            executions=runs,
            audit=await self.audit.read(job_id),
        )

    async def stats(self, **filters: Any) -> JobStats:
        """Counts per status over every job run the filters select, the success rate, and how many
        completed runs needed no retry (from a sample of up to 200 recent ones)."""
        base = " AND ".join([f"WorkflowType = {quote(JOB_WORKFLOW)}", *job_filter(**filters)])
        counted = await self.client.count_workflows(base + " GROUP BY ExecutionStatus")
        by_status: dict[str, int] = {}
        for group in counted.groups:
            name = str(group.group_values[0]).strip('"')
            status = CLOSED.get(WorkflowExecutionStatus[name.upper()]) if name != "Running" else "running"
            key = status or name.lower()
            by_status[key] = by_status.get(key, 0) + group.count
        done = by_status.get("completed", 0) + by_status.get("failed", 0)
        first_try = after_retry = 0
        async for execution in self.client.list_workflows(
            base + ' AND ExecutionStatus = "Completed"', limit=STATS_SAMPLE
        ):
            handle = self.client.get_workflow_handle(execution.id, run_id=execution.run_id)
            _, retries = run_details([e async for e in handle.fetch_history_events()])
            if retries:
                after_retry += 1
            else:
                first_try += 1
        return JobStats(
            total=counted.count,
            by_status=by_status,
            success_rate=by_status.get("completed", 0) / done if done else None,
            completed_first_try=first_try,
            completed_after_retry=after_retry,
            sampled=first_try + after_retry,
        )

    async def cancel_run(self, workflow_id: str) -> CancelOutcome:
        """Ask a job run to cancel and wait for its word (``ductape_jobs.management.cancelling``)."""
        return await cancel_run(self.client, workflow_id)

    async def _cancel_armed(self, job_id: str, before: ScheduleDescription | None = None) -> None:
        """Cancel a recurring job's runs armed ahead of their time (``ductape_jobs.scheduling.recurring_arming``): a
        pause or a new timing stops them as it stops the runs its schedule has not started.
        ``before``: the schedule as it was when its spec and shift have just been replaced (they
        armed the runs; default: the current ones)."""
        desc = await self.describe_schedule(job_id)
        if desc is None:
            return
        running = {getattr(r, "workflow_id", "") for r in desc.info.running_actions}
        spec, shift = (before or desc).schedule.spec, facts(before or desc).arm_shift_s
        # Every run started early is asked, whatever this process's clock says of its instant: its
        # own answer tells whether its event had started (then it runs to its end).
        for run in desc.info.recent_actions:
            workflow_id = getattr(run.action, "workflow_id", "")
            if workflow_id in running and nominal(run.scheduled_at, spec, shift) > run.scheduled_at:
                await self.cancel_run(workflow_id)

    async def _describe_workflow(self, job_id: str) -> WorkflowExecutionDescription | None:
        try:
            return await self.client.get_workflow_handle(job_id).describe()
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return None
            raise

    async def describe_schedule(self, job_id: str) -> ScheduleDescription | None:
        """The schedule of recurring job ``job_id``, or None when there is none. A DST companion is
        no job of its own (it is reached through its job), so its ID reads as unknown."""
        if is_companion(job_id):
            return None
        try:
            return await self.client.get_schedule_handle(job_id).describe()
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return None
            raise

    async def require_schedule(self, job_id: str) -> ScheduleDescription:
        schedule = await self.describe_schedule(job_id)
        if schedule is None:
            raise JobNotFoundError(f"no job with ID {job_id!r}")
        return schedule

    async def _workflow_result(self, workflow_id: str, run_id: str | None) -> Any:
        handle = self.client.get_workflow_handle(workflow_id, run_id=run_id, result_type=JobOutcome)
        try:
            outcome: JobOutcome = await handle.result(follow_runs=False)
        except WorkflowFailureError as err:
            raise failed(workflow_id, err) from None
        return outcome.result

    async def _listed_workflow(self, execution: WorkflowExecution) -> JobRecord:
        memo = JobMemo.model_validate(await execution.memo())
        status: JobStatus
        if execution.status in CLOSED:
            status = CLOSED[execution.status]
        elif memo.paused:
            status = "paused"
        elif memo.scheduled_at > to_epoch_ms(self.clock()):
            status = "scheduled"
        else:
            status = "running"  # due: queued or running; `get` tells the two apart
        return JobRecord(
            job_id=execution.id,
            status=status,
            recurring=False,
            **attributes(execution.typed_search_attributes),
            **memo_fields(memo),
            completed_at=to_epoch_ms(execution.close_time) if execution.close_time else None,
            execution_count=0 if status in ("scheduled", "paused") else 1,
        )

    async def _listed_schedule(
        self, listed: ScheduleListDescription, companion: ScheduleListDescription | None
    ) -> JobRecord:
        if listed.schedule is None or listed.info is None:
            raise RuntimeError("listing schedules needs a Temporal server with advanced visibility")
        memo = JobMemo.model_validate(await listed.memo())
        state = listed.schedule.state
        spec = listed.schedule.spec
        known = facts(listed)
        upcoming = [
            *armed_runs(listed.info.recent_actions, spec, self.clock(), known.arm_shift_s).values(),
            *(nominal(t, spec, known.arm_shift_s) for t in listed.info.next_action_times),
        ]
        # The job's next run may be its DST companion's: describe it only when the job may have one
        # and its listing is not on this page (one call per such job, none for the others).
        if companion is not None and companion.info is not None:
            upcoming += companion.info.next_action_times
        elif may_have_companion(memo, listed.schedule.spec):
            described = await describe_companion(self.client, listed.id)
            upcoming += described.info.next_action_times if described is not None else []
        upcoming.sort()
        # Listings do not say whether a run is in progress: `get` tells `running` apart.
        status = schedule_status(paused=state.paused, cancelled=known.cancelled, running=False, upcoming=bool(upcoming))
        return JobRecord(
            job_id=listed.id,
            status=status,
            recurring=True,
            **attributes(listed.typed_search_attributes),
            **memo_fields(memo),
            next_run_at=to_epoch_ms(upcoming[0]) if upcoming and status == "scheduled" else None,
        )

    async def _run(self, execution: WorkflowExecution) -> JobRun:
        status: JobStatus = CLOSED.get(execution.status, "running") if execution.status else "running"
        error = None
        if status in ("failed", "cancelled"):
            handle = self.client.get_workflow_handle(execution.id, run_id=execution.run_id)
            try:
                await handle.result(follow_runs=False)
            except WorkflowFailureError as err:
                problem = failed(execution.id, err)
                error = f"{problem.error_type}: {problem.message}"
        memo = JobMemo.model_validate(await execution.memo())
        if status == "completed" and memo.missed:
            status, error = "missed", memo.missed  # it came too late for its catch-up policy: nothing ran
        scheduled, started = run_times(execution, memo)
        closed = execution.close_time
        return JobRun(
            workflow_id=execution.id,
            run_id=execution.run_id,
            status=status,
            scheduled_at=to_epoch_ms(scheduled) if scheduled else None,
            started_at=to_epoch_ms(started),
            completed_at=to_epoch_ms(closed) if closed else None,
            duration_ms=to_epoch_ms(closed) - to_epoch_ms(started) if closed else None,
            error=error,
        )


def encode_cursor(phase: str, token: bytes) -> str:
    return base64.urlsafe_b64encode(json.dumps({"p": phase, "t": base64.b64encode(token).decode()}).encode()).decode()


def decode_cursor(cursor: str | None) -> tuple[str, bytes | None]:
    if cursor is None:
        return "one-off", None
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return str(data["p"]), base64.b64decode(data["t"])
    except (ValueError, KeyError, TypeError):
        raise JobInputError.one("cursor", "is not a cursor returned by list()") from None
