"""Contracts of a 429 pause shared by every worker: the ``TargetPause`` keeper's input and signal,
and the rate its activity sets on the server (``ductape_jobs.workflows.target_pause``)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class QueuePause(BaseModel):
    """A rate-limited target's queue is paused until ``until`` (its latest 429's ``Retry-After``)."""

    queue: str
    until: datetime


class QueueRate(BaseModel):
    """The server-side rate of a target's queue: ``paused_until`` set holds every task on the server
    (no worker gets one), None gives the queue back to its workers' own rate limit."""

    queue: str
    paused_until: datetime | None = None
