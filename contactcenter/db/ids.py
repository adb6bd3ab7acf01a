"""Primary keys handed out before inserting, so that many rows go into the database in one statement.

Without ids the ORM must insert row by row to learn each id (SQLite cannot promise RETURNING order).
Instead ids are allocated up front: on PostgreSQL from the table's sequence (``nextval``), on SQLite
from ``max(id)``, read once per transaction for all tables and then counted in memory. That is safe
because every SQLite write transaction holds the write lock from its first statement (BEGIN IMMEDIATE),
so no other writer can insert meanwhile.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Insert, Table, TextClause, event, insert, text
from sqlalchemy.orm import DeclarativeBase, Session

from contactcenter.db.bulk import insert_many

_NEXT = "next_ids"  # session.info key: table name -> next free id (SQLite, this transaction)


class AppSession(Session):
    """The ORM session class of our session factories (carries the id allocation hook)."""


@event.listens_for(AppSession, "after_transaction_end")
def _forget_counters(session: Session, transaction: Any) -> None:
    if transaction.parent is None:
        session.info.pop(_NEXT, None)


def _prefetch(session: Session, tables: Sequence[Table]) -> None:
    """Read the highest id of every table not counted yet, all in one statement (SQLite)."""
    counters: dict[str, int] = session.info.setdefault(_NEXT, {})
    missing = tuple(t.name for t in tables if t.name not in counters)
    if missing:
        highest = session.connection().execute(_highest_ids(missing)).one()
        counters.update({name: int(value) + 1 for name, value in zip(missing, highest, strict=True)})


@functools.cache
def _highest_ids(names: tuple[str, ...]) -> TextClause:
    """One statement reading the highest id of each table (built once per set of tables)."""
    # Table names come from our own metadata, never from input.
    columns = ", ".join(f'(SELECT coalesce(max(id), 0) FROM "{name}")' for name in names)  # noqa: S608
    return text(f"SELECT {columns}")


def _allocate(session: Session, table: Table, count: int) -> list[int]:
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        _prefetch(session, [table])
        counters: dict[str, int] = session.info[_NEXT]
        start = counters[table.name]
        counters[table.name] = start + count
        return list(range(start, start + count))
    ids = connection.execute(_next_ids(table.name), {"n": count}).scalars().all()
    return [int(i) for i in ids]


@event.listens_for(AppSession, "before_flush")
def _assign_ids(session: Session, _context: Any, _instances: Any) -> None:
    pending: dict[Table, list[Any]] = defaultdict(list)
    for obj in session.new:
        table = getattr(obj, "__table__", None)
        if table is not None and "id" in table.c and list(table.primary_key.columns.keys()) == ["id"] \
                and getattr(obj, "id", None) is None:
            pending[table].append(obj)
    counted = session.connection().dialect.name == "sqlite" and _NEXT in session.info
    for table, objects in pending.items():
        # Once this transaction counts ids in memory, every insert must take them from the counter.
        if len(objects) > 1 or counted:
            for obj, new_id in zip(objects, _allocate(session, table, len(objects)), strict=True):
                obj.id = new_id


def prefetch_ids(session: Session, models: Sequence[type[DeclarativeBase]]) -> None:
    """On SQLite, learn the next free id of these tables in one round trip (a no-op on PostgreSQL)."""
    if session.get_bind().dialect.name == "sqlite":
        _prefetch(session, [m.__table__ for m in models])  # type: ignore[misc]


def insert_rows(session: Session, model: type[DeclarativeBase], rows: list[dict[str, Any]]) -> list[int]:
    """Insert ``rows`` (keyed by column name) in one executemany with ids allocated first; return the ids.

    This is a Core insert into the table: no ORM objects are made, and nothing is added to the session.
    """
    if not rows:
        return []
    table = model.__table__
    assert isinstance(table, Table)
    ids = _allocate(session, table, len(rows))
    for row, new_id in zip(rows, ids, strict=True):
        row["id"] = new_id
    _insert_all(session, table, rows)
    return ids


def insert_keyed_rows(session: Session, model: type[DeclarativeBase], rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` that carry their own primary key (not an ``id`` of ours) in one executemany."""
    if rows:
        table = model.__table__
        assert isinstance(table, Table) and "id" not in table.primary_key.columns
        _insert_all(session, table, rows)


def _insert_all(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    connection = session.connection()
    if connection.dialect.name != "sqlite" or not insert_many(connection, table, rows):
        connection.execute(_insert(table), rows)  # Core on the connection: the cheapest way through SQLAlchemy


@functools.cache
def _next_ids(name: str) -> TextClause:
    """PostgreSQL: ``n`` ids from the table's sequence (one statement per table, built once)."""
    return text(f"SELECT nextval(pg_get_serial_sequence('{name}', 'id')) FROM generate_series(1, :n)")  # noqa: S608


@functools.cache
def _insert(table: Table) -> Insert:
    """One INSERT statement per table, built once (building it again costs more than the insert of a row)."""
    return insert(table)
