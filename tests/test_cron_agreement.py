"""Proof of agreement: our preview and the Temporal server's own ``next_action_times`` never differ.

A seeded generator builds expressions (``L``, ``L-n``, ``W``, ``LW``, ``#``, ``nL``, OR semantics, steps,
names, macros, seconds), zones with and without DST on both hemispheres and with half-hour offsets, and
start times around DST changes, month ends and leap days. Each case becomes a paused schedule on the dev
server, is described and deleted, in concurrent batches; nothing waits for a firing.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from datetime import UTC, datetime, timedelta

from temporalio.client import Schedule, ScheduleActionStartWorkflow, ScheduleSpec, ScheduleState
from temporalio.testing import WorkflowEnvironment

from starter.cron import parse_cron
from starter.preview import next_runs

SEED = int(os.environ.get("DUCTAPE_AGREEMENT_SEED", "20261122"))
CASES = int(os.environ.get("DUCTAPE_AGREEMENT_CASES", "2000"))
ZONES = ["Europe/Amsterdam", "America/New_York", "Australia/Sydney", "America/Santiago", "Asia/Tokyo", "UTC",
         "Australia/Lord_Howe", "Asia/Kolkata", "Europe/London", "America/Los_Angeles"]  # fmt: skip
# Instants worth starting near: DST changes of 2027-2029, month ends, February of the leap year 2028.
ANCHORS = [
    "2027-03-28T00:00:00Z", "2027-10-31T00:00:00Z", "2027-03-14T06:00:00Z", "2027-11-07T05:00:00Z",
    "2027-04-04T15:00:00Z", "2027-10-03T15:00:00Z", "2027-04-03T12:00:00Z", "2027-09-05T03:00:00Z",
    "2028-02-27T00:00:00Z", "2028-02-28T23:00:00Z", "2028-03-26T00:00:00Z", "2028-10-29T00:00:00Z",
    "2028-12-31T20:00:00Z", "2029-01-31T12:00:00Z", "2027-06-30T23:30:00Z", "2027-04-04T14:30:00Z",
]  # fmt: skip


def _field(rng: random.Random, low: int, high: int, names: list[str] | None = None) -> str:
    kind = rng.randrange(6)
    a, b = sorted(rng.sample(range(low, high + 1), 2))
    if kind == 0:
        return "*"
    if kind == 1:
        return str(a)
    if kind == 2:
        return f"{a},{b}"
    if kind == 3:
        return f"{a}-{b}"
    if kind == 4:
        return f"*/{rng.randrange(2, max(3, (high - low) // 2))}"
    return names[a - low] if names else f"{a}-{b}/{rng.randrange(2, 4)}"


def expression(rng: random.Random) -> str:
    if rng.random() < 0.04:
        return rng.choice(["@daily", "@hourly", "@weekly", "@monthly", "@yearly", "@midnight"])
    minute = rng.choice([str(rng.randrange(60)), "0,30", "*/15", "5-20/5", str(rng.randrange(60))])
    hour = rng.choice([str(rng.randrange(24)), "2", "1", "0", "23", "*", "*/6", "1-3", "9-17", "2,14", "3"])
    dom = rng.choice(["*", "*", "?", "L", f"L-{rng.randrange(1, 5)}", f"{rng.randrange(1, 32)}W", "LW", "1W",
                      "31W", "15", "1,15", "29", "31", _field(rng, 1, 31)])  # fmt: skip
    month = rng.choice(["*", "*", "*", "FEB", "JAN-MAR", "*/3", "2,3,10,11", _field(rng, 1, 12)])
    nth = f"{rng.randrange(8)}#{rng.randrange(1, 6)}"
    dow = rng.choice(["*", "*", "?", "MON-FRI", "SUN", f"{rng.randrange(7)}L", nth, "FRIL", "MON#1", "1,3,5",
                      "SAT,SUN", _field(rng, 0, 6)])  # fmt: skip
    if dom == "?" and dow == "?":
        dow = "*"
    seconds = f"{rng.randrange(60)} " if rng.random() < 0.1 else ""
    return f"{seconds}{minute} {hour} {dom} {month} {dow}"


def cases(seed: int, count: int) -> list[tuple[str, str, datetime]]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        if rng.random() < 0.7:
            anchor = datetime.fromisoformat(rng.choice(ANCHORS).replace("Z", "+00:00"))
            start = anchor + timedelta(minutes=rng.randrange(-36 * 60, 36 * 60))
        else:
            start = datetime(2027, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(3 * 365 * 86400))
        out.append((expression(rng), rng.choice(ZONES), start.replace(microsecond=0)))
    return out


async def test_preview_agrees_with_the_server_on_every_case(dev_env: WorkflowEnvironment) -> None:
    client = dev_env.client
    generated = cases(SEED, CASES)
    disagreements: list[str] = []
    gate = asyncio.Semaphore(32)
    started = time.monotonic()

    async def check(index: int, expr: str, zone: str, start: datetime) -> None:
        calendars = parse_cron(expr).calendars()
        ours = next_runs(calendars=calendars, time_zone=zone, after=start - timedelta(days=1), start_at=start)
        async with gate:
            handle = await client.create_schedule(
                f"agreement-{SEED}-{index}",
                Schedule(
                    action=ScheduleActionStartWorkflow("JobWorkflow", id=f"agreement-{index}", task_queue="agreement"),
                    spec=ScheduleSpec(calendars=calendars, time_zone_name=zone, start_at=start),
                    state=ScheduleState(paused=True),
                ),
            )
            theirs = (await handle.describe()).info.next_action_times
            await handle.delete()
        if ours[: len(theirs)] != theirs or (len(theirs) < 10 and len(ours) != len(theirs)):
            disagreements.append(f"{expr!r} in {zone} from {start.isoformat()}:\n  ours   {ours}\n  server {theirs}")

    await asyncio.gather(*(check(i, *case) for i, case in enumerate(generated)))
    print(f"\ncron agreement: {len(generated)} cases, seed {SEED}, {len(disagreements)} disagreements, "
          f"{time.monotonic() - started:.1f} s")  # fmt: skip
    assert len(generated) >= 2000 or CASES < 2000
    assert disagreements == [], "\n".join(disagreements[:10])
