"""Every event type, one line each, what is derived from them, and the activities they share.

Adding an event type: its package under ``activities/`` (config, checks, activity, ``descriptor.py``)
and one line in ``EVENT_TYPES`` below (``docs/adding-an-event-type.md``). The worker, the planner and
the client read only this module's tables.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from ductape_jobs.activities.action.activity import ActionActivities
from ductape_jobs.activities.action.descriptor import ACTION
from ductape_jobs.activities.arming.armed_start import checkpoint
from ductape_jobs.activities.broker.descriptor import PUBLISH, SUBSCRIBE
from ductape_jobs.activities.config.drivers import Importable, Need, database_need, importable, require
from ductape_jobs.activities.config.product_config import ProductConfig
from ductape_jobs.activities.config.secrets import SecretStore
from ductape_jobs.activities.database.descriptor import DATABASE
from ductape_jobs.activities.event_type import ComponentCheck, EventTypeDescriptor, WorkerResources
from ductape_jobs.activities.flow.slots_activity import closed_holders, request_slot
from ductape_jobs.activities.flow.target_pause_activity import set_queue_rate
from ductape_jobs.activities.graph.descriptor import GRAPH
from ductape_jobs.activities.notification.descriptor import NOTIFICATION
from ductape_jobs.activities.routing.descriptor import FALLBACK, FEATURE, FUNCTION, QUOTA
from ductape_jobs.activities.routing.route_activity import RouteActivities
from ductape_jobs.activities.session.placeholder_activity import PlaceholderActivities
from ductape_jobs.activities.session.store import SessionStore
from ductape_jobs.activities.storage.descriptor import STORAGE
from ductape_jobs.activities.webhooks.delivery import JobEventActivities
from ductape_jobs.workflows.contracts.job import EventActivityInput, JobEventType
from ductape_jobs.workflows.names import SEND_NOTIFICATION

EVENT_TYPES: tuple[EventTypeDescriptor, ...] = (
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
"""Every event type a job can run; another is refused at dispatch. ``job`` is not here: a job of type
``job`` is replaced at dispatch by the event of the definition it names."""

DESCRIPTOR_OF: dict[JobEventType, EventTypeDescriptor] = {d.event_type: d for d in EVENT_TYPES}

COMPONENT_CHECKS: dict[JobEventType, ComponentCheck] = {d.event_type: d.check for d in EVENT_TYPES if d.check}
"""The dispatch-time config check of each event type that has one (an action's is the planner's own)."""

NEEDS_COMPONENT = frozenset(d.event_type for d in EVENT_TYPES if d.needs_component)
"""Types whose activity needs the component (``app``); without the config nothing can find it for them."""

DISPATCH_OF: dict[str, EventTypeDescriptor] = {d.dispatch.namespace: d for d in EVENT_TYPES if d.dispatch}
"""``ductape.<namespace>.dispatch`` -> the type it schedules (the client has one attribute each)."""

DISPATCH_NAMESPACE_OF: dict[JobEventType, str] = {d.event_type: d.dispatch.namespace for d in EVENT_TYPES if d.dispatch}
"""The ``ductape.<namespace>`` of each event type that has one (``namespace`` in job records and events)."""

EVENT_TYPE_OF_ACTIVITY: dict[str, JobEventType] = {
    **{d.activity: d.event_type for d in EVENT_TYPES if d.activity},
    SEND_NOTIFICATION: JobEventType.NOTIFICATION,
}
"""The activities that perform a job's event (its target is called from them), and their type: the
armed-start guard wraps these (``ductape_jobs.activities.arming.armed_start``)."""


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
            d.build(worker) if d.section is None or _uses(config, d.section) else _unconfigured(d) for d in EVENT_TYPES
        ]
        events = JobEventActivities(config, secrets, http)
        yield [
            PlaceholderActivities(config, secrets, session_store).resolve_placeholders,
            *(fn for activities in by_type for fn in activities),
            RouteActivities(config, {d.event_type: d.activity for d in EVENT_TYPES}).resolve_route,
            checkpoint,
            events.job_event_targets,
            events.deliver_job_event,
            request_slot,
            closed_holders,
            set_queue_rate,
        ]
    finally:
        for close in worker.closers:
            await close()


def _uses(config: ProductConfig, section: str) -> bool:
    return any(getattr(product, section) for product in config.products.values())


def _unconfigured(descriptor: EventTypeDescriptor) -> list[Callable[..., Any]]:
    return [_refusal(name, descriptor.section or "") for name in descriptor.activity_names]


def _refusal(name: str, section: str) -> Callable[..., Any]:
    @activity.defn(name=name)
    async def refuse(request: EventActivityInput) -> None:
        raise ApplicationError(
            f"this worker's product config has no `{section}` section", type="CONFIG_ERROR", non_retryable=True
        )

    return refuse


def config_needs(config: ProductConfig, secrets: SecretStore | None = None) -> Iterator[Need]:
    """Every part of ``config`` that needs an extra, as each type's descriptor says. A database URL
    written as a ``$Secret{...}`` is read through ``secrets`` when given and set."""
    for tag, product in config.products.items():
        for descriptor in EVENT_TYPES:
            if descriptor.drivers is not None:
                yield from descriptor.drivers(product, f"products.{tag}", secrets)


def require_drivers(
    config: ProductConfig,
    *,
    secrets: SecretStore | None = None,
    session_store_url: str | None = None,
    check: Importable = importable,
) -> None:
    """The worker's check at start: the drivers its config (and session store) needs all import.

    Raises:
        ConfigError: naming each section whose driver is missing and the extra that brings it.
    """
    needs = list(config_needs(config, secrets))
    if session_store_url is not None:
        need = database_need(session_store_url, "the session store (DUCTAPE_SESSION_STORE)")
        if need is not None:
            needs.append(need)
    require(needs, check)
