"""An event type, described once: ``EventTypeDescriptor``.

Each event type's package under ``activities/`` defines one in ``descriptor.py``, and
``ductape_jobs.activities.registry`` lists them, one line each. The worker, the planner and the client
iterate over that list; nothing else lists event types. Workflow code cannot import this (it is
activity code): the planner writes the activity a job runs and its namespace into the job's input
(``JobWorkflowInput.event_activity``), so the workflow needs no table of its own
(``docs/adding-an-event-type.md``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from ductape_jobs.workflows.contracts.job import JobEventType

if TYPE_CHECKING:
    import httpx

    from ductape_jobs.activities.action.activity import ActionActivities
    from ductape_jobs.activities.config.drivers import Need
    from ductape_jobs.activities.config.product_config import ProductConfig, ProductDef
    from ductape_jobs.activities.config.secrets import SecretStore

ComponentCheck = Callable[["ProductDef", str, "str | None", str, str], "str | None"]
"""``(product, env, component, event, component_field) -> component``: checks a job of one event type
against the product config and returns the component that runs it (found from the event when the
caller named none). Raises ``JobInputError`` naming ``component_field``, ``event`` or ``env``."""

Defines = Callable[["ProductDef", str, Mapping[str, Any]], "list[str | None]"]
"""``(product, event, input) -> components``: which of a product's components define an event tag
(None in the list: the tag alone names it); the input narrows it (a notification's ``slug``)."""

Drivers = Callable[["ProductDef", str, "SecretStore | None"], "Iterable[Need]"]
"""``(product, key path of the product, secrets) -> needs``: the optional drivers a product's section
needs (``ductape_jobs.activities.config.drivers``)."""

Closer = Callable[[], Awaitable[None]]


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
class RequestShape:
    """A seed request shape a config-less client recognises the type by (a job without ``type``)."""

    keys: frozenset[str]
    """Every key the request may have."""
    test: Callable[[Mapping[str, Any]], bool]
    """What the request must hold besides (a notification: at least one channel object)."""


@dataclass(kw_only=True)
class WorkerResources:
    """What a worker's activities share: built once by ``open_activities``."""

    config: ProductConfig
    secrets: SecretStore
    http: httpx.AsyncClient
    actions: ActionActivities
    """The app-action activity (a subscribe job hands each message to an action)."""
    closers: list[Closer] = field(default_factory=list)
    """Closed when the worker stops (database pools, S3 clients)."""


@dataclass(frozen=True, kw_only=True)
class EventTypeDescriptor:
    """Everything the worker, the planner and the client know of one event type."""

    event_type: JobEventType
    activity: str | None
    """The registered name of the one activity that runs the event; None: the workflow orchestrates it
    (several activities or a child workflow, code under ``workflows/``), and it is never armed."""
    build: Callable[[WorkerResources], list[Callable[..., Any]]]
    """The activities, built when the config has ``section``. It imports the type's client libraries
    itself, so a worker loads only those of the sections it runs."""
    dispatch: Dispatch | None = None
    """Its ``ductape.<namespace>.dispatch``; None: scheduled through ``processor.job.schedule`` only."""
    section: str | None = None
    """The ``ProductDef`` section it needs; without it each activity fails its jobs at once
    (CONFIG_ERROR). None: always built."""
    check: ComponentCheck | None = None
    """Its dispatch-time check against the product config; None: not checked there."""
    needs_component: bool = False
    """Its activity needs the component (``app``, ``database``...): a client without the config cannot
    find it, so the input must name it."""
    defines: Defines | None = None
    """For inputs that give no ``type`` (``ductape_jobs.planning.event_inference``)."""
    request_shape: RequestShape | None = None
    """For inputs that give no ``type`` to a client without the product config."""
    is_operation: Callable[[str], bool] | None = None
    """Whether an event name is one of the built-in operations every component of ``section`` has
    (``query``, ``upload``...), as against a named action of one component."""
    drivers: Drivers | None = None
    """The optional drivers the section needs; a worker without them refuses to start."""
    orchestrated_activities: tuple[str, ...] = ()
    """The activities of a type the workflow orchestrates (a notification's prepare and send)."""

    @property
    def armable(self) -> bool:
        """One activity runs the event, so it can be started ahead and claimed at the instant
        (``ductape_jobs.workflows.arming``)."""
        return self.activity is not None

    @property
    def activity_names(self) -> tuple[str, ...]:
        """Every activity the type registers: its one activity, or the orchestrated ones."""
        return (self.activity,) if self.activity else self.orchestrated_activities
