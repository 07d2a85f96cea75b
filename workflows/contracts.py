"""Data contracts: the seeds' input and result shapes, and the models that cross Temporal.

This module imports nothing else of the project, so every layer can depend on it. It is also
loaded (passed through) inside the workflow sandbox, so nothing here reads the clock or does I/O:
checks that need "now" (an ``endDate`` already past, a token already expired) live in the starter.

Two families of models live here:

* user-facing inputs, validated strictly (``IJobProcessorInput``, the ``I*DispatchInput`` models,
  ``IProductJob``...). They accept the seeds' spellings (``endDate`` and ``end_date``,
  ``product_tag`` and ``product``) and refuse unknown keys, so a typo is an error, not a silent no-op;
* internal models that cross Temporal (``JobWorkflowInput``, activity inputs and results), built
  by the starter from an already validated input and never hand-written by users.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AliasChoices,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

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


DISPATCH_NAMESPACE_OF: dict[JobEventType, str] = {
    JobEventType.ACTION: "actions",
    JobEventType.FEATURE: "workflows",
    JobEventType.NOTIFICATION: "notifications",
    JobEventType.STORAGE: "storage",
    JobEventType.PUBLISH: "events",
    JobEventType.DB_ACTION: "database",
    JobEventType.GRAPH: "graphs",
}
"""The ``ductape.<namespace>.dispatch`` of each event type (``namespace`` in job records and events)."""

EventTypeField = Annotated[JobEventType, BeforeValidator(parse_event_type)]

# --------------------------------------------------------------------------------------------
# Instants

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SECONDS_CUTOFF = 10**11
"""Numbers below this are epoch seconds (the older seeds' examples), at or above it epoch ms."""


def parse_instant(value: object) -> datetime | None:
    """Parse a seed timestamp into an aware UTC datetime; ``0`` means "now" and gives ``None``.

    Accepted: ``0``; epoch milliseconds; a number below 10^11 as epoch seconds; an ISO-8601
    string with a UTC offset (``Z`` or ``+02:00``); a string of digits; an aware ``datetime``.

    Raises:
        ValueError: for booleans, negative numbers, naive datetimes, strings without an offset.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError("must be a timestamp (epoch ms or ISO-8601), not a boolean")
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("datetime must be timezone-aware")
        return value.astimezone(UTC)
    if isinstance(value, int | float):
        return _from_number(float(value))
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise ValueError("must not be empty")
        if text.lstrip("-").replace(".", "", 1).isdigit():
            return _from_number(float(text))
        try:
            parsed = datetime.fromisoformat(text.replace("z", "Z"))
        except ValueError:
            raise ValueError(f"{value!r} is not an ISO-8601 timestamp") from None
        if parsed.tzinfo is None:
            raise ValueError(f"{value!r} has no UTC offset; add 'Z' or '+hh:mm'")
        return parsed.astimezone(UTC)
    raise ValueError("must be epoch milliseconds, epoch seconds or an ISO-8601 string")


def _from_number(number: float) -> datetime | None:
    if math.isnan(number) or math.isinf(number):
        raise ValueError("must be a finite number")
    if number < 0:
        raise ValueError("must not be negative")
    if number == 0:
        return None
    ms = number * 1000 if number < SECONDS_CUTOFF else number
    try:
        return _EPOCH + timedelta(milliseconds=ms)
    except OverflowError:
        raise ValueError("is too far in the future") from None


def to_epoch_ms(value: datetime) -> int:
    """Epoch milliseconds of an aware datetime (the seeds' wire format for times)."""
    return int((value - _EPOCH) // timedelta(milliseconds=1))


def check_time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (use an IANA name like 'Europe/Amsterdam')") from None
    return value


InstantField = Annotated[AwareDatetime | None, BeforeValidator(parse_instant)]
NonEmptyStr = Annotated[str, Field(min_length=1)]

# --------------------------------------------------------------------------------------------
# Shared pieces of the seeds


class _Input(BaseModel):
    """Base of user-facing inputs: strict about unknown keys, both field names and aliases."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, str_strip_whitespace=True)


class ISession(_Input):
    """A user session attached to a job: ``{tag, token}`` or the string ``"tag:token"``."""

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

    def __repr__(self) -> str:  # tokens never reach logs through a repr
        return f"ISession(tag={self.tag!r}, token='***')"

    __str__ = __repr__


class IRetryConfig(_Input):
    """Seed 003's retry strategy; every delay in milliseconds."""

    initial_delay: int = Field(1000, ge=1, validation_alias=AliasChoices("initialDelay", "initial_delay"))
    """Delay before the first retry (default 1 s)."""
    max_delay: int = Field(300_000, ge=1, validation_alias=AliasChoices("maxDelay", "max_delay"))
    """Upper bound of the delay between retries (default 5 min)."""
    backoff_multiplier: float = Field(
        2.0, ge=1.0, le=100.0, validation_alias=AliasChoices("backoffMultiplier", "backoff_multiplier")
    )
    """Growth factor of the delay; 1 gives a fixed delay (default 2)."""
    retryable_errors: list[str] | None = Field(
        None, validation_alias=AliasChoices("retryableErrors", "retryable_errors")
    )
    """If set, only these error types are retried."""
    non_retryable_errors: list[str] = Field(
        default_factory=list, validation_alias=AliasChoices("nonRetryableErrors", "non_retryable_errors")
    )
    """Error types never retried, on top of the built-in ones (4xx other than 408/429...)."""

    @model_validator(mode="after")
    def _delays(self) -> IRetryConfig:
        if self.max_delay < self.initial_delay:
            raise ValueError("maxDelay must not be smaller than initialDelay")
        return self


def _strict_count(value: object, reason: str) -> object:
    """A number written as a number: pydantic's lax mode would read ``true`` as 1 and ``"3"`` as 3."""
    if isinstance(value, bool | str):
        raise ValueError(reason)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class IJobRepeatOptions(_Input):
    """Seed 001's ``repeat``: a cron expression or an interval, bounded by ``limit``/``endDate``."""

    cron: str | None = None
    """Five-field cron expression, evaluated in ``tz`` (UTC by default)."""
    every: int | None = Field(None, gt=0)
    """Interval in milliseconds between runs; a whole number of seconds."""
    limit: int | None = Field(None, ge=1)
    """Number of runs in total; unlimited when absent. Retries do not count."""
    end_date: InstantField = Field(None, validation_alias=AliasChoices("endDate", "end_date"))
    """No run starts after this instant (epoch ms, ISO-8601)."""
    tz: str | None = None
    """IANA time zone for ``cron`` (e.g. ``Europe/Amsterdam``)."""
    catchup: int | None = Field(None, ge=10_000)
    """Extension: how late (ms) a run missed while the server was down may still start (default 60 s).
    Missed runs within it start as one late run (later ones are skipped while it runs)."""
    jitter: int | None = Field(None, ge=0)
    """Extension: each run starts up to this many ms after its time (spreads load); 0 = none."""

    @field_validator("cron")
    @classmethod
    def _cron_text(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be empty")
        return value.strip() if value is not None else None

    @field_validator("every", mode="before")
    @classmethod
    def _every(cls, value: object) -> object:
        return _strict_count(value, "must be a number of milliseconds")

    @field_validator("limit", mode="before")
    @classmethod
    def _limit(cls, value: object) -> object:
        return _strict_count(value, "must be a whole number of runs")

    @field_validator("every")
    @classmethod
    def _whole_seconds(cls, value: int | None) -> int | None:
        if value is not None and (value < 1000 or value % 1000):
            raise ValueError(
                "must be a whole number of seconds in milliseconds (at least 1000); "
                "Temporal schedules have a resolution of one second"
            )
        return value

    @field_validator("tz")
    @classmethod
    def _tz(cls, value: str | None) -> str | None:
        return None if value is None else check_time_zone(value)

    @model_validator(mode="after")
    def _cron_or_every(self) -> IJobRepeatOptions:
        if self.cron is None and self.every is None:
            raise ValueError("needs either `cron` or `every`")
        if self.cron is not None and self.every is not None:
            raise ValueError("set either `cron` or `every`, not both")
        return self


class IDispatchSchedule(_Input):
    """Seed 003's ``schedule`` option: when to start, and how to repeat."""

    start_at: InstantField = None
    """When to start: epoch ms, ISO-8601, or absent/0 for now."""
    cron: str | None = None
    # Typed by IJobRepeatOptions, which validates them (a bool must not pass as 1 on the way).
    every: Any = None
    limit: Any = None
    end_date: Any = Field(None, validation_alias=AliasChoices("endDate", "end_date"))
    tz: str | None = None
    catchup: int | None = None
    jitter: int | None = None

    def repeat(self) -> dict[str, Any] | None:
        """The recurring part in ``IJobRepeatOptions`` form, or None for a one-off job."""
        fields = {
            # `endDate` as the caller wrote it, so an error names `schedule.endDate`.
            "cron": self.cron, "every": self.every, "limit": self.limit, "endDate": self.end_date, "tz": self.tz,
            "catchup": self.catchup, "jitter": self.jitter,
        }  # fmt: skip
        present = {k: v for k, v in fields.items() if v is not None}
        return present or None


class IActionRequest(_Input):
    """Input of an app action; flat inputs are routed by the action activity."""

    query: dict[str, Any] = Field(default_factory=dict)
    params: dict[str, Any] = Field(default_factory=dict)
    body: Any = Field(default_factory=dict)
    headers: dict[str, Any] = Field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# Job scheduling inputs


class _JobOptions(_Input):
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
    """Extension: the event type; inferred (``app`` set means ``action``) when absent."""

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


class IProductJob(_Input):
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
    input: dict[str, Any] = Field(default_factory=dict)
    start_at: AwareDatetime | None = None
    """Run at this instant; ``None`` runs at once (every run a schedule starts)."""
    session: ISession | None = None
    retry: RetrySettings = Field(default_factory=RetrySettings)
    timeout_ms: int = 300_000
    """Start-to-close timeout of one attempt of the event's activity."""
    notify: bool = False
    """The product has job-event webhooks: emit job.started/completed/failed (set at dispatch)."""


class JobOutcome(BaseModel):
    """Result of ``JobWorkflow``."""

    job_id: str
    event_type: JobEventType
    event: str
    result: Any = None
    """The event activity's result (for an action: status, headers, body)."""


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
    session: ISession | None = None
    input: dict[str, Any]


class ResolveResult(BaseModel):
    input: dict[str, Any]


class EventActivityInput(BaseModel):
    """Input of every event activity: who the job is, and its (resolved) input."""

    job: JobContext
    input: dict[str, Any]


class ActionActivityResult(BaseModel):
    """What an app action returns: status, a few headers, and the JSON (or text) body."""

    status: int
    headers: dict[str, str] = Field(default_factory=dict)
    body: Any = None


class JobMemo(BaseModel):
    """Memo kept on every job workflow and schedule, read back by ``ductape.jobs``."""

    scheduled_at: int
    """Epoch ms of the (first) run; a reschedule or trigger updates it."""
    recurring: bool
    event_type: JobEventType
    summary: str
    retries: int = 0
    cron: str | None = None
    every: int | None = None
    tz: str | None = None
    limit: int | None = None
    end_date: int | None = None
    paused: bool | None = None
    """Set by the workflow while a waiting one-off job is paused."""
    definition: dict[str, Any] | None = None
    """A job definition (seed 004) kept on its schedule: the ``IProductJob`` as given."""
    source: Literal["api", "config"] | None = None
    """Where a definition came from; ``apply`` only deletes the ones it created."""


JobStatus = Literal["scheduled", "queued", "running", "completed", "failed", "cancelled", "paused"]


class JobRecord(BaseModel):
    """What ``ductape.jobs.get`` returns."""

    job_id: str
    status: JobStatus
    recurring: bool
    product: str | None = None
    env: str | None = None
    event_type: str | None = None
    event: str | None = None
    app: str | None = None
    summary: str | None = None
    scheduled_at: int | None = None
    """Epoch ms of the (first) run."""
    next_run_at: int | None = None
    """Epoch ms of the next run of a recurring job."""
    started_at: int | None = None
    """When the (latest) run's event activity first started."""
    completed_at: int | None = None
    execution_count: int = 0
    """Runs started so far (1 for a one-off job once it started)."""
    cron: str | None = None
    every: int | None = None
    tz: str | None = None
    limit: int | None = None
    end_date: int | None = None
    retries: int = 0
    """Retries the job allows after its first attempt."""
    retry_count: int | None = None
    """Retries the (latest) run used so far."""
    last_error: str | None = None
    """Error type and message of the latest failure."""
    result: Any = None
    """The result of a completed one-off job."""


# --------------------------------------------------------------------------------------------
# Sessions API (``ductape.sessions``)


class _SessionCall(_Input):
    product: NonEmptyStr = Field(validation_alias=AliasChoices("product", "product_tag"))
    env: str | None = None
    """Accepted for the seeds' shape; session types are per product."""
    tag: NonEmptyStr


class IStartSession(_SessionCall):
    data: dict[str, Any]
    """The session payload; must match the session type's ``schema``."""


class ISessionResult(BaseModel):
    token: str
    """The signed token (send it as ``session: {tag, token}`` or ``"tag:token"``)."""
    refresh_token: str
    """Single use: each refresh returns a new one; reusing an old one revokes the session."""
    expires_at: int
    """Epoch ms when ``token`` expires."""
    refresh_expires_at: int
    session_id: str


class IVerifySession(_SessionCall):
    token: NonEmptyStr


class IVerifyResult(BaseModel):
    valid: bool
    data: dict[str, Any] | None = None
    session_id: str | None = None
    expires_at: int | None = None
    error: str | None = None
    """Error type and reason when not valid (``SESSION_EXPIRED: ...``)."""


class IRefreshSession(_SessionCall):
    refresh_token: NonEmptyStr = Field(validation_alias=AliasChoices("refresh_token", "refreshToken"))


class IRevokeSession(_SessionCall):
    session_id: NonEmptyStr | None = Field(None, validation_alias=AliasChoices("session_id", "sessionId"))
    identifier: NonEmptyStr | None = None
    """The user identifier the session type's ``selector`` names: revokes all their sessions."""

    @model_validator(mode="after")
    def _one(self) -> IRevokeSession:
        if (self.session_id is None) == (self.identifier is None):
            raise ValueError("needs exactly one of `session_id` or `identifier`")
        return self


class IRevokeResult(BaseModel):
    revoked: int


# --------------------------------------------------------------------------------------------
# Controlling a waiting one-off job (JobWorkflow updates and query)

JOB_PHASES = ("waiting", "paused", "running", "done")


class JobState(BaseModel):
    """Where a ``JobWorkflow`` is: waiting for ``start_at``, paused, running its event, or done."""

    phase: Literal["waiting", "paused", "running", "done"]
    start_at: AwareDatetime | None = None


class RescheduleRequest(BaseModel):
    """New start time of a waiting one-off job (``None`` = now)."""

    start_at: AwareDatetime | None = None


class JobPage(BaseModel):
    """One page of ``ductape.jobs.list``; pass ``cursor`` back for the next page (``None``: no more)."""

    jobs: list[JobRecord]
    cursor: str | None = None


class JobRun(BaseModel):
    """One run of a job (each run of a recurring job; each retry of a one-off job)."""

    workflow_id: str
    run_id: str
    status: JobStatus
    started_at: int | None = None
    completed_at: int | None = None
    duration_ms: int | None = None
    error: str | None = None


class JobHistory(BaseModel):
    job_id: str
    total_executions: int
    successful_executions: int
    failed_executions: int
    executions: list[JobRun]


class JobStats(BaseModel):
    """Counts over the runs a filter selects."""

    total: int
    by_status: dict[str, int]
    success_rate: float | None
    """completed / (completed + failed); None when nothing finished."""
    completed_first_try: int
    completed_after_retry: int
    sampled: int
    """How many completed runs were inspected for first-try vs after-retry (at most 500)."""


# --------------------------------------------------------------------------------------------
# Job events (webhooks)

JobEventName = Literal[
    "job.scheduled", "job.started", "job.completed", "job.failed", "job.cancelled", "job.paused", "job.resumed"
]
JOB_EVENT_NAMES: tuple[str, ...] = (
    "job.scheduled", "job.started", "job.completed", "job.failed", "job.cancelled", "job.paused", "job.resumed",
)  # fmt: skip


class JobEventJob(BaseModel):
    id: str
    status: str
    namespace: str | None = None
    product: str
    env: str
    scheduled_at: int | None = None
    execution_count: int | None = None
    error: str | None = None


class JobEvent(BaseModel):
    """What a webhook receives (seed docs' payload): ``{event, timestamp, job: {...}}``."""

    event: JobEventName
    timestamp: int
    """Epoch ms when it happened."""
    job: JobEventJob
    delivery_id: str
    """Unique per event: receivers dedupe on it (delivery is at least once)."""


class JobEventTargets(BaseModel):
    """Webhook names of a product subscribed to an event (no URLs or secrets: those stay in the worker)."""

    names: list[str]


class WebhookDelivery(BaseModel):
    webhook: str
    event: JobEvent


class WebhookDeliveryResult(BaseModel):
    status: int
