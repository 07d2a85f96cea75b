"""The cron compiler: the union of its calendar specs fires exactly when Vixie cron would, minute by minute."""

from __future__ import annotations

import calendar
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.client import ScheduleCalendarSpec, ScheduleRange

from ductape_jobs.planning.calendars import compile_cron
from ductape_jobs.workflows.cron import MACROS, CronError

MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]

# ------------------------------------------------------------------------------------------------
# The compiled side: what Temporal does with a ScheduleCalendarSpec.


def in_ranges(value: int, ranges: Sequence[ScheduleRange]) -> bool:
    """Temporal's reading of a range list: ``end`` < ``start`` means just ``start``, step 0 means 1."""
    return any(r.start <= value <= max(r.start, r.end) and (value - r.start) % (r.step or 1) == 0 for r in ranges)


def fires(specs: Sequence[ScheduleCalendarSpec], moment: datetime) -> bool:
    """Whether any calendar matches ``moment`` (day_of_week 0 = Sunday; an empty year list = any year)."""
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


# ------------------------------------------------------------------------------------------------
# The reference: an independent brute-force reading of Vixie cron.


def _number(text: str, names: list[str]) -> int:
    upper = text.upper()
    return names.index(upper) + (1 if names is MONTHS else 0) if upper in names else int(text)


def field_values(field: str, low: int, high: int, names: list[str] | None = None) -> set[int]:
    values: set[int] = set()
    for item in field.split(","):
        base, slash, step = item.partition("/")
        if base in ("*", "?"):
            first, last = low, high
        elif "-" in base:
            a, b = base.split("-")
            first, last = _number(a, names or []), _number(b, names or [])
        else:
            first = _number(base, names or [])
            last = high if slash else first
        values.update(range(first, last + 1, int(step) if slash else 1))
    return values


def reference_fires(expression: str, moment: datetime) -> bool:
    fields = MACROS.get(expression.lower(), expression).split()
    if len(fields) == 5:
        fields = ["0", *fields]
    second, minute, hour, dom, month, dow = fields
    dows = {d % 7 for d in field_values(dow, 0, 7, DAYS)}
    dom_ok = moment.day in field_values(dom, 1, 31)
    dow_ok = (moment.weekday() + 1) % 7 in dows
    # Vixie cron: if either day field starts with '*' both must match, else either may.
    day_ok = (dom_ok and dow_ok) if dom[0] in "*?" or dow[0] in "*?" else (dom_ok or dow_ok)
    return (
        day_ok
        and moment.second in field_values(second, 0, 59)
        and moment.minute in field_values(minute, 0, 59)
        and moment.hour in field_values(hour, 0, 23)
        and moment.month in field_values(month, 1, 12, MONTHS)
    )


def moments(first_day: datetime, last_day: datetime) -> Iterator[datetime]:
    """Every minute of the days from ``first_day`` to ``last_day`` inclusive, at seconds 0 and 30."""
    moment = first_day
    while moment < last_day + timedelta(days=1):
        yield moment
        yield moment + timedelta(seconds=30)
        moment += timedelta(minutes=1)


WINDOWS = [
    (datetime(2026, 2, 27, tzinfo=UTC), datetime(2026, 3, 2, tzinfo=UTC)),  # non-leap month end, Sun 1 March
    (datetime(2024, 2, 28, tzinfo=UTC), datetime(2024, 3, 1, tzinfo=UTC)),  # leap day
    (datetime(2026, 12, 31, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)),  # year end
]

EXPRESSIONS = [
    "0 9 * * MON-FRI", "30 6 * * mon,wed,fri", "0 0 * JAN,JUL *", "0 0 * jan-mar *", "*/15 * * * *",
    "5-50/10 * * * *", "10/20 3 * * *", "0 */6 * * *", "23 0-20/2 * * *", "0,30 8,20 * * *",
    "0 12 * * 7", "30 6 * * 5-7", "0 0 * * 0-7/7", "0 0 ? * MON", "0 0 1 * ?", "@daily", "@hourly", "@weekly",
    "@monthly", "@yearly", "@ANNUALLY", "@midnight", "0 0 9 * * *", "30 15 10 * * *", "*/20 */30 * * * *",
    "0 0 1,15 * 1", "0 0 28-31 * SUN", "0 0 */2 * 5", "0 0 1-7 * */2", "0 0 29 2 *", "59 23 31 12 *",
    "0 0 1 3 *", "0 12 1 * 6-7",
]  # fmt: skip


