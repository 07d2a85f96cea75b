"""The ``notification`` event type's descriptor (``ductape_jobs.activities.event_type``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from ductape_jobs.activities.config.drivers import Extra, Need
from ductape_jobs.activities.config.product_config import ProductDef
from ductape_jobs.activities.config.secrets import SecretStore
from ductape_jobs.activities.event_type import Dispatch, EventTypeDescriptor, RequestShape, WorkerResources
from ductape_jobs.activities.notification.checks import check_notification
from ductape_jobs.workflows.contracts.dispatch import INotificationDispatchInput
from ductape_jobs.workflows.contracts.job import JobEventType
from ductape_jobs.workflows.names import PREPARE_NOTIFICATION, SEND_NOTIFICATION


def _build(worker: WorkerResources) -> list[Callable[..., Any]]:
    from ductape_jobs.activities.notification.activity import NotificationActivities

    notifications = NotificationActivities(worker.config, worker.secrets, worker.http)
    return [notifications.prepare_notification, notifications.send_notification]


def _defines(product: ProductDef, event: str, data: Mapping[str, Any]) -> list[str | None]:
    slug = data.get("slug") if isinstance(data.get("slug"), str) else None  # seed 000: the slug names it
    return [tag for tag, n in product.notifications.items() if event in n.messages and slug in (None, tag)]


SMTP = Extra("smtp", ("aiosmtplib",))
_CHANNELS = ("push_notification", "email", "sms", "callback")


def _drivers(product: ProductDef, base: str, secrets: SecretStore | None) -> Iterator[Need]:
    for name, notification in product.notifications.items():
        for env, channels in notification.envs.items():
            if channels.email is not None:
                yield Need(f"{base}.notifications.{name}.envs.{env}.email", "SMTP", SMTP)


NOTIFICATION = EventTypeDescriptor(
    event_type=JobEventType.NOTIFICATION,
    activity=None,
    dispatch=Dispatch(namespace="notifications", model=INotificationDispatchInput, component_field="notification"),
    defines=_defines,
    # INotificationRequest: only its keys, and at least one channel given as an object.
    request_shape=RequestShape(
        keys=frozenset({"slug", "language", *_CHANNELS}),
        test=lambda i: any(isinstance(i.get(c), dict) for c in _CHANNELS),
    ),
    drivers=_drivers,
    orchestrated_activities=(PREPARE_NOTIFICATION, SEND_NOTIFICATION),
    build=_build,
    section="notifications",
    check=check_notification,
    needs_component=True,
)
