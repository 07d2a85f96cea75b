"""Dead letters: one-off jobs whose latest run failed for good (its retries spent, or an error no retry
helps). ``jobs.list(status="dead")`` finds them with their error and attempts; ``jobs.retry`` runs one
again under the same job ID, optionally with a corrected input, and the new run names the run it
retries (``retried_from``); ``jobs.retry_many(status="dead", ...)`` does it in bulk.

A dead letter is found on the server (the run's ``Failed``/``TimedOut`` status among one-off job
runs); a run retried since is no longer one, as its job's latest run is the retry.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any, Literal

from temporalio.client import Client, WorkflowExecutionDescription, WorkflowExecutionStatus
from temporalio.common import Priority, WorkflowIDReusePolicy

from ductape_jobs.management.audit import checked_reason
from ductape_jobs.management.bulk_dispatch import Dispatcher
from ductape_jobs.management.queries import JobQueries, decode_cursor, encode_cursor, job_filter, quote
from ductape_jobs.management.records import JobStateError, latest_run
from ductape_jobs.workflows.contracts.instants import to_epoch_ms
from ductape_jobs.workflows.contracts.job import JobInputError
from ductape_jobs.workflows.contracts.management import JobMemo, JobPage, JobRecord, JobStatus
from ductape_jobs.workflows.names import JOB_WORKFLOW

ENDED = (
    WorkflowExecutionStatus.FAILED, WorkflowExecutionStatus.TIMED_OUT,
    WorkflowExecutionStatus.CANCELED, WorkflowExecutionStatus.TERMINATED,
)  # fmt: skip


class DeadLetters(JobQueries):
    """``list(status="dead")`` and ``retry`` of ``ductape_jobs.management.jobs.Jobs``."""

    dispatcher: Dispatcher | None = None
    get: Callable[[str], Awaitable[JobRecord]]
    _audit: Callable[..., Awaitable[None]]

    async def list(
        self,
        *,
        status: JobStatus | Literal["dead"] | None = None,
        recurring: bool | None = None,
        limit: int = 50,
        cursor: str | None = None,
        **filters: Any,
    ) -> JobPage:
        """As ``JobQueries.list``; ``status="dead"`` lists dead letters, newest first, each with its
        ``error_type``, ``error_message`` and ``attempts`` (one-off jobs only).

        Raises:
            JobInputError: a bad filter value or cursor.
        """
        if status != "dead":
            return await super().list(status=status, recurring=recurring, limit=limit, cursor=cursor, **filters)
        if recurring:
            return JobPage(jobs=[], cursor=None)
        query = " AND ".join([
            f"WorkflowType = {quote(JOB_WORKFLOW)}", "TemporalScheduledById IS NULL",
            'ExecutionStatus IN ("Failed", "TimedOut")', *job_filter(**filters),
        ])  # fmt: skip
        _, token = decode_cursor(cursor)
        listing = self.client.list_workflows(query, page_size=limit, next_page_token=token)
        await listing.fetch_next_page(page_size=limit)
        jobs: list[JobRecord] = []
        for execution in listing.current_page or []:
            latest = await self._describe_workflow(execution.id)
            if latest is None or latest.run_id != execution.run_id:
                continue  # retried since (or deleted): its job's latest run is another
            record = await self.get(execution.id)
            if record.dead:
                jobs.append(record)
        token = listing.next_page_token
        return JobPage(jobs=jobs, cursor=encode_cursor("dead", token) if token else None)

    async def retry(
        self,
        job_id: str,
        *,
        input: Mapping[str, Any] | None = None,
        reason: str | None = None,
        bulk: str | None = None,
    ) -> JobRecord:
        """Run a failed (or cancelled) one-off job, or a recurring job's failed latest run, again: a
        new run under the same ID, due now, with the same input or ``input`` (a corrected one,
        checked as a dispatch checks it). The new run's ``retried_from`` names the run it retries.

        Raises:
            JobNotFoundError: no such job. JobStateError: it has not failed.
            JobInputError: ``input`` is invalid (names the field), or ``reason`` is; nothing was started.
        """
        reason = checked_reason(reason)
        workflow = await self._describe_workflow(job_id)
        if workflow is None:
            schedule = await self.require_schedule(job_id)
            latest = latest_run(schedule)
            if latest is None:
                raise JobStateError(f"job {job_id} has no run to retry")
            await self.retry(latest.workflow_id, input=input, reason=reason, bulk=bulk)
            await self._audit(job_id, "retry", reason, bulk, run=latest.workflow_id)
            return await self.get(job_id)
        if workflow.status not in ENDED:
            raise JobStateError(f"job {job_id} has not failed (it is {workflow.status})")
        job_input = await self._first_input(workflow)
        if input is not None:
            job_input["input"] = self._corrected(job_input, input)
        await start_again(self.client, workflow, job_input, now=self.clock(), corrected=input is not None)
        await self._audit(job_id, "retry", reason, bulk, retried_run=workflow.run_id,
                          input_corrected=input is not None or None)  # fmt: skip
        return await self.get(job_id)

    async def _first_input(self, workflow: WorkflowExecutionDescription) -> dict[str, Any]:
        history = await self.client.get_workflow_handle(workflow.id, run_id=workflow.run_id).fetch_history()
        started = history.events[0].workflow_execution_started_event_attributes
        (job_input,) = await self.client.data_converter.decode(started.input.payloads)
        if not isinstance(job_input, dict):
            raise JobStateError(f"job {workflow.id} has no input this version can read")
        return job_input

    def _corrected(self, job_input: Mapping[str, Any], corrected: object) -> dict[str, Any]:
        """``corrected`` checked as the job's dispatch would check its ``input``.

        Raises:
            JobInputError: naming ``input`` (or the field inside it).
        """
        if not isinstance(corrected, Mapping):
            raise JobInputError.one("input", f"must be an object, not {type(corrected).__name__}")
        if self.dispatcher is not None:
            keys = ("product", "env", "app", "event", "event_type")
            data = {k: job_input.get(k) for k in keys if job_input.get(k) is not None}
            data["product_tag"] = data.pop("product", None)
            self.dispatcher.planner.normalise(None, {**data, "input": dict(corrected)})
        return dict(corrected)


async def start_again(
    client: Client, workflow: WorkflowExecutionDescription, job_input: dict[str, Any], *, now: datetime,
    corrected: bool = False,
) -> None:  # fmt: skip
    """Start the ended one-off job ``workflow`` again under its ID with ``job_input``, due ``now``,
    naming the run it retries.

    Raises:
        temporalio.exceptions.WorkflowAlreadyStartedError: it has not failed (only a failed run may be reused).
    """
    memo = JobMemo.model_validate(await workflow.memo())
    memo = memo.model_copy(update={
        "scheduled_at": to_epoch_ms(now), "paused": None, "retried_from": workflow.run_id,
        "input_corrected": corrected or None,
    })  # fmt: skip
    await client.start_workflow(
        JOB_WORKFLOW,
        job_input,
        id=workflow.id,
        task_queue=workflow.task_queue,
        search_attributes=workflow.typed_search_attributes,
        memo=memo.model_dump(mode="json"),
        static_summary=await workflow.static_summary(),
        # Its place in the queue, as first dispatched.
        priority=queued_priority(workflow),
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
    )


def queued_priority(workflow: WorkflowExecutionDescription) -> Priority:
    """The priority and fair share a workflow was started with (the server keeps them)."""
    given = workflow.raw_info.priority
    return Priority(
        priority_key=given.priority_key or None,
        fairness_key=given.fairness_key or None,
        fairness_weight=given.fairness_weight or None,
    )
