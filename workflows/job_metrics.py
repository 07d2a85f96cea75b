"""The jobs' own metrics, recorded from workflow code on Temporal's meter (workflow code: no I/O).

They appear on the worker's Prometheus endpoint next to Temporal's runtime metrics, labelled by
product, env and event type (never by job ID or input: labels must stay few and hold no data).
The SDK's workflow meter skips recording during replay, so a job is counted once.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

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


MISSED = "ductape_jobs_missed_runs"


def record_missed(job: JobWorkflowInput, policy: str) -> None:
    """Count a recurring job's run that came too late for its catch-up policy (it ran nothing)."""
    workflow.metric_meter().create_counter(MISSED, "Job runs missed (catch-up policy)").add(
        1, {**_labels(job), "policy": policy}
    )


WAITS = "ductape_jobs_waits"
WAITS_ENDED = "ductape_jobs_waits_ended"
WAIT = "ductape_job_wait"
WaitReason = Literal["rate_limit", "concurrency", "debounce"]


def wait_labels(product: str, env: str, reason: WaitReason, key_class: str) -> dict[str, str | int | float | bool]:
    """A wait's labels: the key *class* (``$Input{body.userId}``, ``app/action``), never a key's value."""
    return {"product": product, "env": env, "reason": reason, "key_class": key_class}


def record_wait(labels: dict[str, str | int | float | bool]) -> datetime:
    """A job run began waiting (for a rate limit, a concurrency slot, a debounce window); waiting now =
    ``ductape_jobs_waits`` - ``ductape_jobs_waits_ended``. Returns when, for ``record_wait_end``."""
    workflow.metric_meter().create_counter(WAITS, "Job runs that began waiting").add(1, labels)
    return workflow.now()


def record_wait_end(labels: dict[str, str | int | float | bool], since: datetime) -> None:
    meter = workflow.metric_meter()
    meter.create_counter(WAITS_ENDED, "Job runs whose wait ended").add(1, labels)
    meter.create_histogram_timedelta(WAIT, "How long a job run waited", "ms").record(
        max(workflow.now() - since, timedelta(0)), labels
    )
