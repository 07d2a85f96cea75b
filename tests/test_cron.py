"""The cron compiler: its calendar specs fire exactly when Vixie cron would, minute by minute."""

from __future__ import annotations

import calendar
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
        ("0 9 * * MON#6", "day-of-week field: 6 is outside 1-5"),
        ("0 0 L-31 * *", "day-of-month field: 31 is outside 0-30"),
        ("0 0 32W * *", "day-of-month field: 32 is outside 1-31"),
        ("0 0 1-5W * *", "day-of-month field: '1-5W': the day of nW is not a number"),
        ("0 0 * * 8L", "day-of-week field: 8 is outside 0-7"),
        ("0 0 * L *", "month field: 'L' is not a number"),
        ("0 0 * * L", "day-of-week field: `L` needs a day"),
    ],
)
def test_errors_name_the_field(expression: str, message: str) -> None:
    with pytest.raises(CronError) as err:
        compile_cron(expression)
    assert message in str(err.value)


def _nearest_weekday(year: int, month: int, day: int) -> int | None:
    last = calendar.monthrange(year, month)[1]
    if day > last:
        return None
    weekday = calendar.weekday(year, month, day)  # Monday = 0
    if weekday == 5:
        return day - 1 if day > 1 else day + 2
    if weekday == 6:
        return day + 1 if day < last else day - 2
    return day


def reference_day(expression: str, moment: datetime) -> bool:
    """An independent reading of the extended day syntax (L, L-n, nW, LW, nL, n#k) for one date."""
    _, _, dom, month, dow = expression.split()
    for name, number in NAMES.items():
        dow, month = dow.replace(name, number), month.replace(name, number)
    y, m, d = moment.year, moment.month, moment.day
    last = calendar.monthrange(y, m)[1]
    weekday = (moment.weekday() + 1) % 7

    def dom_item(item: str) -> bool:
        if item == "L":
            return d == last
        if item.startswith("L-"):
            return d == last - int(item[2:])
        if item == "LW":
            return d == (_nearest_weekday(y, m, last) if calendar.weekday(y, m, last) < 5 else
                         last - (1 if calendar.weekday(y, m, last) == 5 else 2))  # fmt: skip
        if item.endswith("W"):
            return d == _nearest_weekday(y, m, int(item[:-1]))
        return d in reference_values(item, 1, 31)

    def dow_item(item: str) -> bool:
        if "#" in item:
            day, nth = item.split("#")
            return weekday == int(day) % 7 and (d - 1) // 7 + 1 == int(nth)
        if item.endswith("L"):
            return weekday == int(item[:-1]) % 7 and d + 7 > last
        return weekday in {v % 7 for v in reference_values(item, 0, 7)}

    dom_ok = any(dom_item(i) for i in dom.split(","))
    dow_ok = any(dow_item(i) for i in dow.split(","))
    day_ok = dom_ok and dow_ok if dom[0] in "*?" or dow[0] in "*?" else dom_ok or dow_ok
    return day_ok and m in reference_values(month, 1, 12)


EXTENDED = [
    "0 12 L * *", "0 12 L-3 * *", "0 12 L-30 * *", "0 12 15W * *", "0 12 1W * *", "0 12 31W * *",
    "0 12 30W * *", "0 12 29W * *", "0 12 LW * *", "0 12 * * 5L", "0 12 * * FRIL", "0 12 * * MON#1",
    "0 12 * * 1#5", "0 12 * * SUN#2,SAT#4", "0 12 L * MON", "0 12 1,L * *", "0 12 LW * 0", "0 12 L FEB *",
    "0 12 */2 * 1#1", "0 12 ? * 6L", "0 12 28W FEB *", "0 12 L-1,15W * MON#3",
]  # fmt: skip


@pytest.mark.parametrize("expression", EXTENDED)
def test_extended_day_syntax_matches_a_reference_every_day_of_six_years(expression: str) -> None:
    specs = compile_cron(expression)
    day = datetime(2024, 1, 1, 12, tzinfo=UTC)
    while day.year < 2030:
        assert compiled_fires(specs, day) == reference_day(expression, day), (expression, day.date())
        day += timedelta(days=1)


def test_done_when_examples() -> None:
    first_mondays = [d for d in _days(2027) if compiled_fires(compile_cron("0 9 * * MON#1"), d)]
    assert all(d.weekday() == 0 and d.day <= 7 for d in first_mondays)
    assert len(first_mondays) == 12
    month_ends = [d for d in _days(2028) if compiled_fires(compile_cron("0 9 L * *"), d)]
    assert [d.day for d in month_ends] == [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    firsts_or_mondays = [d for d in _days(2027) if compiled_fires(compile_cron("0 9 1 * MON"), d)]
    assert {d for d in firsts_or_mondays if d.day == 1} == {d for d in _days(2027) if d.day == 1}
    assert {d for d in firsts_or_mondays if d.day != 1} == {d for d in _days(2027) if d.weekday() == 0 and d.day != 1}


def _days(year: int) -> list[datetime]:
    start = datetime(year, 1, 1, 9, tzinfo=UTC)
    return [start + timedelta(days=i) for i in range(366 if calendar.isleap(year) else 365)]
