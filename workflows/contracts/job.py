"""Data contracts: the seeds' input and result shapes, and the models that cross Temporal.

This module imports nothing else of the project, so every layer can depend on it. It is also
loaded (passed through) inside the workflow sandbox, so nothing here reads the clock or does I/O:
checks that need "now" (an ``endDate`` already past, a token already expired) live in the starter.

Here: the shared pieces (``JobInputError``, event types, instants, ``StrictInput``) and the models
that cross Temporal (``JobWorkflowInput``, activity inputs and results), built by the starter from an
already validated input and never hand-written by users. The user-facing scheduling inputs are in
``ductape_jobs.workflows.contracts.dispatch``; what the management and sessions APIs return, and job events, in
``ductape_jobs.workflows.contracts.management``; each event type's own shapes in ``workflows.<type>_contracts``.

Rolling deploys: while workers and clients are replaced one by one, a model that crosses Temporal
(workflow and activity inputs and results, memo, query and update payloads) may be decoded by code
older than the code that wrote it. Those models ignore unknown fields (pydantic's default; every model
reachable from a workflow or activity signature is checked by tests/test_rolling_deploy.py). What users
write refuses them (``StrictInput``). A shape on both sides is split: ``SessionRef`` on the wire,
``ISession`` (a strict subclass) where a user writes it.
"""

from __future__ import annotations

from enum import StrEnum
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from ductape_jobs.workflows.contracts.catchup import CatchupSettings
from ductape_jobs.workflows.contracts.concurrency import ConcurrencyLimit

# --------------------------------------------------------------------------------------------
# Errors


class JobInputError(ValueError):
    """Raised for invalid job input, before anything reaches Temporal.

    ``field`` is the dotted path of the first offending field (``repeat.limit``) and ``reason`` says
    what is wrong with it; ``problems`` lists every (field, reason) found.
    """

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        if not problems:
            raise ValueError("JobInputError needs at least one problem")
        self.problems = problems
        self.field, self.reason = problems[0]
        super().__init__("; ".join(f"{f}: {r}" if f else r for f, r in problems))

    @classmethod
    def one(cls, field: str, reason: str) -> JobInputError:
        return cls([(field, reason)])

    @classmethod
    def from_validation(cls, err: ValidationError, prefix: str = "") -> JobInputError:
        """Turn pydantic's error list into one error naming each field by its dotted path."""
        problems: list[tuple[str, str]] = []
        for e in err.errors(include_url=False):
            loc = ".".join(str(p) for p in e["loc"] if not str(p).startswith("function-"))
            loc = f"{prefix}.{loc}" if prefix and loc else (prefix or loc)
            problems.append((loc, _reason(e)))
        return cls(problems)


def _reason(e: Any) -> str:
    kind = e.get("type", "")
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not a known field"
    msg = str(e.get("msg", "is invalid"))
    # pydantic prefixes custom errors with "Value error, "; the field name already says which value.
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix) :]
    return msg


# --------------------------------------------------------------------------------------------
# Event types


class JobEventType(StrEnum):
    """What a job runs (seed 001's ``JobEventTypes``, plus seed 004's ``function`` and ``graph``)."""

    ACTION = "action"
    FEATURE = "feature"
    NOTIFICATION = "notification"
    DB_ACTION = "database_action"
    DATABASE_ACTION = "database_action"  # seed 004's name for the same member (an alias of DB_ACTION)
    JOB = "job"
    STORAGE = "storage"
    PUBLISH = "publish"
    SUBSCRIBE = "subscribe"
    QUOTA = "quota"
    FALLBACK = "fallback"
    FUNCTION = "function"
    GRAPH = "graph"


def parse_event_type(value: object) -> JobEventType:
    """Accept ``"action"`` as well as the seeds' enum spellings ``ACTION``/``DATABASE_ACTION``."""
    if isinstance(value, JobEventType):
        return value
    if not isinstance(value, str):
        raise ValueError("must be a string")
    text = value.strip().lower()
    aliases = {"database_action": "database_action", "db_action": "database_action"}
    text = aliases.get(text, text)
    try:
        return JobEventType(text)
    except ValueError:
        known = ", ".join(t.value for t in JobEventType)
        raise ValueError(f"unknown event type {value!r}; known types: {known}") from None


