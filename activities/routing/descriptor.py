"""The ``function``, ``feature``, ``fallback`` and ``quota`` event types' descriptors
(``ductape_jobs.activities.event_type``). The last three share ``ductape.resolve_route``, which the
registry adds once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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


FUNCTION = EventTypeActivities(
    spec=SPEC_OF[JobEventType.FUNCTION], build=_functions,
    check=check_function,
)  # fmt: skip
FEATURE = EventTypeActivities(
    spec=SPEC_OF[JobEventType.FEATURE], build=_none, check=check_feature
)  # fmt: skip
FALLBACK = EventTypeActivities(
    spec=SPEC_OF[JobEventType.FALLBACK], build=_none, check=check_route(JobEventType.FALLBACK)
)  # fmt: skip
QUOTA = EventTypeActivities(
    spec=SPEC_OF[JobEventType.QUOTA], build=_none, check=check_route(JobEventType.QUOTA)
)  # fmt: skip
