"""SQLite's bulk insert straight through the driver (db/bulk.py) stores what SQLAlchemy's insert stores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from contactcenter.context import Context
from contactcenter.db.bulk import insert_many, plan
from contactcenter.db.ids import insert_rows
from contactcenter.db.models import Contact, Message, OutboxEvent, Ticket
from contactcenter.privacy.sealing import Sealer

MESSAGES = cast(Table, Message.__table__)


@pytest.fixture(autouse=True)
def _sqlite_only(ctx: Context) -> None:
    if not ctx.db.is_sqlite:
        pytest.skip("the driver path is SQLite's; PostgreSQL inserts through SQLAlchemy")


async def _ticket(ctx: Context) -> tuple[int, int]:
    def work(session: Session) -> tuple[int, int]:
        now = datetime.now(UTC)
        contact = insert_rows(session, Contact, [{"name": "Sara", "created_at": now, "updated_at": now}])[0]
        ticket = insert_rows(session, Ticket, [{"subject": "s", "status": "new", "priority": "normal",
                                                 "type": "question", "channel": "webform", "language": "fa",
                                                 "contact_id": contact, "portal_token_hash": "h",
                                                 "created_at": now}])[0]
        return contact, ticket
    return await ctx.db.run_write(work)


def _rows(contact: int, ticket: int, tag: str) -> list[dict[str, Any]]:
    at = datetime(2026, 3, 20, 23, 30, tzinfo=UTC) + timedelta(hours=3, minutes=30)  # converted to UTC
    return [{"ticket_id": ticket, "direction": "in", "author_kind": "contact", "contact_id": contact,
             "channel": "webform", "internal": flag, "delivery_status": "received", "subject": "سلام",
             "text": f"متن {tag} {n}",
             "external_id": f"{tag}-{n}", "metadata": {"n": n, "fa": "ی"}, "raw": b"\x00raw",
             "created_at": at} for n, flag in enumerate((True, False))]


async def test_the_driver_path_stores_the_same_values_as_sqlalchemy(ctx: Context) -> None:
    contact, ticket = await _ticket(ctx)

    def work(session: Session) -> None:
        seal = Sealer.for_contacts(session, [contact])  # sealed bodies, as intake stores them
        rows = {tag: [{**row, "text": seal.text(contact, row["text"]), "key_id": seal.key_id(contact)}
                      for row in _rows(contact, ticket, tag)] for tag in ("driver", "orm")}
        connection = session.connection()
        assert insert_many(connection, MESSAGES, rows["driver"])
        connection.execute(insert(MESSAGES), rows["orm"])

    await ctx.db.run_write(work)
    columns = [c.name for c in MESSAGES.columns if c.name not in ("id", "external_id", "text")]
    async with ctx.db.read() as session:
        stored = (await session.execute(text(f"SELECT external_id, {', '.join(columns)} FROM messages "  # noqa: S608
                                             "WHERE external_id LIKE '%-%' ORDER BY external_id"))).all()
        texts = (await session.scalars(select(Message.text).order_by(Message.external_id))).all()
    by_tag = {tag: [tuple(r[1:]) for r in stored if r[0].startswith(tag)] for tag in ("driver", "orm")}
    assert len(by_tag["driver"]) == 2 and by_tag["driver"] == by_tag["orm"]
    assert texts == ["متن driver 0", "متن driver 1", "متن orm 0", "متن orm 1"]  # sealed, then opened


async def test_left_out_columns_get_their_python_defaults(ctx: Context) -> None:
    def work(session: Session) -> list[int]:
        return insert_rows(session, OutboxEvent, [{"topic": "t", "payload": {"a": 1}}, {"topic": "u", "payload": {}}])
    ids = await ctx.db.run_write(work)
    async with ctx.db.read() as session:
        rows = (await session.execute(select(OutboxEvent.status, OutboxEvent.attempts, OutboxEvent.available_at)
                                      .where(OutboxEvent.id.in_(ids)))).all()
    assert [(status, attempts) for status, attempts, _ in rows] == [("pending", 0), ("pending", 0)]
    assert all(available is not None for _, _, available in rows)


async def test_a_constraint_violation_is_sqlalchemys_integrity_error(ctx: Context) -> None:
    contact, ticket = await _ticket(ctx)
    await ctx.db.run_write(lambda session: insert_rows(session, Message, _rows(contact, ticket, "dup")[:1]))
    with pytest.raises(IntegrityError):  # UNIQUE(channel, external_id): what intake's redelivery handling catches
        await ctx.db.run_write(lambda session: insert_rows(session, Message, _rows(contact, ticket, "dup")[:1]))


def test_rows_that_need_sqlalchemy_are_left_to_it(ctx: Context) -> None:
    dialect = ctx.db.engine.dialect
    assert plan(MESSAGES, ("ticket_id", "text"), dialect) is not None
    table = Table("t", MetaData(), Column("id", Integer, primary_key=True),
                  Column("name", String, default=func.lower("X")))  # a SQL expression: only SQLAlchemy runs it
    assert plan(table, ("id",), dialect) is None
    assert plan(table, ("id", "name"), dialect) is not None  # given in the rows, the default does not matter


async def test_an_async_sessions_unit_inserts_through_sqlalchemy(ctx: Context) -> None:
    async with ctx.db.write() as session:  # aiosqlite's connection adapter, not the driver's
        done = await session.run_sync(lambda s: insert_many(s.connection(), MESSAGES, [{"ticket_id": 1}]))
        ids = await session.run_sync(lambda s: insert_rows(s, OutboxEvent, [{"topic": "t", "payload": {}}]))
    assert done is False and len(ids) == 1
