"""Every activity the worker registers, bound to the resources they share."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import httpx

from activities.broker_publish import BrokerPublishActivities
from activities.broker_subscribe import BrokerSubscribeActivities, action_target
from activities.database_activity import DatabaseActivities
from activities.function_activity import FunctionActivities
from activities.graph_activity import GraphActivities
from activities.http_action import ActionActivities
from activities.job_events import JobEventActivities
from activities.notification_activity import NotificationActivities
from activities.placeholder_activity import PlaceholderActivities
from activities.product_config import ProductConfig
from activities.route_activity import RouteActivities
from activities.secrets import SecretStore
from activities.session_store import SessionStore
from activities.storage_activity import StorageActivities


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
    databases = DatabaseActivities(config, secrets)
    storage = StorageActivities(config, secrets)
    graphs = GraphActivities(config, secrets)
    try:
        yield [
            PlaceholderActivities(config, secrets, session_store).resolve_placeholders,
            actions.run_action,
            BrokerPublishActivities(config, secrets).publish,
            BrokerSubscribeActivities(config, secrets, action_target(actions)).subscribe,
            storage.run_storage,
            databases.run_database,
            graphs.run_graph,
            *_notification_activities(NotificationActivities(config, secrets, http)),
            _functions(config, secrets, http).run_function,
            RouteActivities(config).resolve_route,
            *_event_activities(JobEventActivities(config, secrets, http)),
        ]
    finally:
        await databases.close()
        await storage.aclose()
        await graphs.aclose()


def _functions(config: ProductConfig, secrets: SecretStore, http: httpx.AsyncClient) -> FunctionActivities:
    functions = FunctionActivities(config, secrets, http)
    functions.check_handlers()  # a bad import path stops the worker at start, not a job later
    return functions


def _event_activities(events: JobEventActivities) -> list[Callable[..., Any]]:
    return [events.job_event_targets, events.deliver_job_event]


def _notification_activities(notifications: NotificationActivities) -> list[Callable[..., Any]]:
    return [notifications.prepare_notification, notifications.send_notification]
