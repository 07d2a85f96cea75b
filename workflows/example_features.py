"""The feature workflow the example product config names (seed 003's ``generate_daily_report``), so
``ductape.workflows.dispatch`` runs out of the box with ``ductape-jobs dev``.

A real product points ``features:`` at its own ``@workflow.defn`` classes; this one only answers with
what a daily report job would know: the day it ran for and the input it was given.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow


@workflow.defn(name="GenerateDailyReport")
class GenerateDailyReport:
    """Runs as the child of a ``feature`` job; its result is the job's result."""

    @workflow.run
    async def run(self, data: dict[str, Any]) -> dict[str, Any]:
        return {"report": "daily", "day": workflow.now().date().isoformat(), "input": data}
