"""How the job workflow runs one event, whatever its type (workflow code: deterministic, no I/O).

Most types are one activity. A notification is one rendering activity, then one activity per
channel in parallel, each retried on its own (a failing SMS never re-sends the email). A feature is
a child workflow. A fallback or quota runs its options, each an event of another type, one after
the other until one succeeds.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    ChildWorkflowError,
    FailureError,
    TimeoutError,
    TimeoutType,
    is_cancelled_exception,
)

with workflow.unsafe.imports_passed_through():
    from ductape_jobs.workflows.armed_event import retryable
    from ductape_jobs.workflows.arming import ARM_HEARTBEAT, ARMED, EVENT_HEARTBEAT, INTERRUPTED
    from ductape_jobs.workflows.contracts.job import (
        EventActivityInput,
        JobContext,
        JobEventType,
        JobWorkflowInput,
        RetrySettings,
    )
    from ductape_jobs.workflows.contracts.notification import (
        ChannelDelivery,
        ChannelReport,
        ChannelSendInput,
        NotificationPlan,
        NotificationResult,
    )
    from ductape_jobs.workflows.contracts.route import OptionFailure, RouteOption, RoutePlan, RouteRequest, RouteResult
    from ductape_jobs.workflows.event_types import event_activity
    from ductape_jobs.workflows.job_metrics import record_wait, wait_labels
    from ductape_jobs.workflows.names import PREPARE_NOTIFICATION, RESOLVE_ROUTE, SEND_NOTIFICATION, rate_limit_target

RATE_LIMITS = "rate-limits"
"""Patch: a rate-limited target's event runs on its own task queue (``JobWorkflowInput.event_task_queue``)."""
PLAN_TIMEOUT = timedelta(seconds=30)
# Planning steps read the config and render templates: they only fail transiently when the worker
# itself is unhealthy; bad input and config errors are non-retryable.
PLAN_RETRY = RetryPolicy(maximum_attempts=3)


def retry_policy(settings: RetrySettings) -> RetryPolicy:
    """The Temporal retry policy of a job's event activity."""
    return RetryPolicy(
        initial_interval=timedelta(milliseconds=settings.initial_delay_ms),
        backoff_coefficient=settings.backoff_multiplier,
        maximum_interval=timedelta(milliseconds=settings.max_delay_ms),
        maximum_attempts=settings.maximum_attempts,
        non_retryable_error_types=list(settings.non_retryable_errors) or None,
    )


async def call_activity(
    name: str,
    arg: Any,
    *,
    result_type: type | None,
    attempt_timeout: timedelta,
    retry: RetryPolicy,
    summary: str,
    armed: bool = False,
    heartbeat: timedelta | None = None,
    task_queue: str | None = None,
) -> Any:
    """Run one activity; its final failure fails the job with the activity's error type and message.

    ``armed`` (runs armed before exact management): the activity waits for its ``not_before``
    and heartbeats. When its worker died during that wait, the attempt the timeout cost is given
    back (the event never started), up to ``ARMED_RESCUES`` times: a crash never fails a job that
    allows a single attempt. ``heartbeat``: the attempt's heartbeat timeout (event activities).
    ``task_queue``: a rate-limited target's (None: the workflow's).
    """
    rescues = ARMED_RESCUES if armed else 0
    while True:
        try:
            return await workflow.execute_activity(
                name,
                arg,
                result_type=result_type,
                start_to_close_timeout=attempt_timeout,
                heartbeat_timeout=ARM_HEARTBEAT if armed else heartbeat,
                retry_policy=retry,
                summary=summary,
                task_queue=task_queue,
            )
        except ActivityError as err:
            if is_cancelled_exception(err):
                raise  # the job was cancelled: the workflow ends cancelled, not failed
            if rescues and _died_while_armed(err):
                rescues -= 1
                continue
            raise failure(summary, err) from err


def failure(summary: str, err: ActivityError | ChildWorkflowError) -> ApplicationError:
    """The job's failure for an activity (or child) that failed for good: its error type and message."""
    kind, reason = _cause(err)
    return ApplicationError(f"{summary} failed: {reason}", type=kind, non_retryable=True)


ARMED_RESCUES = 3


def _died_while_armed(err: ActivityError) -> bool:
    """The attempt ended before the event started: its worker died (heartbeat timeout while the last
    heartbeat said armed) or stopped during the wait."""
    cause = err.cause
    if isinstance(cause, ApplicationError):
        return cause.type == INTERRUPTED
    return (
        isinstance(cause, TimeoutError)
        and cause.type is TimeoutType.HEARTBEAT
        and list(cause.last_heartbeat_details) == [ARMED]
    )


def _cause(err: ActivityError | ChildWorkflowError) -> tuple[str, str]:
    cause = err.cause
    kind = cause.type if isinstance(cause, ApplicationError) and cause.type else "ACTIVITY_FAILED"
    reason = cause.message if isinstance(cause, FailureError) else err.message
    return kind, reason


