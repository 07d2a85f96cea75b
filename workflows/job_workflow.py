"""``JobWorkflow``: one run of a job, from its durable wait to the result of its event activity."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any, Literal

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from workflows.arming import armed_nominal
    from workflows.contracts import (
        DISPATCH_NAMESPACE_OF,
        ErrorRules,
        JobContext,
        JobOutcome,
        JobState,
        JobWorkflowInput,
        RescheduleRequest,
        ResolveRequest,
        ResolveResult,
        to_epoch_ms,
    )
    from workflows.event_runner import EventRunner, call_activity
    from workflows.job_metrics import record_end, record_start
    from workflows.management_contracts import JobEvent, JobEventJob
    from workflows.names import (
        JOB_EVENT_WORKFLOW,
        JOB_WORKFLOW,
        RESOLVE_PLACEHOLDERS,
        SCHEDULED_AT,
        SCHEDULED_START,
    )
    from workflows.placeholders import has_placeholders

RESOLVE_TIMEOUT = timedelta(seconds=30)
# Resolution only fails transiently when the worker itself is unhealthy; bad tokens are non-retryable.
RESOLVE_RETRY = RetryPolicy(maximum_attempts=3)


@workflow.defn(name=JOB_WORKFLOW)
class JobWorkflow:
    """Waits until ``start_at`` (pausable, reschedulable, triggerable), resolves placeholders if any,
    runs the event's activity."""

    @workflow.init
    def __init__(self, job: JobWorkflowInput) -> None:
        # State comes from the input here, not in run(): an update delivered in the very first
        # workflow task (a reschedule right after dispatch) runs before run() does.
        self._start_at: datetime | None = job.start_at
        self._paused = False
        self._trigger = False
        self._changes = 0
        self._phase: Literal["waiting", "paused", "armed", "running", "done"] = "waiting"
        self._arm_lead = timedelta(milliseconds=job.arm_lead_ms) if job.arm_lead_ms else timedelta(0)

    @workflow.run
    async def run(self, job: JobWorkflowInput) -> JobOutcome:
        await self._wait_until_due()
        # Armed: the event activity is scheduled now and waits for the instant itself, so a herd of
        # jobs due together does not queue behind this worker's workflow tasks at that instant.
        # Only jobs dispatched with a lead arm (older histories replay as they ran); a trigger runs now.
        # A recurring run is armed when its schedule fires early (``starter.recurring_arming``).
        nominal = self._start_at or self._schedule_nominal()
        armed = not self._trigger and (job.arm_lead_ms is not None or self._start_at is None)
        not_before = nominal if armed and nominal and nominal > workflow.now() else None
        self._phase = "armed" if not_before else "running"
        record_start(job, nominal, armed=not_before is not None)
        started = self._emit(job, "job.started", "running")
        try:
            outcome = await self._execute(job, not_before)
        except ApplicationError as err:
            record_end(job, failed=True)
            await _joined(started, self._emit(job, "job.failed", "failed", f"{err.type}: {err.message}"))
            raise
        finally:
            self._phase = "done"
        record_end(job, failed=False)
        await _joined(started, self._emit(job, "job.completed", "completed"))
        return outcome

    def _schedule_nominal(self) -> datetime | None:
        """The nominal time of a run its armed schedule started early, else None (not armed, a
        triggered run, not started by a schedule)."""
        shift = workflow.memo_value("arm_shift_s", None, type_hint=int)
        scheduled = workflow.info().typed_search_attributes.get(SCHEDULED_START)
        if not shift or scheduled is None:
            return None
        return armed_nominal(scheduled, shift, workflow.memo_value("cron", None, type_hint=str))

    def _emit(
        self, job: JobWorkflowInput, name: str, status: str, error: str | None = None
    ) -> asyncio.Task[Any] | None:
        """Start a ``JobEventWorkflow`` for ``name`` when the product has webhooks; it is abandoned,
        so delivering never delays or fails the job (only the start is awaited, before closing)."""
        if not job.notify:
            return None
        info = workflow.info()
        delivery_id = f"{info.workflow_id}/{info.run_id}/{name}"
        event = JobEvent(
            event=name,
            timestamp=to_epoch_ms(workflow.now()),
            delivery_id=delivery_id,
            job=JobEventJob(
                id=job.job_id, status=status, namespace=DISPATCH_NAMESPACE_OF.get(job.event_type),
                product=job.product, env=job.env, error=error,
                scheduled_at=to_epoch_ms(self._start_at) if self._start_at else None,
            ),
        )  # fmt: skip
        return asyncio.create_task(
            workflow.start_child_workflow(
                JOB_EVENT_WORKFLOW,
                event,
                id=f"job-event:{delivery_id}",
                task_queue=info.task_queue,
                parent_close_policy=ParentClosePolicy.ABANDON,
                static_summary=f"{name} {job.job_id}",
            )
        )

    async def _wait_until_due(self) -> None:
        while not self._trigger:
            if self._paused:
                await workflow.wait_condition(lambda: not self._paused or self._trigger)
                continue
            start_at = self._start_at
            if start_at is None or start_at - self._arm_lead <= workflow.now():
                return
            wake_at = start_at - self._arm_lead
            # Any update (reschedule, pause, trigger) ends this wait and the loop re-reads the state.
            seen = self._changes
            try:
                await workflow.wait_condition(
                    lambda seen=seen: self._changes != seen,  # type: ignore[misc]
                    timeout=wake_at - workflow.now(),
                    timeout_summary=f"until {wake_at.isoformat()}",
                )
            except TimeoutError:
                return

    @workflow.query(name="state")
    def state(self) -> JobState:
        return JobState(phase="paused" if self._paused else self._phase, start_at=self._start_at)

    def _waiting(self) -> None:
        if self._phase == "armed" and self._start_at is not None:
            raise ApplicationError(
                f"the job is armed: its event starts at {self._start_at.isoformat()} and can only be cancelled",
                type="JOB_NOT_WAITING",
            )
        if self._phase != "waiting":
            raise ApplicationError(f"the job is {self._phase}, not waiting to start", type="JOB_NOT_WAITING")

    @workflow.update(name="reschedule")
    def reschedule(self, request: RescheduleRequest) -> JobState:
        self._start_at = request.start_at
        self._changed({"scheduled_at": to_epoch_ms(request.start_at or workflow.now())})
        if request.start_at is not None:
            workflow.upsert_search_attributes([SCHEDULED_AT.value_set(request.start_at)])
        return self.state()

    @reschedule.validator
    def _check_reschedule(self, request: RescheduleRequest) -> None:
        self._waiting()

    @workflow.update(name="pause")
    def pause(self) -> JobState:
        self._paused = True
        self._changed({"paused": True})
        return self.state()

    @pause.validator
    def _check_pause(self) -> None:
        self._waiting()

    @workflow.update(name="resume")
    def resume(self) -> JobState:
        self._paused = False
        self._changed({"paused": None})
        return self.state()

    @resume.validator
    def _check_resume(self) -> None:
        self._waiting()

    @workflow.update(name="trigger")
    def trigger(self) -> JobState:
        self._trigger = True
        self._changed({"paused": None, "scheduled_at": to_epoch_ms(workflow.now())})
        return self.state()

    @trigger.validator
    def _check_trigger(self) -> None:
        self._waiting()

    def _changed(self, memo: dict[str, Any]) -> None:
        self._changes += 1
        workflow.upsert_memo(memo)

    async def _execute(self, job: JobWorkflowInput, not_before: datetime | None) -> JobOutcome:
        payload = job.input
        # A plain job adds no history events for resolution: only call it when there is work to do.
        if job.session is not None or has_placeholders(job.input):
            resolved = await call_activity(
                RESOLVE_PLACEHOLDERS,
                ResolveRequest(product=job.product, env=job.env, session=job.session, input=job.input),
                result_type=ResolveResult,
                attempt_timeout=RESOLVE_TIMEOUT,
                retry=RESOLVE_RETRY,
                summary="resolve session placeholders",
            )
            payload = resolved.input

        context = JobContext(
            job_id=job.job_id,
            product=job.product,
            env=job.env,
            event=job.event,
            app=job.app,
            errors=ErrorRules(
                retryable_errors=job.retry.retryable_errors,
                non_retryable_errors=job.retry.non_retryable_errors,
            ),
        )
        result = await EventRunner(job, context).run(payload, not_before=not_before)
        return JobOutcome(job_id=job.job_id, event_type=job.event_type, event=job.event, result=result)


async def _joined(*tasks: asyncio.Task[Any] | None) -> None:
    for task in tasks:
        if task is not None:
            await task
