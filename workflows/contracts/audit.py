"""The audit trail of a job: who changed it, when and why (``ductape_jobs.management.audit``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, JsonValue

AuditAction = Literal[
    "pause", "resume", "cancel", "reschedule", "trigger", "retry", "delete", "backfill",
    "definition.create", "definition.update",
]  # fmt: skip

REASON_MAX = 500
"""A reason is a sentence for a person, not a document: longer ones are refused (``reason``)."""


class AuditEntry(BaseModel):
    """One management action on one job, as its caller's client recorded it."""

    action: AuditAction
    job_id: str
    identity: str
    """Who: the client's ``identity`` (``DUCTAPE_IDENTITY``, default ``user@host``)."""
    at: int
    """When the action took effect, epoch ms on the caller's clock."""
    reason: str | None = Field(default=None, max_length=REASON_MAX)
    details: dict[str, JsonValue] = Field(default_factory=dict)
    """What changed, in structured fields (``start_at``, ``cron``, ``overlap``, ``input_changed``...)."""
    bulk: str | None = None
    """The bulk operation this action was part of, if any (the same value on each of its jobs)."""


class AuditLog(BaseModel):
    """The input of a job's audit workflow: the entries its earlier runs carried over."""

    job_id: str
    entries: list[AuditEntry] = Field(default_factory=list)