@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_compiled_calendars_fire_as_vixie_cron(expression: str) -> None:
    specs = compile_cron(expression)
    fired = 0
    for first, last in WINDOWS:
        for moment in moments(first, last):
            expected = reference_fires(expression, moment)
            assert fires(specs, moment) == expected, (expression, moment.isoformat())
            fired += expected
    assert fired, f"{expression} never fired in the windows: the comparison proves nothing"


@pytest.mark.parametrize(
    ("expression", "days"),
    [
        ("0 0 1,15 * 1", {(2026, 3, 1), (2026, 3, 2)}),  # 1st (a Sunday) OR Monday the 2nd
        ("0 0 */2 * 1", set()),  # odd days AND Monday: Mon 2 March is even
        ("0 0 1-7 * */2", {(2026, 3, 1)}),  # first week AND Sun/Tue/Thu/Sat within the window
        ("0 0 29 2 *", set()),
        ("0 0 L * *", {(2026, 2, 28)}),
        ("0 0 * * 0", {(2026, 3, 1)}),
    ],
)
def test_days_in_the_2026_window(expression: str, days: set[tuple[int, int, int]]) -> None:
    specs = compile_cron(expression)
    first, last = WINDOWS[0]
    found = {(d.year, d.month, d.day) for d in _days(first, last) if fires(specs, d)}
    assert found == days


def _days(first: datetime, last: datetime) -> list[datetime]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def test_day_field_semantics_give_one_or_two_calendars() -> None:
    assert len(compile_cron("0 0 1,15 * 1")) == 2  # OR: one calendar per day field
    assert len(compile_cron("0 0 */2 * 1")) == 1  # AND: one calendar with both
    assert len(compile_cron("0 0 1 * ?")) == 1


def test_calendar_shape() -> None:
    (spec,) = compile_cron("  30   0 9 * * MON-FRI ")
    assert [(r.start, r.end, r.step) for r in spec.second] == [(30, 30, 1)]
    assert [(r.start, r.end) for r in spec.hour] == [(9, 9)]
    assert [(r.start, r.end) for r in spec.day_of_week] == [(1, 5)]
    assert spec.year == []
    assert spec.comment == "30   0 9 * * MON-FRI"
    (quarter,) = compile_cron("*/15 * * * *")
    assert [(r.start, r.end, r.step) for r in quarter.minute] == [(0, 45, 15)]
    (sunday,) = compile_cron("0 0 * * 7")
    assert [(r.start, r.end) for r in sunday.day_of_week] == [(0, 0)]


