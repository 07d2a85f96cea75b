"""The cron compiler: its calendar specs fire exactly when Vixie cron would, minute by minute."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.client import ScheduleCalendarSpec, ScheduleRange

from starter.cron import CronError, compile_cron

NAMES = {
    **{m: str(i) for i, m in enumerate(["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT",
                                        "NOV", "DEC"], 1)},
    **{d: str(i) for i, d in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])},
}  # fmt: skip
MACROS = {"@daily": "0 0 * * *", "@hourly": "0 * * * *", "@weekly": "0 0 * * 0", "@monthly": "0 0 1 * *",
          "@yearly": "0 0 1 1 *"}  # fmt: skip


def reference_values(field: str, low: int, high: int) -> set[int]:
    """An independent reading of one cron field (numbers only, names already replaced)."""
    values: set[int] = set()
    for item in field.split(","):
        base, _, step = item.partition("/")
        if base in ("*", "?"):
            lo, hi = low, high
        elif "-" in base:
            lo, hi = (int(x) for x in base.split("-"))
        else:
            lo = int(base)
            hi = high if step else lo
        values.update(range(lo, hi + 1, int(step or 1)))
    return values


def reference_fires(expression: str, moment: datetime) -> bool:
    text = MACROS.get(expression, expression)
    for name, number in NAMES.items():
        text = text.replace(name, number)
    minute, hour, dom, month, dow = text.split()
    dows = {0 if d == 7 else d for d in reference_values(dow, 0, 7)}
    dom_ok = moment.day in reference_values(dom, 1, 31)
    dow_ok = (moment.weekday() + 1) % 7 in dows
    # Vixie cron: when both day fields are restricted, either may match.
    day_ok = dom_ok and dow_ok if dom[0] in "*?" or dow[0] in "*?" else dom_ok or dow_ok
    return (
        moment.minute in reference_values(minute, 0, 59)
        and moment.hour in reference_values(hour, 0, 23)
        and moment.month in reference_values(month, 1, 12)
        and day_ok
    )


def in_ranges(value: int, ranges: Sequence[ScheduleRange]) -> bool:
    return any(r.start <= value <= max(r.start, r.end) and (value - r.start) % (r.step or 1) == 0 for r in ranges)


def compiled_fires(specs: list[ScheduleCalendarSpec], moment: datetime) -> bool:
    return any(
        in_ranges(moment.second, s.second)
        and in_ranges(moment.minute, s.minute)
        and in_ranges(moment.hour, s.hour)
        and in_ranges(moment.day, s.day_of_month)
        and in_ranges(moment.month, s.month)
        and in_ranges((moment.weekday() + 1) % 7, s.day_of_week)
        and (not s.year or in_ranges(moment.year, s.year))
        for s in specs
    )


def minutes(start: datetime, days: int) -> Iterator[datetime]:
    moment = start
    while moment < start + timedelta(days=days):
        yield moment
        moment += timedelta(minutes=1)


EXPRESSIONS = [
    "0 9 * * MON-FRI", "*/15 * * * *", "5-50/10 * * * *", "10/20 3 * * *", "0 0 1,15 * *", "0 0 * JAN,JUL *",
    "0 12 * * 7", "30 6 * * 5-7", "0 0 ? * MON", "0 0 1,15 * 1", "0 0 */2 * 1", "0 0 13 * FRI", "0 */6 * * *",
    "59 23 31 12 *", "0 0 29 2 *", "0 0 28-31 * *", "15 14 1 * *", "0 22 * * 1-5",
    "23 0-20/2 * * *", "@daily", "@hourly", "@weekly", "@monthly", "@yearly", "0 0 1-7 * SUN",
]  # fmt: skip
WINDOWS = [datetime(2026, 2, 26, tzinfo=UTC), datetime(2024, 2, 27, tzinfo=UTC), datetime(2026, 12, 30, tzinfo=UTC)]


@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_compiled_calendars_match_vixie_cron_minute_by_minute(expression: str) -> None:
    specs = compile_cron(expression)
    for window in WINDOWS:
        for moment in minutes(window, 4):
            assert compiled_fires(specs, moment) == reference_fires(expression, moment), (expression, moment)


def test_six_fields_take_a_leading_seconds_field() -> None:
    (spec,) = compile_cron("30 0 9 * * *")
    assert [(r.start, r.end) for r in spec.second] == [(30, 30)]
    assert [(r.start, r.end) for r in spec.hour] == [(9, 9)]


def test_both_day_fields_restricted_give_two_calendars_and_a_star_gives_one() -> None:
    assert len(compile_cron("0 0 1,15 * 1")) == 2
    assert len(compile_cron("0 0 */2 * 1")) == 1


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("61 * * * *", "minute field: 61 is outside 0-59"),
        ("0 24 * * *", "hour field: 24 is outside 0-23"),
        ("0 0 0 * *", "day-of-month field: 0 is outside 1-31"),
        ("0 0 * 13 *", "month field: 13 is outside 1-12"),
        ("0 0 * * 8", "day-of-week field: 8 is outside 0-7"),
        ("0 0 * FOO *", "month field: 'FOO' is not a number"),
        ("*/0 * * * *", "minute field: step"),
        ("0 0 5-2 * *", "day-of-month field: range '5-2' runs backwards"),
        ("1,,2 * * * *", "minute field"),
        ("? * * * *", "minute field: `?`"),
        ("* * *", "needs 5 fields"),
        ("@sometimes", "unknown macro"),
        ("0 9 * * MON#1", "day-of-week field: 'MON#1' uses `L`, `W` or `#`"),
        ("0 0 L * *", "day-of-month field: 'L'"),
        ("0 0 15W * *", "day-of-month field: '15W'"),
        ("0 0 * * 5L", "day-of-week field: '5L'"),
    ],
)
def test_errors_name_the_field(expression: str, message: str) -> None:
    with pytest.raises(CronError) as err:
        compile_cron(expression)
    assert message in str(err.value)
