"""The ``function``, ``feature``, ``fallback`` and ``quota`` event types' descriptors
(``ductape_jobs.activities.event_type``). The last three share ``ductape.resolve_route``, which the
registry adds once."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ductape_jobs.activities.config.product_config import ProductDef
from ductape_jobs.activities.event_type import EventTypeActivities, WorkerResources
from ductape_jobs.activities.routing.checks import check_feature, check_function, check_route
from ductape_jobs.workflows.contracts.job import JobEventType
from ductape_jobs.workflows.event_types import SPEC_OF


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


FUNCTION = EventTypeActivities(
    defines=_tagged("functions"),
    spec=SPEC_OF[JobEventType.FUNCTION],
    build=_functions,
    check=check_function,
)
FEATURE = EventTypeActivities(
    defines=_tagged("features"), spec=SPEC_OF[JobEventType.FEATURE], build=_none, check=check_feature
)
FALLBACK = EventTypeActivities(
    defines=_tagged("fallbacks"),
    spec=SPEC_OF[JobEventType.FALLBACK],
    build=_none,
    check=check_route(JobEventType.FALLBACK),
)
QUOTA = EventTypeActivities(
    defines=_tagged("quotas"), spec=SPEC_OF[JobEventType.QUOTA], build=_none, check=check_route(JobEventType.QUOTA)
)
