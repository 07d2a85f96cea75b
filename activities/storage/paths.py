"""Paths of storage jobs: a job's path can never name anything outside its storage root.

A path is refused outright when it is absolute, has a ``..`` segment, or contains a backslash, a NUL
or another control character (the job fails with INVALID_INPUT, never retried). On local storage the
resolved real path is checked too, so a symbolic link (the file itself or any parent directory) that
points outside the root is refused as well.
"""

from __future__ import annotations

import os

_CONTROL = frozenset(chr(c) for c in [*range(0x20), 0x7F])


class PathRefused(ValueError):
    """A path that could leave its storage root; ``reason`` says why."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"path {path!r} is refused: {reason}")
        self.path = path
        self.reason = reason


def clean_key(value: str) -> str:
    """``value`` as a normalised relative key: ``/``-separated, empty and ``.`` segments dropped.

    Raises:
        PathRefused: the path is absolute, has a ``..`` segment, or contains a backslash, a NUL or
            another control character.
    """
    if "\x00" in value:
        raise PathRefused(value, "it contains a NUL character")
    if any(c in _CONTROL for c in value):
        raise PathRefused(value, "it contains a control character")
    if "\\" in value:
        raise PathRefused(value, "it contains a backslash")
    if value.startswith("/"):
        raise PathRefused(value, "it is absolute; paths are relative to the storage root")
    segments = [s for s in value.split("/") if s not in ("", ".")]
    if ".." in segments:
        raise PathRefused(value, "it has a '..' segment; paths cannot leave the storage root")
    return "/".join(segments)


def join_key(*parts: str) -> str:
    """The cleaned parts joined with ``/`` (empty parts skipped).

    Raises:
        PathRefused: one part is refused by ``clean_key``.
    """
    return "/".join(c for c in (clean_key(p) for p in parts) if c)


def relative_to(base: str, key: str) -> str:
    """``key`` without the ``base/`` it lies under (both cleaned keys)."""
    if not base:
        return key
    return key[len(base) + 1 :] if key.startswith(base + "/") else key


def local_path(root: str, key: str) -> str:
    """The real path ``key`` names below ``root``, with every symbolic link resolved.

    Blocking (it reads the filesystem): call it from a thread.

    Raises:
        PathRefused: the resolved path lies outside the root's real path.
    """
    real_root = os.path.realpath(root)
    target = os.path.join(real_root, *key.split("/")) if key else real_root
    real = os.path.realpath(target)
    if not is_within(real_root, real):
        raise PathRefused(key, "it resolves outside the storage root through a symbolic link")
    return real


def is_within(real_root: str, real: str) -> bool:
    """Whether the real path ``real`` is ``real_root`` or lies below it."""
    return real == real_root or os.path.commonpath([real_root, real]) == real_root
