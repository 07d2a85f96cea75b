"""Contracts of catch-up: what a recurring job's run does when it starts late (README "Catch-up and
backfill"). The user-facing ``CatchupDef`` is in ``ductape_jobs.workflows.contracts.flow_control``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

CatchupPolicy = Literal["skip", "once", "all"]

GRACE_MS = 10_000
"""A run that reaches a worker later than this after its start is late: Temporal's least catch-up
window, under which the server starts a missed run whatever the policy."""


class CatchupSettings(BaseModel):
    """A run's catch-up policy, given to ``JobWorkflow`` (``ductape_jobs.workflows.catch_up``)."""

    policy: CatchupPolicy
    window_ms: int
    """Runs later than this are missed (``skip``: ``GRACE_MS``)."""
    max_runs: int | None = None
    """``all``: of the runs waiting together, only the newest this many run."""
