"""Proof of agreement: our preview and the Temporal server's own ``next_action_times`` never differ.

A seeded generator builds expressions (``L``, ``L-n``, ``nL``, ``W``, ``LW``, ``#``, Vixie OR semantics,
steps, names, macros, seconds), zones with DST on both hemispheres (and Lord Howe's half-hour DST),
without DST (Tokyo, UTC, Kolkata), and start times in DST-change weeks, around month ends, around the
leap day of 2028 and anywhere in 2027-2029. Each case is a paused schedule on the dev server (no
workflow ever starts); its ``describe().info.next_action_times`` (up to 10) must equal
``next_runs(...)`` exactly. In zones without DST every server time must also satisfy an independent
reading of the cron expression (``reference_fires`` below).

Speed: creating, describing and deleting a schedule per case costs the dev server about 20 ms of CPU
(about 45 s for 2,000 cases on 2 cores). So 50 schedules are created (with the first 50 cases) and
each is then given the next case's spec by ``UpdateSchedule`` and described again (about 9 ms a case);
each description is checked to carry that case's zone, start and expression before it is compared.
"""

from __future__ import annotations

import asyncio
import calendar
import os
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import temporalio.api.workflowservice.v1 as wsv1
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleDescription,
    ScheduleHandle,
    ScheduleSpec,
    ScheduleState,
)
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from ductape_jobs.planning.calendars import compile_cron
from ductape_jobs.planning.preview import next_runs
from ductape_jobs.workflows.cron import CronError
from tests.planning.test_preview import DST_CASES

SEED = int(os.environ.get("DUCTAPE_AGREEMENT_SEED", "20261122"))
CASES = max(2000, int(os.environ.get("DUCTAPE_AGREEMENT_CASES", "2000")))
LANES = 50
DST_ZONES = ["Europe/Amsterdam", "America/New_York", "Australia/Sydney", "America/Santiago", "Australia/Lord_Howe",
             "Europe/London", "America/Los_Angeles"]  # fmt: skip
PLAIN_ZONES = ["Asia/Tokyo", "UTC", "Asia/Kolkata"]
YEARS = (2027, 2030)
# Cases lie in 2027-2029 so that the server's "now" never matters (it lists times from max(now, start)).
# Once that is no longer the future, shift them by 28 years: same weekdays, leap years and DST rules.
SHIFT = 0 if datetime.now(UTC) < datetime(YEARS[0], 1, 1, tzinfo=UTC) - timedelta(days=7) else 28


def _transitions(zone: str) -> list[datetime]:
    """The instants the zone's UTC offset changes in 2027-2029 (to the minute)."""
    tz, out = ZoneInfo(zone), []
    moment = datetime(YEARS[0], 1, 1, tzinfo=UTC)
    while moment.year < YEARS[1]:
        after = moment + timedelta(hours=6)
        if moment.astimezone(tz).utcoffset() != after.astimezone(tz).utcoffset():
            low, high = moment, after
            while high - low > timedelta(minutes=1):
                mid = low + (high - low) / 2
                same = mid.astimezone(tz).utcoffset() == low.astimezone(tz).utcoffset()
                low, high = (mid, high) if same else (low, mid)
            out.append(high.replace(second=0, microsecond=0))
        moment = after
    return out


TRANSITIONS = {zone: _transitions(zone) for zone in DST_ZONES}


def _pick(rng: random.Random, *choices: str) -> str:
    return rng.choice(choices)


def _plain_field(rng: random.Random, low: int, high: int) -> str:
    a, b = sorted(rng.sample(range(low, high + 1), 2))
    return _pick(rng, "*", str(a), f"{a},{b}", f"{a}-{b}", f"*/{rng.randrange(2, max(3, (high - low) // 2))}",
                 f"{a}-{b}/{rng.randrange(2, 4)}", f"{a}/{rng.randrange(2, 9)}")  # fmt: skip


def _dom(rng: random.Random) -> str:
    n = rng.randrange(1, 32)
    special = _pick(rng, "L", "L", "LW", "LW", f"L-{rng.randrange(1, 8)}", f"{n}W", "1W", "31W", "30W", "15W", "L-30")
    return _pick(rng, "*", "?", special, special, f"{special},{rng.randrange(1, 32)}", f"1,{special}", "1", "15",
                 "29", "30", "31", "28-31", "1,15", _plain_field(rng, 1, 31))  # fmt: skip


