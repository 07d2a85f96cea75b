"""Scheduling: how a recurring job lives on Temporal Schedules, behind one facade.

* ``SchedulingOptions``: arming ahead and the DST companion, each a setting (on by default).
* ``facts``: a schedule's state (cancelled, the arm shift) from its structured fields
  (``schedule_state``), never from its note or calendar comments.
* ``describe_pair``, ``cancel_pair``, ``delete_pair``, ``pause_pair``, ``resume_pair``,
  ``discard_orphan_companion``: a job's main schedule and DST companion changed as one (``pair``).
* ``check_server_version``: the worker's start-up check of the server version against the versions
  the time rules were verified on (``server_version``).

Dispatch (``scheduling.dispatch``), job management (``management.jobs``, ``management.queries``) and
reschedule (``management.reschedule``, ``management.product_jobs``) go through it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from temporalio.client import Client, ScheduleDescription, ScheduleListDescription

from ductape_jobs.planning.dst_policy import companion_id
from ductape_jobs.planning.recurrence import Recurrence
from ductape_jobs.scheduling.pair import (
    cancel_pair,
    delete_pair,
    delete_schedule,
    describe_pair,
    describe_schedule,
    pause_pair,
    resume_pair,
)
from ductape_jobs.scheduling.recurring_arming import recurring_lead_s
from ductape_jobs.scheduling.schedule_state import ScheduleFacts, schedule_facts, with_arm_shift, without_state
from ductape_jobs.scheduling.server_version import VERIFIED_SERVER_VERSIONS, check_server_version, version_warning
from ductape_jobs.settings import Settings
from ductape_jobs.workflows.contracts.management import JobMemo

__all__ = [
    "VERIFIED_SERVER_VERSIONS",
    "ScheduleFacts",
    "SchedulingOptions",
    "cancel_pair",
    "check_server_version",
    "delete_pair",
    "describe_pair",
    "describe_schedule",
    "discard_orphan_companion",
    "facts",
    "pause_pair",
    "resume_pair",
    "version_warning",
    "with_arm_shift",
    "without_state",
]


@dataclass(frozen=True)
class SchedulingOptions:
    """How recurring jobs are laid out on schedules (``Settings.arm_recurring``, ``dst_companion``)."""

    arm_recurring: bool = True
    """Fire an armable recurring job's schedule a few seconds early so that its run starts at the
    exact instant (``ductape_jobs.scheduling.recurring_arming``). Off: every run starts when the server's scheduler
    starts it, seconds late in a herd, and the schedule's times are the job's own."""
    dst_companion: bool = True
    """Lay a cron job at a fixed local hour in a zone with DST out on two schedules, so that its
    ``repeat.dst`` policy holds on change days (``ductape_jobs.planning.dst_policy``). Off: one schedule, the
    server's native handling on those days (a time in the skipped hour does not run; one in the
    repeated hour runs once east of Greenwich, twice west of it), and ``repeat.dst`` is ignored."""

    def recurrence(self, recurrence: Recurrence) -> Recurrence:
        """The recurrence as schedules lay it out (without the DST layout when the companion is off)."""
        return recurrence if self.dst_companion else dataclasses.replace(recurrence, dst=None)

    def arm_lead_s(self, job_id: str, memo: JobMemo) -> int | None:
        """The lead a recurring job's schedule may fire early by (None: not armed)."""
        return recurring_lead_s(job_id, memo) if self.arm_recurring else None

    @classmethod
    def of(cls, settings: Settings) -> SchedulingOptions:
        """The options of ``settings`` (``arm_recurring``, ``dst_companion``)."""
        return cls(arm_recurring=settings.arm_recurring, dst_companion=settings.dst_companion)

    @staticmethod
    def memo_shift(memo: JobMemo, timing_shift: int | None) -> int | None:
        """``JobMemo.arm_shift_s`` for a new timing whose shift is ``timing_shift``: a job that may arm
        keeps 0 (not armed now) while arming is off, so that a later timing arms it again."""
        if timing_shift is None and memo.arm_shift_s is not None:
            return 0
        return timing_shift


def facts(desc: ScheduleDescription | ScheduleListDescription) -> ScheduleFacts:
    """The state of a described or listed schedule (``schedule_state``)."""
    schedule = desc.schedule
    if schedule is None:  # a listing without advanced visibility
        return schedule_facts(desc.typed_search_attributes, None, note=None, paused=False)
    state = schedule.state
    return schedule_facts(desc.typed_search_attributes, schedule.spec, note=state.note, paused=state.paused)


async def discard_orphan_companion(client: Client, job_id: str) -> bool:
    """Delete a DST companion left without its main schedule (a delete of the previous version,
    which removed the main schedule first, stopped in between); called by a dispatch that has just
    created the main schedule, before it creates the companion it wants (if any)."""
    return await delete_schedule(client, companion_id(job_id))
