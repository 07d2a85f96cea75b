"""Data contracts of scheduling: the seeds' job and dispatch inputs, and what scheduling returns.

User-facing inputs are validated strictly: they accept the seeds' spellings (``endDate`` and
``end_date``, ``product_tag`` and ``product``) and refuse unknown keys, so a typo is an error, not a
silent no-op. Imports only pydantic and other ``ductape_jobs.workflows.contracts`` modules.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, Field, field_validator, model_validator

from ductape_jobs.workflows.contracts.flow_control import (
    ConcurrencyDef,
    DebounceDef,
    FairnessKey,
    FairnessWeight,
    Priority,
)
from ductape_jobs.workflows.contracts.instants import InstantField
from ductape_jobs.workflows.contracts.job import EventTypeField, ISession, NonEmptyStr, StrictInput
from ductape_jobs.workflows.contracts.timing import (
    IDispatchSchedule,
    IJobRepeatOptions,
    IRetryConfig,
    strict_count,
    whole_seconds,
)

# --------------------------------------------------------------------------------------------
# Job scheduling inputs


class _JobOptions(StrictInput):
    """Options every job and every dispatch takes."""

    env: NonEmptyStr
    """Environment slug (``dev``, ``prd``)."""
    product_tag: NonEmptyStr = Field(validation_alias=AliasChoices("product_tag", "product"))
    """The product the job belongs to (``product`` in seed 003)."""
    retries: int = Field(0, ge=0, le=1000)
    """How many times to retry after the first attempt fails."""
    retry: IRetryConfig | None = Field(None, validation_alias=AliasChoices("retry", "retryConfig"))
    """Backoff and error-type rules of the retries."""
    cache: NonEmptyStr | None = None
    """Cache tag: deduplicate or memoize identical jobs."""
    session: ISession | None = None
    """User session whose values ``$Session{...}`` placeholders read."""
    job_id: NonEmptyStr | None = Field(None, max_length=200)
    """Extension: a caller-chosen job ID; dispatching it again returns the existing job."""
    priority: Priority | None = None
    """Extension: 1 (first) to 5 (last) among jobs waiting for a worker; default 3, or the app's or action's."""
    fairness_key: FairnessKey | None = None
    """Extension: jobs share the workers fairly between the values of this key (a tenant): text, or
    ``$Input{path}`` read from the input. Default: the app's or action's, else the product."""
    fairness_weight: FairnessWeight | None = None
    """Extension: this key's share relative to others (default 1)."""
    concurrency: ConcurrencyDef | None = None
    """Extension: at most ``limit`` runs per key value at a time (default: the action's, else the app's)."""
    debounce: DebounceDef | None = None
    """Extension: the last of a burst of dispatches runs (default: the action's, else the app's)."""

    @field_validator("retries", mode="before")
    @classmethod
    def _retries(cls, value: object) -> object:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError("must be a whole number")
        if isinstance(value, float):
            if not value.is_integer():
                raise ValueError("must be a whole number")
            return int(value)
        return value

    @field_validator("session", mode="before")
    @classmethod
    def _empty_session(cls, value: object) -> object:
        return None if value == {} or value == "" else value


class IJobProcessorInput(_JobOptions):
    """Seed 001: ``ductape.processor.job.schedule(data)``."""

    event: NonEmptyStr
    """Tag of the event the job runs (an action of ``app``, a notification...)."""
    input: dict[str, Any]
    """Payload of the event; ``{}`` when it takes none."""
    start_at: InstantField = None
    """When to run: 0 = now, epoch ms (epoch s below 10^11), ISO-8601, aware datetime."""
    app: NonEmptyStr | None = None
    """The app an action belongs to."""
    repeat: IJobRepeatOptions | None = None
    """Recurrence; absent for a one-off job."""
    type: EventTypeField | None = Field(None, validation_alias=AliasChoices("type", "event_type"))
    """Extension: the event type; when absent, ``ductape_jobs.planning.event_inference`` infers it
    (README "Which event type?")."""

    @field_validator("repeat", mode="before")
    @classmethod
    def _empty_repeat(cls, value: object) -> object:
        return None if value == {} else value


class _DispatchInput(_JobOptions):
    """Seed 003's ``IDispatchOptions``: the fields every namespace's ``dispatch()`` takes."""

    schedule: IDispatchSchedule | None = None
    """When to run and how to repeat; absent = run once, now."""

    @field_validator("schedule", mode="before")
    @classmethod
    def _empty_schedule(cls, value: object) -> object:
        return None if value == {} else value


class IActionDispatchInput(_DispatchInput):
    """``ductape.actions.dispatch``: run an app action."""

    app: NonEmptyStr
    event: NonEmptyStr
    input: dict[str, Any] = Field(default_factory=dict)


