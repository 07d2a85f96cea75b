"""A recurring job under the DST policy on the server: its main schedule and its companion
(``<job_id>~dst``, see ``ductape_jobs.planning.dst_policy``), created, read and changed as one job."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionExecutionStartWorkflow,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleDescription,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.common import TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

from ductape_jobs.management.records import schedule_memo
from ductape_jobs.planning.dst_policy import companion_id, split_limit
from ductape_jobs.planning.recurrence import Recurrence
from ductape_jobs.scheduling import facts, without_state
from ductape_jobs.workflows.contracts.management import JobMemo

COMPANION_NOTE = "DST policy runs of "
"""Start of a companion's note: display only (the link is its memo's ``companion_of``)."""
_DEFINITION = ("cron", "every", "tz", "limit", "end_date", "dst")
"""The memo fields that decide a job's DST layout."""


@dataclass(frozen=True)
class PairLayout:
    """How a recurring job's runs are shared between its main schedule and its companion."""

    main: Recurrence
    """The main schedule's recurrence: its own ``limit`` share (the transition days are in ``dst``)."""
    companion: ScheduleSpec | None
    """The companion's spec, or None when it has no run to make."""
    companion_limit: int | None


def pair_layout(recurrence: Recurrence, *, first_run: datetime, now: datetime) -> PairLayout:
    """Split a recurrence between the main schedule and the companion (Temporal counts ``limit`` per
    schedule: the first ``limit`` runs of the union decide each share)."""
    layout = recurrence.dst
    if layout is None or not layout.instants:
        return PairLayout(recurrence, None, None)
    start = max(first_run, now)
    main_limit, companion_limit = recurrence.limit, None
    if recurrence.limit is not None:
        main_limit, companion_limit = split_limit(
            recurrence.calendars, layout, recurrence.limit, time_zone=recurrence.time_zone, first_run=start,
            end_at=recurrence.end_at,
        )  # fmt: skip
        if companion_limit == 0:
            return PairLayout(recurrence, None, None)
    spec = ScheduleSpec(
        calendars=layout.companion_calendars(),
        time_zone_name="UTC",
        start_at=None if first_run <= now else first_run,
        end_at=recurrence.end_at,
        jitter=recurrence.jitter,
    )
    return PairLayout(dataclasses.replace(recurrence, limit=main_limit), spec, companion_limit)


def companion_action(action: ScheduleActionStartWorkflow, job_id: str) -> ScheduleActionStartWorkflow:
    """The main schedule's action with the companion marker in its memo: same workflow, input,
    workflow ID prefix, search attributes and summary, so its runs look like the job's own."""
    # Its runs start at their times, never armed: the main schedule's arm shift is left out.
    memo = {k: v for k, v in (action.memo or {}).items() if k not in ("arm_shift_s", "grid_offset_s")}
    return dataclasses.replace(action, memo={**memo, "companion_of": job_id})


async def create_companion(
    client: Client,
    job_id: str,
    action: ScheduleActionStartWorkflow,
    pair: PairLayout,
    *,
    memo: dict[str, Any],
    search_attributes: TypedSearchAttributes,
    note: str,
    paused: bool = False,
) -> None:
    """Create the companion schedule of ``job_id`` (an existing one is left as it is).

    Raises:
        temporalio.service.RPCError: the server refused the request.
    """
    assert pair.companion is not None
    schedule = Schedule(
        action=companion_action(action, job_id),
        spec=pair.companion,
        # The same overlap and catch-up rules as the main schedule (see ductape_jobs.scheduling.dispatch).
        policy=SchedulePolicy(
            overlap=pair.main.overlap,
            catchup_window=pair.main.catchup,
            pause_on_failure=pair.main.pause_on_failure,
        ),
        state=_state(note, pair.companion_limit, paused=paused),
    )
    # A retried dispatch of a caller-chosen ID: the companion already exists.
    with contextlib.suppress(ScheduleAlreadyRunningError):
        await client.create_schedule(
            companion_id(job_id),
            schedule,
            memo={**memo, "companion_of": job_id},
            # The job's attributes, not the main schedule's state (a companion is never armed).
            search_attributes=without_state(search_attributes),
        )


def _state(note: str, limit: int | None, *, paused: bool = False) -> ScheduleState:
    return ScheduleState(
        note=COMPANION_NOTE + note, paused=paused, limited_actions=limit is not None, remaining_actions=limit or 0
    )


async def describe_companion(client: Client, job_id: str) -> ScheduleDescription | None:
    """The companion's description, or None when the job has none.

    Raises:
        temporalio.service.RPCError: other than not found.
    """
    try:
        return await client.get_schedule_handle(companion_id(job_id)).describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return None
        raise


