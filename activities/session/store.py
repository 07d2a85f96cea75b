"""Where sessions, refresh tokens and revocations live: SQLite by default, PostgreSQL in production.

Refresh tokens rotate: each use returns a new one and marks the old one used. Presenting a refresh
token that was already used means it was stolen or replayed, so the whole session (the token family)
is revoked. Only SHA-256 hashes of refresh tokens are stored.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import DateTime, ForeignKey, String, Text, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from ductape_jobs.activities.config.drivers import database_need, require


class _Base(DeclarativeBase):
    pass


class SessionRow(_Base):
    __tablename__ = "ductape_sessions"

    session_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    product: Mapped[str] = mapped_column(String(200), index=True)
    tag: Mapped[str] = mapped_column(String(200))
    identifier: Mapped[str | None] = mapped_column(String(500), index=True)
    data: Mapped[str] = mapped_column(Text)
    """The payload as JSON, or as a JWE for encrypted session types (needed to mint refreshed tokens)."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    revoked_reason: Mapped[str | None] = mapped_column(String(200), default=None)


class RefreshRow(_Base):
    __tablename__ = "ductape_refresh_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("ductape_sessions.session_id"), index=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class RefreshRejected(ValueError):
    """A refresh token is unknown, expired, or reused (``code``: SESSION_INVALID, SESSION_EXPIRED,
    SESSION_REVOKED)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class StoredSession:
    session_id: str
    product: str
    tag: str
    identifier: str | None
    data: str
    expires_at: datetime
    revoked: bool


def hash_refresh(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)  # SQLite drops the zone


class SessionStore:
    """Async SQLAlchemy store; ``await store.create_schema()`` once before use."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def from_url(cls, url: str) -> SessionStore:
        """``sqlite+aiosqlite:///path.sqlite`` or ``postgresql+asyncpg://user@host/db``.

        Raises:
            ConfigError: the URL's driver is not installed (naming the extra that brings it).
        """
        need = database_need(url, "the session store (DUCTAPE_SESSION_STORE)")
        if need is not None:
            require([need])
        return cls(create_async_engine(url, pool_pre_ping=True))

    async def create_schema(self) -> None:
        async with self._engine.begin() as connection:
            await connection.run_sync(_Base.metadata.create_all)

    async def close(self) -> None:
        await self._engine.dispose()

    async def add(self, row: StoredSession, *, refresh_token: str, refresh_expires_at: datetime, now: datetime) -> None:
        async with self._sessions.begin() as db:
            db.add(SessionRow(session_id=row.session_id, product=row.product, tag=row.tag,
                              identifier=row.identifier, data=row.data, created_at=now,
                              expires_at=row.expires_at))  # fmt: skip
            await db.flush()
            db.add(RefreshRow(token_hash=hash_refresh(refresh_token), session_id=row.session_id,
                              expires_at=refresh_expires_at))  # fmt: skip

    async def get(self, session_id: str) -> StoredSession | None:
        async with self._sessions() as db:
            found = await db.get(SessionRow, session_id)
            if found is None:
                return None
            return StoredSession(found.session_id, found.product, found.tag, found.identifier, found.data,
                                 _aware(found.expires_at), found.revoked_at is not None)  # fmt: skip

    async def rotate(
        self, *, product: str, tag: str, old_token: str, new_token: str, new_expires_at: datetime, now: datetime
    ) -> str:
        """Mark ``old_token`` used and store ``new_token`` for the same session; returns its session ID.

        Raises:
            RefreshRejected: unknown token (or another product's or tag's), expired, session revoked,
                or a reused token, which also revokes the whole session.
        """
        reused = False
        async with self._sessions.begin() as db:
            row = await db.get(RefreshRow, hash_refresh(old_token), with_for_update=True)
            session = None if row is None else await db.get(SessionRow, row.session_id, with_for_update=True)
            if row is None or session is None or session.product != product or session.tag != tag:
                raise RefreshRejected("SESSION_INVALID", "unknown refresh token")
            if session.revoked_at is not None:
                raise RefreshRejected("SESSION_REVOKED", "the session was revoked")
            if row.used_at is not None:
                # Committed before failing: a replayed refresh token ends the whole family.
                session.revoked_at, session.revoked_reason = now, "refresh token reused"
                reused = True
            elif _aware(row.expires_at) <= now:
                raise RefreshRejected("SESSION_EXPIRED", "the refresh token has expired")
            else:
                row.used_at = now
                session.expires_at = new_expires_at
                db.add(RefreshRow(token_hash=hash_refresh(new_token), session_id=session.session_id,
                                  expires_at=new_expires_at))  # fmt: skip
            session_id = session.session_id
        if reused:
            raise RefreshRejected("SESSION_REVOKED", "refresh token reused: the session is revoked")
        return session_id

    async def revoke(
        self, *, product: str, tag: str, session_id: str | None, identifier: str | None, now: datetime, reason: str
    ) -> int:
        """Revoke one session, or all of a user's sessions of this type; returns how many."""
        query = update(SessionRow).where(
            SessionRow.product == product, SessionRow.tag == tag, SessionRow.revoked_at.is_(None)
        )
        if session_id is not None:
            query = query.where(SessionRow.session_id == session_id)
        if identifier is not None:
            query = query.where(SessionRow.identifier == identifier)
        async with self._sessions.begin() as db:
            result = await db.execute(query.values(revoked_at=now, revoked_reason=reason))
            return int(result.rowcount)  # type: ignore[attr-defined]

    async def active_ids(self, *, product: str, tag: str, identifier: str) -> list[str]:
        async with self._sessions() as db:
            rows = await db.scalars(select(SessionRow.session_id).where(
                SessionRow.product == product, SessionRow.tag == tag, SessionRow.identifier == identifier,
                SessionRow.revoked_at.is_(None)))  # fmt: skip
            return list(rows)
