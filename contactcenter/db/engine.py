"""Engines and units of work. SQLite: WAL, one serialized writer, concurrent readers. PostgreSQL: one pool."""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, ProgrammingError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session, sessionmaker

from contactcenter.db.checkpoint import SAFETY_PAGES, Checkpointer
from contactcenter.db.ids import AppSession
from contactcenter.db.sealed import attach_keyring
from contactcenter.errors import Unavailable
from contactcenter.privacy.keyring import Keyring


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


T = TypeVar("T")


def _sqlite_engine(url: str, *, writer: bool, echo: bool) -> AsyncEngine:
    engine = create_async_engine(url, echo=echo, pool_size=1 if writer else 4, max_overflow=0, pool_timeout=60,
                                 connect_args={"timeout": 30})
    _configure_sqlite(engine.sync_engine, writer=writer)
    return engine


def _configure_sqlite(engine: Engine, *, writer: bool, checkpointer: Checkpointer | None = None) -> None:
    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy (not the driver) decide when transactions begin, so SAVEPOINT works.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA cache_size=-65536")
        if writer:  # the checkpoints happen in a thread of their own (checkpoint.py); this is the safety net
            cursor.execute(f"PRAGMA wal_autocheckpoint={SAFETY_PAGES}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        if checkpointer is not None:
            checkpointer.finish_on(conn.connection.dbapi_connection)
        # The writer takes the write lock up front: no deadlock between two upgrading readers.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")


@contextlib.contextmanager
def _outages_as_unavailable() -> Iterator[None]:
    """Connection-level failures come out as DatabaseUnavailable; other errors pass unchanged."""
    try:
        yield
    except _OUTAGES as exc:
        outage = _unavailable(exc)
        if outage is not None:
            raise outage from exc
        raise


WROTE_EVENTS = "wrote_events"  # Session.info key: this unit of work appended outbox rows


def note_events(session: Session | AsyncSession) -> None:
    """Mark the unit of work as one that appended outbox rows (the relay is woken after its commit)."""
    session.info[WROTE_EVENTS] = True


AFTER_COMMIT = "after_commit"  # Session.info key: callbacks to run once this unit of work has committed


def after_commit(session: Session | AsyncSession, callback: Callable[[], None]) -> None:
    """Call ``callback`` on the event loop once this unit of work has committed (never if it rolls back)."""
    session.info.setdefault(AFTER_COMMIT, []).append(callback)


@asynccontextmanager
async def _transaction(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    with _outages_as_unavailable():
        async with factory() as session, session.begin():
            yield session


class WriterLock:
    """The SQLite writer's turn: urgent holders (what someone waits for: intake, the relay's claim, the router)
    go first, but never more than ``URGENT_RUN`` in a row while other work waits, so that the SLA clocks and the
    other subscribers keep up under a steady stream of requests. Otherwise first come, first served."""

    URGENT_RUN = 3

    def __init__(self) -> None:
        self._held = False
        self._urgent: collections.deque[asyncio.Future[None]] = collections.deque()
        self._background: collections.deque[asyncio.Future[None]] = collections.deque()
        self._run = 0  # urgent turns given in a row while background work waited

    @asynccontextmanager
    async def hold(self, *, urgent: bool = False) -> AsyncIterator[None]:
        if self._held or self._urgent or self._background:
            turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            (self._urgent if urgent else self._background).append(turn)
            try:
                await turn
            except BaseException:
                if turn.done() and not turn.cancelled():
                    self._release()  # the turn was handed over just as we were cancelled: pass it on
                else:
                    with contextlib.suppress(ValueError):
                        (self._urgent if urgent else self._background).remove(turn)
                raise
        self._held = True
        try:
            yield
        finally:
            self._release()

    def _release(self) -> None:
        self._held = False
        while self._urgent or self._background:
            if self._urgent and (not self._background or self._run < self.URGENT_RUN):
                turn = self._urgent.popleft()
                self._run = self._run + 1 if self._background else 0
            else:
                turn = self._background.popleft()
                self._run = 0
            if not turn.done():
                self._held = True
                turn.set_result(None)
                return


class Database:
    """The session factory. ``write()`` is a unit of work that commits; ``read()`` never writes.

    ``run_write(work)`` runs a unit of work written as plain synchronous code. On SQLite it runs in a
    thread of its own on a synchronous connection, so the whole transaction costs one hand-off instead
    of several per statement (the bulk of intake's time); an asyncio lock keeps it and ``write()``
    from ever waiting on each other inside SQLite.
    """

    def __init__(self, url: str, *, pool_size: int = 10, echo: bool = False, keyring: Keyring | None = None) -> None:
        self.url = url
        self.keyring = keyring  # encrypts message bodies and attachments (None: stored in the clear)
        self.is_sqlite = url.startswith("sqlite")
        self._write_lock = WriterLock()
        self._sync_engine: Engine | None = None
        self._sync_writer: sessionmaker[Session] | None = None
        self._writer_thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")
        self.checkpointer: Checkpointer | None = None
        if self.is_sqlite:
            sqlite_url = make_url(url)
            if sqlite_url.database and sqlite_url.database != ":memory:":
                self.checkpointer = Checkpointer(sqlite_url.database)
            self.engine = _sqlite_engine(url, writer=True, echo=echo)
            self.read_engine = _sqlite_engine(url, writer=False, echo=echo)
            self._sync_engine = create_engine(sqlite_url.set(drivername="sqlite"), echo=echo, pool_size=1,
                                              max_overflow=0, connect_args={"timeout": 30, "check_same_thread": False})
            _configure_sqlite(self._sync_engine, writer=True, checkpointer=self.checkpointer)
            self._sync_writer = sessionmaker(self._sync_engine, class_=AppSession, expire_on_commit=False,
                                             autoflush=False)
        else:
            self.engine = create_async_engine(url, echo=echo, pool_size=pool_size, max_overflow=pool_size,
                                              pool_pre_ping=True)
            self.read_engine = self.engine
        self._writer = async_sessionmaker(self.engine, expire_on_commit=False, autoflush=False,
                                          sync_session_class=AppSession)
        self._reader = async_sessionmaker(self.read_engine, expire_on_commit=False, autoflush=False,
                                          sync_session_class=AppSession)
        self._on_events: list[Callable[[], None]] = []
        self._on_commit: list[Callable[[], None]] = []
        for engine in {self.engine.sync_engine, self.read_engine.sync_engine, self._sync_engine} - {None}:
            assert engine is not None
            attach_keyring(engine.dialect, keyring)

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` after every committed unit of work (e.g. to wake this process's outbox relay)."""
        self._on_commit.append(callback)

    def on_events_committed(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` after every committed unit of work that appended outbox rows (``note_events``),
        e.g. to NOTIFY the other processes' relays. Units without events (most of the relay's and the router's)
        notify nobody."""
        self._on_events.append(callback)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A transaction that commits when the block ends without an exception."""
        async with self._write_lock.hold() if self.is_sqlite else contextlib.nullcontext(), \
                _transaction(self._writer) as session:
            yield session
        self._committed(session)

    async def run_write(self, work: Callable[[Session], T], *, urgent: bool = False) -> T:
        """Run ``work(session)`` in a transaction that commits when it returns; return its result.

        ``urgent`` work (what a client waits for, such as an intake batch) goes before background work
        waiting for SQLite's writer (see ``WriterLock``)."""
        if self._sync_writer is None:
            async with self.write() as session:
                return await session.run_sync(work)
        factory = self._sync_writer

        def unit() -> tuple[T, Session]:
            with factory() as session, session.begin():
                return work(session), session

        async with self._write_lock.hold(urgent=urgent):
            with _outages_as_unavailable():
                result, used = await asyncio.get_running_loop().run_in_executor(self._writer_thread, unit)
        self._committed(used)
        return result

    def start_checkpoints(self) -> None:
        """SQLite: checkpoint the write-ahead log in a background thread from now on (the server does this;
        without it the writer checkpoints inside a commit every ``SAFETY_PAGES``). Stopped by ``dispose``."""
        if self.checkpointer is not None:
            self.checkpointer.start()

    def _committed(self, session: Session | AsyncSession) -> None:
        if self.checkpointer is not None:
            self.checkpointer.committed()
        for callback in self._on_commit:
            callback()
        if session.info.pop(WROTE_EVENTS, False):
            for callback in self._on_events:
                callback()
        for callback in session.info.pop(AFTER_COMMIT, ()):
            callback()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A read-only session (a consistent snapshot for the duration of the block)."""
        async with _transaction(self._reader) as session:
            yield session

    async def dispose(self) -> None:
        if self.checkpointer is not None:
            await asyncio.to_thread(self.checkpointer.stop)
        await self.engine.dispose()
        if self.read_engine is not self.engine:
            await self.read_engine.dispose()
        if self._sync_engine is not None:
            await asyncio.get_running_loop().run_in_executor(self._writer_thread, self._sync_engine.dispose)


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
