"""Which optional driver each part of a worker's setup needs, and the check that it is installed.

A plain ``pip install ductape-jobs`` holds no database (beyond SQLite), S3, broker, graph, SMTP or
tracing client: each is an extra (``pyproject.toml``). A worker whose product config has a section
that needs one checks at start, before it connects or runs anything, and refuses with every missing
extra named::

    products.shop.databases.inventory.envs.prd uses postgresql+asyncpg (asyncpg is not installed):
    install ductape-jobs[postgres]

The check imports the very modules the section's code imports, so a driver that is present but
cannot load (a missing system library) is caught too; they are the modules the worker would load at
its first job anyway (``ductape_jobs.activities.registry`` imports a section's code only when the config has it).
Each event type's descriptor says what its section needs (``EventTypeDescriptor.drivers``); the
registry's ``require_drivers`` asks them all.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ductape_jobs.activities.config.product_config import ConfigError
from ductape_jobs.activities.config.secrets import SecretMissingError, SecretStore

DISTRIBUTION = "ductape-jobs"


@dataclass(frozen=True)
class Extra:
    """An extra of the distribution and the modules its code imports from it."""

    name: str
    modules: tuple[str, ...]


POSTGRES = Extra("postgres", ("asyncpg",))
MYSQL = Extra("mysql", ("aiomysql",))
OTEL = Extra("otel", ("opentelemetry.sdk.trace", "opentelemetry.exporter.otlp.proto.http.trace_exporter"))

DATABASE_EXTRAS: dict[str, Extra] = {
    "postgres": POSTGRES,
    "postgresql": POSTGRES,
    "postgresql+asyncpg": POSTGRES,
    "mysql": MYSQL,
    "mysql+aiomysql": MYSQL,
    "mariadb": MYSQL,
    "mariadb+aiomysql": MYSQL,
}
"""A database URL's scheme (``ductape_jobs.activities.database.config.SCHEMES``) and its extra; SQLite is core."""

Importable = Callable[[str], bool]


@dataclass(frozen=True)
class Need:
    """One part of the setup (``where``, a key path) that uses something (``uses``) from ``extra``."""

    where: str
    uses: str
    extra: Extra


def importable(module: str) -> bool:
    """Whether ``module`` imports (not merely whether it is on disk)."""
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def database_need(url: str, where: str) -> Need | None:
    """What a database URL (a job's database or the session store) needs beyond the core; ``None``
    for SQLite and for a scheme that validation refuses elsewhere. Only the scheme is kept: the URL
    may carry a password."""
    scheme = url.partition("://")[0].lower()
    extra = DATABASE_EXTRAS.get(scheme)
    return None if extra is None else Need(where, scheme, extra)


def resolved_url(url: str, secrets: SecretStore | None) -> str | None:
    """A database URL written as a ``$Secret{...}`` read through ``secrets`` when given and set; None
    otherwise (unresolved, its job fails at run time instead)."""
    if "$Secret{" not in url.partition("://")[0]:
        return url
    if secrets is None:
        return None
    try:
        resolved: str = secrets.resolve(url)
    except SecretMissingError:
        return None
    return resolved


def missing_module(extra: Extra, check: Importable = importable) -> str | None:
    """The first of ``extra``'s modules that does not import, or ``None``."""
    return next((module for module in extra.modules if not check(module)), None)


def require(needs: Iterable[Need], check: Importable = importable) -> None:
    """Refuse when a need's extra is not installed, naming every such need and the extras to install.

    Raises:
        ConfigError: one line per need whose driver does not import, then the install command.
    """
    lines: list[str] = []
    extras: list[str] = []
    verdicts: dict[Extra, str | None] = {}
    for need in needs:
        if need.extra not in verdicts:
            verdicts[need.extra] = missing_module(need.extra, check)
        module = verdicts[need.extra]
        if module is None:
            continue
        lines.append(f"{need.where} uses {need.uses} ({module} is not installed): {install_hint(need.extra.name)}")
        if need.extra.name not in extras:
            extras.append(need.extra.name)
    if len(lines) == 1:
        raise ConfigError(lines[0])
    if lines:
        raise ConfigError("\n".join([*lines, f"all of them: {install_hint(*extras)}"]))


def install_hint(*extras: str) -> str:
    return f"install {DISTRIBUTION}[{','.join(extras)}]"
