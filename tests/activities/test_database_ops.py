"""The database activity on real SQLite, PostgreSQL and MariaDB: every operation, filters, injection
attempts, error types, config validation. Results are read back with the test's own engine."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from ductape_jobs.activities.config.product_config import ConfigError, parse_product_config
from ductape_jobs.activities.config.secrets import SecretStore
from ductape_jobs.activities.database.activity import DatabaseActivities
from ductape_jobs.workflows.contracts.job import EventActivityInput, JobContext
from tests.support.database_engines import EngineDb, db

__all__ = ["db"]  # the parametrized fixture: one run per engine


@pytest.fixture
async def acts(db: EngineDb) -> AsyncIterator[DatabaseActivities]:
    activities = DatabaseActivities(db.config(), db.secrets())
    yield activities
    await activities.close()


async def run(acts: DatabaseActivities, event: str, data: dict[str, Any]) -> dict[str, Any]:
    request = EventActivityInput(
        job=JobContext(job_id="job-1", product="shop", env="dev", event=event, app="analytics"), input=data
    )
    result = await ActivityEnvironment().run(acts.run_database, request)
    return result.model_dump()


async def fails(acts: DatabaseActivities, event: str, data: dict[str, Any]) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        await run(acts, event, data)
    return caught.value


NOW_MS = 1_764_477_308_123  # 2025-11-30T04:35:08.123Z


async def test_insert_returns_the_new_id_and_converts_epoch_ms_for_a_datetime_column(
    db: EngineDb, acts: DatabaseActivities
) -> None:
    out = await run(acts, "insert", {"table": db.name, "data": {"status": "ok", "started_at": NOW_MS, "amount": "9.5"}})
    (row,) = await db.rows()
    assert out["operation"] == "insert"
    assert out["rowcount"] == 1
    assert out["inserted_ids"] == [row["id"]]
    assert row["status"] == "ok"
    assert row["amount"] == Decimal("9.50")
    expected = datetime.fromtimestamp(NOW_MS / 1000, UTC).replace(tzinfo=None)
    assert abs((row["started_at"] - expected).total_seconds()) < 1  # MariaDB DATETIME keeps whole seconds


async def test_insert_many_returns_ids_in_order(db: EngineDb, acts: DatabaseActivities) -> None:
    rows = [{"status": f"s{i}", "score": i} for i in range(4)]
    out = await run(acts, "insert_many", {"table": db.name, "data": rows})
    stored = await db.rows()
    assert out["rowcount"] == 4
    assert [r["status"] for r in stored] == ["s0", "s1", "s2", "s3"]
    assert out["inserted_ids"] == [r["id"] for r in stored]
    err = await fails(acts, "insert_many", {"table": db.name, "data": [{"status": "a"}, {"status": "b", "score": 1}]})
    assert err.type == "INVALID_INPUT"
    assert "data[1]" in err.message


async def test_update_changes_matching_rows_and_needs_a_where(db: EngineDb, acts: DatabaseActivities) -> None:
    await db.insert({"status": "new", "score": 1}, {"status": "new", "score": 5}, {"status": "old", "score": 9})
    out = await run(acts, "update", {"table": db.name, "data": {"status": "seen"}, "where": {"score": {"$lt": 6}}})
    assert out["rowcount"] == 2
    assert [r["status"] for r in await db.rows()] == ["seen", "seen", "old"]
    err = await fails(acts, "update", {"table": db.name, "data": {"status": "all"}})
    assert err.type == "INVALID_INPUT"
    assert err.non_retryable
    assert [r["status"] for r in await db.rows()] == ["seen", "seen", "old"]


async def test_upsert_inserts_then_updates_the_same_unique_row(db: EngineDb, acts: DatabaseActivities) -> None:
    first = await run(acts, "upsert", {"table": db.name, "data": {"email": "a@x.io", "status": "one", "score": 1}})
    second = await run(acts, "upsert", {"table": db.name, "data": {"email": "a@x.io", "status": "two", "score": 2}})
    (row,) = await db.rows()
    assert (first["rowcount"], second["rowcount"]) == (1, 1)
    assert (row["email"], row["status"], row["score"]) == ("a@x.io", "two", 2)
    by_id = await run(acts, "upsert", {"table": db.name, "data": {"id": row["id"], "status": "three"}})
    assert by_id["rowcount"] == 1
    assert [r["status"] for r in await db.rows()] == ["three"]


async def test_delete_removes_one_row_and_refuses_several(db: EngineDb, acts: DatabaseActivities) -> None:
    await db.insert({"status": "a", "score": 1}, {"status": "b", "score": 2}, {"status": "b", "score": 3})
    out = await run(acts, "delete", {"table": db.name, "where": {"status": "a"}})
    assert out["rowcount"] == 1
    err = await fails(acts, "delete", {"table": db.name, "where": {"status": "b"}})
    assert err.type == "INVALID_INPUT"
    assert "delete_many" in err.message
    assert [r["score"] for r in await db.rows()] == [2, 3]  # rolled back: nothing deleted
    out = await run(acts, "delete_many", {"table": db.name, "where": {"status": "b"}})
    assert out["rowcount"] == 2
    assert await db.rows() == []
    err = await fails(acts, "delete_many", {"table": db.name, "where": {}})
    assert err.type == "INVALID_INPUT"


async def test_query_and_count_return_json_safe_rows(db: EngineDb, acts: DatabaseActivities) -> None:
    at = datetime(2025, 1, 2, 3, 4, 5)
    await db.insert(
        {"status": "a", "score": 3, "amount": Decimal("1.25"), "started_at": at},
        {"status": "b", "score": 1, "amount": None, "started_at": None},
        {"status": "c", "score": 2, "amount": Decimal("7.00"), "started_at": at},
    )
    out = await run(
        acts, "query", {"table": db.name, "where": {"score": {"$gte": 2}}, "order_by": "-score", "limit": 5}
    )
    assert [r["status"] for r in out["rows"]] == ["a", "c"]
    assert out["rows"][0]["amount"] == "1.25"  # Decimal as an exact string
    assert out["rows"][0]["started_at"] == "2025-01-02T03:04:05"
    assert out["rowcount"] == 2
    picked = await run(acts, "query", {"table": db.name, "columns": ["status"], "order_by": {"score": "asc"}})
    assert picked["rows"] == [{"status": "b"}, {"status": "c"}, {"status": "a"}]
    assert picked["truncated"] is False
    paged = await run(acts, "query", {"table": db.name, "order_by": ["score"], "limit": 1, "offset": 1})
    assert [r["status"] for r in paged["rows"]] == ["c"]
    counted = await run(acts, "count", {"table": db.name, "where": {"amount": {"$isNotNull": True}}})
    assert counted["count"] == 2
    recent = await run(acts, "recent", {"filter": {"status": "b"}})
    assert recent["action"] == "recent"
    assert [r["score"] for r in recent["rows"]] == [1]


FILTER_CASES: list[tuple[dict[str, Any], list[str]]] = [
    ({"status": "b"}, ["b"]),
    ({"status": {"$eq": "c"}}, ["c"]),
    ({"status": {"$EQ": "c"}}, ["c"]),
    ({"status": {"$ne": "a"}}, ["b", "c", "d"]),
    ({"score": {"$gt": 2}}, ["c", "d"]),
    ({"score": {"$gte": 2}}, ["b", "c", "d"]),
    ({"score": {"$lt": 2}}, ["a"]),
    ({"score": {"$LTE": 2}}, ["a", "b"]),
    ({"score": {"$in": [1, 4]}}, ["a", "d"]),
    ({"score": {"$nin": [1, 4]}}, ["b", "c"]),
    ({"email": {"$like": "%@ex.io"}}, ["a", "b"]),
    ({"email": {"$isNull": True}}, ["d"]),
    ({"email": {"$isNotNull": True}}, ["a", "b", "c"]),
    ({"email": None}, ["d"]),
    ({"score": {"$between": [2, 3]}}, ["b", "c"]),
    ({"started_at": {"$gt": NOW_MS}}, ["c"]),
    ({"started_at": {"$lte": "2025-11-30T04:35:08Z"}}, ["a"]),
    ({"score": {"$gt": 1, "$lt": 4}}, ["b", "c"]),
    ({"$or": [{"status": "a"}, {"score": {"$gte": 4}}]}, ["a", "d"]),
    ({"$and": [{"score": {"$gt": 1}}, {"email": {"$isNotNull": True}}]}, ["b", "c"]),
]


async def test_every_filter_operator(db: EngineDb, acts: DatabaseActivities) -> None:
    await db.insert(
        {"status": "a", "score": 1, "email": "a@ex.io", "started_at": datetime(2025, 1, 1)},
        {"status": "b", "score": 2, "email": "b@ex.io", "started_at": None},
        {"status": "c", "score": 3, "email": "c@other.io", "started_at": datetime(2026, 1, 1)},
        {"status": "d", "score": 4, "email": None, "started_at": None},
    )
    for where, expected in FILTER_CASES:
        out = await run(acts, "query", {"table": db.name, "where": where, "order_by": "status"})
        assert [r["status"] for r in out["rows"]] == expected, where
    refused: list[tuple[dict[str, Any], str]] = [
        ({"score": {"$near": 1}}, "$near"),
        ({"score": {"$in": 1}}, "$in takes a list"),
        ({"score": {"$between": [1]}}, "$between"),
        ({"score": {"$gt": 1, "plain": 2}}, "mixes"),
    ]
    for bad, message in refused:
        err = await fails(acts, "query", {"table": db.name, "where": bad})
        assert err.type == "INVALID_INPUT"
        assert message in err.message


async def test_a_value_carrying_sql_is_stored_verbatim(db: EngineDb, acts: DatabaseActivities) -> None:
    evil = f"x'); DROP TABLE {db.name}; -- \" ` \\"
    await run(acts, "insert", {"table": db.name, "data": {"status": evil}})
    await run(acts, "add_raw", {"data": {"status": evil, "score": 1}})
    found = await run(acts, "query", {"table": db.name, "where": {"status": evil}})
    assert [r["status"] for r in await db.rows()] == [evil, evil]
    assert found["rowcount"] == 2


@pytest.mark.parametrize(
    ("event", "data", "named"),
    [
        ("insert", {"data": {"status; DROP TABLE {t}; --": "x"}}, "status; DROP TABLE"),
        ("insert", {"table": "{t}; DROP TABLE {t}", "data": {"status": "x"}}, "DROP TABLE"),
        ("query", {"where": {"1=1 OR status": "x"}}, "1=1 OR status"),
        ("query", {"order_by": "status; DROP TABLE {t}"}, "status;"),
        ("query", {"columns": ["*"]}, "'*'"),
        ("update", {"data": {"status": "x"}, "where": {"id) OR (1=1": 1}}, "id) OR (1=1"),
    ],
)
async def test_a_name_carrying_sql_is_refused_and_nothing_runs(
    db: EngineDb, acts: DatabaseActivities, event: str, data: dict[str, Any], named: str
) -> None:
    await db.insert({"status": "keep"})
    payload = {"table": db.name, **{k: _fill(v, db.name) for k, v in data.items()}}
    err = await fails(acts, event, payload)
    assert err.type == "INVALID_INPUT"
    assert err.non_retryable
    assert _fill(named, db.name) in err.message
    assert [r["status"] for r in await db.rows()] == ["keep"]


def _fill(value: Any, name: str) -> Any:
    if isinstance(value, str):
        return value.replace("{t}", name)
    if isinstance(value, dict):
        return {_fill(k, name): _fill(v, name) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, name) for v in value]
    return value


async def test_statement_actions_bind_data_and_filter(db: EngineDb, acts: DatabaseActivities) -> None:
    out = await run(acts, "add_raw", {"data": [{"status": "p", "score": 1}, {"status": "q", "score": 2}]})
    assert out["operation"] == "statement"
    assert [(r["status"], r["score"]) for r in await db.rows()] == [("p", 1), ("q", 2)]
    found = await run(acts, "by_status", {"filter": {"status": "q"}})
    assert [r["status"] for r in found["rows"]] == ["q"]
    err = await fails(acts, "by_status", {"filter": {"status": "q", "extra": 1}})
    assert err.type == "INVALID_INPUT"
    assert ":extra" in err.message
    err = await fails(acts, "add_raw", {"data": {"status": "only"}})
    assert ":score" in err.message


async def test_integrity_violation_is_a_non_retryable_conflict(db: EngineDb, acts: DatabaseActivities) -> None:
    await db.insert({"status": "a", "email": "dup@x.io"})
    err = await fails(acts, "insert", {"table": db.name, "data": {"status": "b", "email": "dup@x.io"}})
    assert err.type == "CONFLICT"
    assert err.non_retryable
    assert "dup@x.io" not in err.message  # the job's data stays out of failure messages
    missing = await fails(acts, "insert", {"table": db.name, "data": {"email": "no-status@x.io"}})
    assert missing.type == "CONFLICT", missing.message  # NOT NULL is an integrity constraint too
    assert len(await db.rows()) == 1


async def test_unknown_table_and_bad_values_are_invalid_input(db: EngineDb, acts: DatabaseActivities) -> None:
    err = await fails(acts, "count", {"table": f"{db.name}_missing"})
    assert (err.type, err.non_retryable) == ("INVALID_INPUT", True)
    assert f"{db.name}_missing" in err.message
    err = await fails(acts, "insert", {"table": db.name, "data": {"status": "x", "started_at": "yesterday"}})
    assert err.type == "INVALID_INPUT"
    assert "started_at" in err.message
    err = await fails(acts, "insert", {"table": db.name, "data": {"status": {"nested": 1}}})
    assert "not a JSON column" in err.message
    err = await fails(acts, "insert", {"table": db.name, "date": {}})
    assert "input.date: is not a known field" in err.message


async def test_a_column_added_after_reflection_is_found(db: EngineDb, acts: DatabaseActivities) -> None:
    await run(acts, "insert", {"table": db.name, "data": {"status": "before"}})
    async with db.engine.begin() as conn:
        await conn.execute(sa.text(f"ALTER TABLE {db.name} ADD COLUMN extra VARCHAR(20)"))
    await run(acts, "insert", {"table": db.name, "data": {"status": "after", "extra": "yes"}})
    async with db.engine.connect() as conn:
        values = (await conn.execute(sa.text(f"SELECT extra FROM {db.name} ORDER BY id"))).scalars().all()
    assert list(values) == [None, "yes"]


@pytest.mark.parametrize(
    "url", ["postgresql://postgres@127.0.0.1:1/test", "mysql://root@127.0.0.1:1/test"], ids=["postgres", "mariadb"]
)
async def test_connection_refused_is_a_retryable_connection_error(url: str) -> None:
    config = parse_product_config(
        {"products": {"shop": {"envs": ["dev"], "databases": {"analytics": {"envs": {"dev": {"url": url}}}}}}}
    )
    acts = DatabaseActivities(config, SecretStore({}))
    err = await fails(acts, "count", {"table": "anything"})
    await acts.close()
    assert err.type == "CONNECTION_ERROR"
    assert not err.non_retryable
    assert "postgres@" not in err.message
    assert "root@" not in err.message


@pytest.mark.parametrize(
    ("database", "path"),
    [
        ({"envs": {"dev": {"url": "x"}}, "actions": {"a": {"operation": "explode", "table": "t"}}}, "operation"),
        ({"envs": {"dev": {"url": "x"}}, "actions": {"a": {"statement": "SELECT 1", "operation": "query"}}}, "a"),
        ({"envs": {"dev": {"url": "x"}}, "actions": {"a": {"operation": "query"}}}, "needs a `table`"),
        ({"envs": {"dev": {"url": "x"}}, "actions": {"insert": {"statement": "SELECT 1"}}}, "name of an operation"),
        ({"envs": {"dev": {"url": "ftp://host/db"}}}, "envs.dev.url"),
        ({"envs": {"dev": {"url": "sqlite:///x.db", "pool": 1}}}, "pool: is not a known key"),
    ],
)
def test_bad_database_config_is_refused_at_load(database: dict[str, Any], path: str) -> None:
    if database["envs"]["dev"]["url"] == "x":
        database["envs"]["dev"]["url"] = "sqlite+aiosqlite:///x.db"
    with pytest.raises(ConfigError) as caught:
        parse_product_config({"products": {"shop": {"envs": ["dev"], "databases": {"analytics": database}}}})
    assert "databases.analytics" in str(caught.value)
    assert path in str(caught.value)


async def test_a_timezone_aware_column_takes_epoch_ms_and_iso_text(db: EngineDb) -> None:
    name = f"{db.name}_tz"
    table = sa.Table(
        name,
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True)),
    )
    async with db.engine.begin() as conn:
        await conn.run_sync(table.metadata.create_all)
    acts = DatabaseActivities(db.config(), db.secrets())
    try:
        await run(acts, "insert", {"table": name, "data": {"id": 1, "at": NOW_MS}})
        await run(acts, "insert", {"table": name, "data": {"id": 2, "at": "2025-11-30T05:35:08+01:00"}})
        out = await run(acts, "count", {"table": name, "where": {"at": {"$lt": NOW_MS}}})
        async with db.engine.connect() as conn:
            stored = (await conn.execute(sa.select(table.c.at).order_by(table.c.id))).scalars().all()
    finally:
        await acts.close()
        async with db.engine.begin() as conn:
            await conn.run_sync(table.metadata.drop_all)
    expected = datetime.fromtimestamp(NOW_MS // 1000, UTC)
    for value in stored:
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)  # MariaDB and SQLite keep UTC, naive
        assert abs((aware - expected).total_seconds()) < 1
    # The ISO row has no milliseconds, so it is earlier than NOW_MS; MariaDB's DATETIME drops them from both.
    assert out["count"] == (2 if db.kind == "mariadb" else 1)


async def test_bad_sql_in_a_statement_action_is_invalid_input(db: EngineDb) -> None:
    acts = DatabaseActivities(
        db.config({"broken": {"statement": "SELEC id FROM nowhere WHERE id = :id"}}), db.secrets()
    )
    try:
        err = await fails(acts, "broken", {"data": {"id": 1}})
    finally:
        await acts.close()
    assert err.type == "INVALID_INPUT"
    assert err.non_retryable
