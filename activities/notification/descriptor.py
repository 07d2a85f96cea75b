"""The ``notification`` event type's descriptor (``ductape_jobs.activities.event_type``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ductape_jobs.activities.config.product_config import ProductDef
from ductape_jobs.activities.event_type import EventTypeActivities, WorkerResources
from ductape_jobs.activities.notification.checks import check_notification
from ductape_jobs.workflows.contracts.job import JobEventType
from ductape_jobs.workflows.event_types import SPEC_OF
from ductape_jobs.workflows.names import PREPARE_NOTIFICATION, SEND_NOTIFICATION


def _build(worker: WorkerResources) -> list[Callable[..., Any]]:
    from ductape_jobs.activities.notification.activity import NotificationActivities

    notifications = NotificationActivities(worker.config, worker.secrets, worker.http)
    return [notifications.prepare_notification, notifications.send_notification]


def _defines(product: ProductDef, event: str, data: Mapping[str, Any]) -> list[str | None]:
    slug = data.get("slug") if isinstance(data.get("slug"), str) else None  # seed 000: the slug names it
    return [tag for tag, n in product.notifications.items() if event in n.messages and slug in (None, tag)]


NOTIFICATION = EventTypeActivities(
    defines=_defines,
    spec=SPEC_OF[JobEventType.NOTIFICATION],
    orchestrated_activities=(PREPARE_NOTIFICATION, SEND_NOTIFICATION),
    build=_build,
    section="notifications",
    check=check_notification,
    needs_component=True,
)
