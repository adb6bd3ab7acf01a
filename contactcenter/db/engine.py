"""Engines and units of work. SQLite: WAL, one serialized writer, concurrent readers. PostgreSQL: one pool."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, ProgrammingError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from contactcenter.db.ids import AppSession
from contactcenter.errors import Unavailable


class DatabaseUnavailable(Unavailable):
    """The database cannot be reached or cannot take the write now; the caller should ask the sender to retry."""


_OUTAGES = (DBAPIError, OSError, PoolTimeout)  # DBAPIError covers OperationalError


def _unavailable(exc: BaseException) -> DatabaseUnavailable | None:
    """The outage ``exc`` stands for, or None when it is an ordinary error (a bug, a constraint)."""
    if isinstance(exc, OSError | PoolTimeout):  # refused or reset connection, full disk, exhausted pool
        return DatabaseUnavailable(repr(exc))
    if isinstance(exc, DBAPIError) and _is_unavailable(exc):
        return DatabaseUnavailable(str(exc.orig))
    return None


def _sqlite_engine(url: str, *, writer: bool, echo: bool) -> AsyncEngine:
    engine = create_async_engine(
        url,
        echo=echo,
        pool_size=1 if writer else 4,
        max_overflow=0,
        pool_timeout=60,
        connect_args={"timeout": 30},
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy (not the driver) decide when transactions begin, so SAVEPOINT works.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA cache_size=-65536")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: Any) -> None:
        # The writer takes the write lock up front: no deadlock between two upgrading readers.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")

    return engine


@asynccontextmanager
async def _transaction(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session in a transaction; connection-level failures come out as DatabaseUnavailable."""
    try:
        async with factory() as session, session.begin():
            yield session
    except _OUTAGES as exc:
        outage = _unavailable(exc)
        if outage is not None:
            raise outage from exc
        raise


class Database:
    """The session factory. ``write()`` is a unit of work that commits; ``read()`` never writes."""

    def __init__(self, url: str, *, pool_size: int = 10, echo: bool = False) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            self.engine = _sqlite_engine(url, writer=True, echo=echo)
            self.read_engine = _sqlite_engine(url, writer=False, echo=echo)
        else:
            self.engine = create_async_engine(url, echo=echo, pool_size=pool_size, max_overflow=pool_size,
                                              pool_pre_ping=True)
            self.read_engine = self.engine
        self._writer = async_sessionmaker(self.engine, expire_on_commit=False, autoflush=False,
                                          sync_session_class=AppSession)
        self._reader = async_sessionmaker(self.read_engine, expire_on_commit=False, autoflush=False,
                                          sync_session_class=AppSession)
        self._on_commit: list[Callable[[], None]] = []

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` after every committed unit of work (e.g. to wake the outbox relay)."""
        self._on_commit.append(callback)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A transaction that commits when the block ends without an exception."""
        async with _transaction(self._writer) as session:
            yield session
        for callback in self._on_commit:
            callback()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A read-only session (a consistent snapshot for the duration of the block)."""
        async with _transaction(self._reader) as session:
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.read_engine is not self.engine:
            await self.read_engine.dispose()


def _is_unavailable(exc: DBAPIError) -> bool:
    """A lost or refused connection, a locked or full database: not a constraint or a bug in a statement."""
    if exc.connection_invalidated:
        return True
    if isinstance(exc, IntegrityError | DataError | ProgrammingError):
        return False
    text = str(exc.orig).lower()
    return any(word in text for word in (
        "database is locked", "connection", "could not connect", "disk i/o", "cannot connect",
        "the database system is", "terminating", "timeout", "unable to open", "readonly database",
        "database or disk is full"))
