"""The three database engines of the ``database_action`` tests, each with a fresh table per test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from ductape_jobs.activities.config.product_config import ProductConfig, parse_product_config
from ductape_jobs.activities.config.secrets import SecretStore
from tests.support.services import MARIADB, POSTGRES, require_service

ENGINES = ["sqlite", "postgres", "mariadb"]

# What the worker is given (plain schemes, as hosting providers hand them out) and what the test
# reads back with (the async driver, explicitly).
_WORKER_URLS = {
    "postgres": "postgresql://postgres@127.0.0.1:5432/test",
    "mariadb": "mariadb://root@127.0.0.1:3306/test",
}
_TEST_URLS = {
    "postgres": "postgresql+asyncpg://postgres@127.0.0.1:5432/test",
    "mariadb": "mysql+aiomysql://root@127.0.0.1:3306/test",
}


@dataclass
class EngineDb:
    """One engine, the URL the worker gets, and a fresh table ``name`` shaped like ``sample_table``."""

    kind: str
    worker_url: str
    engine: AsyncEngine
    name: str
    table: sa.Table

    def config(self, actions: dict[str, Any] | None = None) -> ProductConfig:
        """Product ``shop``, env ``dev``, database ``analytics`` (URL as a secret) with ``actions``."""
        return parse_product_config(
            {
                "products": {
                    "shop": {
                        "envs": ["dev", "prd"],
                        "secrets": ["ANALYTICS_DB_URL"],
                        "databases": {
                            "analytics": {
                                "envs": {"dev": {"url": "$Secret{ANALYTICS_DB_URL}", "pool_size": 2}},
                                "actions": actions if actions is not None else self.actions(),
                            }
                        },
                    }
                }
            }
        )

    def actions(self) -> dict[str, Any]:
        return {
            "log_sync": {"operation": "insert", "table": self.name},
            "recent": {"operation": "query", "table": self.name},
            "add_raw": {"statement": f"INSERT INTO {self.name} (status, score) VALUES (:status, :score)"},
            "by_status": {"statement": f"SELECT id, status FROM {self.name} WHERE status = :status ORDER BY id"},
        }

    def secrets(self) -> SecretStore:
        return SecretStore({"ANALYTICS_DB_URL": self.worker_url})

    async def rows(self, order: str = "id") -> list[dict[str, Any]]:
        """Every row, read with the test's own engine."""
        async with self.engine.connect() as conn:
            result = await conn.execute(sa.select(self.table).order_by(self.table.c[order]))
            return [dict(r) for r in result.mappings().all()]

    async def insert(self, *rows: dict[str, Any]) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(sa.insert(self.table), list(rows))


def sample_table(name: str) -> sa.Table:
    return sa.Table(
        name,
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("status", sa.String(200), nullable=False),
        sa.Column("email", sa.String(100), unique=True),
        sa.Column("score", sa.Integer),
        sa.Column("amount", sa.Numeric(10, 2)),
        sa.Column("started_at", sa.DateTime),
    )


def require_engine(kind: str) -> None:
    if kind == "postgres":
        require_service("PostgreSQL", POSTGRES)
    elif kind == "mariadb":
        require_service("MariaDB", MARIADB)


async def open_test_db(kind: str, tmp_path: Path) -> AsyncIterator[EngineDb]:
    """A fresh table on ``kind``, dropped afterwards."""
    require_engine(kind)
    if kind == "sqlite":
        path = tmp_path / "analytics.db"
        worker_url = f"sqlite+aiosqlite:///{path}"
        test_url = worker_url
    else:
        worker_url, test_url = _WORKER_URLS[kind], _TEST_URLS[kind]
    name = f"t_{uuid.uuid4().hex[:12]}"
    table = sample_table(name)
    engine = create_async_engine(test_url)
    async with engine.begin() as conn:
        await conn.run_sync(table.metadata.create_all)
    try:
        yield EngineDb(kind=kind, worker_url=worker_url, engine=engine, name=name, table=table)
    finally:
        async with engine.begin() as conn:
            await conn.run_sync(table.metadata.drop_all)
        await engine.dispose()


@pytest.fixture(params=ENGINES)
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[EngineDb]:
    async for found in open_test_db(request.param, tmp_path):
        yield found