def _dow(rng: random.Random) -> str:
    day = _pick(rng, *map(str, range(8)), "SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
    special = _pick(rng, f"{day}L", f"{day}#{rng.randrange(1, 6)}", "FRIL", "MON#1", "SUN#5", "6#2,0#4")
    return _pick(rng, "*", "?", special, special, f"{special},{day}", "MON-FRI", "SAT,SUN", day, "1,3,5", "*/2",
                 _plain_field(rng, 0, 6))  # fmt: skip


def expression(rng: random.Random) -> str:
    if rng.random() < 0.04:
        return _pick(rng, "@daily", "@hourly", "@weekly", "@monthly", "@yearly", "@midnight", "@annually")
    minute = _pick(
        rng, str(rng.randrange(60)), "0", "30", "0,30", "*/15", "5-20/5", "*/20", "59", _plain_field(rng, 0, 59)
    )
    hour = _pick(rng, str(rng.randrange(24)), "0", "1", "2", "3", "23", "*", "*/6", "1-3", "9-17", "2,14", "0-23/5",
                 _plain_field(rng, 0, 23))  # fmt: skip
    month = _pick(
        rng, "*", "*", "*", "FEB", "JAN-MAR", "*/3", "2,3,10,11", "MAR,OCT,NOV", "4", _plain_field(rng, 1, 12)
    )
    dom, dow = _dom(rng), _dow(rng)
    if dom == "?" and dow == "?":
        dow = "*"
    seconds = f"{_pick(rng, str(rng.randrange(60)), '0', '*/30', '15,45')} " if rng.random() < 0.1 else ""
    return f"{seconds}{minute} {hour} {dom} {month} {dow}"


def start_time(rng: random.Random, zone: str) -> datetime:
    kind = rng.random()
    if kind < 0.4 and zone in TRANSITIONS:  # the week of a DST change
        start = rng.choice(TRANSITIONS[zone]) + timedelta(minutes=rng.randrange(-5 * 1440, 2 * 1440))
    elif kind < 0.6:  # around a month end
        month_start = datetime(rng.randrange(*YEARS), rng.randrange(1, 13), 1, tzinfo=UTC)
        start = month_start + timedelta(minutes=rng.randrange(-4 * 1440, 1440))
    elif kind < 0.75:  # around the leap day of 2028
        start = datetime(2028, 2, 29, tzinfo=UTC) + timedelta(minutes=rng.randrange(-12 * 1440, 2 * 1440))
    else:
        start = datetime(YEARS[0], 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(3 * 365 * 86400))
    start = start.replace(second=rng.choice([0, 0, 0, rng.randrange(60)]))
    if rng.random() < 0.03:
        start = start.replace(microsecond=rng.randrange(1, 1_000_000))  # the server lists from start - 1 s
    start = max(start, datetime(YEARS[0], 1, 1, tzinfo=UTC))
    return start.replace(year=start.year + SHIFT)


def cases(seed: int, count: int) -> list[tuple[str, str, datetime]]:
    """``count`` valid cases (expressions that can never fire are refused by the compiler and redrawn)."""
    rng = random.Random(seed)
    out: list[tuple[str, str, datetime]] = []
    while len(out) < count:
        expr = expression(rng)
        try:
            compile_cron(expr)
        except CronError:
            continue
        zone = rng.choice(DST_ZONES + PLAIN_ZONES)
        out.append((expr, zone, start_time(rng, zone)))
    return out


def _schedule(expr: str, zone: str, start: datetime) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow("JobWorkflow", id="agreement-unused", task_queue="agreement-unused"),
        spec=ScheduleSpec(calendars=compile_cron(expr), time_zone_name=zone, start_at=start),
        state=ScheduleState(paused=True, note="cron agreement check"),
    )