class EventRunner:
    """Runs the events of one job run with the job's retry settings and timeout.

    Event activities heartbeat (a dead worker's job moves on within ``EVENT_HEARTBEAT``). An armed
    event (since exact management) is one claimed attempt (``arm``), its retries run after it
    (``after_armed``)."""

    def __init__(self, job: JobWorkflowInput, context: JobContext) -> None:
        self._job = job
        self._context = context
        self._heartbeat = EVENT_HEARTBEAT

    def arm(self, payload: dict[str, Any], not_before: datetime) -> workflow.ActivityHandle[Any]:
        """Hand the job's own event to its activity now; it waits for ``not_before``, claims the event
        and runs it: one attempt, whose cancel waits for the activity's answer (``armed_event``)."""
        name, summary = self._single(self._job.event_type, self._job.event_activity, self._context)
        attempt_timeout = timedelta(milliseconds=self._job.timeout_ms) + max(not_before - workflow.now(), timedelta(0))
        return workflow.start_activity(
            name,
            EventActivityInput(job=self._context, input=payload, not_before=not_before),
            start_to_close_timeout=attempt_timeout,
            heartbeat_timeout=ARM_HEARTBEAT,
            retry_policy=RetryPolicy(maximum_attempts=1),
            cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            summary=summary,
        )

    async def after_armed(self, payload: dict[str, Any], err: ActivityError) -> Any:
        """The armed attempt started the event and failed: the remaining attempts, with the backoff
        the server would have applied, or the job's failure when none remains."""
        settings = self._job.retry
        name, summary = self._single(self._job.event_type, self._job.event_activity, self._context)
        if settings.maximum_attempts <= 1 or not retryable(err, settings.non_retryable_errors):
            raise failure(summary, err) from err
        first = min(settings.initial_delay_ms, settings.max_delay_ms)
        await workflow.sleep(timedelta(milliseconds=first), summary="retry backoff")
        rest = settings.model_copy(
            update={
                "maximum_attempts": settings.maximum_attempts - 1,
                "initial_delay_ms": min(int(first * settings.backoff_multiplier), settings.max_delay_ms),
            }
        )
        return await call_activity(
            name,
            EventActivityInput(job=self._context, input=payload),
            result_type=None,
            attempt_timeout=timedelta(milliseconds=self._job.timeout_ms),
            retry=retry_policy(rest),
            summary=summary,
            heartbeat=self._heartbeat,
        )

    def _single(self, event_type: JobEventType, named: str | None, context: JobContext) -> tuple[str, str]:
        """The activity and summary of a type whose event is one activity (``named`` by the input)."""
        name = event_activity(event_type, named)
        if name is None:
            raise ApplicationError(
                f"event type {event_type.value!r} is not supported by this worker",
                type="UNSUPPORTED_EVENT_TYPE",
                non_retryable=True,
            )
        target = f"{context.app}/{context.event}" if context.app else context.event
        return name, f"{event_type.value} {target}"

    async def run(self, payload: dict[str, Any], *, not_before: datetime | None = None) -> Any:
        """The job's own event; with ``not_before`` (an armed job) its activity waits for that instant."""
        job = self._job
        queue = job.event_task_queue if job.event_task_queue and workflow.patched(RATE_LIMITS) else None
        if queue:  # its first attempt's activity ends the wait as it starts (``limited_target``)
            record_wait(wait_labels(job.product, job.env, "rate_limit", rate_limit_target(queue)))
        return await self._run(
            job.event_type, job.event_activity, self._context, payload, timedelta(milliseconds=job.timeout_ms),
            not_before, queue,
        )  # fmt: skip

    async def _run(
        self,
        event_type: JobEventType,
        named: str | None,
        context: JobContext,
        payload: dict[str, Any],
        attempt_timeout: timedelta,
        not_before: datetime | None = None,
        task_queue: str | None = None,
    ) -> Any:
        if event_type is JobEventType.NOTIFICATION:
            return await self._notify(context, payload, attempt_timeout)
        if event_type in (JobEventType.FEATURE, JobEventType.FALLBACK, JobEventType.QUOTA):
            plan: RoutePlan = await call_activity(
                RESOLVE_ROUTE,
                RouteRequest(job=context, event_type=event_type),
                result_type=RoutePlan,
                attempt_timeout=PLAN_TIMEOUT,
                retry=PLAN_RETRY,
                summary=f"resolve {event_type.value} {context.event}",
            )
            if plan.kind == "feature":
                return await self._feature(context, plan, payload)
            return await self._options(context, plan, payload)
        activity_name, summary = self._single(event_type, named, context)
        if not_before is not None:
            # The first attempt's clock runs during the wait too.
            attempt_timeout += max(not_before - workflow.now(), timedelta(0))
        return await call_activity(
            activity_name,
            EventActivityInput(job=context, input=payload, not_before=not_before),
            result_type=None,
            attempt_timeout=attempt_timeout,
            retry=retry_policy(self._job.retry),
            summary=summary,
            armed=not_before is not None,
            heartbeat=self._heartbeat,
            task_queue=task_queue,
        )

    async def _notify(
        self, context: JobContext, payload: dict[str, Any], attempt_timeout: timedelta
    ) -> NotificationResult:
        plan: NotificationPlan = await call_activity(
            PREPARE_NOTIFICATION,
            EventActivityInput(job=context, input=payload),
            result_type=NotificationPlan,
            attempt_timeout=PLAN_TIMEOUT,
            retry=PLAN_RETRY,
            summary=f"prepare notification {context.app}/{context.event}",
        )
        reports = await asyncio.gather(
            *(self._send(context, delivery, attempt_timeout) for delivery in plan.deliveries)
        )
        result = NotificationResult(channels={report.channel: report for report in reports})
        if reports and not any(report.success for report in reports):
            errors = "; ".join(f"{r.channel}: {r.error}" for r in reports)
            raise ApplicationError(
                f"notification {context.app}/{context.event}: every channel failed ({errors})",
                result.model_dump(mode="json"),
                type="NOTIFICATION_FAILED",
                non_retryable=True,
            )
        return result

    async def _send(self, context: JobContext, delivery: ChannelDelivery, attempt_timeout: timedelta) -> ChannelReport:
        """One channel; its final failure is reported in the result, not raised, so the others stand."""
        job = self._job
        # The job's own notification only (not one a fallback runs): its limited providers' queues.
        queue = job.channel_task_queues.get(delivery.channel) if context is self._context else None
        if queue and workflow.patched(RATE_LIMITS):
            record_wait(wait_labels(job.product, job.env, "rate_limit", rate_limit_target(queue)))
        else:
            queue = None
        try:
            report: ChannelReport = await workflow.execute_activity(
                SEND_NOTIFICATION,
                ChannelSendInput(job=context, delivery=delivery),
                result_type=ChannelReport,
                start_to_close_timeout=attempt_timeout,
                heartbeat_timeout=self._heartbeat,
                retry_policy=retry_policy(self._job.retry),
                summary=f"notification {delivery.channel} {context.app}/{context.event}",
                task_queue=queue,
            )
        except ActivityError as err:
            if is_cancelled_exception(err):
                raise
            kind, reason = _cause(err)
            return ChannelReport(channel=delivery.channel, success=False, error=f"{kind}: {reason}")
        return report

    async def _feature(self, context: JobContext, plan: RoutePlan, payload: dict[str, Any]) -> Any:
        assert plan.workflow_type is not None
        info = workflow.info()
        try:
            return await workflow.execute_child_workflow(
                plan.workflow_type,
                payload,
                id=f"{info.workflow_id}/feature/{context.event}",
                task_queue=plan.task_queue or info.task_queue,
                static_summary=f"feature {context.event} of job {context.job_id}",
            )
        except ChildWorkflowError as err:
            if is_cancelled_exception(err):
                raise
            kind, reason = _cause(err)
            kind = "FEATURE_FAILED" if kind == "ACTIVITY_FAILED" else kind
            raise ApplicationError(
                f"feature {context.event} ({plan.workflow_type}) failed: {reason}", type=kind, non_retryable=True
            ) from err

    async def _options(self, context: JobContext, plan: RoutePlan, payload: dict[str, Any]) -> RouteResult:
        order = list(enumerate(plan.options))
        if plan.kind == "quota":
            order = _by_weight(order)
        failed: list[OptionFailure] = []
        for index, option in order:
            option_context = context.model_copy(update={"event": option.event, "app": option.app})
            try:
                result = await self._run(
                    option.event_type,
                    option.activity,
                    option_context,
                    overlay(option.input, payload),
                    timedelta(milliseconds=option.timeout_ms),
                )
            except ApplicationError as err:
                failed.append(OptionFailure(option=option.label, error=f"{err.type}: {err.message}"))
                continue
            return RouteResult(option=option.label, index=index, result=result, failed=failed)
        raise ApplicationError(
            f"{plan.kind} {context.event}: every option failed ("
            + "; ".join(f"{f.option}: {f.error}" for f in failed)
            + ")",
            [f.model_dump() for f in failed],
            type="ALL_OPTIONS_FAILED",
            non_retryable=True,
        )


def overlay(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """``top`` laid over ``base``: objects are merged key by key, any other value of ``top`` wins."""
    merged = dict(base)
    for key, value in top.items():
        below = merged.get(key)
        merged[key] = overlay(below, value) if isinstance(below, dict) and isinstance(value, dict) else value
    return merged


def _by_weight(options: list[tuple[int, RouteOption]]) -> list[tuple[int, RouteOption]]:
    """A weighted draw without replacement: the first pick is proportional to weight, and so on.

    ``workflow.random()`` is seeded by the run, so a replay draws the same order.
    """
    left = list(options)
    ordered: list[tuple[int, RouteOption]] = []
    rng = workflow.random()
    while left:
        point = rng.uniform(0, sum(option.weight for _, option in left))
        for position, (_, option) in enumerate(left):
            point -= option.weight
            if point < 0 or position == len(left) - 1:
                ordered.append(left.pop(position))
                break
    return ordered
