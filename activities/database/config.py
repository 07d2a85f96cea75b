"""The ``databases`` section of a product: where each database lives per env, and its named actions.

```yaml
databases:
  analytics:
    envs:
      dev: {url: "sqlite+aiosqlite:///analytics.db"}
      prd: {url: "$Secret{ANALYTICS_DB_URL}", pool_size: 10}
    actions:
      log_sync: {operation: insert, table: sync_logs}
      purge_old: {statement: "DELETE FROM sync_logs WHERE started_at < :before"}
```
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ductape_jobs.activities.config.component_lookup import refuse_operation_names
from ductape_jobs.workflows.contracts.database import DATABASE_OPERATIONS, DatabaseOperation

SCHEMES: dict[str, str] = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
    "mysql": "mysql+aiomysql",
    "mysql+aiomysql": "mysql+aiomysql",
    "mariadb": "mariadb+aiomysql",
    "mariadb+aiomysql": "mariadb+aiomysql",
}
"""URL schemes accepted, and the async driver each one runs on (plain schemes, as most hosting
providers hand them out, are moved to the async driver)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseEnv(_Strict):
    """Where a database lives in one environment."""

    url: str = Field(min_length=1)
    """SQLAlchemy URL (``sqlite+aiosqlite:///path``, ``postgresql://...``, ``mysql://...``), usually
    ``$Secret{NAME}`` since it carries the password."""
    pool_size: int | None = Field(None, ge=1, le=100)
    """Connections kept open per worker (server engines; SQLAlchemy's default, 5, when absent)."""
    connect_timeout_ms: int = Field(10_000, ge=1)
    """Extension: how long to wait for a connection before the attempt fails with TIMEOUT."""
    setup: list[str] = Field(default_factory=list)
    """Extension: SQL statements each worker runs once, before its first job on this database, in one
    transaction (``CREATE TABLE IF NOT EXISTS ...``, for a local example database that starts empty)."""

    @field_validator("url")
    @classmethod
    def _scheme(cls, value: str) -> str:
        if "$Secret{" in value:
            return value
        scheme = value.partition("://")[0].lower()
        if scheme not in SCHEMES or "://" not in value:
            raise ValueError(f"must be a database URL with one of the schemes {sorted(SCHEMES)} (or a $Secret{{...}})")
        return value


class DatabaseActionDef(_Strict):
    """A named action: a SQL statement with ``:name`` bind parameters, or an operation on a table."""

    statement: str | None = Field(None, min_length=1)
    """SQL run with ``data`` (and ``filter``) as bind parameters; values are never spliced in."""
    operation: DatabaseOperation | None = None
    table: str | None = Field(None, min_length=1)
    """The table of an ``operation`` action."""

    @model_validator(mode="after")
    def _one_kind(self) -> DatabaseActionDef:
        if (self.statement is None) == (self.operation is None):
            raise ValueError("needs exactly one of `statement` or `operation`")
        if self.operation is not None and self.table is None:
            raise ValueError(f"operation {self.operation!r} needs a `table`")
        if self.statement is not None and self.table is not None:
            raise ValueError("`table` belongs to an `operation` action, not a `statement`")
        return self


class DatabaseDef(_Strict):
    """A database tag: its connection per env and its named actions."""

    envs: dict[str, DatabaseEnv] = Field(min_length=1)
    actions: dict[str, DatabaseActionDef] = Field(default_factory=dict)

    @field_validator("actions")
    @classmethod
    def _no_shadowing(cls, value: dict[str, DatabaseActionDef]) -> dict[str, DatabaseActionDef]:
        refuse_operation_names(value, DATABASE_OPERATIONS)
        return value


def operation_name(event: str) -> str | None:
    """The operation ``event`` names (case-insensitive), or None."""
    lowered = event.lower()
    return lowered if lowered in DATABASE_OPERATIONS else None