CRON_ERRORS = [
    ("61 * * * *", "minute field: 61 is outside 0-59"),
    ("60 * * * * *", "second field: 60 is outside 0-59"),
    ("0 24 * * *", "hour field: 24 is outside 0-23"),
    ("0 0 0 * *", "day-of-month field: 0 is outside 1-31"),
    ("0 0 32 * *", "day-of-month field: 32 is outside 1-31"),
    ("0 0 * 13 *", "month field: 13 is outside 1-12"),
    ("0 0 * 0 *", "month field: 0 is outside 1-12"),
    ("0 0 * * 8", "day-of-week field: 8 is outside 0-7"),
    ("0 0 * FOO *", "month field: 'FOO' is not a number"),
    ("0 0 * * FUNDAY", "day-of-week field: 'FUNDAY' is not a number"),
    ("x * * * *", "minute field: 'x' is not a number"),
    ("*/0 * * * *", "minute field: step in '*/0' must be a positive number"),
    ("*/x * * * *", "minute field: step"),
    ("0 0 5-2 * *", "day-of-month field: range '5-2' runs backwards"),
    ("0 0 * * FRI-MON", "day-of-week field: range 'FRI-MON' runs backwards"),
    ("0 0 * * SAT-SUN", "day-of-week field: range 'SAT-SUN' runs backwards"),
    ("1,,2 * * * *", "minute field '1,,2' has an empty list item"),
    ("0 0 * * 1,", "day-of-week field '1,' has an empty list item"),
    ("? * * * *", "minute field: `?` is only allowed in the day fields"),
    ("0 ? * * *", "hour field: `?`"),
    ("* * *", "needs 5 fields"),
    ("* * * * * * *", "got 7"),
    ("", "got 0"),
    ("@sometimes", "unknown macro"),
    ("0 0 31 2 *", "no date matches 31 2 *"),
    ("0 0 30 FEB *", "never fire"),
    ("0 0 L/2 * *", "day-of-month field: 'L/2': `L`, `W` and `#` cannot take a range or a step"),
    ("0 0 1-5W * *", "day-of-month field: '1-5W'"),
    ("0 0 * * 1-5#2", "day-of-week field: '1-5#2'"),
    ("0 0 1#2 * *", "day-of-month field: '1#2': `#` belongs in the day-of-week field"),
    ("0 0 * * L", "day-of-week field: `L` needs a day"),
    ("0 0 * * 5W", "day-of-week field: '5W': `W` belongs in the day-of-month field"),
    ("0 9 * * MON#6", "day-of-week field: 6 is outside 1-5"),
    ("0 0 L-31 * *", "day-of-month field: 31 is outside 0-30"),
    ("0 L * * *", "hour field: 'L' is not a number (`L`, `W` and `#` belong in the day fields)"),
    ("0 0 * L *", "month field: 'L' is not a number"),
]


@pytest.mark.parametrize(("expression", "message"), CRON_ERRORS)
def test_errors_name_the_field(expression: str, message: str) -> None:
    with pytest.raises(CronError) as err:
        compile_cron(expression)
    assert message in str(err.value)
    assert isinstance(err.value, ValueError)


# ------------------------------------------------------------------------------------------------
# The day extensions (L, L-n, nW, LW, nL, n#k), checked day by day against their own reference.


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
    _, _, dom, month, dow = expression.split()
    for i, name in enumerate(DAYS):
        dow = dow.replace(name, str(i))
    y, m, d = moment.year, moment.month, moment.day
    last = calendar.monthrange(y, m)[1]
    weekday = (moment.weekday() + 1) % 7

    def dom_item(item: str) -> bool:
        if item == "L":
            return d == last
        if item.startswith("L-"):
            return d == last - int(item[2:])
        if item == "LW":
            last_weekday = calendar.weekday(y, m, last)
            return d == (last if last_weekday < 5 else last - (1 if last_weekday == 5 else 2))
        if item.endswith("W"):
            return d == _nearest_weekday(y, m, int(item[:-1]))
        return d in field_values(item, 1, 31)

    def dow_item(item: str) -> bool:
        if "#" in item:
            day, nth = item.split("#")
            return weekday == int(day) % 7 and (d - 1) // 7 + 1 == int(nth)
        if item.endswith("L"):
            return weekday == int(item[:-1]) % 7 and d + 7 > last
        return weekday in {v % 7 for v in field_values(item, 0, 7)}

    dom_ok = any(dom_item(i) for i in dom.split(","))
    dow_ok = any(dow_item(i) for i in dow.split(","))
    day_ok = dom_ok and dow_ok if dom[0] in "*?" or dow[0] in "*?" else dom_ok or dow_ok
    return day_ok and m in field_values(month, 1, 12, MONTHS)


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
        assert fires(specs, day) == reference_day(expression, day), (expression, day.date())
        day += timedelta(days=1)


def test_extension_examples() -> None:
    year = [datetime(2028, 1, 1, 9, tzinfo=UTC) + timedelta(days=i) for i in range(366)]
    month_ends = [d.day for d in year if fires(compile_cron("0 9 L * *"), d)]
    assert month_ends == [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    first_mondays = [d for d in year if fires(compile_cron("0 9 * * MON#1"), d)]
    assert len(first_mondays) == 12
    assert all(d.weekday() == 0 and d.day <= 7 for d in first_mondays)
