"""The ``action`` event type's descriptor (``ductape_jobs.activities.event_type``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ductape_jobs.activities.config.product_config import ProductDef
from ductape_jobs.activities.event_type import EventTypeActivities, WorkerResources
from ductape_jobs.workflows.contracts.job import JobEventType
from ductape_jobs.workflows.event_types import SPEC_OF


def _build(worker: WorkerResources) -> list[Callable[..., Any]]:
    return [worker.actions.run_action]


def _defines(product: ProductDef, event: str, data: Mapping[str, Any]) -> list[str | None]:
    return [tag for tag, app in product.apps.items() if event in app.actions]


ACTION = EventTypeActivities(
    defines=_defines,
    spec=SPEC_OF[JobEventType.ACTION],
    build=_build,
    # The planner checks an action itself: it also derives the activity's timeout from the app's.
    needs_component=True,
)
