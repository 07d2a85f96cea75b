"""``Ductape.connect``: awaitable or an async context manager that closes what it opened, and nothing
created in the caller's working directory unless asked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from ductape_jobs.activities.config.product_config import parse_product_config
from ductape_jobs.activities.session.store import SessionStore
from ductape_jobs.client import Ductape
from ductape_jobs.sessions import SessionError
from tests.conftest import TEST_KEYRING

CONFIG = parse_product_config(
    {
        "products": {
            "shop": {
                "envs": ["dev"],
                "secrets": ["K1"],
                "sessions": {"user": {"algorithm": "HS256", "key": "$Secret{K1}", "schema": {"userId": "string"}}},
            }
        }
    }
)
USER = {"product": "shop", "tag": "user", "data": {"userId": "u1"}}


@pytest.fixture
def environ(dev_env: WorkflowEnvironment) -> dict[str, str]:
    return {
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "DUCTAPE_ENCRYPTION_KEYS": TEST_KEYRING.to_text(),
        "K1": "hs-key-one-0123456789abcdef0123",
    }


@pytest.fixture
def closed(monkeypatch: pytest.MonkeyPatch) -> list[SessionStore]:
    """The session stores closed, in order."""
    stores: list[SessionStore] = []
    close = SessionStore.close

    async def recording(self: SessionStore) -> None:
        stores.append(self)
        await close(self)

    monkeypatch.setattr(SessionStore, "close", recording)
    return stores


async def test_async_with_closes_the_session_store_it_opened(
    environ: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, closed: list[SessionStore]
) -> None:
    monkeypatch.chdir(tmp_path)
    async with Ductape.connect(config=CONFIG, data_dir="state", environ=environ) as ductape:
        started = await ductape.sessions.start(USER)
        assert (await ductape.sessions.verify({"product": "shop", "tag": "user", "token": started.token})).valid
        assert closed == []
    assert len(closed) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state"]  # what it was told, nothing else
    assert (tmp_path / "state" / "sessions.sqlite").is_file()
    await ductape.close()
    assert len(closed) == 1  # idempotent


async def test_nothing_is_created_in_the_working_directory_unless_asked(
    environ: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, closed: list[SessionStore]
) -> None:
    monkeypatch.chdir(tmp_path)
    async with Ductape.connect(config=CONFIG, environ=environ) as ductape:
        with pytest.raises(SessionError, match="SESSION_STORE_MISSING"):
            await ductape.sessions.start(USER)
    assert list(tmp_path.iterdir()) == []
    assert closed == []


async def test_awaited_it_is_the_callers_to_close(
    environ: dict[str, str], tmp_path: Path, closed: list[SessionStore]
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 's.sqlite'}"
    ductape = await Ductape.connect(config=CONFIG, environ={**environ, "DUCTAPE_SESSION_STORE": url})
    async with ductape as same:  # `async with await Ductape.connect(...)` too
        assert same is ductape
        await ductape.sessions.start(USER)
    assert len(closed) == 1
    assert (tmp_path / "s.sqlite").is_file()


async def test_a_ductape_around_the_callers_own_store_leaves_it_open(
    dev_env: WorkflowEnvironment, tmp_path: Path, closed: list[Any]
) -> None:
    store = SessionStore.from_url(f"sqlite+aiosqlite:///{tmp_path / 'own.sqlite'}")
    async with Ductape(dev_env.client, session_store=store):
        pass
    assert closed == []
    await store.close()
