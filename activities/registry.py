"""Every activity the worker registers, bound to the resources they share."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from ductape_jobs.activities.action.activity import ActionActivities
from ductape_jobs.activities.arming.armed_start import checkpoint
from ductape_jobs.activities.config.product_config import ProductConfig
from ductape_jobs.activities.config.secrets import SecretStore
from ductape_jobs.activities.routing.function_activity import FunctionActivities
from ductape_jobs.activities.routing.route_activity import RouteActivities
from ductape_jobs.activities.session.placeholder_activity import PlaceholderActivities
from ductape_jobs.activities.session.store import SessionStore
from ductape_jobs.activities.webhooks.delivery import JobEventActivities
from ductape_jobs.workflows.contracts.job import EventActivityInput, JobEventType
from ductape_jobs.workflows.event_types import EVENT_ACTIVITIES
from ductape_jobs.workflows.names import PREPARE_NOTIFICATION, SEND_NOTIFICATION

Closer = Callable[[], Awaitable[None]]


@asynccontextmanager
async def open_activities(
    config: ProductConfig, secrets: SecretStore, http: httpx.AsyncClient, session_store: SessionStore | None = None
) -> AsyncIterator[Sequence[Callable[..., Any]]]:
    """The activity callables for ``Worker(activities=...)``, for the ``async with``; database pools and
    S3 clients are closed at its end. With a session store, revoked sessions fail.

    Raises:
        ConfigError: a function's handler cannot be imported.
    """
    actions = ActionActivities(config, secrets, http)
    closers: list[Closer] = []
    try:
        yield [
            PlaceholderActivities(config, secrets, session_store).resolve_placeholders,
            actions.run_action,
            *_brokers(config, secrets, actions),
            *_storage(config, secrets, closers),
            *_databases(config, secrets, closers),
            *_graphs(config, secrets, closers),
            *_notifications(config, secrets, http),
            _functions(config, secrets, http).run_function,
            RouteActivities(config).resolve_route,
            checkpoint,
            *_event_activities(JobEventActivities(config, secrets, http)),
        ]
    finally:
        for close in closers:
            await close()


# Each event type's client libraries (S3, brokers, graph drivers, SMTP...) are imported only when the
# product config has a section for it: a worker's memory stays that of the types it runs. A type
# without a section gets an activity that fails its jobs at once, never retried.


def _uses(config: ProductConfig, section: str) -> bool:
    return any(getattr(product, section) for product in config.products.values())


def _unconfigured(name: str, section: str) -> Callable[..., Any]:
    @activity.defn(name=name)
    async def refuse(request: EventActivityInput) -> None:
        raise ApplicationError(
            f"this worker's product config has no `{section}` section", type="CONFIG_ERROR", non_retryable=True
        )

    return refuse


def _brokers(config: ProductConfig, secrets: SecretStore, actions: ActionActivities) -> list[Callable[..., Any]]:
    if not _uses(config, "brokers"):
        return [_unconfigured(EVENT_ACTIVITIES[t], "brokers") for t in (JobEventType.PUBLISH, JobEventType.SUBSCRIBE)]
    from ductape_jobs.activities.broker.publish_activity import BrokerPublishActivities
    from ductape_jobs.activities.broker.subscribe_activity import BrokerSubscribeActivities, action_target

    return [
        BrokerPublishActivities(config, secrets).publish,
        BrokerSubscribeActivities(config, secrets, action_target(actions)).subscribe,
    ]


def _storage(config: ProductConfig, secrets: SecretStore, closers: list[Closer]) -> list[Callable[..., Any]]:
    if not _uses(config, "storage"):
        return [_unconfigured(EVENT_ACTIVITIES[JobEventType.STORAGE], "storage")]
    from ductape_jobs.activities.storage.activity import StorageActivities

    storage = StorageActivities(config, secrets)
    closers.append(storage.aclose)
    return [storage.run_storage]


def _databases(config: ProductConfig, secrets: SecretStore, closers: list[Closer]) -> list[Callable[..., Any]]:
    if not _uses(config, "databases"):
        return [_unconfigured(EVENT_ACTIVITIES[JobEventType.DB_ACTION], "databases")]
    from ductape_jobs.activities.database.activity import DatabaseActivities

    databases = DatabaseActivities(config, secrets)
    closers.append(databases.close)
    return [databases.run_database]


def _graphs(config: ProductConfig, secrets: SecretStore, closers: list[Closer]) -> list[Callable[..., Any]]:
    if not _uses(config, "graphs"):
        return [_unconfigured(EVENT_ACTIVITIES[JobEventType.GRAPH], "graphs")]
    from ductape_jobs.activities.graph.activity import GraphActivities

    graphs = GraphActivities(config, secrets)
    closers.append(graphs.aclose)
    return [graphs.run_graph]


def _notifications(config: ProductConfig, secrets: SecretStore, http: httpx.AsyncClient) -> list[Callable[..., Any]]:
    if not _uses(config, "notifications"):
        return [_unconfigured(name, "notifications") for name in (PREPARE_NOTIFICATION, SEND_NOTIFICATION)]
    from ductape_jobs.activities.notification.activity import NotificationActivities

    notifications = NotificationActivities(config, secrets, http)
    return [notifications.prepare_notification, notifications.send_notification]


def _functions(config: ProductConfig, secrets: SecretStore, http: httpx.AsyncClient) -> FunctionActivities:
    functions = FunctionActivities(config, secrets, http)
    functions.check_handlers()  # a bad import path stops the worker at start, not a job later
    return functions


def _event_activities(events: JobEventActivities) -> list[Callable[..., Any]]:
    return [events.job_event_targets, events.deliver_job_event]
