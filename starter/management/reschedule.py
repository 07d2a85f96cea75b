"""A job's new timing: a recurring job's (``ductape.jobs.reschedule``), its schedule and the DST
companion with it given the new spec while runs so far and the remaining limit are kept; and a failed
one-off job's (``ductape.jobs.retry``), started again now."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from temporalio.client import (
    Client,
    ScheduleActionStartWorkflow,
    ScheduleDescription,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from ductape_jobs.planning.recurrence import Recurrence
from ductape_jobs.scheduling import SchedulingOptions, with_arm_shift
from ductape_jobs.scheduling.dispatch import schedule_timing, timed_memo
from ductape_jobs.scheduling.dst_schedules import describe_companion, pair_layout, replace_companion
from ductape_jobs.workflows.contracts.instants import to_epoch_ms
from ductape_jobs.workflows.contracts.job import JobInputError
from ductape_jobs.workflows.contracts.management import JobMemo
from ductape_jobs.workflows.contracts.timing import IDstPolicy, IJobRepeatOptions


async def replace_spec(
    client: Client,
    desc: ScheduleDescription,
    recurrence: Recurrence,
    *,
    first: datetime,
    memo: JobMemo,
    repeat: IJobRepeatOptions,
    now: datetime,
    scheduling: SchedulingOptions,
) -> None:
    """Give the job of schedule ``desc`` the timing of ``recurrence`` from ``first`` (its ``endDate``
    kept); with the DST policy the remaining limit is shared between the pair anew.

    Raises:
        temporalio.service.RPCError: the server refused the update.
    """
    handle = client.get_schedule_handle(desc.id)
    companion = await describe_companion(client, desc.id)
    limited = [d.schedule.state for d in (desc, companion) if d and d.schedule.state.limited_actions]
    # Temporal counts a limit per schedule: what is left of the pair's is shared anew.
    left = sum(state.remaining_actions for state in limited) if desc.schedule.state.limited_actions else None
    end_at = desc.schedule.spec.end_at
    if end_at is not None and memo.arm_shift_s:  # an armed spec's end is early by its shift
        end_at += timedelta(seconds=memo.arm_shift_s)
    laid_out = scheduling.recurrence(dataclasses.replace(recurrence, limit=left, end_at=end_at))
    pair = pair_layout(laid_out, first_run=first, now=now)
    timing = schedule_timing(
        pair.main, first_run=first, now=now, note=memo.summary, trigger_allowed=False,
        arm_lead_s=scheduling.arm_lead_s(desc.id, memo), longest_run_s=memo.longest_run_s,
    )  # fmt: skip
    new_memo = timed_memo(
        memo.model_copy(
            update={"cron": repeat.cron, "every": repeat.every, "tz": repeat.tz, "scheduled_at": to_epoch_ms(first)}
        ),
        timing,
    )
    shift = new_memo.arm_shift_s

    def apply(update: ScheduleUpdateInput) -> ScheduleUpdate:
        schedule = update.description.schedule
        schedule.spec = timing.spec
        if isinstance(schedule.action, ScheduleActionStartWorkflow):
            schedule.action.memo = new_memo.model_dump(mode="json")
        if left is not None:
            schedule.state.remaining_actions = pair.main.limit or 0
        # The new shift is schedule state: a search attribute (ductape_jobs.scheduling.schedule_state).
        return ScheduleUpdate(
            schedule, search_attributes=with_arm_shift(update.description.typed_search_attributes, shift)
        )

    await handle.update(apply)
    main = await handle.describe()
    await replace_companion(client, desc.id, main, companion, pair, memo=new_memo.model_dump(mode="json"))


def known_dst(stored: dict[str, str] | None) -> dict[str, str] | None:
    """A stored DST policy, without the keys a newer client may have added (a rolling deploy): the
    memo is written by clients of any version, and ``IDstPolicy`` refuses unknown keys."""
    return {k: v for k, v in stored.items() if k in IDstPolicy.model_fields} if stored else None


def repeat_options(options: dict[str, Any]) -> IJobRepeatOptions:
    """A reschedule's ``repeat`` options validated (None values dropped).

    Raises:
        JobInputError: naming the ``repeat`` field and the reason.
    """
    try:
        return IJobRepeatOptions.model_validate({k: v for k, v in options.items() if v is not None})
    except ValidationError as err:
        raise JobInputError.from_validation(err, prefix="repeat") from None
