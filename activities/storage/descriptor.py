"""The ``storage`` event type's descriptor (``ductape_jobs.activities.event_type``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ductape_jobs.activities.event_type import EventTypeActivities, WorkerResources
from ductape_jobs.activities.storage.checks import check_storage
from ductape_jobs.workflows.contracts.job import JobEventType
from ductape_jobs.workflows.event_types import SPEC_OF


def _build(worker: WorkerResources) -> list[Callable[..., Any]]:
    from ductape_jobs.activities.storage.activity import StorageActivities

    storage = StorageActivities(worker.config, worker.secrets)
    worker.closers.append(storage.aclose)
    return [storage.run_storage]


STORAGE = EventTypeActivities(
    spec=SPEC_OF[JobEventType.STORAGE],
    build=_build,
    section="storage",
    check=check_storage,
    needs_component=True,
)
