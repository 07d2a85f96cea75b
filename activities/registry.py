"""Every event type the worker runs, one line each, and the activities they share.

Adding an event type: its package under ``activities/`` (config, checks, activity, ``descriptor.py``),
its entry in ``ductape_jobs.workflows.event_types``, and one line in ``EVENT_TYPE_ACTIVITIES`` below
(``docs/adding-an-event-type.md``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from ductape_jobs.activities.action.activity import ActionActivities
from ductape_jobs.activities.action.descriptor import ACTION
from ductape_jobs.activities.arming.armed_start import checkpoint
from ductape_jobs.activities.broker.descriptor import PUBLISH, SUBSCRIBE
from ductape_jobs.activities.config.product_config import ProductConfig
from ductape_jobs.activities.config.secrets import SecretStore
from ductape_jobs.activities.database.descriptor import DATABASE
from ductape_jobs.activities.event_type import ComponentCheck, EventTypeActivities, WorkerResources
from ductape_jobs.activities.graph.descriptor import GRAPH
from ductape_jobs.activities.notification.descriptor import NOTIFICATION
from ductape_jobs.activities.routing.descriptor import FALLBACK, FEATURE, FUNCTION, QUOTA
from ductape_jobs.activities.routing.route_activity import RouteActivities
from ductape_jobs.activities.session.placeholder_activity import PlaceholderActivities
from ductape_jobs.activities.session.store import SessionStore
from ductape_jobs.activities.storage.descriptor import STORAGE
from ductape_jobs.activities.webhooks.delivery import JobEventActivities
from ductape_jobs.workflows.contracts.job import EventActivityInput, JobEventType

EVENT_TYPE_ACTIVITIES: tuple[EventTypeActivities, ...] = (
    ACTION,
    NOTIFICATION,
    DATABASE,
    STORAGE,
    PUBLISH,
    SUBSCRIBE,
    GRAPH,
    FUNCTION,
    FEATURE,
    FALLBACK,
    QUOTA,
)
"""The worker's side of every event type (``ductape_jobs.workflows.event_types`` has the workflow's)."""

COMPONENT_CHECKS: dict[JobEventType, ComponentCheck] = {
    d.spec.event_type: d.check for d in EVENT_TYPE_ACTIVITIES if d.check is not None
}
"""The dispatch-time config check of each event type that has one (an action's is the planner's own)."""

NEEDS_COMPONENT = frozenset(d.spec.event_type for d in EVENT_TYPE_ACTIVITIES if d.needs_component)
"""Types whose activity needs the component (``app``); without the config nothing can find it for them."""


@asynccontextmanager
async def open_activities(
    config: ProductConfig, secrets: SecretStore, http: httpx.AsyncClient, session_store: SessionStore | None = None
) -> AsyncIterator[Sequence[Callable[..., Any]]]:
    """The activity callables for ``Worker(activities=...)``, for the ``async with``; database pools and
    S3 clients are closed at its end. With a session store, revoked sessions fail.

    Raises:
        ConfigError: a function's handler cannot be imported.
    """
    worker = WorkerResources(config=config, secrets=secrets, http=http, actions=ActionActivities(config, secrets, http))
    try:
        # Each type's client libraries (S3, brokers, graph drivers, SMTP...) are imported only when the
        # product config has its section: a worker's memory stays that of the types it runs. A type
        # without its section gets activities that fail its jobs at once, never retried.
        by_type = [
            d.build(worker) if d.section is None or _uses(config, d.section) else _unconfigured(d)
            for d in EVENT_TYPE_ACTIVITIES
        ]
        events = JobEventActivities(config, secrets, http)
        yield [
            PlaceholderActivities(config, secrets, session_store).resolve_placeholders,
            *(fn for activities in by_type for fn in activities),
            RouteActivities(config).resolve_route,
            checkpoint,
            events.job_event_targets,
            events.deliver_job_event,
        ]
    finally:
        for close in worker.closers:
            await close()


def _uses(config: ProductConfig, section: str) -> bool:
    return any(getattr(product, section) for product in config.products.values())


def _unconfigured(descriptor: EventTypeActivities) -> list[Callable[..., Any]]:
    return [_refusal(name, descriptor.section or "") for name in descriptor.activity_names]


def _refusal(name: str, section: str) -> Callable[..., Any]:
    @activity.defn(name=name)
    async def refuse(request: EventActivityInput) -> None:
        raise ApplicationError(
            f"this worker's product config has no `{section}` section", type="CONFIG_ERROR", non_retryable=True
        )

    return refuse
