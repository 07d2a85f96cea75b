"""Cron expressions compiled into Temporal calendar specs; a user's cron string never reaches Temporal.

Temporal's own cron parser differs from Vixie cron silently (``#`` starts a comment, day-of-month
with day-of-week is AND, no ``L`` or ``W``), so we parse the expression ourselves and hand Temporal
``ScheduleCalendarSpec`` values whose union fires exactly when the expression does.

Dialect: 5 fields (or 6 with a leading seconds field); ``*``, ``?`` (day fields only), lists, ranges,
steps; names ``JAN-DEC`` and ``SUN-SAT`` (7 is Sunday too), any case; macros ``@yearly @annually
@monthly @weekly @daily @midnight @hourly``. Quartz/cronie extensions, each a list item of its own:
in day-of-month ``L`` (last day), ``L-n`` (n days before it), ``nW`` (the weekday nearest day n, never
leaving the month: ``1W`` on a Saturday 1st is Monday the 3rd), ``LW`` (last weekday); in day-of-week
``nL`` (last <weekday> of the month) and ``n#k`` (k-th <weekday>, k = 1..5, i.e. that weekday on a
day in ``7(k-1)+1 .. 7k``). When both day fields are restricted (neither starts with ``*`` or ``?``) a
day matches if *either* does (Vixie cron); otherwise both must match. A day that does not exist in a
month (31 in April, ``30W`` in February) never fires, as in Vixie cron; an expression that can never
fire at all is refused.

Refused (``CronError`` naming the field): ``L``/``W``/``#`` with a range or a step (``L/2``, ``1-5W``,
``1-5#2``) and a bare ``L`` or ``W`` in day-of-week: none has one agreed meaning across cron dialects.

Exactness: every day rule is a product of day-of-month, day-of-week, month and year sets, so the
union of calendars is exact. Month lengths depend on leap years, which are spelled out as year
ranges; Temporal accepts calendar years 2000-2100 only (``Year ... not in range [2000-2100]``,
measured on the dev server, Server 1.32) and never computes a run after 2100, so that range is
exact for every run the server will ever make.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTH_NAMES = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
_MONTHS = {m: i for i, m in enumerate(_MONTH_NAMES, start=1)}
_DAYS = {d: i for i, d in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])}

FIRST_YEAR, LAST_YEAR = 2000, 2100
"""The years Temporal calendars accept (the server refuses others) and the last year it computes."""
ALL_YEARS = frozenset(range(FIRST_YEAR, LAST_YEAR + 1))
LEAP = frozenset(y for y in ALL_YEARS if y % 4 == 0 and (y % 100 != 0 or y % 400 == 0))
NON_LEAP = ALL_YEARS - LEAP
ALL_DOMS = frozenset(range(1, 32))
ALL_DOWS = frozenset(range(7))
ALL_MONTHS = frozenset(range(1, 13))
WEEKDAYS = frozenset(range(1, 6))
FRIDAY, MONDAY = 5, 1

MONTH_LENGTHS: tuple[tuple[frozenset[int], frozenset[int], int], ...] = (
    (frozenset({1, 3, 5, 7, 8, 10, 12}), ALL_YEARS, 31),
    (frozenset({4, 6, 9, 11}), ALL_YEARS, 30),
    (frozenset({2}), LEAP, 29),
    (frozenset({2}), NON_LEAP, 28),
)
"""Months grouped by length: (months, years, length)."""


class CronError(ValueError):
    """The expression is not valid cron (the message names the field and says why)."""


class CronNeverFires(CronError):
    """The expression is well formed but no date matches it (``0 0 31 2 *``)."""


@dataclass(frozen=True)
class DayRule:
    """A set of days: every field must match (one calendar's date part)."""

    doms: frozenset[int] = ALL_DOMS
    dows: frozenset[int] = ALL_DOWS
    months: frozenset[int] = ALL_MONTHS
    years: frozenset[int] = ALL_YEARS

    def meet(self, other: DayRule) -> DayRule | None:
        """Both rules at once, or None when no day can match both."""
        rule = DayRule(
            self.doms & other.doms, self.dows & other.dows, self.months & other.months, self.years & other.years
        )
        return rule if rule.possible() else None

    def possible(self) -> bool:
        """Some existing date matches (31 never meets April, 29 February needs a leap year)."""
        if not (self.doms and self.dows and self.months and self.years):
            return False
        return any(
            months & self.months and years & self.years and min(self.doms) <= length
            for months, years, length in MONTH_LENGTHS
        )


@dataclass(frozen=True)
class CompiledCron:
    """What an expression means: its times of day and the days it fires on (a union of rules)."""

    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    days: tuple[DayRule, ...]
    fixed_hours: bool
    """The hour field is neither ``*`` nor a step from ``*``: a wall-clock time (DST policy applies)."""

    def matches(self, moment: datetime, zone: str | None = None) -> bool:
        """``moment`` is one of the expression's run times, read as wall time in ``zone`` (default UTC)."""
        t = moment.astimezone(ZoneInfo(zone) if zone else UTC)
        if t.microsecond or t.second not in self.seconds or t.minute not in self.minutes or t.hour not in self.hours:
            return False
        dow = t.isoweekday() % 7
        return any(t.day in r.doms and dow in r.dows and t.month in r.months and t.year in r.years for r in self.days)


def parse_cron(expression: str) -> CompiledCron:
    """Raises: CronError."""
    text = " ".join(expression.split())
    text = MACROS.get(text.lower(), text)
    if text.startswith("@"):
        raise CronError(f"unknown macro {text!r} (known: {', '.join(sorted(MACROS))})")
    parts = text.split(" ") if text else []
    if len(parts) == 5:
        parts = ["0", *parts]
    if len(parts) != 6:
        raise CronError(
            f"needs 5 fields (minute hour day-of-month month day-of-week) or 6 with a leading second, got {len(parts)}"
        )
    second, minute, hour, dom, month, dow = parts
    seconds, minutes = _plain(second, "second", 0, 59), _plain(minute, "minute", 0, 59)
    hours, months = _plain(hour, "hour", 0, 23), _plain(month, "month", 1, 12, _MONTHS)
    dom_rules, dow_rules = _dom_rules(dom), _dow_rules(dow)
    if _star(dom) or _star(dow):
        days = [r for a in dom_rules for b in dow_rules if (r := a.meet(b)) is not None]
    else:  # Vixie cron: both day fields restricted means either may match
        days = dom_rules + dow_rules
    in_months = [r for d in days if (r := d.meet(DayRule(months=months))) is not None]
    if not in_months:
        raise CronNeverFires(
            f"day-of-month, month and day-of-week fields: no date matches {dom} {month} {dow} (it would never fire)"
        )
    return CompiledCron(
        seconds=seconds,
        minutes=minutes,
        hours=hours,
        days=_merged(in_months),
        fixed_hours=not hour.startswith("*"),
    )


def _star(field: str) -> bool:
    return field.startswith(("*", "?"))


def _merged(rules: list[DayRule]) -> tuple[DayRule, ...]:
    """Fewer rules, same union: rules equal in three fields become one with the fourth united."""
    current = list(dict.fromkeys(rules))
    while True:
        before = len(current)
        for field in ("doms", "dows", "months", "years"):
            groups: dict[tuple[frozenset[int], ...], set[int]] = {}
            for r in current:
                key = tuple(getattr(r, f) for f in ("doms", "dows", "months", "years") if f != field)
                groups.setdefault(key, set()).update(getattr(r, field))
            current = []
            for key, united in groups.items():
                values = list(key)
                values.insert(("doms", "dows", "months", "years").index(field), frozenset(united))
                current.append(DayRule(*values))
        if len(current) == before:
            return tuple(current)


def _special(item: str, name: str) -> None:
    """Refuse ``L``/``W``/``#`` combined with a range or a step (``L/2``, ``15W-20``, ``1-5#2``)."""
    upper = item.upper()
    for day, number in _DAYS.items():  # WED holds a W
        upper = upper.replace(day, str(number))
    body = upper[2:] if upper.startswith("L-") else upper
    if set(upper) & set("LW#") and ("/" in upper or "-" in body):
        raise CronError(f"{name} field: {item!r}: `L`, `W` and `#` cannot take a range or a step")


def _dom_rules(field: str) -> list[DayRule]:
    if field in ("*", "?"):
        return [DayRule()]
    rules: list[DayRule] = []
    plain: set[int] = set()
    for item in _items(field, "day-of-month"):
        upper = item.upper()
        _special(item, "day-of-month")
        if upper == "L" or upper.startswith("L-"):
            back = 0 if upper == "L" else _number(upper[2:], "day-of-month", 0, 30, f"{item!r}: n of L-n")
            rules += [DayRule(frozenset({n - back}), months=m, years=y) for m, y, n in MONTH_LENGTHS if n - back >= 1]
        elif upper == "LW":
            rules += _last_weekday()
        elif upper.endswith("W"):
            rules += _nearest_weekday(_number(upper[:-1], "day-of-month", 1, 31, f"{item!r}: the day of nW"))
        elif "#" in upper:
            raise CronError(f"day-of-month field: {item!r}: `#` belongs in the day-of-week field")
        else:
            plain |= _values(item, "day-of-month", 1, 31, None)
    return ([DayRule(frozenset(plain))] if plain else []) + rules


def _dow_rules(field: str) -> list[DayRule]:
    if field in ("*", "?"):
        return [DayRule()]
    rules: list[DayRule] = []
    plain: set[int] = set()
    for item in _items(field, "day-of-week"):
        upper = item.upper()
        _special(item, "day-of-week")
        if upper in ("L", "LW") or (upper.endswith("W") and upper[:-1].isdigit()):
            raise CronError(
                "day-of-week field: `L` needs a day (e.g. `5L`, the last Friday of the month)"
                if upper == "L"
                else f"day-of-week field: {item!r}: `W` belongs in the day-of-month field"
            )
        if "#" in upper:
            day_text, _, nth_text = upper.partition("#")
            day = _number(day_text, "day-of-week", 0, 7, f"{item!r}: the day of n#k", _DAYS) % 7
            nth = _number(nth_text, "day-of-week", 1, 5, f"{item!r}: k of n#k")
            rules.append(DayRule(frozenset(range(7 * nth - 6, min(7 * nth, 31) + 1)), frozenset({day})))
        elif upper.endswith("L") and len(upper) > 1:
            day = _number(upper[:-1], "day-of-week", 0, 7, f"{item!r}: the day of nL", _DAYS) % 7
            rules += [DayRule(frozenset(range(n - 6, n + 1)), frozenset({day}), m, y) for m, y, n in MONTH_LENGTHS]
        else:
            plain |= {v % 7 for v in _values(item, "day-of-week", 0, 7, _DAYS)}
    return ([DayRule(dows=frozenset(plain))] if plain else []) + rules


def _last_weekday() -> list[DayRule]:
    rules = []
    for months, years, n in MONTH_LENGTHS:
        rules += [
            DayRule(frozenset({n}), WEEKDAYS, months, years),
            DayRule(frozenset({n - 1}), frozenset({FRIDAY}), months, years),  # the last day is a Saturday
            DayRule(frozenset({n - 2}), frozenset({FRIDAY}), months, years),  # the last day is a Sunday
        ]
    return rules


def _nearest_weekday(day: int) -> list[DayRule]:
    rules = []
    for months, years, n in MONTH_LENGTHS:
        if day > n:
            continue  # that day does not exist in these months: no run, as for a plain day
        rules.append(DayRule(frozenset({day}), WEEKDAYS, months, years))
        # day is a Saturday: the Friday before, or the Monday after when that would leave the month
        saturday = DayRule(frozenset({day - 1}), frozenset({FRIDAY}), months, years)
        rules.append(saturday if day > 1 else DayRule(frozenset({3}), frozenset({MONDAY}), months, years))
        # day is a Sunday: the Monday after, or the Friday before when that would leave the month
        sunday = DayRule(frozenset({day + 1}), frozenset({MONDAY}), months, years)
        rules.append(sunday if day < n else DayRule(frozenset({day - 2}), frozenset({FRIDAY}), months, years))
    return rules


def _items(field: str, name: str) -> list[str]:
    items = field.split(",")
    if any(not item for item in items):
        raise CronError(f"{name} field {field!r} has an empty list item")
    return items


def _plain(field: str, name: str, low: int, high: int, names: dict[str, int] | None = None) -> frozenset[int]:
    values: set[int] = set()
    for item in _items(field, name):
        values |= _values(item, name, low, high, names)
    return frozenset(values)


def _values(item: str, name: str, low: int, high: int, names: dict[str, int] | None) -> set[int]:
    base, slash, step_text = item.partition("/")
    step = 1
    if slash:
        if not step_text.isdigit() or int(step_text) < 1:
            raise CronError(f"{name} field: step in {item!r} must be a positive number")
        step = int(step_text)
    if base in ("*", "?"):
        if base == "?" and name not in ("day-of-month", "day-of-week"):
            raise CronError(f"{name} field: `?` is only allowed in the day fields")
        return set(range(low, high + 1, step))
    first_text, dash, last_text = base.partition("-")
    first = _number(first_text, name, low, high, repr(first_text), names)
    last = _number(last_text, name, low, high, repr(last_text), names) if dash else (high if slash else first)
    if last < first:
        raise CronError(f"{name} field: range {base!r} runs backwards")
    return set(range(first, last + 1, step))


def _number(text: str, name: str, low: int, high: int, what: str, names: dict[str, int] | None = None) -> int:
    if names and text.upper() in names:
        return names[text.upper()]
    if not text.isdigit():
        hint = f" or a name ({', '.join(names)})" if names else ""
        day_field = name.startswith("day-of")
        special = (
            " (`L`, `W` and `#` belong in the day fields)" if not day_field and set(text.upper()) & set("LW#") else ""
        )
        raise CronError(f"{name} field: {what} is not a number{hint}{special}")
    value = int(text)
    if not low <= value <= high:
        raise CronError(f"{name} field: {value} is outside {low}-{high}")
    return value
