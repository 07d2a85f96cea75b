"""A workflow outside the passed-through ``workflows`` package, as a user's feature workflow is: the
sandbox re-imports this module for each run, under its full restrictions."""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow


@workflow.defn(name="SandboxProbe")
class SandboxProbe:
    @workflow.run
    async def run(self, read_wall_clock: bool) -> str:
        return (datetime.now() if read_wall_clock else workflow.now()).isoformat()