EventTypeField = Annotated[JobEventType, BeforeValidator(parse_event_type)]

NonEmptyStr = Annotated[str, Field(min_length=1)]

# --------------------------------------------------------------------------------------------
# Shared pieces of the seeds


def absent_when_empty(model: type[BaseModel], value: object) -> object:
    """``value`` without the optional fields of ``model`` given as ``{}``: seed 001, "Optional fields
    can be omitted or passed as empty ``{}``" (``cache: {}``, ``app: {}``, ``repeat: {}``...)."""
    if not isinstance(value, dict) or not value:
        return value
    optional = _optional_keys(model)
    return {k: v for k, v in value.items() if not (k in optional and isinstance(v, dict) and not v)}


@cache
def _optional_keys(model: type[BaseModel]) -> frozenset[str]:
    keys: set[str] = set()
    for name, field in model.model_fields.items():
        if field.is_required():
            continue
        keys.add(name)
        aliases = field.validation_alias
        choices = aliases.choices if isinstance(aliases, AliasChoices) else [aliases, field.alias]
        keys.update(choice for choice in choices if isinstance(choice, str))
    return frozenset(keys)


class StrictInput(BaseModel):
    """Base of user-facing inputs: strict about unknown keys, both field names and aliases; an
    optional field given as ``{}`` is absent (``absent_when_empty``)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, str_strip_whitespace=True)

    @model_validator(mode="before")
    @classmethod
    def _empty_is_absent(cls, value: object) -> object:
        return absent_when_empty(cls, value)


class SessionRef(BaseModel):
    """A job's session as it crosses Temporal (in ``JobWorkflowInput`` and ``ResolveRequest``): lenient
    like every wire model. Users write an ``ISession``, which is one."""

    tag: str
    token: str

    def __repr__(self) -> str:  # tokens never reach logs through a repr
        return f"{type(self).__name__}(tag={self.tag!r}, token='***')"

    __str__ = __repr__


class ISession(SessionRef):
    """A user session attached to a job: ``{tag, token}`` or the string ``"tag:token"``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, str_strip_whitespace=True)  # StrictInput's

    tag: NonEmptyStr
    """Session type, as declared under ``products.<p>.sessions`` in the product config."""
    token: NonEmptyStr
    """The token returned when the session was started (a signed JWT)."""

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: object) -> object:
        if isinstance(value, str):
            tag, sep, token = value.partition(":")
            if not sep or not tag.strip() or not token.strip():
                raise ValueError("must be {tag, token} or a 'tag:token' string")
            return {"tag": tag, "token": token}
        return value


RUN_ACTION = "ductape.run_action"
"""The activity that runs an ``action`` job: one HTTP request to an app's action."""


class IActionRequest(StrictInput):
    """Input of an app action; flat inputs are routed by the action activity."""

    query: dict[str, Any] = Field(default_factory=dict)
    params: dict[str, Any] = Field(default_factory=dict)
    body: Any = Field(default_factory=dict)
    headers: dict[str, Any] = Field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# Models that cross Temporal (built by the starter, never by users)


class RetrySettings(BaseModel):
    """A resolved retry policy: defaults filled in, delays in milliseconds."""

    maximum_attempts: int = Field(1, ge=1)
    initial_delay_ms: int = 1000
    max_delay_ms: int = 300_000
    backoff_multiplier: float = 2.0
    retryable_errors: list[str] | None = None
    non_retryable_errors: list[str] = Field(default_factory=list)


