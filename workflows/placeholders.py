"""``$Session{a}{b}`` and ``$Now()`` placeholders in job inputs: finding and substituting them.

Pure functions with no I/O, so the workflow can decide deterministically whether a job needs the
resolution activity at all, and the activity can substitute once it holds the session's data.
A placeholder that is a whole string value is replaced by the value itself (any JSON type); one
embedded in a longer string is replaced by its text (JSON for objects, lists and booleans).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

_PLACEHOLDER = re.compile(r"\$Session((?:\{[^{}]*\})+)|\$Now\(\)")
_SEGMENT = re.compile(r"\{([^{}]*)\}")


class PlaceholderError(ValueError):
    """A placeholder cannot be resolved. ``code`` is the error type the activity reports."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def has_placeholders(value: Any) -> bool:
    """Whether any string inside ``value`` (dicts and lists at any depth) holds a placeholder."""
    if isinstance(value, str):
        return _PLACEHOLDER.search(value) is not None
    if isinstance(value, Mapping):
        # Keys are never substituted (they name fields), so only values count.
        return any(has_placeholders(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(has_placeholders(v) for v in value)
    return False


def uses_session(value: Any) -> bool:
    """Whether ``value`` holds at least one ``$Session{...}`` placeholder."""
    if isinstance(value, str):
        return any(m.group(1) for m in _PLACEHOLDER.finditer(value))
    if isinstance(value, Mapping):
        return any(uses_session(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(uses_session(v) for v in value)
    return False


def session_placeholders(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """Every ``(dotted path, placeholder)`` of a ``$Session{...}`` inside ``value`` (dict values and
    list items at any depth, list items named by index: ``input.to.0``)."""
    if isinstance(value, str):
        for match in _PLACEHOLDER.finditer(value):
            if match.group(1):
                yield path, match.group(0)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from session_placeholders(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from session_placeholders(item, f"{path}.{index}" if path else str(index))


def substitute(value: Any, session_data: Mapping[str, Any] | None, now_ms: int) -> Any:
    """Return a copy of ``value`` with every placeholder replaced.

    Raises:
        PlaceholderError: ``SESSION_REQUIRED`` when a ``$Session`` placeholder appears but the job
            has no session; ``SESSION_PATH_MISSING`` when the session data has no such path.
    """
    if isinstance(value, str):
        return _substitute_text(value, session_data, now_ms)
    if isinstance(value, Mapping):
        return {k: substitute(v, session_data, now_ms) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [substitute(v, session_data, now_ms) for v in value]
    return value


def _substitute_text(text: str, session_data: Mapping[str, Any] | None, now_ms: int) -> Any:
    whole = _PLACEHOLDER.fullmatch(text)
    if whole is not None:
        return _value_of(whole, session_data, now_ms)

    def embed(match: re.Match[str]) -> str:
        found = _value_of(match, session_data, now_ms)
        return found if isinstance(found, str) else json.dumps(found, separators=(",", ":"))

    return _PLACEHOLDER.sub(embed, text)


def _value_of(match: re.Match[str], session_data: Mapping[str, Any] | None, now_ms: int) -> Any:
    if match.group(1) is None:
        return now_ms
    path = _SEGMENT.findall(match.group(1))
    shown = "".join(f"{{{p}}}" for p in path)
    if session_data is None:
        raise PlaceholderError("SESSION_REQUIRED", f"$Session{shown} is used but the job has no `session`")
    current: Any = session_data
    for depth, segment in enumerate(path):
        if isinstance(current, Mapping) and segment in current:
            current = current[segment]
        elif isinstance(current, list) and segment.isdigit() and int(segment) < len(current):
            current = current[int(segment)]
        else:
            walked = "".join(f"{{{p}}}" for p in path[: depth + 1])
            raise PlaceholderError("SESSION_PATH_MISSING", f"$Session{shown}: the session data has no {walked}")
    return current
