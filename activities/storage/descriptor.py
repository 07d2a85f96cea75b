"""The ``storage`` event type's descriptor (``ductape_jobs.activities.event_type``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ductape_jobs.activities.config.product_config import ProductDef
from ductape_jobs.activities.event_type import EventTypeActivities, WorkerResources
from ductape_jobs.activities.storage.checks import check_storage
from ductape_jobs.workflows.contracts.job import JobEventType
from ductape_jobs.workflows.event_types import SPEC_OF


def _build(worker: WorkerResources) -> list[Callable[..., Any]]:
    from ductape_jobs.activities.storage.activity import StorageActivities

    storage = StorageActivities(worker.config, worker.secrets)
    worker.closers.append(storage.aclose)
    return [storage.run_storage]


def _defines(product: ProductDef, event: str, data: Mapping[str, Any]) -> list[str | None]:
    return [tag for tag, s in product.storage.items() if event in s.actions]


STORAGE = EventTypeActivities(
    defines=_defines,
    spec=SPEC_OF[JobEventType.STORAGE],
    build=_build,
    section="storage",
    check=check_storage,
    needs_component=True,
)
