"""Data contracts of the management APIs: job records, runs, history and stats (``ductape.jobs``),
the sessions API (``ductape.sessions``), and job events sent to webhooks. Imports only pydantic and
``ductape_jobs.workflows.contracts.job``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, Field, SerializerFunctionWrapHandler, model_serializer, model_validator

from ductape_jobs.workflows.contracts.audit import AuditEntry
from ductape_jobs.workflows.contracts.job import JobEventType, NonEmptyStr, StrictInput


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
    retried_from: str | None = None
    """A run started by ``jobs.retry``: the run ID of the failed run it retries (same job ID)."""
    input_corrected: bool | None = None
    """That retry ran with a corrected input, not the failed run's."""
    definition: dict[str, Any] | None = None
    """A job definition (seed 004) kept on its schedule: the ``IProductJob`` as given."""
    source: Literal["api", "config"] | None = None
    """Where a definition came from; ``apply`` only deletes the ones it created."""
    dst: dict[str, str] | None = None
    """The ``repeat.dst`` policy as given (absent: the default), kept for ``reschedule``."""
    companion_of: str | None = None
    """Set on a DST companion schedule (``<job_id>~dst``): the job it runs for."""
    arm_shift_s: int | None = None
    """A recurring job whose runs may arm (``ductape_jobs.scheduling.recurring_arming``): its schedule's spec fires
    this many seconds before each nominal time (the workflow adds it back); 0 while its timing does
    not allow arming. None: the job never arms (a session, placeholders, webhooks)."""
    grid_offset_s: int | None = None
    """An armed ``every`` job: its runs are the instants this many seconds past a multiple of
    ``every`` from the epoch (the grid before its shift), how its run tells an early start from a
    trigger. None on every other job."""
    longest_run_s: int | None = None
    """How long one run of a recurring job can take at most (every attempt timing out, with its
    backoff, ``ductape_jobs.planning.plan.longest_run_s``): an armed run must end before the next
    one's shifted start (the schedule skips a run that overlaps). None: not known (a fixed bound applies)."""
    superseded_by: str | None = None
    """Set by the workflow when a later job of its debounce burst replaced it before it started."""
    missed: str | None = None
    """Set by the workflow on a recurring job's run that came too late for its catch-up policy: why."""
    dst_companion: bool | None = None
    """Set on a job's main schedule (its own memo, fixed at creation) when dispatch gave it a DST
    companion: ``list`` and a repeated dispatch know it without describing ``<job_id>~dst``."""

    @model_serializer(mode="wrap")
    def _lean(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Each memo field is a payload of its own (encrypted: ~140 bytes, one cipher operation each):
        # unset fields are left out (every one has a default) to keep memos under the server's 2 KB
        # warning size and dispatch cheap.
        data: dict[str, Any] = handler(self)
        return {key: value for key, value in data.items() if value is not None}


JobStatus = Literal[
    "scheduled", "queued", "running", "completed", "failed", "cancelled", "paused", "superseded", "missed"
]


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
    error_type: str | None = None
    """The latest failure's error type (``SERVER_ERROR``, ``TIMEOUT``...), as a field of its own."""
    error_message: str | None = None
    attempts: int | None = None
    """Attempts the (latest) run's event made (1 + ``retry_count``)."""
    dead: bool = False
    """A dead letter: a one-off job whose latest run failed for good (its retries spent, or an error
    that no retry helps); ``jobs.list(status="dead")`` finds them, ``jobs.retry`` runs one again."""
    run_id: str | None = None
    """The latest run of a one-off job (a retry starts a new one under the same job ID)."""
    retried_from: str | None = None
    """That run retries the run with this ID (``jobs.retry``); ``input_corrected`` if with a new input."""
    input_corrected: bool = False
    result: Any = None
    """The result of a completed one-off job."""
    superseded_by: str | None = None
    """A ``superseded`` debounced job: the later job of its burst that ran instead."""
    last_action: AuditEntry | None = None
    """The latest management action on the job (who, when, why): ``jobs.get`` fills it, ``jobs.list`` does not."""


# --------------------------------------------------------------------------------------------
# Sessions API (``ductape.sessions``)


class _SessionCall(StrictInput):
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


class JobPage(BaseModel):
    """One page of ``ductape.jobs.list``; pass ``cursor`` back for the next page (``None``: no more)."""

    jobs: list[JobRecord]
    cursor: str | None = None


class JobRun(BaseModel):
    """One run of a job (each run of a recurring job; each retry of a one-off job)."""

    workflow_id: str
    run_id: str
    status: JobStatus
    scheduled_at: int | None = None
    """Epoch ms of the run's nominal time: its time in the job's schedule (a triggered run's: the
    trigger's), a one-off job's ``start_at``."""
    started_at: int | None = None
    """Epoch ms when the run's work began: an armed run's nominal time (its workflow starts a few
    seconds early and holds the event until then), else its workflow's start."""
    completed_at: int | None = None
    duration_ms: int | None = None
    error: str | None = None


class JobHistory(BaseModel):
    job_id: str
    total_executions: int
    successful_executions: int
    failed_executions: int
    missed_executions: int = 0
    """Runs that came too late for the job's catch-up policy and ran nothing (status ``missed``)."""
    executions: list[JobRun]
    audit: list[AuditEntry] = Field(default_factory=list)
    """Every management action taken on the job, oldest first (``ductape_jobs.management.audit``)."""


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


class WebhookOutcome(BaseModel):
    """How the delivery of one event to one webhook ended."""

    webhook: str
    delivered: bool
    status: int | None = None
    """The receiver's HTTP status, when delivered."""
    error: str | None = None
    """Why not, when not delivered: ``"<error type>: <message> (<why it stopped>)"``."""


class JobEventDeliveries(BaseModel):
    """``JobEventWorkflow``'s result: the subscribed webhooks and, since deliveries run independently,
    each one's outcome (empty for runs recorded before that)."""

    names: list[str]
    deliveries: list[WebhookOutcome] = Field(default_factory=list)
