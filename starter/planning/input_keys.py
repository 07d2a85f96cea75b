"""Keys read from a job's input at dispatch: ``$Input{body}{userId}`` (Ductape's path syntax) or
``$Input{body.userId}``, alone or inside text (``tenant-$Input{tenant}``).

A fairness key (and a concurrency key) is known when the job is planned, so a bad one is refused
before anything starts, naming the field.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from ductape_jobs.workflows.contracts.job import JobInputError

_INPUT = re.compile(r"\$Input((?:\{[^{}]*\}|\[\d+\])+)")
_PART = re.compile(r"\[(\d+)\]|([^.\[\]{}]+)")
"""A path part: an array index (``[0]``, as Ductape writes it) or a name (dots and braces separate them)."""


def _path(segments: str) -> list[str]:
    return [index or name for index, name in _PART.findall(segments)]


def _lookup(job_input: Mapping[str, Any], path: list[str]) -> object:
    value: object = job_input
    for part in path:
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def input_key(template: str, job_input: Mapping[str, Any], *, field: str, max_bytes: int) -> str:
    """``template`` with each ``$Input{...}`` replaced by the text of that input field.

    Raises:
        JobInputError: naming ``field``: a path the input does not hold, a value that is not text or a
            number, a placeholder of another kind (``$Session``, ``$Secret``: a key is stored in clear), or a
            key longer than ``max_bytes`` in UTF-8 or empty.
    """
    if "$Session{" in template or "$Secret{" in template:
        raise JobInputError.one(field, "may read the input ($Input{...}) only: the key is stored in clear")

    def text(match: re.Match[str]) -> str:
        value = _lookup(job_input, _path(match.group(1)))
        if value is None:
            raise JobInputError.one(field, f"{match.group(0)} is not in the job's input")
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise JobInputError.one(field, f"{match.group(0)} must name text or a number, not {type(value).__name__}")
        return str(value)

    key = _INPUT.sub(text, template)
    if not key:
        raise JobInputError.one(field, "must not be empty")
    if len(key.encode()) > max_bytes:
        raise JobInputError.one(field, f"is {len(key.encode())} bytes once read from the input; at most {max_bytes}")
    return key


def keyed_id(
    prefix: str, template: str | None, job_input: Mapping[str, Any], *, scope: str, default: str, field: str
) -> tuple[str, str]:
    """``(ID, key class)`` of the keeper of one key value (a concurrency or debounce key): the key
    class is ``template`` (or ``default``, one key for the whole event); the ID ends with a digest
    of the value, since an ID is seen by anyone who can list workflows and a value may be a user ID.

    Raises:
        JobInputError: naming ``field``, as ``input_key``.
    """
    key_class = template or default
    value = input_key(template, job_input, field=field, max_bytes=MAX_KEY_BYTES) if template else ""
    digest = hashlib.sha256(f"{key_class}\0{value}".encode()).hexdigest()[:24]
    return f"{prefix}:{scope}:{digest}", key_class


MAX_KEY_BYTES = 1000
"""A concurrency or debounce key's value, read from the input (it is hashed, never stored)."""
