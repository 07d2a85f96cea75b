"""The jobs' own metrics, recorded from workflow code on Temporal's meter (workflow code: no I/O).

They appear on the worker's Prometheus endpoint next to Temporal's runtime metrics, labelled by
product, env and event type (never by job ID or input: labels must stay few and hold no data).
The SDK's workflow meter skips recording during replay, so a job is counted once.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from ductape_jobs.workflows.contracts.job import JobWorkflowInput
    from ductape_jobs.workflows.names import SCHEDULED_START

STARTED = "ductape_jobs_started"
COMPLETED = "ductape_jobs_completed"
FAILED = "ductape_jobs_failed"
LATENESS = "ductape_job_start_lateness"


def _labels(job: JobWorkflowInput) -> dict[str, str | int | float | bool]:
    return {"product": job.product, "env": job.env, "event_type": job.event_type.value}


def record_start(job: JobWorkflowInput, start_at: datetime | None, *, armed: bool = False) -> None:
    """Count a started run and how late it started against its nominal time ``start_at`` (None: the
    schedule's time of the run, else its start); an armed run's lateness is recorded by its
    activity, which is what starts at the instant."""
    meter = workflow.metric_meter()
    labels = _labels(job)
    meter.create_counter(STARTED, "Job runs started").add(1, labels)
    if armed:
        return
    info = workflow.info()
    nominal = start_at or info.typed_search_attributes.get(SCHEDULED_START) or info.start_time
    lateness = max(workflow.now() - nominal, timedelta(0))
    meter.create_histogram_timedelta(LATENESS, "Start of a job run after its nominal time", "ms").record(
        lateness, labels
    )


def record_end(job: JobWorkflowInput, *, failed: bool) -> None:
    """Count a run that completed or failed for good."""
    name, description = (FAILED, "Job runs failed") if failed else (COMPLETED, "Job runs completed")
    workflow.metric_meter().create_counter(name, description).add(1, _labels(job))