class IWorkflowDispatchInput(_DispatchInput):
    """``ductape.workflows.dispatch``: run a registered workflow (a feature)."""

    workflow: NonEmptyStr = Field(validation_alias=AliasChoices("workflow", "feature", "tag"))
    input: dict[str, Any] = Field(default_factory=dict)


class INotificationDispatchInput(_DispatchInput):
    """``ductape.notifications.dispatch``: send a notification."""

    notification: NonEmptyStr
    event: NonEmptyStr
    input: dict[str, Any] = Field(default_factory=dict)


class IStorageDispatchInput(_DispatchInput):
    """``ductape.storage.dispatch``: a storage operation (``upload``, ``download``...)."""

    storage: NonEmptyStr
    event: NonEmptyStr | None = None
    operation: NonEmptyStr | None = None
    input: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_target(self) -> IStorageDispatchInput:
        _event_or_operation(self.event, self.operation)
        return self


class IPublishDispatchInput(_DispatchInput):
    """``ductape.events.dispatch``: publish to a message broker."""

    broker: NonEmptyStr
    event: NonEmptyStr
    input: dict[str, Any] = Field(default_factory=dict)


class IDatabaseDispatchInput(_DispatchInput):
    """``ductape.database.dispatch``: a named database action or an operation on a table."""

    database: NonEmptyStr
    event: NonEmptyStr | None = None
    operation: NonEmptyStr | None = None
    input: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_target(self) -> IDatabaseDispatchInput:
        _event_or_operation(self.event, self.operation)
        return self


class IGraphDispatchInput(_DispatchInput):
    """``ductape.graphs.dispatch``: a named graph action or a graph operation."""

    graph: NonEmptyStr
    event: NonEmptyStr | None = None
    operation: NonEmptyStr | None = None
    input: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_target(self) -> IGraphDispatchInput:
        _event_or_operation(self.event, self.operation)
        return self


def _event_or_operation(event: str | None, operation: str | None) -> None:
    if (event is None) == (operation is None):
        raise ValueError("needs exactly one of `event` or `operation`")


class IDispatchResult(BaseModel):
    """What ``schedule()`` and every ``dispatch()`` return."""

    job_id: str
    """ID of the job: the workflow ID of a one-off job, the schedule ID of a recurring one."""
    status: Literal["scheduled", "queued", "completed"]
    """``queued`` when due now, ``scheduled`` when it waits for a later time; ``completed`` only for a
    cache hit (``cached``)."""
    scheduled_at: int
    """Epoch ms of the (first) run."""
    recurring: bool
    """Whether the job repeats."""
    next_run_at: int | None = None
    """Epoch ms of the next run, as the server computes it."""
    cached: bool = False
    """True when an identical job with the same cache tag succeeded within the tag's TTL: nothing was
    run, and ``ductape.jobs.result(job_id)`` returns the stored result."""
    supersedes: str | None = None
    """A debounced job: the earlier job of its burst that this one replaced (it will not run; its
    ``jobs.get`` says ``superseded`` by this one)."""


class IProductJob(StrictInput):
    """Seed 004: a named job definition on a product."""

    name: NonEmptyStr
    tag: NonEmptyStr
    event_type: EventTypeField
    event_tag: NonEmptyStr
    executions: int = Field(0, ge=0)
    """Number of runs; 0 = unlimited."""
    intervals: int = Field(gt=0)
    """Milliseconds between runs."""
    start_at: InstantField = None
    env: NonEmptyStr | None = None
    """Extension: the env it runs in (default: the builder's, else the product's first env)."""
    app: NonEmptyStr | None = None
    """Extension: the app of an action (found in the product config when absent)."""
    input: dict[str, Any] = Field(default_factory=dict)
    """Extension: the event's input."""
    retries: int = Field(0, ge=0, le=1000)
    """Extension: retries of each run."""
    priority: Priority | None = None
    """Extension: as a job's ``priority``."""
    fairness_key: FairnessKey | None = None
    """Extension: as a job's ``fairness_key``."""
    concurrency: ConcurrencyDef | None = None
    """Extension: as a job's ``concurrency``."""

    @field_validator("executions", mode="before")
    @classmethod
    def _executions(cls, value: object) -> object:
        return strict_count(value, "must be a whole number of runs (0 = unlimited)")

    @field_validator("intervals", mode="before")
    @classmethod
    def _intervals(cls, value: object) -> object:
        return strict_count(value, "must be a number of milliseconds")

    @field_validator("intervals")
    @classmethod
    def _whole_seconds(cls, value: int) -> int:
        return whole_seconds(value)
