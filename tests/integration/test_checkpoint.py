"""SQLite's write-ahead log reaches the database file through the background checkpointer, not in a commit."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from contactcenter.context import Context
from contactcenter.db.checkpoint import SAFETY_PAGES
from contactcenter.db.ids import insert_rows
from contactcenter.db.models import Contact


@pytest.fixture(autouse=True)
def _sqlite_only(ctx: Context) -> None:
    if not ctx.db.is_sqlite:
        pytest.skip("the write-ahead log and its checkpoints are SQLite's")


async def _add_contacts(ctx: Context, n: int) -> None:
    def work(session: Session) -> None:
        now = datetime.now(UTC)
        insert_rows(session, Contact, [{"name": f"c{i}", "created_at": now, "updated_at": now} for i in range(n)])
    await ctx.db.run_write(work)


def _contacts_in_database_file(ctx: Context) -> int:
    """Contacts in the database file itself (``immutable``: the write-ahead log is not read)."""
    path = ctx.settings.data_path / "contactcenter.db"
    with sqlite3.connect(f"file:{path}?immutable=1", uri=True) as connection:
        return int(connection.execute("SELECT count(*) FROM contacts").fetchone()[0])


async def test_the_checkpointer_copies_commits_into_the_database_file(ctx: Context) -> None:
    before = _contacts_in_database_file(ctx)
    await _add_contacts(ctx, 50)
    assert _contacts_in_database_file(ctx) == before  # committed, but only in the log: no checkpoint in the commit
    assert await ctx.db.run_write(lambda s: s.execute(text("PRAGMA wal_autocheckpoint")).scalar()) == SAFETY_PAGES

    ctx.db.start_checkpoints()
    await _add_contacts(ctx, 50)
    for _ in range(100):
        if _contacts_in_database_file(ctx) == before + 100:
            break
        await asyncio.sleep(0.05)
    assert _contacts_in_database_file(ctx) == before + 100


def _log_restarts(ctx: Context) -> int:
    """The write-ahead log's checkpoint sequence number: its header's bytes 12-15, which SQLite increments each
    time the log starts over from its beginning (https://www.sqlite.org/fileformat2.html#walformat)."""
    header = (ctx.settings.data_path / "contactcenter.db-wal").read_bytes()[:32]
    return int.from_bytes(header[12:16], "big")


async def test_the_log_restarts_although_the_writer_was_mid_transaction(ctx: Context) -> None:
    """A background checkpoint that ends while the writer is inside a transaction cannot restart the log; the
    writer copies the rest before its next BEGIN, so that transaction writes the log from its beginning."""
    assert ctx.db.checkpointer is not None
    await _add_contacts(ctx, 50)
    inside, release = threading.Event(), threading.Event()

    def held(session: Session) -> None:  # a unit that is inside its transaction while the checkpoint runs
        session.execute(text("SELECT count(*) FROM contacts")).scalar()
        inside.set()
        release.wait(10)
        now = datetime.now(UTC)
        insert_rows(session, Contact, [{"name": f"h{i}", "created_at": now, "updated_at": now} for i in range(200)])

    unit = asyncio.ensure_future(ctx.db.run_write(held))
    await asyncio.to_thread(inside.wait, 10)
    with sqlite3.connect(ctx.settings.data_path / "contactcenter.db", check_same_thread=False) as connection:
        await asyncio.to_thread(ctx.db.checkpointer.catch_up, connection)  # copies everything committed so far
    release.set()
    await unit  # its frames went after the ones copied: it began before they were
    restarts = _log_restarts(ctx)
    await _add_contacts(ctx, 1)
    assert _log_restarts(ctx) == restarts + 1  # this unit began with every frame copied: the log started over
