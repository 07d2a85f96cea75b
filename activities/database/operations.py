"""The operations of ``database_action`` jobs, on reflected tables, inside the job's transaction.

Each operation builds (and so validates) every expression before it executes anything: a job
with an unknown table or column, or a bad value, runs nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from ductape_jobs.activities.database.filters import (
    UnknownName,
    build_where,
    column,
    order_clauses,
    row_dict,
    row_values,
)
from ductape_jobs.activities.errors import JobFailure
from ductape_jobs.workflows.contracts.database import DEFAULT_QUERY_LIMIT, DatabaseActivityResult


@dataclass(frozen=True, kw_only=True)
class OperationRequest:
    """One operation on one table, whatever shape of job asked for it."""

    operation: str
    table: str
    data: dict[str, Any] | list[dict[str, Any]] | None = None
    where: Mapping[str, Any]
    limit: int | None = None
    offset: int | None = None
    order_by: object = None
    columns: list[str] | None = None
    conflict: list[str] | None = None
    action: str | None = None


class SchemaCache:
    """Reflected tables per engine: reflecting costs round trips, a job should not pay them twice."""

    def __init__(self) -> None:
        self._tables: dict[tuple[str, str | None, str], sa.Table] = {}

    def forget(self, engine_key: str, name: str) -> None:
        """Drop a table's reflection (after a failure that may come from a changed schema)."""
        schema, table = _split(name)
        self._tables.pop((engine_key, schema, table), None)

    async def table(self, conn: AsyncConnection, engine_key: str, name: str, *, refresh: bool = False) -> sa.Table:
        """The reflected table ``name`` (``schema.table`` allowed).

        Raises:
            JobFailure: INVALID_INPUT naming the table when the database has no such table or view.
        """
        schema, table_name = _split(name)
        key = (engine_key, schema, table_name)
        if not refresh and key in self._tables:
            return self._tables[key]
        # The name is compared with the database's own list before it is used for anything else.
        exists = await conn.run_sync(lambda sync: _exists(sync, schema, table_name))
        if not exists:
            raise JobFailure("INVALID_INPUT", f"table {name!r} does not exist in the database")
        reflected = await conn.run_sync(
            lambda sync: sa.Table(table_name, sa.MetaData(), schema=schema, autoload_with=sync)
        )
        self._tables[key] = reflected
        return reflected


def _split(name: str) -> tuple[str | None, str]:
    schema, dot, table = name.rpartition(".")
    return (schema if dot else None), table


def _exists(sync: sa.Connection, schema: str | None, table: str) -> bool:
    inspector = sa.inspect(sync)
    if schema is not None and schema not in inspector.get_schema_names():
        return False
    return table in inspector.get_table_names(schema=schema) or table in inspector.get_view_names(schema=schema)


async def run_operation(
    conn: AsyncConnection, schema: SchemaCache, engine_key: str, request: OperationRequest
) -> DatabaseActivityResult:
    """Run one operation; an unknown column is checked once more against a fresh reflection.

    Raises:
        JobFailure: INVALID_INPUT (unknown table or column, missing ``where``, bad value...);
            database errors propagate as SQLAlchemy exceptions for the caller to classify.
    """
    run = _OPERATIONS[request.operation]
    table = await schema.table(conn, engine_key, request.table)
    try:
        return await run(conn, table, request)
    except UnknownName:
        pass  # the table may have changed since it was reflected: nothing has run yet, try once more
    table = await schema.table(conn, engine_key, request.table, refresh=True)
    return await run(conn, table, request)


def _result(request: OperationRequest, **fields: Any) -> DatabaseActivityResult:
    return DatabaseActivityResult(operation=request.operation, action=request.action, **fields)


def _no_data(request: OperationRequest) -> None:
    if request.data is not None:
        raise JobFailure("INVALID_INPUT", f"data: {request.operation} takes no `data`")


def _required_where(table: sa.Table, request: OperationRequest) -> sa.ColumnElement[bool]:
    condition = build_where(table, request.where)
    if condition is None:
        raise JobFailure(
            "INVALID_INPUT",
            f"where: {request.operation} needs a filter (to touch every row, say so: "
            "{<column>: {$isNotNull: true}} or a statement action)",
        )
    return condition


def _optional_where(table: sa.Table, request: OperationRequest) -> sa.ColumnElement[bool]:
    condition = build_where(table, request.where)
    return sa.true() if condition is None else condition


def _single_row(table: sa.Table, request: OperationRequest) -> dict[str, Any]:
    if isinstance(request.data, list):
        raise JobFailure("INVALID_INPUT", f"data: {request.operation} takes one row (an object); use insert_many")
    return row_values(table, request.data or {}, "data")


