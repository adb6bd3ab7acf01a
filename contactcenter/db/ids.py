"""Primary keys handed out before a flush, so that the ORM inserts many rows in one statement.

Without ids the ORM must insert row by row to learn each id (SQLite cannot promise RETURNING order).
When one flush adds several rows to a table, ``before_flush`` allocates their ids in one query:
``max(id)`` under SQLite's write lock (our SQLite writes hold BEGIN IMMEDIATE, so no other writer
exists), ``nextval`` of the table's sequence on PostgreSQL.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import Table, event, insert, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Session


class AppSession(Session):
    """The ORM session class of our session factories (carries the id allocation hook)."""


def _allocate(session: Session, table: Table, count: int) -> range:
    # Table names below come from our own metadata, never from input.
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        highest = connection.execute(text(f'SELECT coalesce(max(id), 0) FROM "{table.name}"'))  # noqa: S608
        start = int(highest.scalar_one()) + 1
        return range(start, start + count)
    ids = connection.execute(text(
        f"SELECT nextval(pg_get_serial_sequence('{table.name}', 'id')) FROM generate_series(1, :n)"),  # noqa: S608
        {"n": count}).scalars().all()
    return ids  # type: ignore[return-value]


@event.listens_for(AppSession, "before_flush")
def _assign_ids(session: Session, _context: Any, _instances: Any) -> None:
    pending: dict[Table, list[Any]] = defaultdict(list)
    for obj in session.new:
        table = getattr(obj, "__table__", None)
        if table is not None and "id" in table.c and list(table.primary_key.columns.keys()) == ["id"] \
                and getattr(obj, "id", None) is None:
            pending[table].append(obj)
    for table, objects in pending.items():
        if len(objects) > 1:
            for obj, new_id in zip(objects, _allocate(session, table, len(objects)), strict=True):
                obj.id = new_id


async def insert_rows(session: AsyncSession, model: type[DeclarativeBase], rows: list[dict[str, Any]]) -> list[int]:
    """Insert ``rows`` in one executemany with ids allocated first; return the ids in row order."""
    if not rows:
        return []
    table = model.__table__
    assert isinstance(table, Table)
    ids = list(await session.run_sync(lambda sync: list(_allocate(sync, table, len(rows)))))
    for row, new_id in zip(rows, ids, strict=True):
        row["id"] = new_id
    await session.execute(insert(model), rows)
    return ids
