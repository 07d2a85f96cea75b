"""Ductape filters to SQLAlchemy expressions, job values to column types, and rows to JSON.

Every name a job gives (column, ordering) is looked up on the reflected ``Table``; a value only
ever becomes a bind parameter. Nothing here touches the database.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from ductape_jobs.activities.errors import JobFailure

EPOCH_SECONDS_BELOW = 100_000_000_000
"""Like ``start_at``: an integer below 10^11 is epoch seconds, above it epoch milliseconds."""


class UnknownName(JobFailure):
    """A column the reflected table does not have (the caller may re-reflect once and retry)."""

    def __init__(self, table: sa.Table, name: str, where: str) -> None:
        known = ", ".join(c.name for c in list(table.columns)[:30])
        super().__init__("INVALID_INPUT", f"{where}: table {table.name!r} has no column {name!r} (columns: {known})")


def column(table: sa.Table, name: object, where: str) -> sa.Column[Any]:
    """The reflected column ``name``, compared exactly (no case folding, no quoting tricks).

    Raises:
        UnknownName: the table has no such column.
    """
    if not isinstance(name, str) or name not in table.c:
        raise UnknownName(table, str(name), where)
    return table.c[name]


# --- values -------------------------------------------------------------------------------------


def coerce(col: sa.Column[Any], value: Any, where: str) -> Any:
    """``value`` in the Python type the column's driver takes (epoch ms or ISO text to datetime...).

    Raises:
        JobFailure: INVALID_INPUT naming the column when the value cannot be converted.
    """
    if value is None:
        return None
    kind = col.type
    if isinstance(kind, sa.JSON):
        return value
    if isinstance(kind, sa.ARRAY):
        if not isinstance(value, list):
            raise _bad(col, where, "takes a list")
        return value
    if isinstance(value, dict | list):
        raise _bad(col, where, "is not a JSON column: it cannot take an object or a list")
    try:
        return _coerce_scalar(kind, value)
    except (ValueError, TypeError, InvalidOperation, OverflowError):
        raise _bad(col, where, f"cannot take the {type(value).__name__} given") from None


def _coerce_scalar(kind: sa.types.TypeEngine[Any], value: Any) -> Any:
    # Order matters: Float subclasses Numeric, DateTime is not a Date.
    if isinstance(kind, sa.DateTime):
        return _datetime(value, aware=bool(kind.timezone))
    if isinstance(kind, sa.Date):
        return _datetime(value, aware=True).date() if not isinstance(value, str) else _date_text(value)
    if isinstance(kind, sa.Time) and isinstance(value, str):
        return time.fromisoformat(value)
    if isinstance(kind, sa.Boolean) and not isinstance(value, bool):
        return _boolean(value)
    if isinstance(kind, sa.Integer) and isinstance(value, str):
        return int(value)
    if isinstance(kind, sa.Float) and isinstance(value, str):
        return float(value)
    if isinstance(kind, sa.Numeric) and not isinstance(kind, sa.Float) and isinstance(value, str | float):
        return Decimal(str(value))
    if isinstance(kind, sa.Uuid) and kind.as_uuid and isinstance(value, str):
        return uuid.UUID(value)
    if isinstance(kind, sa.String) and isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)  # asyncpg takes only str for text columns
    return value


def _datetime(value: Any, *, aware: bool) -> datetime:
    if isinstance(value, bool):
        raise TypeError("a boolean is not a time")
    if isinstance(value, int | float):
        seconds = value if abs(value) < EPOCH_SECONDS_BELOW else value / 1000
        found = datetime.fromtimestamp(seconds, UTC)
    elif isinstance(value, str):
        found = datetime.fromisoformat(value)
    elif isinstance(value, datetime):
        found = value
    else:
        raise TypeError("not a time")
    if found.tzinfo is None:
        # A naive ISO string is taken as written: that is what the column stores.
        return found.replace(tzinfo=UTC) if aware else found
    return found if aware else found.astimezone(UTC).replace(tzinfo=None)


def _date_text(value: str) -> date:
    return date.fromisoformat(value) if len(value) <= 10 else datetime.fromisoformat(value).date()


def _boolean(value: Any) -> bool:
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
        return value.lower() in ("true", "1")
    raise ValueError("not a boolean")


def _bad(col: sa.Column[Any], where: str, why: str) -> JobFailure:
    return JobFailure("INVALID_INPUT", f"{where}: column {col.name!r} ({col.type}) {why}")


def row_values(table: sa.Table, data: object, where: str) -> dict[str, Any]:
    """A row of the job, checked and converted column by column.

    Raises:
        JobFailure: INVALID_INPUT (UnknownName for an unknown column) naming the column.
    """
    if not isinstance(data, Mapping):
        raise JobFailure("INVALID_INPUT", f"{where}: must be an object of column values")
    return {str(k): coerce(column(table, k, where), v, where) for k, v in data.items()}


# --- filters ------------------------------------------------------------------------------------

Op = Callable[[sa.Column[Any], Any, str], ColumnElement[bool]]


def _list(value: Any, op: str, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise JobFailure("INVALID_INPUT", f"{where}: {op} takes a list")
    return value


def _flag(value: Any, op: str, where: str) -> bool:
    if not isinstance(value, bool):
        raise JobFailure("INVALID_INPUT", f"{where}: {op} takes true or false")
    return value


def _text(value: Any, op: str, where: str) -> str:
    if not isinstance(value, str):
        raise JobFailure("INVALID_INPUT", f"{where}: {op} takes a string pattern")
    return value


def _ordered(value: Any, op: str, where: str) -> Any:
    if value is None:
        raise JobFailure("INVALID_INPUT", f"{where}: {op} cannot compare with null")
    return value


def _between(c: sa.Column[Any], v: Any, w: str) -> ColumnElement[bool]:
    bounds = _list(v, "$between", w)
    if len(bounds) != 2 or None in bounds:
        raise JobFailure("INVALID_INPUT", f"{w}: $between takes [low, high]")
    return c.between(coerce(c, bounds[0], w), coerce(c, bounds[1], w))


_OPERATORS: dict[str, Op] = {
    "$eq": lambda c, v, w: c.is_(None) if v is None else c == coerce(c, v, w),
    "$ne": lambda c, v, w: c.is_not(None) if v is None else c != coerce(c, v, w),
    "$gt": lambda c, v, w: c > coerce(c, _ordered(v, "$gt", w), w),
    "$gte": lambda c, v, w: c >= coerce(c, _ordered(v, "$gte", w), w),
    "$lt": lambda c, v, w: c < coerce(c, _ordered(v, "$lt", w), w),
    "$lte": lambda c, v, w: c <= coerce(c, _ordered(v, "$lte", w), w),
    "$in": lambda c, v, w: c.in_([coerce(c, x, w) for x in _list(v, "$in", w)]),
    "$nin": lambda c, v, w: c.not_in([coerce(c, x, w) for x in _list(v, "$nin", w)]),
    "$like": lambda c, v, w: c.like(_text(v, "$like", w)),
    "$ilike": lambda c, v, w: c.ilike(_text(v, "$ilike", w)),
    "$isnull": lambda c, v, w: c.is_(None) if _flag(v, "$isNull", w) else c.is_not(None),
    "$isnotnull": lambda c, v, w: c.is_not(None) if _flag(v, "$isNotNull", w) else c.is_(None),
    "$between": _between,
}
"""Operators by lower-cased name (``$EQ`` and ``$isNull`` both work). SQL semantics: only
``$eq: null``, ``$isNull`` and ``$isNotNull`` match NULLs; ``$like`` is case-sensitive on
PostgreSQL, case-insensitive on SQLite (ASCII) and with MariaDB's default collations."""

