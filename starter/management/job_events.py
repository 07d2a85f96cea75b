"""Job events the client emits (scheduled, cancelled, paused, resumed): each a ``JobEventWorkflow``
started on the job's task queue, so delivery is durable and retried without holding up the caller."""

from __future__ import annotations

import secrets as _random
from collections.abc import Callable
from datetime import UTC, datetime

from temporalio.client import Client

from ductape_jobs.activities.config.product_config import ProductConfig
from ductape_jobs.activities.registry import DISPATCH_NAMESPACE_OF
from ductape_jobs.workflows.contracts.instants import to_epoch_ms
from ductape_jobs.workflows.contracts.job import JobEventType
from ductape_jobs.workflows.contracts.management import JobEvent, JobEventJob, JobEventName
from ductape_jobs.workflows.names import JOB_EVENT_WORKFLOW


def wants_events(config: ProductConfig | None, product: str) -> bool:
    """Whether ``product`` has job-event webhooks (a client without the config cannot tell: no)."""
    found = config.products.get(product) if config is not None else None
    return bool(found and found.webhooks)


class JobEventEmitter:
    def __init__(
        self,
        client: Client,
        *,
        task_queue: str,
        config: ProductConfig | None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._client = client
        self._task_queue = task_queue
        self._config = config
        self._clock = clock

    async def emit(
        self,
        name: JobEventName,
        *,
        job_id: str,
        status: str,
        product: str | None,
        env: str | None,
        event_type: str | None,
        scheduled_at: int | None = None,
        execution_count: int | None = None,
    ) -> None:
        """Start the delivery of one event, if the product has webhooks; returns once it is durable."""
        if product is None or env is None or not wants_events(self._config, product):
            return
        delivery_id = f"{job_id}/{name}/{_random.token_hex(6)}"
        namespace = DISPATCH_NAMESPACE_OF.get(JobEventType(event_type)) if event_type else None
        event = JobEvent(
            event=name,
            timestamp=to_epoch_ms(self._clock()),
            delivery_id=delivery_id,
            job=JobEventJob(
                id=job_id,
                status=status,
                namespace=namespace,
                product=product,
                env=env,
                scheduled_at=scheduled_at,
                execution_count=execution_count,
            ),
        )
        await self._client.start_workflow(
            JOB_EVENT_WORKFLOW, event, id=f"job-event:{delivery_id}", task_queue=self._task_queue,
            static_summary=f"{name} {job_id}",
        )  # fmt: skip
