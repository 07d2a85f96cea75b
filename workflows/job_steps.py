"""The steps around a job's event (workflow code): resolving its placeholders, the context every
event activity gets, and the job-event webhooks it starts."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from ductape_jobs.workflows.contracts.instants import to_epoch_ms
    from ductape_jobs.workflows.contracts.job import (
        ErrorRules,
        JobContext,
        JobWorkflowInput,
        ResolveRequest,
        ResolveResult,
    )
    from ductape_jobs.workflows.contracts.management import JobEvent, JobEventJob
    from ductape_jobs.workflows.event_runner import call_activity
    from ductape_jobs.workflows.event_types import job_namespace
    from ductape_jobs.workflows.names import JOB_EVENT_WORKFLOW, RESOLVE_PLACEHOLDERS
    from ductape_jobs.workflows.placeholders import has_placeholders

RESOLVE_TIMEOUT = timedelta(seconds=30)
# Resolution only fails transiently when the worker itself is unhealthy; bad tokens are non-retryable.
RESOLVE_RETRY = RetryPolicy(maximum_attempts=3)


async def resolved_input(job: JobWorkflowInput) -> dict[str, Any]:
    """The job's input with its session and ``$`` placeholders resolved (by an activity: the token is
    verified with the worker's key); a plain job adds no history events for it."""
    if job.session is None and not has_placeholders(job.input):
        return job.input
    resolved: ResolveResult = await call_activity(
        RESOLVE_PLACEHOLDERS,
        ResolveRequest(product=job.product, env=job.env, session=job.session, input=job.input),
        result_type=ResolveResult,
        attempt_timeout=RESOLVE_TIMEOUT,
        retry=RESOLVE_RETRY,
        summary="resolve session placeholders",
    )
    return resolved.input


def job_context(job: JobWorkflowInput) -> JobContext:
    """Who the job is, as every event activity sees it."""
    return JobContext(
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


def emit_job_event(
    job: JobWorkflowInput, name: str, status: str, *, scheduled_at: datetime | None, error: str | None = None
) -> asyncio.Task[Any] | None:
    """Start a ``JobEventWorkflow`` for ``name`` when the product has webhooks; it is abandoned, so
    delivering never delays or fails the job (only the start is awaited, before closing)."""
    if not job.notify:
        return None
    info = workflow.info()
    delivery_id = f"{info.workflow_id}/{info.run_id}/{name}"
    event = JobEvent(
        event=name,
        timestamp=to_epoch_ms(workflow.now()),
        delivery_id=delivery_id,
        job=JobEventJob(
            id=job.job_id, status=status, namespace=job_namespace(job),
            product=job.product, env=job.env, error=error,
            scheduled_at=to_epoch_ms(scheduled_at) if scheduled_at else None,
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


async def joined(*tasks: asyncio.Task[Any] | None) -> None:
    """Await the starts of the job-event workflows (before the job closes)."""
    for task in tasks:
        if task is not None:
            await task
