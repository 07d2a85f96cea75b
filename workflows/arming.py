"""Arming ahead: how a one-off job gets its event started at the exact instant, even in a herd.

A worker drains only a few dozen workflow tasks a second, so a thousand jobs due at one instant
cannot all have their workflow task at that instant. Instead each job wakes ``lead`` before its
``start_at`` (a lead spread by a hash of the job ID, so a herd arms over a minute, not at once),
schedules its event activity then with ``not_before = start_at``, and the activity waits on a cheap
sleeping coroutine until that instant (``ductape_jobs.activities.arming.armed_start``). While armed, the activity
heartbeats: a worker crash is noticed within ``ARM_HEARTBEAT``.

Management holds until the event starts. The event starts when the armed activity *claims* it: at
the instant (up to ``CLAIM_SPREAD_MAX`` before it in a herd), one heartbeat whose answer says
whether the workflow asked to cancel the activity meanwhile. The server orders that heartbeat and
the workflow's cancel request, so exactly one of them wins. A pause, reschedule, trigger or cancel
of an armed job cancels its activity; once that request is recorded, the workflow reads the
server's clock (``workflow.now()`` of its next task): more than ``CLAIM_WINDOW`` before the instant,
no claim can have come first and the change holds at once; nearer, the activity's own answer
decides (refused claim: ``DISARMED``; anything else: the event started and the change is refused).

Deterministic (the workflow imports it): no clock, no I/O.
"""

from __future__ import annotations

import zlib
from datetime import datetime, timedelta
from functools import lru_cache

from ductape_jobs.workflows.cron import CompiledCron, CronError, parse_cron

ARM_AHEAD = timedelta(seconds=60)
"""The longest lead: a job arms between a tenth of this and this much before its start. Enough for
one worker to arm a herd of about a thousand jobs (it runs a few dozen workflow tasks a second)."""

ARM_HEARTBEAT = timedelta(seconds=10)
"""Heartbeat timeout of an armed activity: a worker that died while a job was armed is noticed this
soon, and the job armed again on another worker (it beats every ``ARM_BEAT``)."""
ARM_BEAT = timedelta(seconds=4)
"""How often an armed activity heartbeats while it waits (each beat is one call to the server)."""

EVENT_HEARTBEAT = timedelta(seconds=20)
"""Heartbeat timeout of every other event activity: the job of a killed worker moves to another
worker within this, not after its start-to-close timeout."""

CLAIM_SPREAD_MAX = timedelta(seconds=2)
"""The earliest an armed attempt claims its event: in a herd, claims are spread over the moments
before the instant (``ductape_jobs.activities.arming.herd_claims``); alone, an attempt claims at its instant."""
CLAIM_MARGIN = timedelta(seconds=1)
"""A change recorded more than this before the earliest claim (``CLAIM_SPREAD_MAX`` before the
instant, on the server's clock) is sure to precede it. The margin covers a server clock stepping
back while the job is armed."""
CLAIM_WINDOW = CLAIM_SPREAD_MAX + CLAIM_MARGIN
"""Before the instant by more than this, a change holds at once; nearer, the attempt's answer decides."""

ARMED = "armed"
"""Heartbeat detail while the activity waits for ``not_before``: the event has not started."""
CLAIMING = "claiming"
"""Heartbeat detail of the claim: from here on the event may have started."""
STARTED = "started"
"""Heartbeat detail once the event's work began."""
INTERRUPTED = "ARMED_WAIT_INTERRUPTED"
"""Error type of an armed attempt whose worker stopped during the wait: the event never started."""
DISARMED = "DISARMED"
"""Error type of an armed attempt whose claim was refused (the workflow cancelled it): the event
never started."""


def arm_lead_ms(job_id: str, ahead: timedelta = ARM_AHEAD) -> int | None:
    """How long before its start a job of an armable type (its descriptor's ``armable``) arms, or
    ``None`` when ``ahead`` is zero.

    The lead depends only on the job ID, so it survives a reschedule and spreads a herd of jobs due
    at one instant evenly over ``[ahead / 10, ahead)``.
    """
    most = int(ahead.total_seconds() * 1000)
    if most <= 0:
        return None
    floor = most // 10
    return floor + zlib.crc32(job_id.encode()) % max(most - floor, 1)


def armed_nominal(
    scheduled: datetime,
    shift_s: int,
    cron: str | None,
    *,
    time_zone: str | None = None,
    every_ms: int | None = None,
    grid_offset_s: int | None = None,
) -> datetime | None:
    """The nominal time of a run that an armed schedule (fired ``shift_s`` early, see
    ``ductape_jobs.scheduling.recurring_arming``) started at ``scheduled``, or None when
    ``scheduled + shift_s`` is not one of the job's run times: a triggered run (started at once, its
    scheduled time is the trigger's).

    A cron job's run times are its cron's in ``time_zone``; an armed ``every`` job's (its memo has
    ``grid_offset_s``) are the instants ``grid_offset_s`` past a multiple of ``every_ms`` from the
    epoch. A trigger in the very second an armed run fires is taken for that run (it starts at its
    instant).
    """
    nominal = scheduled + timedelta(seconds=shift_s)
    if grid_offset_s is not None:  # set on armed ``every`` jobs only (with a cron that never fires too)
        if not every_ms or every_ms % 1000 or nominal.microsecond:
            return None
        return nominal if (int(nominal.timestamp()) - grid_offset_s) % (every_ms // 1000) == 0 else None
    compiled = _compiled(cron) if cron else None
    return nominal if compiled is not None and compiled.matches(nominal, time_zone) else None


@lru_cache(maxsize=256)
def _compiled(cron: str) -> CompiledCron | None:
    try:
        return parse_cron(cron)
    except CronError:
        return None