async def _replace(client: Client, handle: ScheduleHandle, schedule: Schedule) -> None:
    """``UpdateSchedule`` without the describe that ``ScheduleHandle.update`` does first; asked again
    (the same request) when a busy machine lets the call time out, as ``_describe`` does."""
    request = wsv1.UpdateScheduleRequest(
        namespace=client.namespace,
        schedule_id=handle.id,
        schedule=await schedule._to_proto(client),  # the SDK's own conversion, as create_schedule uses
        identity=client.identity,
        request_id=str(uuid.uuid4()),
    )
    for attempt in range(3):
        try:
            await client.workflow_service.update_schedule(request, timeout=timedelta(seconds=60))
            return
        except RPCError:
            if attempt == 2:
                raise


MACROS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
          "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *"}  # fmt: skip
DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]


def _values(field: str, low: int, high: int) -> set[int]:
    out: set[int] = set()
    for item in field.split(","):
        base, slash, step = item.partition("/")
        first, _, last = base.partition("-")
        lo, hi = (
            (low, high) if base in ("*", "?") else (int(first), int(last) if last else high if slash else int(first))
        )
        out.update(range(lo, hi + 1, int(step) if slash else 1))
    return out


def reference_fires(expression: str, t: datetime) -> bool:
    """An independent reading of the dialect at one wall-clock time (5/6 fields, names, L, W, #, OR rule)."""
    fields = MACROS.get(expression, expression).upper().split()
    second, minute, hour, dom, month, dow = fields if len(fields) == 6 else ["0", *fields]
    for i, name in enumerate(DAYS):
        dow = dow.replace(name, str(i))
    for i, name in enumerate(MONTHS, 1):
        month = month.replace(name, str(i))
    last = calendar.monthrange(t.year, t.month)[1]
    weekday = (t.weekday() + 1) % 7

    def weekday_of(day: int) -> int:
        return (calendar.weekday(t.year, t.month, day) + 1) % 7

    def nearest(day: int) -> int | None:  # nW: never leaves the month
        if day > last:
            return None
        shift = {6: -1 if day > 1 else 2, 0: 1 if day < last else -2}.get(weekday_of(day), 0)
        return day + shift

    def dom_item(item: str) -> bool:
        if item == "L" or item.startswith("L-"):
            return t.day == last - int(item[2:] or 0)
        if item == "LW":
            return t.day == last - {6: 1, 0: 2}.get(weekday_of(last), 0)
        if item.endswith("W"):
            return t.day == nearest(int(item[:-1]))
        return t.day in _values(item, 1, 31)

    def dow_item(item: str) -> bool:
        if "#" in item:
            day, nth = item.split("#")
            return weekday == int(day) % 7 and (t.day - 1) // 7 + 1 == int(nth)
        if item.endswith("L"):
            return weekday == int(item[:-1]) % 7 and t.day + 7 > last
        return weekday in {v % 7 for v in _values(item, 0, 7)}

    dom_ok, dow_ok = any(map(dom_item, dom.split(","))), any(map(dow_item, dow.split(",")))
    day_ok = (dom_ok and dow_ok) if dom[0] in "*?" or dow[0] in "*?" else (dom_ok or dow_ok)
    return (
        day_ok
        and t.month in _values(month, 1, 12)
        and t.hour in _values(hour, 0, 23)
        and t.minute in _values(minute, 0, 59)
        and t.second in _values(second, 0, 59)
    )


async def _describe(handle: ScheduleHandle) -> ScheduleDescription:
    """Describe, asking again when a busy machine lets the server's query time out."""
    for attempt in range(3):
        try:
            return await handle.describe(rpc_timeout=timedelta(seconds=60))
        except RPCError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _check(expr: str, zone: str, start: datetime, ours: list[datetime], theirs: list[datetime]) -> str | None:
    if ours != theirs:
        return f"{expr!r} in {zone} from {start.isoformat()}:\n  ours   {ours}\n  server {theirs}"
    if zone in PLAIN_ZONES:
        tz = ZoneInfo(zone)
        wrong = [t for t in theirs if not reference_fires(expr, t.astimezone(tz))]
        if wrong:
            return f"{expr!r} in {zone} from {start.isoformat()}: the server fires off-cron at {wrong}"
    return None


