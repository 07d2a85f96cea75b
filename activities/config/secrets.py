"""``$Secret{NAME}`` references, resolved from the worker's environment (or a secrets file) at use time.

Only names a product declares (``products.<tag>.secrets``) are ever read: the entry point builds the
store with exactly those names, so an arbitrary environment variable of the worker (``TEMPORAL_API_KEY``,
a cloud credential) can never be resolved, whoever writes the reference. Values of the product
config resolve with ``resolve`` (the config was checked at load to reference declared names only); a
job's input resolves with ``resolve_input``, scoped to its own product's list, because a dispatcher
writes it.

Secret values are only ever produced inside an activity, right where they are used; they are never
returned to a workflow, so they never reach workflow history, and never logged.
"""

from __future__ import annotations

import io
import re
from collections.abc import Collection, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from dotenv import dotenv_values
from dotenv.parser import parse_stream

SECRET_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
"""The grammar of ``NAME`` in ``$Secret{NAME}``, and of a name in a product's ``secrets`` list."""
_SECRET = re.compile(r"\$Secret\{(" + SECRET_NAME.pattern + r")\}")


class SecretMissingError(LookupError):
    """A ``$Secret{NAME}`` reference names a secret the worker does not have."""

    def __init__(self, name: str) -> None:
        super().__init__(f"secret {name!r} is not set in the worker's environment or secrets file")
        self.name = name


class SecretNotDeclaredError(LookupError):
    """A job's input references a secret its product does not declare; ``field`` is its dotted path."""

    def __init__(self, field: str, name: str, product: str, declared: Collection[str]) -> None:
        self.field = field
        self.name = name
        self.reason = not_declared_reason(name, product, declared)
        super().__init__(f"{field}: {self.reason}")


def not_declared_reason(name: str, product: str, declared: Collection[str]) -> str:
    """The one wording of the refusal, at dispatch and at run time."""
    return f"secret {name!r} is not declared in product {product!r} (declared: {sorted(declared)})"


class SecretStore:
    """Secret values by name. Built once at the entry point; nothing below it reads ``os.environ``."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = dict(values)

    @classmethod
    def from_sources(
        cls, environ: Mapping[str, str], secrets_file: Path | None = None, *, names: Iterable[str]
    ) -> SecretStore:
        """The values of ``names`` (the declared ones) from the environment, overridden by the
        ``NAME=value`` lines of ``secrets_file`` if given; every other variable is left out.

        Raises:
            OSError: the secrets file cannot be read.
            SecretsFileError: a line of it is not dotenv syntax.
        """
        wanted = set(names)
        values = {name: value for name, value in environ.items() if name in wanted}
        if secrets_file is not None:
            values |= {k: v for k, v in read_secrets_file(secrets_file).items() if k in wanted}
        return cls(values)

    def get(self, name: str) -> str:
        """Raises: SecretMissingError."""
        try:
            return self._values[name]
        except KeyError:
            raise SecretMissingError(name) from None

    def resolve(self, value: Any) -> Any:
        """Replace every ``$Secret{NAME}`` in strings inside ``value`` (dicts and lists at any depth).

        For values of the product config only; a job's input goes through ``resolve_input``.

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

    def resolve_input(self, value: Any, *, product: str, declared: Collection[str], field: str = "input") -> Any:
        """``resolve`` for (part of) a job's input, which may only reference ``declared``, its
        product's list; nothing is resolved unless every reference is allowed.

        Raises:
            SecretNotDeclaredError: naming the first offending field (``field`` is ``value``'s path).
            SecretMissingError: a declared secret is not set on this worker.
        """
        check_declared(value, product=product, declared=declared, field=field)
        return self.resolve(value)

    def values(self) -> set[str]:
        """Every value held (all declared secrets this worker has), for log redaction."""
        return {value for value in self._values.values() if value}

    def missing(self, names: Iterable[str]) -> list[str]:
        """Those of ``names`` this store has no value for, sorted."""
        return sorted(set(names) - set(self._values))

    def __repr__(self) -> str:
        return f"SecretStore({len(self._values)} names)"


class SecretsFileError(ValueError):
    """A line of the secrets file is not dotenv syntax (``line`` is 1-based; the text is not repeated:
    it may hold a secret)."""

    def __init__(self, line: int) -> None:
        super().__init__(f"line {line} is not NAME=value (dotenv syntax); nothing was read from the file")
        self.line = line


def read_secrets_file(path: Path) -> dict[str, str]:
    """The ``NAME=value`` lines of a dotenv file, parsed by python-dotenv: ``export NAME=value`` too,
    blank lines and ``#`` comments skipped, quotes removed (``KEY="v"`` and ``KEY='v'`` give ``v``;
    double quotes take ``\\n``-style escapes, single quotes none), `` #`` after an unquoted value starts
    a comment. No ``${VAR}`` interpolation: a value is what the file says, never the environment's.

    Raises:
        OSError: the file cannot be read.
        SecretsFileError: a line python-dotenv cannot parse (an unterminated quote would otherwise
            swallow the lines after it, and their secrets would silently be missing).
    """
    text = path.read_text(encoding="utf-8")
    for binding in parse_stream(io.StringIO(text)):
        if binding.error:
            original = binding.original
            blank = len(original.string) - len(original.string.lstrip("\n"))
            raise SecretsFileError(original.line + blank)
    values = dotenv_values(stream=io.StringIO(text), interpolate=False)
    return {name: value for name, value in values.items() if value is not None}


def check_declared(value: Any, *, product: str, declared: Collection[str], field: str = "input") -> None:
    """Refuse a job's input (or part of it, at path ``field``) that references an undeclared secret.

    Raises:
        SecretNotDeclaredError: naming the first offending field.
    """
    for path, name in secret_references(value, field):
        if name not in declared:
            raise SecretNotDeclaredError(path, name, product, declared)


def undeclared_secrets(
    value: Any, *, product: str, declared: Collection[str], field: str = "input"
) -> list[tuple[str, str]]:
    """``(field path, reason)`` for every reference in a job's input to a name ``product`` does not
    declare (for ``JobInputError`` at dispatch)."""
    return [
        (path, not_declared_reason(name, product, declared))
        for path, name in secret_references(value, field)
        if name not in declared
    ]


def secret_references(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every ``(dotted path, NAME)`` of a ``$Secret{NAME}`` in strings inside ``value`` (dict values and
    list items, at any depth; list items are named by index: ``input.to.0``)."""
    if isinstance(value, str):
        for name in _SECRET.findall(value):
            yield path, name
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from secret_references(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from secret_references(item, f"{path}.{index}" if path else str(index))


def secret_names(value: Any) -> set[str]:
    """Every NAME referenced as ``$Secret{NAME}`` in strings inside ``value``, at any depth."""
    return {name for _, name in secret_references(value)}
