"""``jobs.result``: wait for a job's result, bounded by a deadline that names the job."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from temporalio.client import Client, ScheduleDescription
from temporalio.service import RPCError, RPCStatusCode

from ductape_jobs.management.records import JobNotFoundError, JobTimeoutError
from ductape_jobs.scheduling.dst_schedules import describe_companion, latest_of


class JobWaiting:
    """The ``result`` part of ``ductape_jobs.management.jobs.Jobs``."""

    client: Client
    _workflow_result: Callable[[str, str | None], Awaitable[Any]]
    describe_schedule: Callable[[str], Awaitable[ScheduleDescription | None]]

    # A caller's own asyncio.timeout works too, but ends in a bare CancelledError/TimeoutError naming no job.
    async def result(
        self,
        job_id: str,
        *,
        timeout: timedelta | float | None = None,  # noqa: ASYNC109
        poll: timedelta = timedelta(seconds=1),
    ) -> Any:
        """Wait for the job's result (for a recurring job, its latest run's, waiting for the first).

        ``timeout`` (a timedelta, or seconds) bounds the wait; ``None`` waits as long as the job takes,
        which for a job due next week is a week.

        Raises:
            JobNotFoundError: no such job.
            JobFailedError: the job (or that run) failed or was cancelled.
            JobTimeoutError: no result within ``timeout`` (a ``TimeoutError``; the job is left as it is).
            ValueError: ``timeout`` is not positive.
        """

        async def wait() -> Any:
            try:  # most jobs are one-off: wait on the workflow straight away, one call
                return await self._workflow_result(job_id, None)
            except RPCError as err:
                if err.status != RPCStatusCode.NOT_FOUND:
                    raise
            while True:
                schedule = await self.describe_schedule(job_id)
                if schedule is None:
                    raise JobNotFoundError(f"no job with ID {job_id!r}")
                latest = latest_of(schedule, await describe_companion(self.client, job_id))
                if latest is not None:
                    return await self._workflow_result(latest.workflow_id, latest.first_execution_run_id)
                await asyncio.sleep(poll.total_seconds())

        if timeout is None:
            return await wait()
        seconds = timeout.total_seconds() if isinstance(timeout, timedelta) else float(timeout)
        if not seconds > 0:
            raise ValueError(f"timeout must be positive, not {seconds:g} s")
        deadline = asyncio.timeout(seconds)
        try:
            async with deadline:
                return await wait()
        except TimeoutError:
            if not deadline.expired():
                raise  # a TimeoutError of the call itself, not our deadline
            raise JobTimeoutError(job_id, seconds) from None
