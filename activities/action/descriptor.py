"""The ``action`` event type's descriptor (``ductape_jobs.activities.event_type``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ductape_jobs.activities.event_type import EventTypeActivities, WorkerResources
from ductape_jobs.workflows.contracts.job import JobEventType
from ductape_jobs.workflows.event_types import SPEC_OF


def _build(worker: WorkerResources) -> list[Callable[..., Any]]:
    return [worker.actions.run_action]


ACTION = EventTypeActivities(
    spec=SPEC_OF[JobEventType.ACTION],
    build=_build,
    # The planner checks an action itself: it also derives the activity's timeout from the app's.
    needs_component=True,
)
