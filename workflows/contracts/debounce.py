"""Contracts of debounce: the window keeper's messages (``ductape_jobs.workflows.debounce_window``)."""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, BaseModel, Field


class DebounceOffer(BaseModel):
    """A job dispatched into a key's window."""

    job_id: str
    period_ms: int = Field(ge=1)
    max_wait_ms: int | None = None


class DebounceAnswer(BaseModel):
    start_at: AwareDatetime
    """When the offered job runs, unless a later one supersedes it."""
    previous: str | None = None
    """The burst's job until now, still waiting: the dispatcher supersedes it."""


class DebounceState(BaseModel):
    latest_job: str | None = None
    latest_due: datetime | None = None
    burst_started: datetime | None = None
