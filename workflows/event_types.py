"""Every event type a job can run, described once: the workflow's side of each type's descriptor.

A type's entry says which activity runs it (None: the workflow orchestrates it in several steps),
which ``ductape.<namespace>.dispatch`` takes it and with which input model, and which input fields name
its component and its event. Everything else is derived from this table: the activity names the
workflow calls, the types it can arm, the dispatch namespaces of the client, the planner and the job
records. The worker's side of each descriptor (config section, activities, dispatch-time check) is the
type's package under ``activities/``, listed in ``ductape_jobs.activities.registry``; workflow code
cannot import it, so the two sides meet by the activity name (``docs/adding-an-event-type.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from ductape_jobs.workflows.contracts.dispatch import (
    IActionDispatchInput,
    IDatabaseDispatchInput,
    IGraphDispatchInput,
    INotificationDispatchInput,
    IPublishDispatchInput,
    IStorageDispatchInput,
    IWorkflowDispatchInput,
)
from ductape_jobs.workflows.contracts.job import JobEventType


@dataclass(frozen=True, kw_only=True)
class Dispatch:
    """How ``ductape.<namespace>.dispatch`` takes a type's jobs."""

    namespace: str
    """The client attribute (``ductape.actions``) and ``namespace`` in job records and job events."""
    model: type[BaseModel]
    """The namespace's input model (seed 003's ``I...DispatchInput``)."""
    component_field: str | None
    """The input field naming the component (``app``, ``database``...); None: the event alone names it."""
    event_field: str = "event"
    """The input field naming the event."""


@dataclass(frozen=True, kw_only=True)
class EventTypeSpec:
    """The workflow's side of an event type."""

    event_type: JobEventType
    activity: str | None
    """The registered name of the one activity that runs the event; None: the workflow orchestrates it
    (several activities or a child workflow), and it is never armed."""
    dispatch: Dispatch | None = None
    """Its ``ductape.<namespace>.dispatch``; None: scheduled through ``processor.job.schedule`` only."""

    @property
    def armable(self) -> bool:
        """One activity runs the event, so it can be started ahead and claimed at the instant."""
        return self.activity is not None


EVENT_TYPES: tuple[EventTypeSpec, ...] = (
    EventTypeSpec(event_type=JobEventType.ACTION, activity="ductape.run_action",
                  dispatch=Dispatch(namespace="actions", model=IActionDispatchInput, component_field="app")),
    EventTypeSpec(event_type=JobEventType.NOTIFICATION, activity=None,
                  dispatch=Dispatch(namespace="notifications", model=INotificationDispatchInput,
                                    component_field="notification")),
    EventTypeSpec(event_type=JobEventType.DB_ACTION, activity="ductape.run_database",
                  dispatch=Dispatch(namespace="database", model=IDatabaseDispatchInput, component_field="database")),
    EventTypeSpec(event_type=JobEventType.STORAGE, activity="ductape.run_storage",
                  dispatch=Dispatch(namespace="storage", model=IStorageDispatchInput, component_field="storage")),
    EventTypeSpec(event_type=JobEventType.PUBLISH, activity="ductape.publish",
                  dispatch=Dispatch(namespace="events", model=IPublishDispatchInput, component_field="broker")),
    EventTypeSpec(event_type=JobEventType.SUBSCRIBE, activity="ductape.subscribe"),
    EventTypeSpec(event_type=JobEventType.GRAPH, activity="ductape.run_graph",
                  dispatch=Dispatch(namespace="graphs", model=IGraphDispatchInput, component_field="graph")),
    EventTypeSpec(event_type=JobEventType.FUNCTION, activity="ductape.run_function"),
    EventTypeSpec(event_type=JobEventType.FEATURE, activity=None,
                  dispatch=Dispatch(namespace="workflows", model=IWorkflowDispatchInput, component_field=None,
                                    event_field="workflow")),
    EventTypeSpec(event_type=JobEventType.FALLBACK, activity=None),
    EventTypeSpec(event_type=JobEventType.QUOTA, activity=None),
)  # fmt: skip
"""One entry per event type. ``job`` is not here: a job of type ``job`` is replaced at dispatch by the
event of the definition it names."""

SPEC_OF: dict[JobEventType, EventTypeSpec] = {spec.event_type: spec for spec in EVENT_TYPES}

EVENT_ACTIVITIES: dict[JobEventType, str] = {s.event_type: s.activity for s in EVENT_TYPES if s.activity}
"""The activity that runs each single-activity event type."""

ORCHESTRATED_EVENT_TYPES = frozenset(s.event_type for s in EVENT_TYPES if s.activity is None)
"""Types the workflow runs as several steps (activities per channel, a child workflow, options)."""

SUPPORTED_EVENT_TYPES = frozenset(SPEC_OF)
"""Every type a job can run; another is refused at dispatch."""

ARMED_EVENT_TYPES = frozenset(s.event_type for s in EVENT_TYPES if s.armable)
"""Types whose event activity can be started ahead and claimed at the instant
(``ductape_jobs.workflows.arming``)."""

DISPATCH_OF: dict[str, EventTypeSpec] = {s.dispatch.namespace: s for s in EVENT_TYPES if s.dispatch}
"""``ductape.<namespace>.dispatch`` -> the type it schedules."""

DISPATCH_NAMESPACE_OF: dict[JobEventType, str] = {s.event_type: s.dispatch.namespace for s in EVENT_TYPES if s.dispatch}
"""The ``ductape.<namespace>.dispatch`` of each event type (``namespace`` in job records and events)."""
