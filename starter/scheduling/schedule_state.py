"""A recurring job's schedule state, kept in structured fields of the schedule.

State that changes after a schedule is created lives in the schedule's own search attributes:

* ``DuctapeCancelledAt`` (Datetime): when ``jobs.cancel`` stopped the job; it has no run left and
  cannot be resumed, whatever its paused flag and note say since.
* ``DuctapeArmShift`` (Int): how many seconds the spec fires before each run
  (``ductape_jobs.scheduling.recurring_arming``); 0 while the job's timing does not allow arming; absent when the
  job never arms.

Why not the memo or the note: Temporal Server 1.32 refuses to change a schedule's memo ("memo updates
are not supported on workflow-backed schedules", checked against the dev server), and every pause or
unpause, the Web UI's too, overwrites the note. ``ScheduleUpdate`` replaces search attributes, a pause
or unpause leaves them alone, and both ``describe`` and ``list`` return them (a listing shows neither
the action's memo nor anything a describe would add). The companion link does not change after
creation and stays in memos (``JobMemo.companion_of`` on the companion, ``dst_companion`` on the main
schedule) and in the main spec's ``skip`` calendars (``ductape_jobs.scheduling.dst_schedules.may_have_companion``).

Schedules created by the previous version carry neither attribute: for them (and only when the
attribute is absent) the cancel note and the calendar comment are still read, as a fallback. Nothing
reads a note or comment of a schedule that has the attributes; what is written there is display.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from temporalio.client import ScheduleSpec
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from ductape_jobs.scheduling.recurring_arming import legacy_shift
from ductape_jobs.workflows.names import ARM_SHIFT, CANCELLED_AT

CANCELLED_DISPLAY = "cancelled"
"""Start of the note ``cancel`` leaves on the schedule (display only: the state is ``DuctapeCancelledAt``)."""
_LEGACY_CANCELLED = re.compile(r"^cancelled at \d{4}-\d\d-\d\d")
"""The note the previous version wrote on cancel (``f"cancelled at {iso time}"``), read only as a fallback."""
_STATE_KEYS = frozenset({CANCELLED_AT.name, ARM_SHIFT.name})


@dataclass(frozen=True)
class ScheduleFacts:
    """What a job's schedule says about the job, beyond Temporal's own fields."""

    cancelled_at: datetime | None = None
    """Set by ``cancel`` (a legacy cancelled schedule: its note's time is not parsed, ``legacy_cancelled``)."""
    legacy_cancelled: bool = False
    """Cancelled by the previous version (its note), with no ``DuctapeCancelledAt``."""
    arm_shift_s: int | None = None
    """Seconds each run fires early (None or 0: not armed)."""

    @property
    def cancelled(self) -> bool:
        return self.cancelled_at is not None or self.legacy_cancelled


def schedule_facts(
    search_attributes: TypedSearchAttributes, spec: ScheduleSpec | None, *, note: str | None, paused: bool
) -> ScheduleFacts:
    """The facts of a schedule (from a describe or a listing): its search attributes, else (a schedule
    of the previous version) its cancel note and calendar comment."""
    cancelled_at = search_attributes.get(CANCELLED_AT)
    shift = search_attributes.get(ARM_SHIFT)
    return ScheduleFacts(
        cancelled_at=cancelled_at,
        # Fallback for schedules the previous version cancelled: paused with its note (a later
        # unpause in the Web UI loses that note; those schedules have no other mark).
        legacy_cancelled=cancelled_at is None and paused and bool(_LEGACY_CANCELLED.match(note or "")),
        arm_shift_s=shift if shift is not None else legacy_shift(spec),
    )


def marked_cancelled(search_attributes: TypedSearchAttributes, at: datetime) -> TypedSearchAttributes:
    """``search_attributes`` of a schedule ``cancel`` stops at ``at`` (a first cancel's time is kept)."""
    if search_attributes.get(CANCELLED_AT) is not None:
        return search_attributes
    return search_attributes.updated(SearchAttributePair(CANCELLED_AT, at))


def with_arm_shift(search_attributes: TypedSearchAttributes, shift_s: int | None) -> TypedSearchAttributes:
    """``search_attributes`` with the arm shift of a new timing (None: the job never arms)."""
    kept = [p for p in search_attributes if p.key.name != ARM_SHIFT.name]
    return TypedSearchAttributes([*kept, *([SearchAttributePair(ARM_SHIFT, shift_s)] if shift_s is not None else [])])


def without_state(search_attributes: TypedSearchAttributes) -> TypedSearchAttributes:
    """The job's own search attributes (product, env...), without any schedule state: what a new
    schedule of the job (its DST companion) starts from."""
    return TypedSearchAttributes([p for p in search_attributes if p.key.name not in _STATE_KEYS])
