"""The ``publish`` and ``subscribe`` event types' descriptors (``ductape_jobs.activities.event_type``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from ductape_jobs.activities.broker.checks import check_publish, check_subscribe
from ductape_jobs.activities.config.drivers import Extra, Need
from ductape_jobs.activities.config.product_config import ProductDef
from ductape_jobs.activities.config.secrets import SecretStore
from ductape_jobs.activities.event_type import Dispatch, EventTypeDescriptor, WorkerResources
from ductape_jobs.workflows.contracts.broker import PUBLISH_ACTIVITY, SUBSCRIBE_ACTIVITY
from ductape_jobs.workflows.contracts.dispatch import IPublishDispatchInput
from ductape_jobs.workflows.contracts.job import JobEventType


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


BROKERS = Extra("brokers", ("redis", "aio_pika", "nats", "aiomqtt"))
"""All four: ``ductape_jobs.activities.broker.clients`` imports every broker's client, whichever kind is used."""


def _drivers(product: ProductDef, base: str, secrets: SecretStore | None) -> Iterator[Need]:
    for name, broker in product.brokers.items():
        for env, broker_env in broker.envs.items():
            yield Need(f"{base}.brokers.{name}.envs.{env}", broker_env.kind, BROKERS)


PUBLISH = EventTypeDescriptor(
    event_type=JobEventType.PUBLISH,
    activity=PUBLISH_ACTIVITY,
    dispatch=Dispatch(namespace="events", model=IPublishDispatchInput, component_field="broker"),
    defines=_publishes,
    drivers=_drivers,
    build=_publish,
    section="brokers",
    check=check_publish,
    needs_component=True,
)
SUBSCRIBE = EventTypeDescriptor(
    event_type=JobEventType.SUBSCRIBE,
    activity=SUBSCRIBE_ACTIVITY,
    defines=_subscribes,
    # The same section as publish: its drivers are checked once, there.
    build=_subscribe,
    section="brokers",
    check=check_subscribe,
    needs_component=True,
)
