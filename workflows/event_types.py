"""The activity and namespace of a job's event type, as the workflow sees them.

Event types are described once, by their descriptors (``ductape_jobs.activities.registry``), which
workflow code cannot import. The planner writes what the workflow needs into the job's input
(``JobWorkflowInput.event_activity`` and ``namespace``; a route option's ``activity``). Jobs and
schedules dispatched before those fields existed carry neither, so the names of the types that
existed then are kept here, frozen: their histories and schedules hold these names. A new event type
never goes in these tables.
"""

from __future__ import annotations

from ductape_jobs.workflows.contracts.job import JobEventType, JobWorkflowInput

ACTIVITY_BEFORE_INPUT_NAMED_IT: dict[JobEventType, str] = {
    JobEventType.ACTION: "ductape.run_action",
    JobEventType.DB_ACTION: "ductape.run_database",
    JobEventType.STORAGE: "ductape.run_storage",
    JobEventType.PUBLISH: "ductape.publish",
    JobEventType.SUBSCRIBE: "ductape.subscribe",
    JobEventType.GRAPH: "ductape.run_graph",
    JobEventType.FUNCTION: "ductape.run_function",
}
"""The one activity of each single-activity type, for jobs whose input does not name it. Frozen."""

NAMESPACE_BEFORE_INPUT_NAMED_IT: dict[JobEventType, str] = {
    JobEventType.ACTION: "actions",
    JobEventType.NOTIFICATION: "notifications",
    JobEventType.DB_ACTION: "database",
    JobEventType.STORAGE: "storage",
    JobEventType.PUBLISH: "events",
    JobEventType.GRAPH: "graphs",
    JobEventType.FEATURE: "workflows",
}
"""The dispatch namespace of each type that had one, for jobs whose input does not name it. Frozen."""


def event_activity(event_type: JobEventType, named: str | None) -> str | None:
    """The activity that runs an event of ``event_type``: the one its input names (``named``), else the
    one jobs of that type ran before inputs named it; None: the workflow orchestrates it."""
    return named or ACTIVITY_BEFORE_INPUT_NAMED_IT.get(event_type)


def job_namespace(job: JobWorkflowInput) -> str | None:
    """The job's ``ductape.<namespace>``, for its events (None: its type has none)."""
    return job.namespace or NAMESPACE_BEFORE_INPUT_NAMED_IT.get(job.event_type)
