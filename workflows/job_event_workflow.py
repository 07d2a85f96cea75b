"""``JobEventWorkflow``: delivers one job event to each subscribed webhook, durably, with retries.

It runs apart from the job (an abandoned child, or started by the client), so a slow or failing
receiver never delays or fails the job itself.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from workflows.management_contracts import JobEvent, JobEventTargets, WebhookDelivery, WebhookDeliveryResult
    from workflows.names import DELIVER_JOB_EVENT, JOB_EVENT_TARGETS, JOB_EVENT_WORKFLOW

DELIVERY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=10),
    maximum_attempts=25,  # about 3 hours of retries before an event is given up
)


@workflow.defn(name=JOB_EVENT_WORKFLOW)
class JobEventWorkflow:
    """One event, every subscribed webhook, each retried on its own (a success is never re-sent)."""

    @workflow.run
    async def run(self, event: JobEvent) -> JobEventTargets:
        targets: JobEventTargets = await workflow.execute_activity(
            JOB_EVENT_TARGETS,
            event,
            result_type=JobEventTargets,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(maximum_attempts=5),
        )
        await asyncio.gather(
            *(
                workflow.execute_activity(
                    DELIVER_JOB_EVENT,
                    WebhookDelivery(webhook=name, event=event),
                    result_type=WebhookDeliveryResult,
                    start_to_close_timeout=timedelta(seconds=60),
                    retry_policy=DELIVERY_RETRY,
                    summary=f"{event.event} to {name}",
                )
                for name in targets.names
            )
        )
        return targets
