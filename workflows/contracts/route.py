"""Data contracts of the event types the workflow orchestrates: ``function``, ``feature``, ``fallback``
and ``quota``.

A feature job runs a registered workflow as a child; fallback and quota jobs run other events, one
option at a time. What to run comes from the product config, which only activities may read, so the
workflow first asks ``ductape.resolve_route`` for a ``RoutePlan``. Only pydantic and the shared
``ductape_jobs.workflows.contracts.job`` are imported: this module is passed through the workflow sandbox.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from ductape_jobs.workflows.contracts.job import JobContext, JobEventType

RUN_FUNCTION = "ductape.run_function"
"""The activity that runs a ``function`` job."""


class IFunctionRequest(BaseModel):
    """Ductape's function input: the payload handed to the function."""

    payload: Any = None


class FunctionResult(BaseModel):
    """Output of ``ductape.run_function``: what the function returned (JSON-safe)."""

    result: Any = None


class RouteRequest(BaseModel):
    """Input of ``ductape.resolve_route``."""

    job: JobContext
    event_type: JobEventType
    """``feature``, ``fallback`` or ``quota``."""


class RouteOption(BaseModel):
    """One option of a fallback or quota: an event of another type, with its input."""

    event_type: JobEventType
    event: str
    app: str | None = None
    """The component (app, notification, database...) that runs ``event``."""
    activity: str | None = None
    """The activity that runs it (``JobWorkflowInput.event_activity``)."""
    input: dict[str, Any] = Field(default_factory=dict)
    """The option's own input; the job's input is laid over it key by key."""
    weight: int = 1
    timeout_ms: int = 60_000
    """Start-to-close timeout of one attempt of the option's activity."""
    label: str
    """How the result names the option (``<type> <app>/<event>``)."""


class RoutePlan(BaseModel):
    """Output of ``ductape.resolve_route``: a child workflow to run, or options to try."""

    kind: Literal["feature", "fallback", "quota"]
    workflow_type: str | None = None
    """Feature: the registered workflow type the child runs."""
    task_queue: str | None = None
    """Feature: the child's task queue (None: the job's own)."""
    options: list[RouteOption] = Field(default_factory=list)


class OptionFailure(BaseModel):
    """An option that was tried and failed for good."""

    option: str
    error: str


class RouteResult(BaseModel):
    """Result of a fallback or quota job: which option ran, what it returned, what failed before it."""

    option: str
    """The label of the option that succeeded."""
    index: int
    """Its position in the configured list."""
    result: Any = None
    failed: list[OptionFailure] = Field(default_factory=list)
