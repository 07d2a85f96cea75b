"""``JobEventWorkflow``: delivers one job event to each subscribed webhook, durably, with retries.

It runs apart from the job (an abandoned child, or started by the client), so a slow or failing
receiver never delays or fails the job itself. Each webhook's delivery runs to its own end
(delivered, or given up after its retries): one receiver that is down never cuts short the others.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError, RetryState

with workflow.unsafe.imports_passed_through():
    from ductape_jobs.workflows.contracts.management import (
        JobEvent,
        JobEventDeliveries,
        JobEventTargets,
        WebhookDelivery,
        WebhookDeliveryResult,
        WebhookOutcome,
    )
    from ductape_jobs.workflows.names import DELIVER_JOB_EVENT, JOB_EVENT_TARGETS, JOB_EVENT_WORKFLOW

DELIVERY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=10),
    maximum_attempts=25,  # about 3 hours of retries before an event is given up
)

INDEPENDENT_DELIVERIES = "job-event-independent-deliveries"
"""Patch: before it, the first delivery to give up failed the workflow at once and the deliveries
still being retried were abandoned; histories recorded before it replay on that path."""

NOT_DELIVERED = "WEBHOOK_NOT_DELIVERED"
"""Failure type of a run in which at least one webhook was given up; its details carry the
``JobEventDeliveries`` (every webhook's outcome)."""

_STOPPED = {
    RetryState.MAXIMUM_ATTEMPTS_REACHED: f"gave up after {DELIVERY_RETRY.maximum_attempts} attempts",
    RetryState.NON_RETRYABLE_FAILURE: "not retryable",
}


@workflow.defn(name=JOB_EVENT_WORKFLOW)
class JobEventWorkflow:
    """One event, every subscribed webhook, each retried on its own (a success is never re-sent)."""

    @workflow.run
    async def run(self, event: JobEvent) -> JobEventDeliveries:
        """Raises (fails the run with): ApplicationError ``WEBHOOK_NOT_DELIVERED`` once every delivery
        has ended and at least one was given up; the message names each, the details hold all outcomes.
        """
        targets: JobEventTargets = await workflow.execute_activity(
            JOB_EVENT_TARGETS,
            event,
            result_type=JobEventTargets,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(maximum_attempts=5),
        )
        if not workflow.patched(INDEPENDENT_DELIVERIES):
            await asyncio.gather(*(self._send(name, event) for name in targets.names))
            return JobEventDeliveries(names=targets.names)
        outcomes = await asyncio.gather(*(self._outcome(name, event) for name in targets.names))
        result = JobEventDeliveries(names=targets.names, deliveries=list(outcomes))
        failed = [o for o in outcomes if not o.delivered]
        if failed:
            # A failed run is what the Web UI's list and a status filter show at a glance; a completed
            # one with failures inside its (encrypted) result would read as delivered.
            reasons = "; ".join(f"{o.webhook}: {o.error}" for o in failed)
            raise ApplicationError(
                f"{len(failed)} of {len(outcomes)} webhooks not delivered: {reasons}",
                result,
                type=NOT_DELIVERED,
                non_retryable=True,
            )
        return result

    async def _send(self, name: str, event: JobEvent) -> WebhookDeliveryResult:
        result: WebhookDeliveryResult = await workflow.execute_activity(
            DELIVER_JOB_EVENT,
            WebhookDelivery(webhook=name, event=event),
            result_type=WebhookDeliveryResult,
            start_to_close_timeout=timedelta(seconds=60),
            retry_policy=DELIVERY_RETRY,
            summary=f"{event.event} to {name}",
        )
        return result

    async def _outcome(self, name: str, event: JobEvent) -> WebhookOutcome:
        try:
            sent = await self._send(name, event)
        except ActivityError as err:
            if isinstance(err.cause, CancelledError):
                raise  # the run itself is being cancelled
            cause = err.cause
            why = cause.message if isinstance(cause, ApplicationError) else str(cause)
            kind = cause.type if isinstance(cause, ApplicationError) and cause.type else type(cause).__name__
            stopped = _STOPPED.get(err.retry_state) if err.retry_state is not None else None
            error = f"{kind}: {why}" + (f" ({stopped})" if stopped else "")
            return WebhookOutcome(webhook=name, delivered=False, error=error)
        return WebhookOutcome(webhook=name, delivered=True, status=sent.status)