@pytest.mark.timeout(120)  # ~21 s measured for the default 2000 cases
async def test_preview_agrees_with_the_server_on_every_case(dev_env: WorkflowEnvironment) -> None:
    client = dev_env.client
    generated = cases(SEED, CASES)
    print(f"\ncron agreement: seed {SEED}, {len(generated)} cases, {LANES} schedules")
    assert len(generated) >= 2000
    disagreements: list[str] = []
    compared = 0
    started = time.monotonic()

    async def lane(lane_no: int) -> None:
        nonlocal compared
        handle: ScheduleHandle | None = None
        try:
            for expr, zone, start in generated[lane_no::LANES]:
                schedule = _schedule(expr, zone, start)
                if handle is None:
                    handle = await client.create_schedule(f"agreement-{uuid.uuid4().hex[:12]}", schedule)
                else:
                    await _replace(client, handle, schedule)
                described = await _describe(handle)
                spec = described.schedule.spec
                assert (spec.time_zone_name, spec.start_at, spec.calendars[0].comment) == (zone, start, expr)
                theirs = list(described.info.next_action_times)
                ours = next_runs(
                    compile_cron(expr), time_zone=zone, after=start - timedelta(days=1), start_at=start, count=10
                )
                if (problem := _check(expr, zone, start, ours, theirs)) is not None:
                    disagreements.append(problem)
                compared += 1
        finally:
            if handle is not None:
                await handle.delete()

    failures = [r for r in await asyncio.gather(*(lane(k) for k in range(LANES)), return_exceptions=True) if r]
    if failures:
        raise failures[0]
    elapsed = time.monotonic() - started
    print(
        f"cron agreement: seed {SEED}, {compared} cases compared, {len(disagreements)} disagreements, {elapsed:.1f} s"
    )
    for problem in disagreements[:20]:
        print(problem)
    assert compared == len(generated)
    assert disagreements == []


def _shifted(text: str) -> str:
    return f"{int(text[:4]) + SHIFT}{text[4:]}"


async def test_done_when_and_dst_cases_on_the_server(dev_env: WorkflowEnvironment) -> None:
    """The done-when examples and the DST table of ``tests/planning/test_preview.py``, straight from the server."""
    client = dev_env.client
    first, leap_year = datetime(2027 + SHIFT, 1, 1, tzinfo=UTC), datetime(2028 + SHIFT, 1, 1, tzinfo=UTC)
    examples = [("0 9 * * MON#1", "Europe/Amsterdam", first), ("0 0 L * *", "UTC", leap_year),
                ("0 9 1 * MON", "Europe/Amsterdam", first)]  # fmt: skip
    examples += [(e, z, datetime.fromisoformat(_shifted(s))) for e, z, s, _ in DST_CASES]

    async def server_times(expr: str, zone: str, start: datetime) -> list[datetime]:
        handle = await client.create_schedule(f"agreement-{uuid.uuid4().hex[:12]}", _schedule(expr, zone, start))
        try:
            return list((await _describe(handle)).info.next_action_times)
        finally:
            await handle.delete()

    results = await asyncio.gather(*(server_times(*example) for example in examples))
    amsterdam = ZoneInfo("Europe/Amsterdam")
    mondays, firsts_or_mondays = ([t.astimezone(amsterdam) for t in r] for r in (results[0], results[2]))
    month_ends = results[1]
    assert [(d.month, d.weekday(), d.day <= 7, d.hour) for d in mondays] == [(m, 0, True, 9) for m in range(1, 11)]
    assert [d.day for d in month_ends] == [31, 29, 31, 30, 31, 30, 31, 31, 30, 31]  # Jan-Oct 2028
    assert all((d.day == 1 or d.weekday() == 0) and d.hour == 9 for d in firsts_or_mondays)
    assert {d.day for d in firsts_or_mondays if d.weekday() != 0} == {1}
    for (expr, zone, start), theirs, (*_, expected) in zip(examples[3:], results[3:], DST_CASES, strict=True):
        assert [_local(t, zone) for t in theirs[: len(expected)]] == [_shifted(x) for x in expected], (expr, zone)
        assert theirs == next_runs(compile_cron(expr), time_zone=zone, after=start - timedelta(days=1), start_at=start)


def _local(t: datetime, zone: str) -> str:
    return t.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M%z")
