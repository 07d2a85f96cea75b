"""Shapes of ``database_action`` jobs: the input of a named action or of an operation, and the result.

Imports nothing of the project: the workflow sandbox, the activity and the starter all read it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

DatabaseOperation = Literal["insert", "insert_many", "update", "upsert", "delete", "delete_many", "query", "count"]

DATABASE_OPERATIONS: tuple[str, ...] = (
    "insert",
    "insert_many",
    "update",
    "upsert",
    "delete",
    "delete_many",
    "query",
    "count",
)
"""Operation names a job may give instead of a configured action (no action may be named like one)."""

DEFAULT_QUERY_LIMIT = 1000
"""Rows a ``query`` returns when it gives no ``limit``: a job result lives in workflow history, which
caps payloads at a few MB, so an unbounded SELECT must not land there by accident."""

MAX_QUERY_LIMIT = 10_000
"""The largest ``limit`` a job may ask for, for the same reason."""

OrderBy = str | list[str] | dict[str, Literal["asc", "desc", "ASC", "DESC"]]
"""``"col"``, ``"-col"``, ``"col desc"``, a list of those, or ``{col: "asc"|"desc"}``."""


RUN_DATABASE = "ductape.run_database"
"""The activity that runs a ``database_action`` job."""


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class IDbActionRequest(_Input):
    """Input of a named action of the config (``{data, filter}``).

    For a ``statement`` action, ``data`` (a row, or a list of rows for a batch) and ``filter`` (plain
    values only) are its bind parameters; for an ``operation`` action, they are the operation's row(s)
    and ``where`` filter.
    """

    data: dict[str, Any] | list[dict[str, Any]] | None = None
    filter: dict[str, Any] = Field(default_factory=dict, validation_alias=AliasChoices("filter", "where"))
    limit: int | None = Field(None, ge=1, le=MAX_QUERY_LIMIT)
    """Extension, for a ``query`` action: the most rows to return."""
    offset: int | None = Field(None, ge=0)
    order_by: OrderBy | None = None


class IDbOperationInput(_Input):
    """Input of an operation given by name (``{table, data, where, limit?, order_by?}``)."""

    table: str = Field(min_length=1)
    """A table of the database (``schema.table`` allowed); checked against the reflected schema."""
    data: dict[str, Any] | list[dict[str, Any]] | None = None
    """The row (``insert``, ``upsert``), the rows (``insert_many``) or the new values (``update``)."""
    where: dict[str, Any] = Field(default_factory=dict, validation_alias=AliasChoices("where", "filter"))
    """Ductape filter: ``{col: value}``, ``{col: {"$gt": 1}}``, ``{"$or": [...]}``."""
    limit: int | None = Field(None, ge=1, le=MAX_QUERY_LIMIT)
    offset: int | None = Field(None, ge=0)
    order_by: OrderBy | None = None
    columns: list[str] | None = None
    """Extension, for ``query``: the columns to return (default: all)."""
    conflict: list[str] | None = None
    """Extension, for ``upsert``: the unique columns that identify the row (default: the primary key,
    else the first unique key whose columns are all in ``data``)."""


class DatabaseActivityResult(BaseModel):
    """What a ``database_action`` job returns.

    Row values are JSON-safe: datetimes, dates and times as ISO-8601 strings (naive ones as stored),
    ``Decimal`` as a string (exact: a float would round money), bytes as base64, UUIDs as strings.
    """

    operation: str
    """The operation run (``insert``...), or ``statement`` for a statement action."""
    action: str | None = None
    """The configured action's tag, when the job named one."""
    rowcount: int
    """Rows inserted, changed or deleted; for ``query`` the rows returned; for ``count`` the count."""
    rows: list[dict[str, Any]] | None = None
    """``query`` (and statements that return rows): the rows."""
    count: int | None = None
    """``count``: the number of matching rows."""
    inserted_ids: list[Any] | None = None
    """``insert``/``insert_many``: the primary key of each new row (a dict for a composite key), when
    the engine reports it."""
    truncated: bool = False
    """``query`` without a ``limit``: more rows matched than the default limit returned."""
