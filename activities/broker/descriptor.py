"""The ``publish`` and ``subscribe`` event types' descriptors (``ductape_jobs.activities.event_type``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ductape_jobs.activities.broker.checks import check_publish, check_subscribe
from ductape_jobs.activities.config.product_config import ProductDef
from ductape_jobs.activities.event_type import EventTypeActivities, WorkerResources
from ductape_jobs.workflows.contracts.job import JobEventType
from ductape_jobs.workflows.event_types import SPEC_OF


def _publish(worker: WorkerResources) -> list[Callable[..., Any]]:
    from ductape_jobs.activities.broker.publish_activity import BrokerPublishActivities

    return [BrokerPublishActivities(worker.config, worker.secrets).publish]


def _subscribe(worker: WorkerResources) -> list[Callable[..., Any]]:
    from ductape_jobs.activities.broker.subscribe_activity import BrokerSubscribeActivities, action_target

    return [BrokerSubscribeActivities(worker.config, worker.secrets, action_target(worker.actions)).subscribe]


def _publishes(product: ProductDef, event: str, data: Mapping[str, Any]) -> list[str | None]:
    return [tag for tag, broker in product.brokers.items() if event in broker.events]


def _subscribes(product: ProductDef, event: str, data: Mapping[str, Any]) -> list[str | None]:
    """A broker event with a ``target`` is a subscribe job's as well."""
    return [tag for tag, b in product.brokers.items() if event in b.events and b.events[event].target is not None]


PUBLISH = EventTypeActivities(
    defines=_publishes,
    spec=SPEC_OF[JobEventType.PUBLISH],
    build=_publish,
    section="brokers",
    check=check_publish,
    needs_component=True,
)
SUBSCRIBE = EventTypeActivities(
    defines=_subscribes,
    spec=SPEC_OF[JobEventType.SUBSCRIBE],
    build=_subscribe,
    section="brokers",
    check=check_subscribe,
    needs_component=True,
)
