"""Bulk actions by filter: ``jobs.cancel_many / pause_many / resume_many / retry_many / trigger_many``.

The filter is ``jobs.list``'s. The matching jobs are listed first (a snapshot: what the action does
cannot change which jobs it takes), then each is acted on and gets an outcome of its own: ``done``,
``skipped`` with the reason (it was finished, not paused, its event had started...) or ``failed``
with the error. No job is left out silently.

Cancelling one-off jobs runs on the server, as a Temporal batch operation over exactly the listed
runs: it goes on if the client dies, at the rate given, and each job's workflow still decides for
itself (a run whose event started refuses, as for ``jobs.cancel``). Everything else is an update of a
workflow or a call on a schedule, which batch operations cannot send: those run from the client, at
most ``rate`` per second, ``PARALLEL`` at a time.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel
from temporalio.api.batch.v1 import BatchOperationCancellation
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import BatchOperationState
from temporalio.api.workflowservice.v1 import DescribeBatchOperationRequest, StartBatchOperationRequest

from ductape_jobs.management.audit import checked_reason
from ductape_jobs.management.bulk_dispatch import BulkProgress
from ductape_jobs.management.cancelling import cancel_decided
from ductape_jobs.management.queries import JobQueries
from ductape_jobs.management.records import JobNotFoundError, JobStateError
from ductape_jobs.workflows.contracts.job import JobInputError
from ductape_jobs.workflows.contracts.management import JobRecord, JobStatus

BulkAction = Literal["cancel", "pause", "resume", "retry", "trigger"]
ItemOutcome = Literal["done", "skipped", "failed"]

DEFAULT_RATE = 50.0
"""Actions per second by default: a bulk call shares the server with the jobs it manages."""
PARALLEL = 8
"""Client-side actions in flight at once (each waits for its job's workflow to answer)."""
PAGE = 500
SAMPLE = 5
BATCH_POLL = timedelta(milliseconds=500)

FINISHED: frozenset[str] = frozenset({"completed", "failed", "cancelled", "superseded", "missed"})
ACTS_ON: dict[BulkAction, Callable[[str], bool]] = {
    "cancel": lambda status: status not in FINISHED,
    "pause": lambda status: status not in FINISHED and status != "paused",
    "resume": lambda status: status == "paused",
    "retry": lambda status: status in ("failed", "cancelled"),
    "trigger": lambda status: status not in FINISHED,
}
"""The statuses each action is tried on; a job in another is ``skipped``, saying its status."""


class BulkItem(BaseModel):
    job_id: str
    outcome: ItemOutcome
    status_before: JobStatus
    detail: str | None = None
    """Why it was skipped or how it failed."""


class BulkResult(BaseModel):
    """What a ``*_many`` call did (or, on a dry run, would act on)."""

    action: BulkAction
    bulk_id: str
    """Named by each job's audit entry; for a server-side cancel, also the Temporal batch job's ID."""
    dry_run: bool
    matched: int
    """Jobs the filter selected."""
    eligible: int
    """Of those, jobs in a status the action is tried on."""
    sample: list[str]
    """A few of the eligible jobs' IDs."""
    done: int = 0
    skipped: int = 0
    failed: int = 0
    items: list[BulkItem] = []
    """One per matched job (empty on a dry run)."""
    server_side: bool = False
    """Whether the action ran as a Temporal batch operation (cancelling one-off jobs)."""


ProgressCallback = Callable[[BulkProgress], None]


class _Pacer:
    """Spaces starts ``1/rate`` seconds apart."""

    def __init__(self, rate: float) -> None:
        self._gap = 1.0 / rate
        self._next = 0.0

    async def wait(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        start = max(now, self._next)
        self._next = start + self._gap
        await asyncio.sleep(start - now)


class BulkActions(JobQueries):
    """The ``*_many`` part of ``ductape_jobs.management.jobs.Jobs`` (which has the one-job calls they make)."""

    async def cancel_many(self, **options: Any) -> BulkResult:
        """Cancel every job the filter selects that is not finished: one-off jobs in a server-side
        batch (``server_side=False`` sends them from here instead), recurring ones from here.
        Options and errors as ``pause_many``."""
        return await self._many("cancel", **options)

    async def pause_many(
        self,
        *,
        reason: str | None = None,
        dry_run: bool = False,
        rate: float = DEFAULT_RATE,
        on_progress: ProgressCallback | None = None,
        **filters: Any,
    ) -> BulkResult:
        """Pause every job ``jobs.list(**filters)`` selects (``status`` included), at most ``rate``
        per second; ``dry_run`` counts them and names a sample, changing nothing. ``on_progress`` is
        called as items finish. Each job's audit entry carries ``reason`` and the call's ``bulk_id``.

        Raises:
            JobInputError: no filter at all (a bulk call acts on a selection, never on every job by
                default: pass ``product=`` at least), a bad filter, ``rate`` not positive, a bad ``reason``.
        """
        return await self._many("pause", reason=reason, dry_run=dry_run, rate=rate, on_progress=on_progress, **filters)

    async def resume_many(self, **options: Any) -> BulkResult:
        """Resume every paused job the filter selects. Options and errors as ``pause_many``."""
        return await self._many("resume", **options)

    async def retry_many(self, *, input: Mapping[str, Any] | None = None, **options: Any) -> BulkResult:
        """Run every failed or cancelled job the filter selects again (``status="dead"``: the dead
        letters), each with ``input`` if given: a corrected input, which each job checks before its
        retry starts (a job it does not fit is ``failed``, naming the field). Options and errors as
        ``pause_many``."""
        return await self._many("retry", extra={"input": input}, **options)

    async def trigger_many(self, **options: Any) -> BulkResult:
        """Run every unfinished job the filter selects once now. Options and errors as ``pause_many``."""
        return await self._many("trigger", **options)

    async def _many(
        self,
        action: BulkAction,
        *,
        reason: str | None = None,
        dry_run: bool = False,
        rate: float = DEFAULT_RATE,
        on_progress: ProgressCallback | None = None,
        server_side: bool = True,
        extra: Mapping[str, Any] | None = None,
        **filters: Any,
    ) -> BulkResult:
        reason = checked_reason(reason)
        if not any(v is not None for v in filters.values()):
            raise JobInputError.one("filter", "give at least one filter (product, env, status...): no bulk call "
                                              "acts on every job by default")  # fmt: skip
        if not rate > 0:
            raise JobInputError.one("rate", f"must be a positive number of actions per second, not {rate}")
        matched = await self._matching(filters)
        eligible = [r for r in matched if ACTS_ON[action](r.status)]
        result = BulkResult(
            action=action, bulk_id=f"ductape-{action}-{uuid.uuid4().hex[:12]}", dry_run=dry_run, matched=len(matched),
            eligible=len(eligible), sample=[r.job_id for r in eligible[:SAMPLE]],
        )  # fmt: skip
        if dry_run:
            return result
        items = {r.job_id: BulkItem(job_id=r.job_id, outcome="skipped", status_before=r.status,
                                    detail=f"it is {r.status}") for r in matched}  # fmt: skip
        progress = _Progress(len(eligible), on_progress)
        in_batch = [r for r in eligible if not r.recurring] if action == "cancel" and server_side else []
        if in_batch:
            result.server_side = True
            for item in await self._server_cancel(in_batch, result.bulk_id, reason, rate, progress):
                items[item.job_id] = item
        rest = [r for r in eligible if r.job_id not in {b.job_id for b in in_batch}]
        for item in await self._each(action, rest, reason, result.bulk_id, rate, progress, extra or {}):
            items[item.job_id] = item
        result.items = list(items.values())
        for item in result.items:
            setattr(result, item.outcome, getattr(result, item.outcome) + 1)
        return result

    async def _matching(self, filters: dict[str, Any]) -> list[JobRecord]:
        found: list[JobRecord] = []
        cursor = None
        while True:
            page = await self.list(**filters, limit=PAGE, cursor=cursor)
            found.extend(page.jobs)
            if page.cursor is None:
                return found
            cursor = page.cursor

    async def _each(
        self, action: BulkAction, records: list[JobRecord], reason: str | None, bulk: str, rate: float,
        progress: _Progress, extra: Mapping[str, Any],
    ) -> list[BulkItem]:  # fmt: skip
        call: Callable[..., Awaitable[JobRecord]] = getattr(self, action)
        pacer = _Pacer(rate)
        slots = asyncio.Semaphore(PARALLEL)

        async def one(record: JobRecord) -> BulkItem:
            async with slots:
                await pacer.wait()
                try:
                    await call(record.job_id, reason=reason, bulk=bulk, **extra)
                    outcome: ItemOutcome = "done"
                    detail = None
                except (JobStateError, JobNotFoundError) as err:  # it does not apply, unless not yet known
                    undecided = isinstance(err, JobStateError) and err.phase == "undecided"
                    outcome, detail = ("failed" if undecided else "skipped"), str(err)
                except Exception as err:
                    outcome, detail = "failed", f"{type(err).__name__}: {err}"
                progress.step(failed=outcome == "failed")
                return BulkItem(job_id=record.job_id, outcome=outcome, status_before=record.status, detail=detail)

        return list(await asyncio.gather(*(one(r) for r in records)))

    async def _server_cancel(
        self, records: list[JobRecord], bulk: str, reason: str | None, rate: float, progress: _Progress
    ) -> list[BulkItem]:
        """One Temporal batch cancellation over exactly ``records``' runs, then each run's own decision."""
        service = self.client.workflow_service
        await service.start_batch_operation(
            StartBatchOperationRequest(
                namespace=self.client.namespace, job_id=bulk, reason=f"ductape cancel_many: {reason or 'no reason'}",
                executions=[WorkflowExecution(workflow_id=r.job_id) for r in records],
                max_operations_per_second=rate,
                cancellation_operation=BatchOperationCancellation(identity=self.audit.identity),
            )
        )  # fmt: skip
        while True:
            described = await service.describe_batch_operation(
                DescribeBatchOperationRequest(namespace=self.client.namespace, job_id=bulk)
            )
            progress.set(
                described.complete_operation_count + described.failure_operation_count,
                described.failure_operation_count,
            )
            if described.state != BatchOperationState.BATCH_OPERATION_STATE_RUNNING:
                break
            await asyncio.sleep(BATCH_POLL.total_seconds())
        slots = asyncio.Semaphore(PARALLEL * 4)

        async def decided(record: JobRecord) -> BulkItem:
            async with slots:
                outcome = await cancel_decided(self.client, record.job_id)
            item = BulkItem(job_id=record.job_id, outcome="done", status_before=record.status)
            if outcome == "cancelled":
                await self.audit.record(self.audit.entry(record.job_id, "cancel", reason=reason, bulk=bulk))
            elif outcome == "undecided":
                item.outcome = "failed"
                item.detail = ("the batch did not reach it, or it has not decided the cancel yet (is its worker "
                               "running?): jobs.get tells how it ends")  # fmt: skip
            else:
                item.outcome = "skipped"
                item.detail = ("its event had already started: it runs to its end" if outcome == "refused"
                               else "it finished before the cancel reached it")  # fmt: skip
            return item

        return list(await asyncio.gather(*(decided(r) for r in records)))


class _Progress:
    """``on_progress`` of a bulk action: the server's count for its batch part, then one step per job."""

    def __init__(self, total: int, callback: ProgressCallback | None) -> None:
        self._total, self._callback = total, callback
        self._finished = self._failed = 0

    def set(self, finished: int, failed: int) -> None:
        self._finished, self._failed = finished, failed
        self._report()

    def step(self, *, failed: bool) -> None:
        self._finished += 1
        self._failed += failed
        self._report()

    def _report(self) -> None:
        if self._callback is not None:
            self._callback(BulkProgress(done=min(self._finished, self._total), total=self._total, failed=self._failed))