class JobWorkflowInput(BaseModel):
    """Input of ``JobWorkflow``: one run of a job, validated and normalised by the starter."""

    job_id: str
    """The job's ID (for a recurring job, the schedule ID shared by all its runs)."""
    product: str
    env: str
    event_type: JobEventType
    event: str
    app: str | None = None
    event_activity: str | None = None
    """The activity that runs the event, from the type's descriptor; None: the workflow orchestrates it.
    A job dispatched before this field existed has None for every type
    (``ductape_jobs.workflows.event_types`` reads it)."""
    namespace: str | None = None
    """The type's ``ductape.<namespace>`` (None: it has none), for the job's events."""
    input: dict[str, Any] = Field(default_factory=dict)
    start_at: AwareDatetime | None = None
    """Run at this instant; ``None`` runs at once (every run a schedule starts)."""
    session: SessionRef | None = None
    retry: RetrySettings = Field(default_factory=RetrySettings)
    timeout_ms: int = 300_000
    """Start-to-close timeout of one attempt of the event's activity."""
    notify: bool = False
    """The product has job-event webhooks: emit job.started/completed/failed (set at dispatch)."""
    arm_lead_ms: int | None = None
    """Wake this long before ``start_at`` and hand the event to its activity, which starts the work at
    ``start_at`` exactly (``ductape_jobs.workflows.arming``); ``None`` wakes at ``start_at``."""
    event_task_queue: str | None = None
    """The task queue the event's activity waits on: a rate-limited target's
    (``ductape_jobs.activities.config.flow``); ``None``: the workflow's own."""
    channel_task_queues: dict[str, str] = Field(default_factory=dict)
    """A notification job: the task queue of each rate-limited channel's provider (others: the workflow's)."""
    concurrency: ConcurrencyLimit | None = None
    """The run holds one of its key's slots while its event runs (``ductape_jobs.workflows.slot_keeping``)."""
    debounce_key_class: str | None = None
    """A debounced job: its key as configured, for the wait metrics (its wait is its ``start_at``)."""
    catchup: CatchupSettings | None = None
    """A recurring job's catch-up policy, when it has one (``ductape_jobs.workflows.catch_up``)."""


class JobOutcome(BaseModel):
    """Result of ``JobWorkflow``."""

    job_id: str
    event_type: JobEventType
    event: str
    result: Any = None
    """The event activity's result (for an action: status, headers, body)."""
    superseded_by: str | None = None
    """A debounced job replaced, before it started, by this later job of its burst: nothing ran."""
    missed: str | None = None
    """A recurring job's run that started too late for its catch-up policy: why; nothing ran."""


class ErrorRules(BaseModel):
    """Which error types retry, passed to every event activity so it can classify its failures."""

    retryable_errors: list[str] | None = None
    non_retryable_errors: list[str] = Field(default_factory=list)


class JobContext(BaseModel):
    """Who a job is, as every event activity sees it."""

    job_id: str
    product: str
    env: str
    event: str
    app: str | None = None
    errors: ErrorRules = Field(default_factory=ErrorRules)


class ResolveRequest(BaseModel):
    """Input of the placeholder-resolution activity."""

    product: str
    env: str
    session: SessionRef | None = None
    input: dict[str, Any]


class ResolveResult(BaseModel):
    input: dict[str, Any]


class EventActivityInput(BaseModel):
    """Input of every event activity: who the job is, and its (resolved) input."""

    job: JobContext
    input: dict[str, Any]
    not_before: AwareDatetime | None = None
    """An armed job's start: the activity waits until this instant before its work."""


class ActionActivityResult(BaseModel):
    """What an app action returns: status, a few headers, and the JSON (or text) body."""

    status: int
    headers: dict[str, str] = Field(default_factory=dict)
    body: Any = None


# --------------------------------------------------------------------------------------------
# Controlling a waiting one-off job (JobWorkflow updates and query)

JOB_PHASES = ("waiting", "paused", "armed", "running", "done")


class JobState(BaseModel):
    """Where a ``JobWorkflow`` is: waiting for ``start_at``, paused, armed (its event activity waits for
    the instant: ``ductape_jobs.workflows.arming``), running its event, or done."""

    phase: Literal["waiting", "paused", "armed", "running", "done"]
    start_at: AwareDatetime | None = None
    cancel: Literal["cancelled", "refused"] | None = None
    """How a cancel request ended: ``cancelled`` (the event never starts), ``refused`` (it had
    started and runs to its end); None while none came, or while it is being decided."""


class RescheduleRequest(BaseModel):
    """New start time of a waiting one-off job (``None`` = now)."""

    start_at: AwareDatetime | None = None
