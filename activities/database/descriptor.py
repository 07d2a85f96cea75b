"""The ``database_action`` event type's descriptor (``ductape_jobs.activities.event_type``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ductape_jobs.activities.config.product_config import ProductDef
from ductape_jobs.activities.database.checks import check_database_job
from ductape_jobs.activities.event_type import EventTypeActivities, WorkerResources
from ductape_jobs.workflows.contracts.job import JobEventType
from ductape_jobs.workflows.event_types import SPEC_OF


def _build(worker: WorkerResources) -> list[Callable[..., Any]]:
    from ductape_jobs.activities.database.activity import DatabaseActivities

    databases = DatabaseActivities(worker.config, worker.secrets)
    worker.closers.append(databases.close)
    return [databases.run_database]


def _defines(product: ProductDef, event: str, data: Mapping[str, Any]) -> list[str | None]:
    return [tag for tag, db in product.databases.items() if event in db.actions]


DATABASE = EventTypeActivities(
    defines=_defines,
    spec=SPEC_OF[JobEventType.DB_ACTION],
    build=_build,
    section="databases",
    check=check_database_job,
    needs_component=True,
)