OPERATOR_NAMES = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$like", "$ilike", "$isNull")


def build_where(table: sa.Table, spec: Mapping[str, Any], where: str = "where") -> ColumnElement[bool] | None:
    """The condition of a Ductape filter: ``{col: value | {$op: value}, $and: [...], $or: [...]}``.

    Keys are ANDed; a bare value means ``$eq``; an object whose keys all start with ``$`` is a set
    of operators (ANDed); any other object is a value (for JSON columns).

    Raises:
        JobFailure: INVALID_INPUT naming the column or operator (UnknownName for an unknown column).
    """
    parts: list[ColumnElement[bool]] = []
    for key, value in spec.items():
        lowered = key.lower()
        if lowered in ("$and", "$or"):
            subs = [
                build_where(table, _filter_object(s, f"{where}.{key}"), f"{where}.{key}")
                for s in _list(value, key, where)
            ]
            clauses = [s for s in subs if s is not None]
            if clauses:
                parts.append(sa.and_(*clauses) if lowered == "$and" else sa.or_(*clauses))
            elif lowered == "$or":
                parts.append(sa.false())  # no alternative can match
            continue
        col = column(table, key, where)
        parts.extend(_column_condition(col, value, f"{where}.{key}"))
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else sa.and_(*parts)


def _filter_object(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise JobFailure("INVALID_INPUT", f"{where}: each entry must be a filter object")
    return value


def _column_condition(col: sa.Column[Any], value: Any, where: str) -> list[ColumnElement[bool]]:
    if isinstance(value, Mapping) and value and all(isinstance(k, str) and k.startswith("$") for k in value):
        out = []
        for op, operand in value.items():
            fn = _OPERATORS.get(op.lower())
            if fn is None:
                raise JobFailure(
                    "INVALID_INPUT", f"{where}: unknown operator {op!r} (known: {', '.join(OPERATOR_NAMES)}...)"
                )
            out.append(fn(col, operand, f"{where}.{op}"))
        return out
    if isinstance(value, Mapping) and any(isinstance(k, str) and k.startswith("$") for k in value):
        raise JobFailure("INVALID_INPUT", f"{where}: mixes operators and plain keys")
    return [_OPERATORS["$eq"](col, value, where)]


def order_clauses(table: sa.Table, order_by: object) -> list[ColumnElement[Any]]:
    """``"col"``, ``"-col"``, ``"col desc"``, a list of those, or ``{col: "asc"|"desc"}``.

    Raises:
        JobFailure: INVALID_INPUT for a bad direction (UnknownName for an unknown column).
    """
    if order_by is None:
        return []
    items: list[tuple[str, str]] = []
    if isinstance(order_by, Mapping):
        items = [(str(k), str(v)) for k, v in order_by.items()]
    else:
        for entry in [order_by] if isinstance(order_by, str) else list(order_by):  # type: ignore[call-overload]
            text = str(entry).strip()
            if text.startswith("-"):
                items.append((text[1:], "desc"))
            else:
                name, _, direction = text.partition(" ")
                items.append((name, direction.strip() or "asc"))
    out: list[ColumnElement[Any]] = []
    for name, direction in items:
        col = column(table, name, "order_by")
        if direction.lower() not in ("asc", "desc"):
            raise JobFailure("INVALID_INPUT", f"order_by: direction of {name!r} must be asc or desc")
        out.append(col.desc() if direction.lower() == "desc" else col.asc())
    return out


# --- results ------------------------------------------------------------------------------------


def json_safe(value: Any) -> Any:
    """A database value as JSON: ISO-8601 times, exact decimals as strings, base64 bytes."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(v) for v in value]
    return str(value)


def row_dict(row: Mapping[Any, Any]) -> dict[str, Any]:
    """One result row as a JSON-safe dict keyed by column name."""
    return {str(k): json_safe(v) for k, v in row.items()}