def _primary_key(table: sa.Table, values: Any) -> Any:
    names = [c.name for c in table.primary_key.columns]
    if not names or values is None:
        return None
    items = list(values)
    if len(names) == 1:
        return items[0]
    return dict(zip(names, items, strict=False))


async def _insert(conn: AsyncConnection, table: sa.Table, request: OperationRequest) -> DatabaseActivityResult:
    row = _single_row(table, request)
    result = await conn.execute(sa.insert(table).values(row) if row else sa.insert(table))
    ids = None
    if len(table.primary_key.columns):
        ids = [_primary_key(table, result.inserted_primary_key)]
    return _result(request, rowcount=1, inserted_ids=ids)


async def _insert_many(conn: AsyncConnection, table: sa.Table, request: OperationRequest) -> DatabaseActivityResult:
    if not isinstance(request.data, list):
        raise JobFailure("INVALID_INPUT", "data: insert_many takes a list of rows")
    rows = [row_values(table, r, f"data[{i}]") for i, r in enumerate(request.data)]
    if not rows:
        return _result(request, rowcount=0, inserted_ids=[])
    for i, row in enumerate(rows):
        if row.keys() != rows[0].keys():
            raise JobFailure("INVALID_INPUT", f"data[{i}]: every row must give the same columns as data[0]")
    pk = list(table.primary_key.columns)
    if not pk or not rows[0]:
        result = await conn.execute(sa.insert(table), rows)
        return _result(request, rowcount=len(rows), inserted_ids=None)
    if conn.dialect.insert_executemany_returning_sort_by_parameter_order:
        returned = await conn.execute(sa.insert(table).returning(*pk, sort_by_parameter_order=True), rows)
        ids = [_primary_key(table, r) for r in returned.all()]
    else:
        # No ordered RETURNING for batches here (MariaDB): one statement per row keeps each row's id.
        ids = []
        for row in rows:
            result = await conn.execute(sa.insert(table).values(row))
            ids.append(_primary_key(table, result.inserted_primary_key))
    return _result(request, rowcount=len(rows), inserted_ids=ids)


async def _update(conn: AsyncConnection, table: sa.Table, request: OperationRequest) -> DatabaseActivityResult:
    values = _single_row(table, request)
    if not values:
        raise JobFailure("INVALID_INPUT", "data: update needs the new column values")
    condition = _required_where(table, request)
    result = await conn.execute(sa.update(table).where(condition).values(values))
    return _result(request, rowcount=result.rowcount)


async def _delete(conn: AsyncConnection, table: sa.Table, request: OperationRequest) -> DatabaseActivityResult:
    _no_data(request)
    condition = _required_where(table, request)
    result = await conn.execute(sa.delete(table).where(condition))
    if request.operation == "delete" and result.rowcount > 1:
        # Raising rolls the job's transaction back: nothing is deleted.
        raise JobFailure(
            "INVALID_INPUT",
            f"where: delete removes one row but {result.rowcount} matched; nothing was deleted (use delete_many)",
        )
    return _result(request, rowcount=result.rowcount)


async def _upsert(conn: AsyncConnection, table: sa.Table, request: OperationRequest) -> DatabaseActivityResult:
    row = _single_row(table, request)
    keys = _conflict_columns(table, request, row)
    changes = [name for name in row if name not in keys]
    dialect = conn.dialect.name
    if dialect in ("postgresql", "sqlite"):
        ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table).values(row)
        targets = [table.c[k] for k in keys]
        stmt: sa.Executable = (
            ins.on_conflict_do_update(index_elements=targets, set_={k: ins.excluded[k] for k in changes})
            if changes
            else ins.on_conflict_do_nothing(index_elements=targets)
        )
    elif dialect in ("mysql", "mariadb"):
        mins = mysql.insert(table).values(row)
        stmt = mins.on_duplicate_key_update(
            {k: mins.inserted[k] for k in changes} if changes else {keys[0]: table.c[keys[0]]}
        )
    else:
        raise JobFailure("INVALID_INPUT", f"upsert is not supported on {dialect}")
    result = await conn.execute(stmt)
    # MariaDB counts an update as 2 rows; one row was written either way.
    return _result(request, rowcount=min(result.rowcount, 1))


