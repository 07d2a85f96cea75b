"""Hand-written Temporal equivalents of a plain job, with Temporal's defaults (sandboxed workflows),
for the benchmarks' raw side. Only temporalio is imported, as in a typical hand-written worker."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow


@workflow.defn(name="RawJob")
class RawJob:
    """One activity and a retry policy, nothing else."""

    @workflow.run
    async def run(self, url: str) -> int:
        result: int = await workflow.execute_activity("bench.post", url, start_to_close_timeout=timedelta(seconds=60))
        return result


@workflow.defn(name="RawSleeper")
class RawSleeper:
    @workflow.run
    async def run(self, seconds: float) -> None:
        await workflow.sleep(seconds)
