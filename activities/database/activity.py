"""The database-action activity: a named action or an operation, in one transaction, on a cached engine.

Engines (and their pools) are created on first use per (database tag, env, URL) and shared by every
job of the worker; reflected tables are cached per engine.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import weakref
from typing import Any, TypeVar

import sqlalchemy as sa
from pydantic import BaseModel, ValidationError
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from temporalio import activity

from ductape_jobs.activities.config.product_config import ConfigError, ProductConfig
from ductape_jobs.activities.config.secrets import SecretMissingError, SecretStore
from ductape_jobs.activities.database.config import SCHEMES, DatabaseActionDef, DatabaseDef, DatabaseEnv, operation_name
from ductape_jobs.activities.database.operations import OperationRequest, SchemaCache, run_operation, run_statement
from ductape_jobs.activities.errors import JobFailure
from ductape_jobs.workflows.contracts.database import (
    RUN_DATABASE,
    DatabaseActivityResult,
    IDbActionRequest,
    IDbOperationInput,
)
from ductape_jobs.workflows.contracts.job import EventActivityInput, JobContext

_M = TypeVar("_M", bound=BaseModel)


_OPEN: weakref.WeakSet[DatabaseActivities] = weakref.WeakSet()


async def close_database_engines() -> None:
    """Close the pools of every ``DatabaseActivities`` of this process (call at worker shutdown:
    pooled connections left to the garbage collector outlive their event loop)."""
    for activities in list(_OPEN):
        await activities.close()


class DatabaseActivities:
    """``database_action`` jobs over engines cached per (database tag, env)."""

    def __init__(self, config: ProductConfig, secrets: SecretStore) -> None:
        self._config = config
        self._secrets = secrets
        self._engines: dict[tuple[str, str, str, str], AsyncEngine] = {}
        self._lock = asyncio.Lock()
        self._schema = SchemaCache()
        _OPEN.add(self)

    @activity.defn(name=RUN_DATABASE)
    async def run_database(self, request: EventActivityInput) -> DatabaseActivityResult:
        """Run the job's action or operation in one transaction.

        Raises:
            ApplicationError: INVALID_INPUT (unknown table/column, bad SQL or value), CONFLICT
                (integrity violation), CONFIG_ERROR and SECRET_MISSING are not retried;
                CONNECTION_ERROR, TIMEOUT and SERVER_ERROR are.
        """
        try:
            return await self._run(request)
        except JobFailure as err:
            raise err.to_application_error(request.job.errors) from None

    async def close(self) -> None:
        """Close every pool (at worker shutdown)."""
        engines, self._engines = list(self._engines.values()), {}
        for engine in engines:
            await engine.dispose()

    async def _run(self, request: EventActivityInput) -> DatabaseActivityResult:
        job = request.job
        db, db_env = self._lookup(job)
        action = db.actions.get(job.event)  # a configured action wins; no action is named like an operation
        operation = operation_name(job.event)
        if action is None and operation is None:
            raise JobFailure(
                "CONFIG_ERROR", f"{job.event!r} is neither an action of database {job.app!r} nor an operation"
            )
        engine_key, engine = await self._engine(job, db_env)
        what = f"{job.app}/{job.event}"
        activity.logger.info("running database %s for job %s", what, job.job_id)
        table = None
        try:
            if action is not None:
                req = _parse(IDbActionRequest, request.input)
                if action.statement is not None:
                    async with engine.begin() as conn:
                        return await run_statement(
                            conn, action=job.event, statement=action.statement, data=req.data, filter_values=req.filter
                        )
                op_request = _action_operation(job.event, action, req)
            else:
                assert operation is not None
                op_request = _operation_request(operation, _parse(IDbOperationInput, request.input))
            table = op_request.table
            async with engine.begin() as conn:
                return await run_operation(conn, self._schema, engine_key, op_request)
        except JobFailure:
            raise
        except Exception as err:
            failure = classify(err, what)
            if failure is None:
                raise
            if table is not None:
                self._schema.forget(engine_key, table)  # the schema may have changed under us
            raise failure from None

    def _lookup(self, job: JobContext) -> tuple[DatabaseDef, DatabaseEnv]:
        try:
            product = self._config.product(job.product)
        except ConfigError as err:
            raise JobFailure("CONFIG_ERROR", str(err)) from None
        if job.app is None:
            raise JobFailure("CONFIG_ERROR", f"database job {job.event!r} has no database tag")
        db = product.databases.get(job.app)
        if db is None:
            raise JobFailure("CONFIG_ERROR", f"database {job.app!r} is not in product {job.product!r}")
        db_env = db.envs.get(job.env)
        if db_env is None:
            raise JobFailure("CONFIG_ERROR", f"database {job.app!r} has no settings for env {job.env!r}")
        return db, db_env

    async def _engine(self, job: JobContext, db_env: DatabaseEnv) -> tuple[str, AsyncEngine]:
        try:
            raw = self._secrets.resolve(db_env.url)
        except SecretMissingError as err:
            raise JobFailure("SECRET_MISSING", str(err)) from None
        assert job.app is not None
        # The URL holds the password: it is keyed by digest and never shown in a message.
        digest = hashlib.sha256(f"{raw}|{db_env.pool_size}|{db_env.connect_timeout_ms}".encode()).hexdigest()
        key = (job.app, job.env, digest[:16], str(db_env.pool_size))
        engine_key = f"{job.app}/{job.env}/{digest[:16]}"
        async with self._lock:
            engine = self._engines.get(key)
            if engine is None:
                engine = _create_engine(str(raw), db_env, job.app)
                await _run_setup(engine, db_env, job.app)
                self._engines[key] = engine  # only once set up: a failed setup is tried again by the retry
        return engine_key, engine


async def _run_setup(engine: AsyncEngine, db_env: DatabaseEnv, tag: str) -> None:
    """The env's ``setup`` statements, in one transaction.

    Raises:
        JobFailure: classified like a job's own statement (a lost connection is retried).
    """
    if not db_env.setup:
        return
    try:
        async with engine.begin() as conn:
            for statement in db_env.setup:
                await conn.execute(sa.text(statement))
    except Exception as err:
        await engine.dispose()
        failure = classify(err, f"{tag} setup")
        if failure is None:
            raise
        raise failure from None


def _create_engine(raw: str, db_env: DatabaseEnv, tag: str) -> AsyncEngine:
    try:
        url = sa.make_url(raw)
    except sa_exc.ArgumentError:
        raise JobFailure("CONFIG_ERROR", f"database {tag!r}: the URL cannot be parsed") from None
    driver = SCHEMES.get(url.drivername.lower())
    if driver is None:
        raise JobFailure("CONFIG_ERROR", f"database {tag!r}: URL scheme {url.drivername!r} is not supported")
    url = url.set(drivername=driver)
    seconds = db_env.connect_timeout_ms / 1000
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if driver.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": seconds}  # waits this long for a locked database
    else:
        kwargs["pool_timeout"] = seconds
        if db_env.pool_size is not None:
            kwargs["pool_size"] = db_env.pool_size
        if driver.startswith("postgresql"):
            kwargs["connect_args"] = {"timeout": seconds}
        else:
            kwargs["connect_args"] = {"connect_timeout": max(1, round(seconds))}
            kwargs["pool_recycle"] = 3600  # under MariaDB's wait_timeout
    return create_async_engine(url, **kwargs)


def _parse(model: type[_M], data: dict[str, Any]) -> _M:
    try:
        return model.model_validate(data)
    except ValidationError as err:
        problems = []
        for e in err.errors(include_url=False):
            loc = ".".join(str(p) for p in e["loc"])
            msg = "is not a known field" if e["type"] == "extra_forbidden" else e["msg"]
            problems.append(f"input.{loc}: {msg}" if loc else f"input: {msg}")
        raise JobFailure("INVALID_INPUT", "; ".join(problems)) from None


def _action_operation(tag: str, action: DatabaseActionDef, req: IDbActionRequest) -> OperationRequest:
    assert action.operation is not None
    assert action.table is not None
    return OperationRequest(
        operation=action.operation,
        table=action.table,
        data=req.data,
        where=req.filter,
        limit=req.limit,
        offset=req.offset,
        order_by=req.order_by,
        action=tag,
    )


def _operation_request(operation: str, req: IDbOperationInput) -> OperationRequest:
    return OperationRequest(
        operation=operation,
        table=req.table,
        data=req.data,
        where=req.where,
        limit=req.limit,
        offset=req.offset,
        order_by=req.order_by,
        columns=req.columns,
        conflict=req.conflict,
    )


# --- errors -------------------------------------------------------------------------------------

_MYSQL_CONNECTION = frozenset({2002, 2003, 2005, 2006, 2013, 2055})
_MYSQL_CONFIG = frozenset({1044, 1045, 1049, 1698})
_MYSQL_RETRY = frozenset({1040, 1213, 1203, 1927})
_QUOTED = re.compile(r"'[^']*'")


def classify(err: BaseException, what: str) -> JobFailure | None:
    """The job failure a database error means, or None for an error that is not the database's.

    Messages keep the driver's first line only, with MariaDB's quoted values blanked: the DETAIL
    lines and ``Duplicate entry '...'`` repeat the job's data, which must not reach the Web UI.
    """
    if isinstance(err, TimeoutError | sa_exc.TimeoutError):
        return JobFailure("TIMEOUT", f"{what}: timed out waiting for the database")
    if isinstance(err, OSError):
        return JobFailure("CONNECTION_ERROR", f"{what}: cannot reach the database ({type(err).__name__})")
    if isinstance(err, sa_exc.DBAPIError):
        return _dbapi(err, what)
    if isinstance(err, sa_exc.StatementError | sa_exc.ArgumentError | sa_exc.CompileError | sa_exc.NoSuchTableError):
        return JobFailure("INVALID_INPUT", f"{what}: {_first_line(err)}")
    return None


def _dbapi(err: sa_exc.DBAPIError, what: str) -> JobFailure:
    text = _first_line(err.orig if err.orig is not None else err)
    message = f"{what}: {text}"
    if err.connection_invalidated:
        return JobFailure("CONNECTION_ERROR", message)
    errno = _mysql_errno(err)
    sqlstate = _sqlstate(err) if errno is None else None  # MariaDB's SQLSTATE is mostly the generic HY000
    if sqlstate is not None:
        cls = sqlstate[:2]
        if cls == "08" or sqlstate.startswith("57P"):
            return JobFailure("CONNECTION_ERROR", message)
        if cls == "23":
            return JobFailure("CONFLICT", message)
        if sqlstate == "57014":
            return JobFailure("TIMEOUT", message)
        if cls in ("28", "3D"):
            return JobFailure("CONFIG_ERROR", message)
        if cls in ("40", "53", "55", "58", "XX"):
            return JobFailure("SERVER_ERROR", message)
        return JobFailure("INVALID_INPUT", message)
    if errno is not None:
        if errno in _MYSQL_CONNECTION:
            return JobFailure("CONNECTION_ERROR", message)
        if errno == 1205:
            return JobFailure("TIMEOUT", message)
        if errno in _MYSQL_CONFIG:
            return JobFailure("CONFIG_ERROR", message)
        if errno in _MYSQL_RETRY:
            return JobFailure("SERVER_ERROR", message)
        if errno == 1364:  # a NOT NULL column without a value: PostgreSQL's 23502, so CONFLICT everywhere
            return JobFailure("CONFLICT", message)
    if isinstance(err, sa_exc.IntegrityError):
        return JobFailure("CONFLICT", message)
    if isinstance(err, sa_exc.OperationalError) and err.orig is not None:
        lowered = str(err.orig).lower()
        if "locked" in lowered or "busy" in lowered:
            return JobFailure("TIMEOUT", message)  # SQLite: another writer held the lock too long
        if "unable to open" in lowered:
            return JobFailure("CONFIG_ERROR", message)
        if errno is None and not _is_sqlite(err):
            return JobFailure("CONNECTION_ERROR", message)
    if isinstance(err, sa_exc.InternalError):
        return JobFailure("SERVER_ERROR", message)
    return JobFailure("INVALID_INPUT", message)


def _sqlstate(err: sa_exc.DBAPIError) -> str | None:
    for candidate in (err.orig, getattr(err.orig, "__cause__", None)):
        state = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if isinstance(state, str) and len(state) == 5:
            return state
    return None


def _mysql_errno(err: sa_exc.DBAPIError) -> int | None:
    args = getattr(err.orig, "args", ())
    if args and isinstance(args[0], int) and not _is_sqlite(err):
        return int(args[0])
    return None


def _is_sqlite(err: sa_exc.DBAPIError) -> bool:
    return "sqlite" in type(err.orig).__module__


def _first_line(err: BaseException) -> str:
    args: tuple[Any, ...] = tuple(getattr(err, "args", ()))
    text = str(args[1]) if len(args) >= 2 and isinstance(args[0], int) else str(err)
    # SQLAlchemy's async adapters prefix "<class 'asyncpg...'>: "; the class says nothing to a user.
    text = re.sub(r"^<class '[^']+'>:\s*", "", text).strip()
    text = text.splitlines()[0] if text else type(err).__name__
    text = text.split("[SQL:")[0].strip()
    if "Duplicate entry" in text:
        text = _QUOTED.sub("'…'", text, count=1)
    return text[:300]
