"""Flow controls a user writes on a job, an event or an app: priority and fair shares, debounce, and
concurrency per key (README "Priority and fair shares", "Debounce", "Concurrency per key"). Rate limits
belong to targets and live in the product config (``ductape_jobs.activities.config.flow``)."""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import Field, model_validator

from ductape_jobs.workflows.contracts.catchup import CatchupPolicy
from ductape_jobs.workflows.contracts.job import StrictInput

Priority = Annotated[int, Field(ge=1, le=5, strict=True)]
"""Temporal's task priority: 1 is served first, 5 last; 3 when unset."""
FairnessKey = Annotated[str, Field(min_length=1, max_length=200)]
"""Text, or ``$Input{path}`` read from the job's input (``ductape_jobs.planning.input_keys``)."""
FairnessWeight = Annotated[float, Field(gt=0, le=1000)]


class DebounceDef(StrictInput):
    """``debounce: {key: "$Input{body.userId}", period_ms: 1000, max_wait_ms: 10000}``: of the jobs
    dispatched with one key value within ``period_ms`` of each other, only the last runs, with its input
    (README "Debounce")."""

    key: str | None = Field(None, min_length=1, max_length=200)
    """Text or ``$Input{path}``; absent: one key for the whole event."""
    period_ms: int = Field(ge=1, le=86_400_000, strict=True)
    """Quiet time after the last dispatch before it runs."""
    max_wait_ms: int | None = Field(None, ge=1, le=604_800_000, strict=True)
    """Runs at most this long after the burst's first dispatch, however many follow it."""


class ConcurrencyDef(StrictInput):
    """``concurrency: {key: "$Input{body.userId}", limit: 2}``: at most ``limit`` runs with the same key
    value run their event at a time; the others wait in line (README "Concurrency per key")."""

    key: str | None = Field(None, min_length=1, max_length=200)
    """Text or ``$Input{path}``; absent: one key for the whole event."""
    limit: int = Field(ge=1, le=10_000, strict=True)


class CatchupDef(StrictInput):
    """``repeat.catchup: {policy: "all", window_ms: 3600000, max_runs: 5}``: what happens to the runs
    of a recurring job that come late because the server or every worker was down (README "Catch-up
    and backfill"). A number instead of the object is the window of ``once`` (earlier versions)."""

    policy: CatchupPolicy
    """``skip``: a late run never starts (it ends ``missed``); ``once``: of the late runs within the
    window, one starts; ``all``: each late run within the window starts, the newest ``max_runs``."""
    window_ms: int | None = Field(None, ge=10_000, le=31_536_000_000, strict=True)
    """How late a run may start (default 60 s): later, it is missed. Not with ``skip``."""
    max_runs: int | None = Field(None, ge=1, le=1000, strict=True)
    """``all`` only: at most this many late runs start (default 10), the newest."""

    @model_validator(mode="after")
    def _fits_policy(self) -> Self:
        if self.policy == "skip" and self.window_ms is not None:
            raise ValueError("`window_ms` does not apply to `skip`: a late run never starts")
        if self.policy != "all" and self.max_runs is not None:
            raise ValueError("`max_runs` applies to `all` only")
        if self.policy == "all" and (self.window_ms or 0) > 604_800_000:
            raise ValueError("`window_ms` of `all` is at most 7 days (604800000)")
        return self
