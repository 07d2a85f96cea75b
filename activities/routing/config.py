"""Product-config sections of the event types that run user code or other events: ``functions``,
``features``, ``fallbacks`` and ``quotas``.

Handlers and workflow classes are named by import path (``package.module:name``); they are imported
by the worker, never by a client that only dispatches.
"""

from __future__ import annotations

import importlib
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from temporalio import workflow

from ductape_jobs.workflows.contracts.job import EventTypeField, JobEventType

DEFAULT_NON_RETRYABLE = ("TypeError", "ValueError", "KeyError", "AttributeError", "NotImplementedError")
"""Exceptions that say the function or its input is wrong: retrying cannot fix them."""


class ConfigImportError(ValueError):
    """An import path of the config does not name an importable object of the right kind."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _import_path(value: str) -> str:
    module, sep, name = value.partition(":")
    if not sep or not module or not name:
        raise ValueError("must be an import path `package.module:name`")
    return value


class FunctionDef(_Strict):
    """A function job's code: a Python callable, or an HTTP function URL."""

    handler: str | None = None
    """``package.module:name`` of a callable taking the payload (sync or async)."""
    url: str | None = None
    """An HTTP endpoint that receives ``{"payload": ...}`` as a JSON POST and answers with the result."""
    headers: dict[str, str] = Field(default_factory=dict)
    """Headers of the HTTP call; ``$Secret{...}`` allowed."""
    timeout_ms: int = Field(30_000, ge=1, le=3_600_000)
    """How long one call may take; a sync callable keeps its thread past it (threads cannot be killed)."""
    non_retryable: list[str] = Field(default_factory=lambda: list(DEFAULT_NON_RETRYABLE))
    """Exception class names (matched along the raised exception's class hierarchy) never retried."""

    @field_validator("handler")
    @classmethod
    def _handler(cls, value: str | None) -> str | None:
        return None if value is None else _import_path(value)

    @model_validator(mode="after")
    def _one_target(self) -> FunctionDef:
        if (self.handler is None) == (self.url is None):
            raise ValueError("set exactly one of `handler` and `url`")
        if self.url is not None and not self.url.startswith(("http://", "https://", "$Secret{")):
            raise ValueError("url: must start with http:// or https://")
        return self

    def load(self) -> Any:
        """The handler callable.

        Raises:
            ConfigImportError: the module cannot be imported, or the name is missing or not callable.
        """
        assert self.handler is not None
        target = _load(self.handler)
        if not callable(target):
            raise ConfigImportError(f"{self.handler} is not callable")
        return target


class FeatureDef(_Strict):
    """A feature: a Temporal workflow class run as a child of the job's workflow."""

    workflow: str
    """``package.module:Class`` of a ``@workflow.defn`` class; the worker registers it."""
    task_queue: str | None = None
    """Run the child on another worker's task queue (which then registers the class itself)."""

    @field_validator("workflow")
    @classmethod
    def _workflow(cls, value: str) -> str:
        return _import_path(value)

    def load(self) -> type:
        """The workflow class.

        Raises:
            ConfigImportError: not importable, or not a ``@workflow.defn`` class.
        """
        target = _load(self.workflow)
        if not isinstance(target, type) or workflow_type_of(target) is None:
            raise ConfigImportError(f"{self.workflow} is not a @workflow.defn class")
        return target


def workflow_type_of(cls: type) -> str | None:
    """The workflow type name a ``@workflow.defn`` class registers under, or None."""
    definition = workflow._Definition.from_class(cls)  # the SDK's own reading of the decorator
    return definition.name if definition is not None else None


class OptionDef(_Strict):
    """One option of a fallback or quota: an event of another type, with its input."""

    type: EventTypeField
    event: str = Field(min_length=1)
    app: str | None = None
    """The component that runs ``event``: an app for an action, a notification, a database..."""
    input: dict[str, Any] = Field(default_factory=dict)
    weight: int = Field(1, ge=1)
    """Quota only: relative share of the jobs this option takes first."""

    @field_validator("type")
    @classmethod
    def _not_nested(cls, value: JobEventType) -> JobEventType:
        if value in (JobEventType.FALLBACK, JobEventType.QUOTA, JobEventType.JOB):
            raise ValueError(f"an option cannot itself be a {value.value}")
        return value


class RouteDef(_Strict):
    """A fallback (options in order until one succeeds) or a quota (options by weight)."""

    options: list[OptionDef] = Field(min_length=1)


def _load(path: str) -> Any:
    module_name, _, name = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ConfigImportError(f"cannot import {module_name!r} for {path}: {err}") from None
    target: Any = module
    for part in name.split("."):
        if not hasattr(target, part):
            raise ConfigImportError(f"{module_name!r} has no {name!r} (from {path})")
        target = getattr(target, part)
    return target
