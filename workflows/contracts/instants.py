"""Instants as the seeds write them (epoch ms, epoch seconds, ISO-8601 with an offset) and time zones.

Loaded inside the workflow sandbox like the rest of ``contracts``: nothing here reads the clock.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AwareDatetime, BeforeValidator

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SECONDS_CUTOFF = 10**11
"""Numbers below this are epoch seconds (the older seeds' examples), at or above it epoch ms."""


def parse_instant(value: object) -> datetime | None:
    """Parse a seed timestamp into an aware UTC datetime; ``0`` means "now" and gives ``None``.

    Accepted: ``0``; epoch milliseconds; a number below 10^11 as epoch seconds; an ISO-8601
    string with a UTC offset (``Z`` or ``+02:00``); a string of digits; an aware ``datetime``.

    Raises:
        ValueError: for booleans, negative numbers, naive datetimes, strings without an offset.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError("must be a timestamp (epoch ms or ISO-8601), not a boolean")
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("datetime must be timezone-aware")
        return value.astimezone(UTC)
    if isinstance(value, int | float):
        return _from_number(float(value))
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise ValueError("must not be empty")
        if text.lstrip("-").replace(".", "", 1).isdigit():
            return _from_number(float(text))
        try:
            parsed = datetime.fromisoformat(text.replace("z", "Z"))
        except ValueError:
            raise ValueError(f"{value!r} is not an ISO-8601 timestamp") from None
        if parsed.tzinfo is None:
            raise ValueError(f"{value!r} has no UTC offset; add 'Z' or '+hh:mm'")
        return parsed.astimezone(UTC)
    raise ValueError("must be epoch milliseconds, epoch seconds or an ISO-8601 string")


def _from_number(number: float) -> datetime | None:
    if math.isnan(number) or math.isinf(number):
        raise ValueError("must be a finite number")
    if number < 0:
        raise ValueError("must not be negative")
    if number == 0:
        return None
    ms = number * 1000 if number < SECONDS_CUTOFF else number
    try:
        return _EPOCH + timedelta(milliseconds=ms)
    except OverflowError:
        raise ValueError("is too far in the future") from None


def to_epoch_ms(value: datetime) -> int:
    """Epoch milliseconds of an aware datetime (the seeds' wire format for times)."""
    return int((value - _EPOCH) // timedelta(milliseconds=1))


def check_time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (use an IANA name like 'Europe/Amsterdam')") from None
    return value


InstantField = Annotated[AwareDatetime | None, BeforeValidator(parse_instant)]
