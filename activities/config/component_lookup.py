"""Dispatch-time lookups shared by the event types whose jobs name a component (a notification, a
database, a storage...): which component runs the event, and does it have the job's env.

Imports only the contracts, so every ``activities/<type>_config.py`` can use it without a cycle.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, Protocol, TypeVar

from ductape_jobs.workflows.contracts.job import JobInputError


class _HasEnvs(Protocol):
    @property
    def envs(self) -> Mapping[str, Any]: ...


Component = TypeVar("Component", bound=_HasEnvs)


def sole_owner(kind: str, owners: list[str], *, field: str, event: str) -> str:
    """The only component defining ``event``.

    Raises:
        JobInputError: naming ``field`` when none or several do (the caller must name one).
    """
    if len(owners) == 1:
        return owners[0]
    why = f"no {kind} defines" if not owners else f"{len(owners)} {kind}s {sorted(owners)} define"
    raise JobInputError.one(field, f"is required: {why} event {event!r}")


def component_in_env(kind: str, components: Mapping[str, Component], tag: str, env: str, *, field: str) -> Component:
    """The component ``tag``, checked to have settings for ``env``.

    Raises:
        JobInputError: naming ``field`` (unknown tag) or ``env`` (no settings for it).
    """
    found = components.get(tag)
    if found is None:
        known = ", ".join(sorted(components)) or "none"
        raise JobInputError.one(field, f"{kind} {tag!r} is not in the product (known: {known})")
    if env not in found.envs:
        raise JobInputError.one("env", f"{kind} {tag!r} has no settings for env {env!r}")
    return found


def refuse_operation_names(actions: Mapping[str, Any], operations: Collection[str]) -> None:
    """A job's ``event`` holds an action tag or an operation name: one name must not mean both.

    Raises:
        ValueError: an action is named like an operation (case-insensitive), for pydantic to report.
    """
    for tag in actions:
        if tag.lower() in operations:
            raise ValueError(f"action {tag!r} has the name of an operation; rename it")
