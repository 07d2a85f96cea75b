"""``JobWorkflow``: one run of a job, from its durable wait to the result of its event activity."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, FailureError

with workflow.unsafe.imports_passed_through():
    from workflows.contracts import (
        ErrorRules,
        EventActivityInput,
        JobContext,
        JobOutcome,
        JobWorkflowInput,
        ResolveRequest,
        ResolveResult,
        RetrySettings,
    )
    from workflows.names import EVENT_ACTIVITIES, JOB_WORKFLOW, RESOLVE_PLACEHOLDERS
    from workflows.placeholders import has_placeholders

RESOLVE_TIMEOUT = timedelta(seconds=30)
# Resolution only fails transiently when the worker itself is unhealthy; bad tokens are non-retryable.
RESOLVE_RETRY = RetryPolicy(maximum_attempts=3)


def retry_policy(settings: RetrySettings) -> RetryPolicy:
    """The Temporal retry policy of a job's event activity."""
    return RetryPolicy(
        initial_interval=timedelta(milliseconds=settings.initial_delay_ms),
        backoff_coefficient=settings.backoff_multiplier,
        maximum_interval=timedelta(milliseconds=settings.max_delay_ms),
        maximum_attempts=settings.maximum_attempts,
        non_retryable_error_types=list(settings.non_retryable_errors) or None,
    )


@workflow.defn(name=JOB_WORKFLOW)
class JobWorkflow:
    """Sleeps until ``start_at``, resolves placeholders if any, runs the event's activity."""

    @workflow.run
    async def run(self, job: JobWorkflowInput) -> JobOutcome:
        if job.start_at is not None:
            delay = job.start_at - workflow.now()
            if delay > timedelta(0):
                await workflow.sleep(delay, summary=f"until {job.start_at.isoformat()}")

        payload = job.input
        # A plain job adds no history events for resolution: only call it when there is work to do.
        if job.session is not None or has_placeholders(job.input):
            resolved = await _call(
                RESOLVE_PLACEHOLDERS,
                ResolveRequest(product=job.product, env=job.env, session=job.session, input=job.input),
                result_type=ResolveResult,
                attempt_timeout=RESOLVE_TIMEOUT,
                retry=RESOLVE_RETRY,
                summary="resolve session placeholders",
            )
            payload = resolved.input

        activity_name = EVENT_ACTIVITIES.get(job.event_type)
        if activity_name is None:
            raise ApplicationError(
                f"event type {job.event_type.value!r} is not supported by this worker",
                type="UNSUPPORTED_EVENT_TYPE",
                non_retryable=True,
            )
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
        target = f"{job.app}/{job.event}" if job.app else job.event
        result = await _call(
            activity_name,
            EventActivityInput(job=context, input=payload),
            result_type=None,
            attempt_timeout=timedelta(milliseconds=job.timeout_ms),
            retry=retry_policy(job.retry),
            summary=f"{job.event_type.value} {target}",
        )
        return JobOutcome(job_id=job.job_id, event_type=job.event_type, event=job.event, result=result)


async def _call(
    name: str,
    arg: Any,
    *,
    result_type: type | None,
    attempt_timeout: timedelta,
    retry: RetryPolicy,
    summary: str,
) -> Any:
    """Run one activity; its final failure fails the job with the activity's error type and message."""
    try:
        return await workflow.execute_activity(
            name,
            arg,
            result_type=result_type,
            start_to_close_timeout=attempt_timeout,
            retry_policy=retry,
            summary=summary,
        )
    except ActivityError as err:
        cause = err.cause
        kind = cause.type if isinstance(cause, ApplicationError) and cause.type else "ACTIVITY_FAILED"
        reason = cause.message if isinstance(cause, FailureError) else err.message
        raise ApplicationError(f"{summary} failed: {reason}", type=kind, non_retryable=True) from err
