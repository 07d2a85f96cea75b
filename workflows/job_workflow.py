"""``JobWorkflow``: one run of a job, from its durable wait to the result of its event activity."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from ductape_jobs.workflows.armed_event import ArmedAttempt, Disarmed, gave_back
    from ductape_jobs.workflows.arming import armed_nominal
    from ductape_jobs.workflows.catch_up import CATCH_UP, missed_reason
    from ductape_jobs.workflows.contracts.instants import to_epoch_ms
    from ductape_jobs.workflows.contracts.job import (
        JobOutcome,
        JobState,
        JobWorkflowInput,
        RescheduleRequest,
    )
    from ductape_jobs.workflows.event_runner import ARMED_RESCUES, EventRunner, failure
    from ductape_jobs.workflows.job_metrics import (
        record_end,
        record_missed,
        record_start,
        record_wait,
        record_wait_end,
        wait_labels,
    )
    from ductape_jobs.workflows.job_steps import emit_job_event, job_context, joined, resolved_input
    from ductape_jobs.workflows.names import (
        CANCEL_OUTCOME,
        JOB_WORKFLOW,
        SCHEDULED_AT,
        SCHEDULED_START,
        SLOT_GRANTED,
        SUPERSEDE,
    )
    from ductape_jobs.workflows.slot_keeping import CONCURRENCY, SlotKeeping

EXACT_MANAGEMENT = "exact-management"
"""Patch: management holds until the event starts (``ductape_jobs.workflows.armed_event``), a cancel never cuts a
started event short, every event activity heartbeats. Runs started before it replay as they ran."""
NOT_WAITING = "JOB_NOT_WAITING"

Phase = Literal["waiting", "paused", "armed", "running", "done"]


@workflow.defn(name=JOB_WORKFLOW)
class JobWorkflow:
    """Waits until ``start_at`` (pausable, reschedulable, triggerable, cancellable until its event
    starts, armed or not), resolves placeholders if any, runs the event's activity."""

    @workflow.init
    def __init__(self, job: JobWorkflowInput) -> None:
        # State comes from the input here, not in run(): an update delivered in the very first
        # workflow task (a reschedule right after dispatch) runs before run() does.
        self._start_at: datetime | None = job.start_at
        self._paused = False
        self._trigger = False
        self._changes = 0
        self._phase: Phase = "waiting"
        self._arm_lead = timedelta(milliseconds=job.arm_lead_ms) if job.arm_lead_ms else timedelta(0)
        # Which path this run takes (``EXACT_MANAGEMENT``) is decided, and the patch marker recorded,
        # only where the two part: on arming, or on a cancel while the event runs. A plain job that
        # meets neither carries no marker and costs the history events it always did.
        self._exact: bool | None = None
        self._armed: ArmedAttempt | None = None
        self._cancel: Literal["cancelled", "refused"] | None = None
        self._slots: SlotKeeping | None = None
        self._superseded: str | None = None

    def _exact_path(self) -> bool:
        if self._exact is None:
            self._exact = workflow.patched(EXACT_MANAGEMENT)
        return self._exact

    @workflow.run
    async def run(self, job: JobWorkflowInput) -> JobOutcome:
        # Only a job with a concurrency limit (a field older runs lack) records this patch.
        if job.concurrency and workflow.patched(CONCURRENCY):
            self._slots = SlotKeeping(job.concurrency, product=job.product, env=job.env)
        if job.catchup is not None and (missed := self._missed(job)) is not None:
            self._phase = "done"
            workflow.upsert_memo({"missed": missed})
            record_missed(job, job.catchup.policy)
            return JobOutcome(job_id=job.job_id, event_type=job.event_type, event=job.event, missed=missed)
        key_class = job.debounce_key_class
        debounce = wait_labels(job.product, job.env, "debounce", key_class) if key_class else None
        waiting = record_wait(debounce) if debounce else None
        while True:
            try:
                await self._wait_until_due()
                if debounce and waiting:  # its window closed: it runs, or was superseded
                    record_wait_end(debounce, waiting)
                    waiting = None
                if self._superseded is not None:  # a later job of its debounce burst runs instead
                    self._phase = "done"
                    return JobOutcome(
                        job_id=job.job_id, event_type=job.event_type, event=job.event, superseded_by=self._superseded
                    )
                # A limited job waits for its slot as it waits for its time: pausable, cancellable.
                seen = self._changes
                if self._slots and not await self._slots.take(lambda seen=seen: self._changes != seen):  # type: ignore[misc]
                    continue
            except asyncio.CancelledError:
                if self._slots:
                    await self._slots.release()
                await self._end_cancelled()
                raise
            work = asyncio.create_task(self._run_event(job))
            try:
                return await self._refusing_late_cancel(work)
            except Disarmed:
                self._phase, self._armed = "waiting", None
            finally:
                if self._slots:
                    await self._slots.release()

    async def _refusing_late_cancel(self, work: asyncio.Task[JobOutcome]) -> JobOutcome:
        """The run's outcome. A cancel request holds only while the event has not started: it takes
        an armed attempt back (the job ends cancelled), or is refused and the event runs to its end."""
        while True:
            try:
                return await asyncio.shield(work)
            except asyncio.CancelledError:
                if not work.done():
                    armed = self._armed
                    # (A run from before the patch has no attempt object: its cancel reaches its
                    # activity, armed or running, as it always did.)
                    taken_back = self._phase == "armed" and (armed is None or await armed.disarm())
                    if not taken_back and self._exact_path():
                        self._cancel = "refused"
                        continue
                    work.cancel()
                elif not isinstance(work.exception(), Disarmed):
                    return work.result()  # it ended as the cancel came: it stands
                await self._end_cancelled()  # taken back before its event started
                raise

    async def _end_cancelled(self) -> None:
        self._cancel = "cancelled"
        await workflow.wait_condition(workflow.all_handlers_finished)

    async def _run_event(self, job: JobWorkflowInput) -> JobOutcome:
        # Armed: the event activity is scheduled now and waits for the instant itself, so a herd of
        # jobs due together does not queue behind this worker's workflow tasks at that instant.
        # Only jobs dispatched with a lead arm; a trigger runs now. A recurring run is armed when
        # its schedule fires early (``ductape_jobs.scheduling.recurring_arming``).
        nominal = self._start_at or self._schedule_nominal()
        armed = not self._trigger and (job.arm_lead_ms is not None or self._start_at is None)
        not_before = nominal if armed and nominal and nominal > workflow.now() else None
        self._phase = "armed" if not_before else "running"
        exact = not_before is not None and self._exact_path()
        seen = self._changes
        started = None
        if not exact:
            record_start(job, nominal, armed=not_before is not None)
            started = self._event(job, "job.started", "running")
        try:
            payload = await resolved_input(job)
            runner = EventRunner(job, job_context(job))
            if not exact or not_before is None:  # not armed, or armed before the patch (one activity)
                result = await runner.run(payload, not_before=not_before)
            elif self._changes != seen:
                raise Disarmed  # changed while its placeholders resolved: nothing was armed yet
            else:
                result = await self._armed_event(job, runner, payload, not_before)
        except ApplicationError as err:
            self._phase = "done"
            record_end(job, failed=True)
            await joined(started, self._event(job, "job.failed", "failed", f"{err.type}: {err.message}"))
            raise
        self._phase = "done"
        record_end(job, failed=False)
        await joined(started, self._event(job, "job.completed", "completed"))
        return JobOutcome(job_id=job.job_id, event_type=job.event_type, event=job.event, result=result)

    async def _armed_event(
        self, job: JobWorkflowInput, runner: EventRunner, payload: dict[str, Any], not_before: datetime
    ) -> Any:
        """One claimed attempt at the instant; armed again (same instant) when it ended before its
        event started (its worker stopped or died), up to ``ARMED_RESCUES`` times."""
        rescues = ARMED_RESCUES
        while True:
            attempt = ArmedAttempt(runner.arm(payload, not_before), not_before)
            self._armed = attempt
            await workflow.wait_condition(lambda attempt=attempt: attempt.settled)  # type: ignore[misc]
            if attempt.disarmed:
                raise Disarmed
            try:
                result = await attempt.handle
            except ActivityError as err:
                never_started = gave_back(err, not_before)
                if never_started and rescues:
                    rescues -= 1
                    continue
                self._phase = "running"
                record_start(job, not_before, armed=True)
                if never_started:
                    raise failure(f"armed {job.event_type.value} {job.event}", err) from err
                return await runner.after_armed(payload, err)
            self._phase = "running"
            record_start(job, not_before, armed=True)
            return result

    def _missed(self, job: JobWorkflowInput) -> str | None:
        """Why a schedule's run that reached a worker late must not run (``catch_up``), else None."""
        info = workflow.info()
        if job.catchup is None or info.typed_search_attributes.get(SCHEDULED_START) is None:
            return None
        end_ms = workflow.memo_value("end_date", None, type_hint=int)
        reason = missed_reason(
            job.catchup,
            started=info.workflow_start_time,
            now=workflow.now(),
            cron=workflow.memo_value("cron", None, type_hint=str),
            tz=workflow.memo_value("tz", None, type_hint=str),
            every_ms=workflow.memo_value("every", None, type_hint=int),
            end=datetime.fromtimestamp(end_ms / 1000, UTC) if end_ms else None,
        )
        # Asked only when the run is missed: a run on time records no marker.
        return reason if reason is not None and workflow.patched(CATCH_UP) else None

    def _schedule_nominal(self) -> datetime | None:
        """The nominal time of a run its armed schedule started early, else None (not armed, a
        triggered run, not started by a schedule)."""
        shift = workflow.memo_value("arm_shift_s", None, type_hint=int)
        scheduled = workflow.info().typed_search_attributes.get(SCHEDULED_START)
        if not shift or scheduled is None:
            return None
        return armed_nominal(
            scheduled,
            shift,
            workflow.memo_value("cron", None, type_hint=str),
            time_zone=workflow.memo_value("tz", None, type_hint=str),
            every_ms=workflow.memo_value("every", None, type_hint=int),
            grid_offset_s=workflow.memo_value("grid_offset_s", None, type_hint=int),
        )

    def _event(
        self, job: JobWorkflowInput, name: str, status: str, error: str | None = None
    ) -> asyncio.Task[Any] | None:
        return emit_job_event(job, name, status, scheduled_at=self._start_at, error=error)

    async def _wait_until_due(self) -> None:
        while not self._trigger and self._superseded is None:
            if self._paused:
                await workflow.wait_condition(lambda: not self._paused or self._trigger or self._superseded is not None)
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

    # --- management ------------------------------------------------------------------------

    @workflow.signal(name=SLOT_GRANTED)
    def slot_granted(self, token: str) -> None:
        if self._slots:
            self._slots.granted(token)

    @workflow.query(name="state")
    def state(self) -> JobState:
        phase = self._phase
        if phase == "armed" and self._armed is not None and self._armed.disarmed:
            phase = "waiting"  # taken back; the run loop has not looped yet
        if self._paused and phase == "waiting":
            phase = "paused"
        return JobState(phase=phase, start_at=self._start_at, cancel=self._cancel)

    @workflow.update(name="reschedule")
    async def reschedule(self, request: RescheduleRequest) -> JobState:
        def apply() -> None:
            self._start_at = request.start_at
            self._changed({"scheduled_at": to_epoch_ms(request.start_at or workflow.now())})
            if request.start_at is not None:
                workflow.upsert_search_attributes([SCHEDULED_AT.value_set(request.start_at)])

        return await self._hold("reschedule", apply)

    @reschedule.validator
    def _check_reschedule(self, request: RescheduleRequest) -> None:
        self._check("reschedule")

    @workflow.update(name="pause")
    async def pause(self) -> JobState:
        def apply() -> None:
            self._paused = True
            self._changed({"paused": True})

        return await self._hold("pause", apply)

    @pause.validator
    def _check_pause(self) -> None:
        self._check("pause")

    @workflow.update(name="resume")
    async def resume(self) -> JobState:
        if self._phase == "armed":
            return self.state()  # nothing to undo: a paused job is never armed

        def apply() -> None:
            self._paused = False
            self._changed({"paused": None})

        return await self._hold("resume", apply)

    @resume.validator
    def _check_resume(self) -> None:
        self._check("resume")

    @workflow.update(name="trigger")
    async def trigger(self) -> JobState:
        def apply() -> None:
            self._trigger = True
            self._changed({"paused": None, "scheduled_at": to_epoch_ms(workflow.now())})

        return await self._hold("trigger", apply)

    @trigger.validator
    def _check_trigger(self) -> None:
        self._check("trigger")

    @workflow.update(name=SUPERSEDE)
    async def supersede(self, by: str) -> JobState:
        def apply() -> None:
            self._superseded = by
            self._changed({"superseded_by": by})

        return await self._hold("supersede", apply)

    @supersede.validator
    def _check_supersede(self, by: str) -> None:
        self._check("supersede")

    @workflow.update(name=CANCEL_OUTCOME)
    async def cancel_outcome(self) -> JobState:
        """Waits until a cancel request (sent just before) has been decided: ``state.cancel``."""
        await workflow.wait_condition(lambda: self._cancel is not None or self._phase == "done")
        return self.state()

    def _check(self, what: str) -> None:
        """Validator: refuse a change the job can no longer take, before it reaches history."""
        if self._cancel == "cancelled":
            raise ApplicationError(f"cannot {what}: the job was cancelled", {"phase": "done"}, type=NOT_WAITING)
        if self._phase in ("running", "done"):
            raise _started(what, self._phase)
        if self._phase == "armed" and self._exact is False and self._start_at is not None:
            raise ApplicationError(  # armed before the patch: only a cancel could reach it
                f"the job is armed: its event starts at {self._start_at.isoformat()} and can only be cancelled",
                {"phase": "armed"},
                type=NOT_WAITING,
            )

    async def _hold(self, what: str, apply: Callable[[], None]) -> JobState:
        """Apply a change unless the event started; an armed attempt is taken back first."""
        armed = self._armed
        if self._phase == "armed" and armed is not None:
            if not await armed.disarm(apply):
                raise _started(what, "running")
        elif self._phase in ("running", "done"):
            raise _started(what, self._phase)
        else:
            apply()
        return self.state()

    def _changed(self, memo: dict[str, Any]) -> None:
        self._changes += 1
        workflow.upsert_memo(memo)


def _started(what: str, phase: str) -> ApplicationError:
    return ApplicationError(
        f"cannot {what}: the job's event already started (the job is {phase})", {"phase": phase}, type=NOT_WAITING
    )
