"""A recurring job's schedule pair (its main schedule and its DST companion ``<job_id>~dst``) changed
as one: cancel, delete, pause and resume act on both halves, each step tolerating a missing half, and
in the order that never leaves a half running on its own.

The companion goes first wherever a job stops: a companion left alone would run the job on DST
change days for a job that ``jobs`` no longer shows (or shows cancelled), while a main schedule left
alone is visible, reported as it is, and the same call again finishes the job.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from temporalio.client import Client, Schedule, ScheduleDescription, ScheduleUpdate, ScheduleUpdateInput
from temporalio.service import RPCError, RPCStatusCode

from ductape_jobs.planning.dst_policy import companion_id
from ductape_jobs.scheduling.schedule_state import CANCELLED_DISPLAY, marked_cancelled


async def describe_schedule(client: Client, schedule_id: str) -> ScheduleDescription | None:
    """The schedule's description, or None when there is none.

    Raises:
        temporalio.service.RPCError: other than not found.
    """
    try:
        return await client.get_schedule_handle(schedule_id).describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return None
        raise


async def describe_pair(client: Client, job_id: str) -> tuple[ScheduleDescription | None, ScheduleDescription | None]:
    """``(main, companion)`` of a recurring job, each None when missing."""
    return await describe_schedule(client, job_id), await describe_schedule(client, companion_id(job_id))


async def _update(
    client: Client, schedule_id: str, change: Callable[[ScheduleUpdateInput], ScheduleUpdate | None]
) -> bool:
    """Apply ``change`` to the schedule as the server has it; False when it does not exist."""
    try:
        await client.get_schedule_handle(schedule_id).update(change)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def cancel_pair(client: Client, job_id: str, *, at: datetime) -> None:
    """Stop both halves for good: no run left, paused, and marked cancelled (``DuctapeCancelledAt``),
    so ``get`` says cancelled and ``resume`` refuses even after a pause and unpause elsewhere (the
    Web UI). The companion first; a missing half is skipped. Runs in progress are the caller's.

    Raises:
        temporalio.service.RPCError: the server refused an update.
    """

    def stop(update: ScheduleUpdateInput) -> ScheduleUpdate:
        schedule: Schedule = update.description.schedule
        state = schedule.state
        state.paused = True
        state.note = f"{CANCELLED_DISPLAY} at {at.isoformat()}"  # display: the state is the attribute
        state.limited_actions = True
        state.remaining_actions = 0
        attributes = marked_cancelled(update.description.typed_search_attributes, at)
        return ScheduleUpdate(schedule=schedule, search_attributes=attributes)

    await _update(client, companion_id(job_id), stop)
    await _update(client, job_id, stop)


async def delete_schedule(client: Client, schedule_id: str) -> bool:
    """Delete a schedule; False when there was none.

    Raises:
        temporalio.service.RPCError: other than not found.
    """
    try:
        await client.get_schedule_handle(schedule_id).delete()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def delete_pair(client: Client, job_id: str) -> bool:
    """Delete both halves, the companion first; False when neither existed. Runs in progress are
    the caller's (describe the pair first).

    Raises:
        temporalio.service.RPCError: other than not found.
    """
    companion = await delete_schedule(client, companion_id(job_id))
    return await delete_schedule(client, job_id) or companion


async def pause_pair(client: Client, job_id: str, *, note: str = "paused") -> None:
    """Pause both halves, the companion first.

    Raises:
        temporalio.service.RPCError: other than not found.
    """

    def pause(update: ScheduleUpdateInput) -> ScheduleUpdate:
        update.description.schedule.state.paused = True
        return ScheduleUpdate(schedule=update.description.schedule)

    await _update(client, companion_id(job_id), pause)
    await client.get_schedule_handle(job_id).pause(note=note)


async def resume_pair(client: Client, job_id: str, *, note: str = "resumed") -> None:
    """Unpause both halves (the caller refuses a cancelled job first).

    Raises:
        temporalio.service.RPCError: other than not found.
    """

    def unpause(update: ScheduleUpdateInput) -> ScheduleUpdate:
        update.description.schedule.state.paused = False
        return ScheduleUpdate(schedule=update.description.schedule)

    await client.get_schedule_handle(job_id).unpause(note=note)
    await _update(client, companion_id(job_id), unpause)