def _conflict_columns(table: sa.Table, request: OperationRequest, row: Mapping[str, Any]) -> list[str]:
    if request.conflict:
        names = [column(table, n, "conflict").name for n in request.conflict]
        missing = [n for n in names if n not in row]
        if missing:
            raise JobFailure("INVALID_INPUT", f"data: upsert needs a value for conflict column(s) {missing}")
        return names
    candidates = [[c.name for c in table.primary_key.columns]]
    candidates += [[c.name for c in u.columns] for u in table.constraints if isinstance(u, sa.UniqueConstraint)]
    candidates += [[c.name for c in ix.columns] for ix in table.indexes if ix.unique]
    for names in candidates:
        if names and all(n in row for n in names):
            return names
    raise JobFailure(
        "INVALID_INPUT",
        f"data: upsert needs the primary key or a unique key of {table.name!r} in `data` (or `conflict`)",
    )


async def _query(conn: AsyncConnection, table: sa.Table, request: OperationRequest) -> DatabaseActivityResult:
    _no_data(request)
    selected = [column(table, n, "columns") for n in request.columns] if request.columns else list(table.columns)
    condition = _optional_where(table, request)
    order = order_clauses(table, request.order_by)
    limit = request.limit or DEFAULT_QUERY_LIMIT
    stmt = sa.select(*selected).where(condition).order_by(*order)
    # One row more than the default limit tells whether the result was cut.
    stmt = stmt.limit(limit if request.limit else limit + 1)
    if request.offset:
        stmt = stmt.offset(request.offset)
    rows = [row_dict(r) for r in (await conn.execute(stmt)).mappings().all()]
    truncated = len(rows) > limit
    rows = rows[:limit]
    return _result(request, rowcount=len(rows), rows=rows, truncated=truncated)


async def _count(conn: AsyncConnection, table: sa.Table, request: OperationRequest) -> DatabaseActivityResult:
    _no_data(request)
    condition = _optional_where(table, request)
    found = (await conn.execute(sa.select(sa.func.count()).select_from(table).where(condition))).scalar_one()
    return _result(request, rowcount=int(found), count=int(found))


_Operation = Callable[[AsyncConnection, sa.Table, OperationRequest], Awaitable[DatabaseActivityResult]]

_OPERATIONS: dict[str, _Operation] = {
    "insert": _insert,
    "insert_many": _insert_many,
    "update": _update,
    "upsert": _upsert,
    "delete": _delete,
    "delete_many": _delete,
    "query": _query,
    "count": _count,
}


async def run_statement(
    conn: AsyncConnection,
    *,
    action: str,
    statement: str,
    data: dict[str, Any] | list[dict[str, Any]] | None,
    filter_values: Mapping[str, Any],
) -> DatabaseActivityResult:
    """Run a statement action with ``data`` (one row, or a batch) and ``filter`` as bind parameters.

    Raises:
        JobFailure: INVALID_INPUT for a parameter the statement lacks or needs, or an operator in
            ``filter``; database errors propagate as SQLAlchemy exceptions.
    """
    stmt = sa.text(statement)
    wanted = set(stmt.compile().params)
    for key, value in filter_values.items():
        if isinstance(value, Mapping):
            raise JobFailure("INVALID_INPUT", f"filter.{key}: a statement action takes plain values, not operators")
    rows = data if isinstance(data, list) else [data or {}]
    params = []
    for i, row in enumerate(rows):
        clash = [k for k in row if k in filter_values and row[k] != filter_values[k]]
        if clash:
            raise JobFailure("INVALID_INPUT", f"data: {clash} differ between `data` and `filter`")
        merged = {**filter_values, **row}
        where = f"data[{i}]" if isinstance(data, list) else "data"
        unknown = sorted(set(merged) - wanted)
        if unknown:
            raise JobFailure("INVALID_INPUT", f"{where}: the statement of {action!r} has no parameter :{unknown[0]}")
        missing = sorted(wanted - set(merged))
        if missing:
            raise JobFailure("INVALID_INPUT", f"{where}: the statement of {action!r} needs :{missing[0]}")
        params.append(merged)
    if not params:
        return DatabaseActivityResult(operation="statement", action=action, rowcount=0)
    result = await conn.execute(stmt, params if isinstance(data, list) else params[0])
    if result.returns_rows:
        fetched = result.mappings().fetchmany(DEFAULT_QUERY_LIMIT + 1)
        rows_out = [row_dict(r) for r in fetched[:DEFAULT_QUERY_LIMIT]]
        return DatabaseActivityResult(
            operation="statement",
            action=action,
            rowcount=len(rows_out),
            rows=rows_out,
            truncated=len(fetched) > DEFAULT_QUERY_LIMIT,
        )
    return DatabaseActivityResult(operation="statement", action=action, rowcount=max(result.rowcount, 0))
