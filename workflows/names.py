"""Names shared by the workflow, the activities and the starter: registered names and search attributes.

Workflows call activities by these names (never by importing ``activities/``), so the workflow
sandbox never loads httpx, SQLAlchemy or jose.
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

JOB_WORKFLOW = "JobWorkflow"
DEFAULT_TASK_QUEUE = "ductape-jobs"

RESOLVE_PLACEHOLDERS = "ductape.resolve_placeholders"
"""Verifies the job's session token and resolves ``$Session{...}`` and ``$Now()`` in its input."""

CHECKPOINT = "ductape.checkpoint"
"""Does nothing: the workflow task after it reads the server's clock later than everything the task
before it recorded (``ductape_jobs.workflows.armed_event``)."""

CANCEL_OUTCOME = "cancel_outcome"
"""Update of ``JobWorkflow`` answering how a cancel request sent just before was decided."""

JOB_AUDIT_WORKFLOW = "JobAudit"
"""One per managed job, ID ``audit:<job ID>``: its history holds the job's audit trail (one signal per action)."""
RECORD_AUDIT = "record"
"""Signal of ``JobAudit``: one ``AuditEntry``."""

JOB_EVENT_WORKFLOW = "JobEventWorkflow"
JOB_EVENT_TARGETS = "ductape.job_event_targets"
DELIVER_JOB_EVENT = "ductape.deliver_job_event"

PREPARE_NOTIFICATION = "ductape.prepare_notification"
"""Renders a notification job's input into one delivery per channel (``NotificationPlan``)."""
SEND_NOTIFICATION = "ductape.send_notification"
"""Sends one channel's delivery; the workflow runs one per channel in parallel."""


CONCURRENCY_SLOTS_WORKFLOW = "ConcurrencySlots"
"""One per concurrency key: hands out its slots in arrival order (``ductape_jobs.workflows.concurrency_slots``)."""
REQUEST_SLOT = "ductape.request_slot"
"""Asks a key's slot keeper for a slot (update-with-start: the keeper is started by its first request)."""
CLOSED_HOLDERS = "ductape.closed_holders"
"""Which slot holders' runs have closed without releasing (a terminated job): their slots are freed."""
SLOT_GRANTED = "slot_granted"
"""Signal of ``JobWorkflow``: its turn came; carries the request's token."""
RELEASE_SLOT = "release"
"""Signal of the slot keeper: a run is done with its slot, or leaves the line; carries the token."""

RATE_QUEUE_MARK = "@rate:"
"""Between the worker's task queue and a rate-limited target in that target's queue name
(``ductape_jobs.activities.config.flow``)."""


TARGET_PAUSE_WORKFLOW = "TargetPause"
"""One per rate-limited target queue while a 429 pauses it (``ductape_jobs.workflows.target_pause``)."""
PAUSE_UNTIL = "pause_until"
"""Signal of ``TargetPause`` (signal-with-start): a target answered 429; pause its queue until then."""
SET_QUEUE_RATE = "ductape.set_queue_rate"
"""Sets a target queue's rate on the server to 0 (paused, for every worker) or back to the workers' own."""
QUEUE_CONFIG_UNSUPPORTED = "QUEUE_CONFIG_UNSUPPORTED"
"""Error type of ``set_queue_rate`` on a server without task-queue config: each worker's own pause holds."""


def target_pause_id(queue: str) -> str:
    """The ``TargetPause`` workflow ID of a rate-limited queue: one pause keeper per target."""
    return f"target-pause:{queue}"


def main_queue(queue: str) -> str:
    """The worker task queue a rate-limited queue belongs to (where its pause keeper runs)."""
    return queue.partition(RATE_QUEUE_MARK)[0]


def rate_limit_target(queue: str) -> str:
    """The target (``<product>/<env>/<app>[/<action>]``) of a rate-limited queue: a metric's key class."""
    return queue.partition(RATE_QUEUE_MARK)[2]


DEBOUNCE_WINDOW_WORKFLOW = "DebounceWindow"
"""One per debounce key: answers when each dispatched job runs, and which one it supersedes."""
SUPERSEDE = "supersede"
"""Update of ``JobWorkflow``: a later job of its debounce burst replaces it (refused once it started)."""

RESOLVE_ROUTE = "ductape.resolve_route"
"""Reads what a feature, fallback or quota job runs from the product config (``RoutePlan``)."""


PRODUCT = SearchAttributeKey.for_keyword("DuctapeProduct")
ENV = SearchAttributeKey.for_keyword("DuctapeEnv")
EVENT_TYPE = SearchAttributeKey.for_keyword("DuctapeEventType")
EVENT = SearchAttributeKey.for_keyword("DuctapeEvent")
APP = SearchAttributeKey.for_keyword("DuctapeApp")
SCHEDULED_AT = SearchAttributeKey.for_datetime("DuctapeScheduledAt")
CANCELLED_AT = SearchAttributeKey.for_datetime("DuctapeCancelledAt")
"""Set on a recurring job's schedule (and its DST companion) by ``cancel`` (``ductape_jobs.scheduling``)."""
ARM_SHIFT = SearchAttributeKey.for_int("DuctapeArmShift")
"""Seconds a recurring job's schedule fires before each run (``ductape_jobs.scheduling.recurring_arming``)."""

SEARCH_ATTRIBUTES = (PRODUCT, ENV, EVENT_TYPE, EVENT, APP, SCHEDULED_AT, CANCELLED_AT, ARM_SHIFT)
"""Every custom search attribute the product registers (values are stored in clear: no secrets)."""

SCHEDULED_START = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")
"""Set by Temporal on a workflow a schedule started: the run's time on the schedule's spec."""
