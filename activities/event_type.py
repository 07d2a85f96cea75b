"""The worker's side of an event type's descriptor: its config section, its activities and its
dispatch-time check. Each event type's package under ``activities/`` defines one in ``descriptor.py``;
``ductape_jobs.activities.registry`` lists them, and the worker and the planner iterate over that list.
The workflow's side (activity name, arming, dispatch namespace) is ``ductape_jobs.workflows.event_types``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ductape_jobs.workflows.event_types import EventTypeSpec

if TYPE_CHECKING:
    import httpx

    from ductape_jobs.activities.action.activity import ActionActivities
    from ductape_jobs.activities.config.product_config import ProductConfig, ProductDef
    from ductape_jobs.activities.config.secrets import SecretStore

ComponentCheck = Callable[["ProductDef", str, "str | None", str, str], "str | None"]
"""``(product, env, component, event, component_field) -> component``: checks a job of one event type
against the product config and returns the component that runs it (found from the event when the
caller named none). Raises ``JobInputError`` naming ``component_field``, ``event`` or ``env``."""

Closer = Callable[[], Awaitable[None]]


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
class EventTypeActivities:
    """An event type as the worker and the planner see it."""

    spec: EventTypeSpec
    """The workflow's side: the same entry as in ``ductape_jobs.workflows.event_types.EVENT_TYPES``."""
    build: Callable[[WorkerResources], list[Callable[..., Any]]]
    """The activities, built when the config has ``section``. It imports the type's client libraries
    itself, so a worker loads only those of the sections it runs."""
    section: str | None = None
    """The product config section it needs; without it each activity fails its jobs at once (CONFIG_ERROR).
    None: always built."""
    check: ComponentCheck | None = None
    """Its dispatch-time check against the product config; None: not checked there."""
    needs_component: bool = False
    """Its activity needs the component (``app``, ``database``...): a client without the config cannot
    find it, so the input must name it."""
    defines: Callable[[ProductDef, str, Mapping[str, Any]], list[str | None]] | None = None
    """The components of a product whose section defines an event tag (None in the list: the tag alone
    names it), for inputs that give no ``type`` (``ductape_jobs.planning.event_inference``); the job's
    input is given too (a notification's ``slug`` narrows it)."""
    orchestrated_activities: tuple[str, ...] = ()
    """The activities of a type the workflow orchestrates (a notification's prepare and send)."""

    @property
    def activity_names(self) -> tuple[str, ...]:
        """Every activity the type registers: its one activity, or the orchestrated ones."""
        return (self.spec.activity,) if self.spec.activity else self.orchestrated_activities
