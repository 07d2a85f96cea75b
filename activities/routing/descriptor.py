"""The ``function``, ``feature``, ``fallback`` and ``quota`` event types' descriptors
(``ductape_jobs.activities.event_type``). The last three share ``ductape.resolve_route``, which the
registry adds once."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ductape_jobs.activities.config.product_config import ProductDef
from ductape_jobs.activities.event_type import Dispatch, EventTypeDescriptor, RequestShape, WorkerResources
from ductape_jobs.activities.routing.checks import check_feature, check_function, check_route
from ductape_jobs.workflows.contracts.dispatch import IWorkflowDispatchInput
from ductape_jobs.workflows.contracts.job import JobEventType
from ductape_jobs.workflows.contracts.route import RUN_FUNCTION


def _functions(worker: WorkerResources) -> list[Callable[..., Any]]:
    from ductape_jobs.activities.routing.function_activity import FunctionActivities

    functions = FunctionActivities(worker.config, worker.secrets, worker.http)
    functions.check_handlers()  # a bad import path stops the worker at start, not a job later
    return [functions.run_function]


def _none(worker: WorkerResources) -> list[Callable[..., Any]]:
    return []


def _tagged(section: str) -> Callable[[ProductDef, str, Mapping[str, Any]], list[str | None]]:
    """A section keyed by the event tag itself: the tag alone names what runs."""

    def defines(product: ProductDef, event: str, data: Mapping[str, Any]) -> list[str | None]:
        return [None] if event in getattr(product, section) else []

    return defines


FUNCTION = EventTypeDescriptor(
    event_type=JobEventType.FUNCTION,
    activity=RUN_FUNCTION,
    defines=_tagged("functions"),
    # IFunctionRequest {payload}.
    request_shape=RequestShape(keys=frozenset({"payload"}), test=lambda i: "payload" in i),
    build=_functions,
    check=check_function,
)
FEATURE = EventTypeDescriptor(
    event_type=JobEventType.FEATURE,
    activity=None,
    dispatch=Dispatch(
        namespace="workflows", model=IWorkflowDispatchInput, component_field=None, event_field="workflow"
    ),
    defines=_tagged("features"),
    build=_none,
    check=check_feature,
)


def _route(event_type: JobEventType, section: str) -> EventTypeDescriptor:
    """A fallback or quota: options tried by ``ductape.resolve_route`` and the workflow."""
    return EventTypeDescriptor(
        event_type=event_type, activity=None, defines=_tagged(section), build=_none, check=check_route(event_type)
    )


FALLBACK = _route(JobEventType.FALLBACK, "fallbacks")
QUOTA = _route(JobEventType.QUOTA, "quotas")
