"""The ``notification`` event type's descriptor (``ductape_jobs.activities.event_type``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ductape_jobs.activities.event_type import EventTypeActivities, WorkerResources
from ductape_jobs.activities.notification.checks import check_notification
from ductape_jobs.workflows.contracts.job import JobEventType
from ductape_jobs.workflows.event_types import SPEC_OF
from ductape_jobs.workflows.names import PREPARE_NOTIFICATION, SEND_NOTIFICATION


def _build(worker: WorkerResources) -> list[Callable[..., Any]]:
    from ductape_jobs.activities.notification.activity import NotificationActivities

    notifications = NotificationActivities(worker.config, worker.secrets, worker.http)
    return [notifications.prepare_notification, notifications.send_notification]


NOTIFICATION = EventTypeActivities(
    spec=SPEC_OF[JobEventType.NOTIFICATION],
    orchestrated_activities=(PREPARE_NOTIFICATION, SEND_NOTIFICATION),
    build=_build,
    section="notifications",
    check=check_notification,
    needs_component=True,
)
