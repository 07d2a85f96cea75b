"""The ``action`` event type's descriptor (``ductape_jobs.activities.event_type``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ductape_jobs.activities.config.product_config import ProductDef
from ductape_jobs.activities.event_type import Dispatch, EventTypeDescriptor, WorkerResources
from ductape_jobs.workflows.contracts.dispatch import IActionDispatchInput
from ductape_jobs.workflows.contracts.job import RUN_ACTION, JobEventType


def _build(worker: WorkerResources) -> list[Callable[..., Any]]:
    return [worker.actions.run_action]


def _defines(product: ProductDef, event: str, data: Mapping[str, Any]) -> list[str | None]:
    return [tag for tag, app in product.apps.items() if event in app.actions]


ACTION = EventTypeDescriptor(
    event_type=JobEventType.ACTION,
    activity=RUN_ACTION,
    dispatch=Dispatch(namespace="actions", model=IActionDispatchInput, component_field="app"),
    defines=_defines,
    build=_build,
    # The planner checks an action itself: it also derives the activity's timeout from the app's.
    needs_component=True,
)
