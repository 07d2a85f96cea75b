"""Cron expressions compiled into Temporal calendar specs; a user's cron string never reaches Temporal.

Temporal's own cron parser differs from Vixie cron silently (``#`` starts a comment, day-of-month
with day-of-week is AND), so we parse the expression ourselves and hand Temporal exact
``ScheduleCalendarSpec`` values. Supported: 5 fields (or 6 with leading seconds); ``*``, ``?``,
lists, ranges, steps; ``JAN-DEC`` and ``SUN-SAT`` names; 7 as Sunday; the macros ``@yearly``,
``@annually``, ``@monthly``, ``@weekly``, ``@daily``, ``@midnight``, ``@hourly``; and Vixie's rule that
when both day fields are restricted a day matches if *either* does. ``L``, ``W`` and ``#`` are
refused with a clear error until the full dialect lands.
"""

from __future__ import annotations

from dataclasses import dataclass

from temporalio.client import ScheduleCalendarSpec, ScheduleRange

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTHS = {
    m: i
    for i, m in enumerate(["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], start=1)
}
_DAYS = {d: i for i, d in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])}


class CronError(ValueError):
    """The expression is not valid cron, or uses a part this version cannot represent exactly."""


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: dict[str, int] | None = None


_SECOND = _Field("second", 0, 59)
_MINUTE = _Field("minute", 0, 59)
_HOUR = _Field("hour", 0, 23)
_DOM = _Field("day-of-month", 1, 31)
_MONTH = _Field("month", 1, 12, _MONTHS)
_DOW = _Field("day-of-week", 0, 7, _DAYS)


@dataclass(frozen=True)
class _Parsed:
    values: tuple[int, ...]
    star: bool
    """The field starts with ``*`` or ``?``: Vixie cron then ANDs the day fields instead of ORing."""


def compile_cron(expression: str) -> list[ScheduleCalendarSpec]:
    """Calendar specs whose union fires exactly when the cron expression does.

    Raises:
        CronError: naming the field and the reason.
    """
    text = " ".join(expression.split())
    text = MACROS.get(text.lower(), text)
    if text.startswith("@"):
        raise CronError(f"unknown macro {text!r} (known: {', '.join(sorted(MACROS))})")
    parts = text.split(" ")
    if len(parts) == 5:
        parts = ["0", *parts]
    if len(parts) != 6:
        raise CronError(f"needs 5 fields (minute hour day-of-month month day-of-week), got {len(parts)}")
    second, minute, hour, dom, month, dow = (
        _parse(p, f) for p, f in zip(parts, (_SECOND, _MINUTE, _HOUR, _DOM, _MONTH, _DOW), strict=True)
    )
    dow_values = tuple(sorted({0 if v == 7 else v for v in dow.values}))
    common = {
        "second": _ranges(second.values),
        "minute": _ranges(minute.values),
        "hour": _ranges(hour.values),
        "month": _ranges(month.values),
        "comment": expression.strip(),
    }
    every_day = _ranges(tuple(range(1, 32)))
    every_weekday = _ranges(tuple(range(7)))
    if dom.star or dow.star:
        return [ScheduleCalendarSpec(day_of_month=_ranges(dom.values), day_of_week=_ranges(dow_values), **common)]  # type: ignore[arg-type]
    # Vixie cron: both day fields restricted means either may match.
    return [
        ScheduleCalendarSpec(day_of_month=_ranges(dom.values), day_of_week=every_weekday, **common),  # type: ignore[arg-type]
        ScheduleCalendarSpec(day_of_month=every_day, day_of_week=_ranges(dow_values), **common),  # type: ignore[arg-type]
    ]


def _parse(text: str, field: _Field) -> _Parsed:
    values: set[int] = set()
    for item in text.split(","):
        if not item:
            raise CronError(f"{field.name} field {text!r} has an empty list item")
        values.update(_item(item, field))
    return _Parsed(tuple(sorted(values)), star=text.startswith(("*", "?")))


def _item(item: str, field: _Field) -> range:
    base, slash, step_text = item.partition("/")
    step = 1
    if slash:
        if not step_text.isdigit() or int(step_text) < 1:
            raise CronError(f"{field.name} field: step in {item!r} must be a positive number")
        step = int(step_text)
    if base in ("*", "?"):
        if base == "?" and field not in (_DOM, _DOW):
            raise CronError(f"{field.name} field: `?` is only allowed in the day fields")
        return range(field.low, field.high + 1, step)
    low_text, dash, high_text = base.partition("-")
    low = _value(low_text, field)
    if dash:
        high = _value(high_text, field)
        if high < low:
            raise CronError(f"{field.name} field: range {base!r} runs backwards")
    else:
        high = field.high if slash else low
    return range(low, high + 1, step)


def _value(text: str, field: _Field) -> int:
    if field.names and text.upper() in field.names:
        return field.names[text.upper()]
    if not text.isdigit():
        upper = text.upper()
        if "#" in upper or upper.endswith(("L", "W")) or upper in {"L", "W", "LW"}:
            raise CronError(f"{field.name} field: {text!r} uses `L`, `W` or `#`, not supported yet")
        raise CronError(
            f"{field.name} field: {text!r} is not a number"
            + (f" or a name ({', '.join(field.names)})" if field.names else "")
        )
    value = int(text)
    if not field.low <= value <= field.high:
        raise CronError(f"{field.name} field: {value} is outside {field.low}-{field.high}")
    return value


def _ranges(values: tuple[int, ...]) -> list[ScheduleRange]:
    """Consecutive runs of values as ranges (exact, whatever steps produced them)."""
    out: list[ScheduleRange] = []
    for v in values:
        if out and out[-1].end == v - 1:
            out[-1] = ScheduleRange(out[-1].start, v)
        else:
            out.append(ScheduleRange(v, v))
    return out
