"""Flow controls a user writes on a job, an event or an app: priority and fair shares, debounce, and
concurrency per key (README "Priority and fair shares", "Debounce", "Concurrency per key"). Rate limits
belong to targets and live in the product config (``ductape_jobs.activities.config.flow``)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

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
