"""Contracts of concurrency limits per key: the job's limit, and the slot-keeper workflow's messages
(``ductape_jobs.workflows.concurrency_slots``)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ConcurrencyLimit(BaseModel):
    """At most ``limit`` runs of the jobs sharing ``slots_id`` run their event at a time."""

    slots_id: str
    """The slot keeper's workflow ID: the product and a digest of the key's value (which may be personal)."""
    key_class: str
    """The key as configured (``$Input{body.userId}``): shown and used as a metric label, never its value."""
    limit: int = Field(ge=1)


class SlotRequest(BaseModel):
    """A job run asks for a slot; ``token`` names this request (a run may leave the queue and ask again)."""

    slots_id: str
    token: str
    workflow_id: str
    run_id: str
    limit: int = Field(ge=1)
    """The latest limit wins: a changed config takes effect with the next request."""


class SlotAnswer(BaseModel):
    granted: bool
    """False: the run waits in line; the keeper signals ``slot_granted`` with its token when its turn comes."""


class SlotHolder(BaseModel):
    token: str
    workflow_id: str
    run_id: str


class SlotsState(BaseModel):
    """The keeper's whole state, carried across continue-as-new."""

    limit: int = 1
    holders: list[SlotHolder] = Field(default_factory=list)
    waiting: list[SlotHolder] = Field(default_factory=list)
    """In arrival order: the first in line gets the next free slot."""


class HolderCheck(BaseModel):
    holders: list[SlotHolder]


class ClosedHolders(BaseModel):
    tokens: list[str]
    """Of the holders checked, those whose run has closed (terminated, timed out...) without releasing."""
