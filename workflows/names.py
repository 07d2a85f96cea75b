"""Names shared by the workflow, the activities and the starter: registered names and search attributes.

Workflows call activities by these names (never by importing ``activities/``), so the workflow
sandbox never loads httpx, SQLAlchemy or jose.
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

from workflows.contracts import JobEventType

JOB_WORKFLOW = "JobWorkflow"
DEFAULT_TASK_QUEUE = "ductape-jobs"

RESOLVE_PLACEHOLDERS = "ductape.resolve_placeholders"
"""Verifies the job's session token and resolves ``$Session{...}`` and ``$Now()`` in its input."""

CHECKPOINT = "ductape.checkpoint"
"""Does nothing: the workflow task after it reads the server's clock later than everything the task
before it recorded (``workflows.armed_event``)."""

CANCEL_OUTCOME = "cancel_outcome"
"""Update of ``JobWorkflow`` answering how a cancel request sent just before was decided."""

JOB_EVENT_WORKFLOW = "JobEventWorkflow"
JOB_EVENT_TARGETS = "ductape.job_event_targets"
DELIVER_JOB_EVENT = "ductape.deliver_job_event"

PREPARE_NOTIFICATION = "ductape.prepare_notification"
"""Renders a notification job's input into one delivery per channel (``NotificationPlan``)."""
SEND_NOTIFICATION = "ductape.send_notification"
"""Sends one channel's delivery; the workflow runs one per channel in parallel."""

EVENT_ACTIVITIES: dict[JobEventType, str] = {
    JobEventType.ACTION: "ductape.run_action",
    JobEventType.DB_ACTION: "ductape.run_database",
    JobEventType.PUBLISH: "ductape.publish",
    JobEventType.SUBSCRIBE: "ductape.subscribe",
    JobEventType.STORAGE: "ductape.run_storage",
    JobEventType.FUNCTION: "ductape.run_function",
    JobEventType.GRAPH: "ductape.run_graph",
}
"""The activity that runs each event type; a type missing here is refused at dispatch."""

RESOLVE_ROUTE = "ductape.resolve_route"
"""Reads what a feature, fallback or quota job runs from the product config (``RoutePlan``)."""

ORCHESTRATED_EVENT_TYPES = frozenset(
    {JobEventType.NOTIFICATION, JobEventType.FEATURE, JobEventType.FALLBACK, JobEventType.QUOTA}
)
"""Types the workflow runs as several steps (activities per channel, a child workflow, options)."""

SUPPORTED_EVENT_TYPES = frozenset(EVENT_ACTIVITIES) | ORCHESTRATED_EVENT_TYPES

PRODUCT = SearchAttributeKey.for_keyword("DuctapeProduct")
ENV = SearchAttributeKey.for_keyword("DuctapeEnv")
EVENT_TYPE = SearchAttributeKey.for_keyword("DuctapeEventType")
EVENT = SearchAttributeKey.for_keyword("DuctapeEvent")
APP = SearchAttributeKey.for_keyword("DuctapeApp")
SCHEDULED_AT = SearchAttributeKey.for_datetime("DuctapeScheduledAt")
CANCELLED_AT = SearchAttributeKey.for_datetime("DuctapeCancelledAt")
"""Set on a recurring job's schedule (and its DST companion) by ``cancel`` (``starter.scheduling``)."""
ARM_SHIFT = SearchAttributeKey.for_int("DuctapeArmShift")
"""Seconds a recurring job's schedule fires before each run (``starter.recurring_arming``)."""

SEARCH_ATTRIBUTES = (PRODUCT, ENV, EVENT_TYPE, EVENT, APP, SCHEDULED_AT, CANCELLED_AT, ARM_SHIFT)
"""Every custom search attribute the product registers (values are stored in clear: no secrets)."""

SCHEDULED_START = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")
"""Set by Temporal on a workflow a schedule started: the run's time on the schedule's spec."""
