"""``$Secret{NAME}`` references, resolved from the worker's environment (or a secrets file) at use time.

Secret values are only ever produced inside an activity, right where they are used; they are never
returned to a workflow, so they never reach workflow history, and never logged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

_SECRET = re.compile(r"\$Secret\{([A-Za-z_][A-Za-z0-9_.-]*)\}")


class SecretMissingError(LookupError):
    """A ``$Secret{NAME}`` reference names a secret the worker does not have."""

    def __init__(self, name: str) -> None:
        super().__init__(f"secret {name!r} is not set in the worker's environment or secrets file")
        self.name = name


class SecretStore:
    """Secret values by name. Built once at the entry point; nothing below it reads ``os.environ``."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = dict(values)

    @classmethod
    def from_sources(cls, environ: Mapping[str, str], secrets_file: Path | None = None) -> SecretStore:
        """Environment variables, overridden by ``NAME=value`` lines of ``secrets_file`` if given."""
        values = dict(environ)
        if secrets_file is not None:
            for raw in secrets_file.read_text(encoding="utf-8").splitlines():
                line = raw.strip()
                if line and not line.startswith("#") and "=" in line:
                    name, _, value = line.partition("=")
                    values[name.strip()] = value.strip()
        return cls(values)

    def get(self, name: str) -> str:
        """Raises: SecretMissingError."""
        try:
            return self._values[name]
        except KeyError:
            raise SecretMissingError(name) from None

    def resolve(self, value: Any) -> Any:
        """Replace every ``$Secret{NAME}`` in strings inside ``value`` (dicts and lists at any depth).

        Raises:
            SecretMissingError: a referenced secret is not available.
        """
        if isinstance(value, str):
            return _SECRET.sub(lambda m: self.get(m.group(1)), value)
        if isinstance(value, Mapping):
            return {k: self.resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        return value

    def values_of(self, names: set[str]) -> set[str]:
        """The values of those of ``names`` that are set (for log redaction)."""
        return {self._values[name] for name in names if self._values.get(name)}

    def __repr__(self) -> str:
        return f"SecretStore({len(self._values)} names)"


def secret_names(value: Any) -> set[str]:
    """Every NAME referenced as ``$Secret{NAME}`` in strings inside ``value``, at any depth."""
    if isinstance(value, str):
        return set(_SECRET.findall(value))
    if isinstance(value, Mapping):
        return set().union(*(secret_names(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(secret_names(v) for v in value)) if value else set()
    return set()