def may_have_companion(memo: JobMemo, spec: ScheduleSpec) -> bool:
    """Whether a main schedule may have a companion with runs ahead, known without asking the server.

    ``memo`` is the schedule's own memo: its ``dst_companion`` flag is set at dispatch. A job without
    it may still have one: one dispatched before the flag existed, or given the policy by
    ``reschedule`` (Temporal cannot change a schedule's memo). Its spec tells those apart: a main
    schedule carries the transition-day ``skip`` calendars exactly while its layout has a companion
    (no job sets ``skip`` otherwise), so no describe is needed for them either.
    """
    return bool(memo.dst_companion or spec.skip)


async def restored_companion(
    client: Client, main: ScheduleDescription, pair: PairLayout, *, wanted: JobMemo, limit: int | None
) -> ScheduleDescription | None:
    """The companion of a job dispatched again under its ID; created now when a dispatch (or a
    reschedule) stopped between creating the main schedule and the companion (``ductape_jobs.scheduling.dispatch``).

    It is created only when the dispatch asks for the job as it is (``wanted``, the dispatched
    memo, has its timing; another job under a reused ID is left alone) and the job is not
    cancelled; with ``limit`` the companion gets what the main schedule has not taken of it.

    Raises:
        temporalio.service.RPCError: the server refused the request.
    """
    if not may_have_companion(JobMemo.model_validate(await main.memo()), main.schedule.spec):
        return None
    companion = await describe_companion(client, main.id)
    state, action = main.schedule.state, main.schedule.action
    if companion is not None or pair.companion is None or facts(main).cancelled:
        return companion
    current = await schedule_memo(client.data_converter, main)
    if not isinstance(action, ScheduleActionStartWorkflow) or any(
        getattr(current, name) != getattr(wanted, name) for name in _DEFINITION
    ):
        return None
    share = pair.companion_limit
    if limit is not None and state.limited_actions:
        # Temporal counts a limit per schedule: the main schedule's share is what it has left plus
        # the runs it made (a manual trigger counted too: the pair never exceeds the limit).
        share = limit - state.remaining_actions - main.info.num_actions
        if share <= 0:
            return None
    await create_companion(
        client, main.id, action, dataclasses.replace(pair, companion_limit=share),
        memo=current.model_dump(mode="json"), search_attributes=main.typed_search_attributes,
        note=current.summary, paused=state.paused,
    )  # fmt: skip
    return await describe_companion(client, main.id)


def next_action(*times: Sequence[datetime]) -> datetime | None:
    """The earliest upcoming action time of the pair."""
    return min((t[0] for t in times if t), default=None)


def latest_of(*descriptions: ScheduleDescription | None) -> ScheduleActionExecutionStartWorkflow | None:
    """The pair's run in progress, else its most recent finished run, else None."""
    running = [r for d in descriptions if d for r in d.info.running_actions]
    for run in running:
        if isinstance(run, ScheduleActionExecutionStartWorkflow):
            return run
    finished = sorted(
        (r for d in descriptions if d for r in d.info.recent_actions), key=lambda r: r.scheduled_at, reverse=True
    )
    for result in finished:
        if isinstance(result.action, ScheduleActionExecutionStartWorkflow):
            return result.action
    return None


def changed(update: ScheduleUpdateInput, change: Callable[[Schedule], None]) -> ScheduleUpdate:
    """A schedule update that applies ``change`` to the schedule as the server has it now."""
    change(update.description.schedule)
    return ScheduleUpdate(schedule=update.description.schedule)


async def update_companion(client: Client, job_id: str, change: Callable[[Schedule], None]) -> bool:
    """Apply ``change`` to the companion's schedule; False when the job has none.

    Raises:
        temporalio.service.RPCError: other than not found.
    """
    try:
        await client.get_schedule_handle(companion_id(job_id)).update(lambda update: changed(update, change))
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def replace_companion(
    client: Client,
    job_id: str,
    main: ScheduleDescription,
    existing: ScheduleDescription | None,
    pair: PairLayout,
    *,
    memo: dict[str, Any],
) -> None:
    """After a reschedule: give the companion the new layout, create it when the job had none, or
    leave it with no run to make (it keeps its run count) when the new layout needs none.

    Raises:
        temporalio.service.RPCError: the server refused the request.
    """
    action = main.schedule.action
    if pair.companion is None:
        if existing is not None:

            def stop(schedule: Schedule) -> None:
                schedule.state.limited_actions, schedule.state.remaining_actions = True, 0

            await update_companion(client, job_id, stop)
        return
    if existing is None:
        if isinstance(action, ScheduleActionStartWorkflow):
            await create_companion(
                client, job_id, action, pair, memo=memo, search_attributes=main.typed_search_attributes,
                note=main.schedule.state.note or "", paused=main.schedule.state.paused,
            )  # fmt: skip
        return
    spec = pair.companion

    def apply(schedule: Schedule) -> None:
        schedule.spec = dataclasses.replace(spec, end_at=main.schedule.spec.end_at)
        if isinstance(action, ScheduleActionStartWorkflow):
            schedule.action = companion_action(action, job_id)
        schedule.state.limited_actions = pair.companion_limit is not None
        schedule.state.remaining_actions = pair.companion_limit or 0

    await update_companion(client, job_id, apply)
