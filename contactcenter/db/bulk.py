"""SQLite bulk inserts straight through the driver, for the hot paths' ``insert_rows``.

SQLAlchemy's executemany builds a parameter dictionary per row and runs every value through its type's
processor: for a batch of intake rows that is about half of the insert's cost (BENCHMARKS.md, intake). Here the
statement, its column order and the processors are worked out once per table and set of columns; a row costs a
tuple, and a value that repeats within the call (the batch's timestamp, an enum) is converted once. The values
stored are the ones SQLAlchemy would store: the same processors of the same dialect, the columns' Python-side
defaults for the columns the rows leave out. What this path cannot do the same way (a column default that is a
SQL expression or a sequence, a type with a bind expression) makes ``plan`` answer None and the caller use
SQLAlchemy. Errors come out as SQLAlchemy's (an ``IntegrityError`` is an ``IntegrityError``).
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Dialect, Table, bindparam, insert
from sqlalchemy.exc import DBAPIError

Processor = Callable[[Any], Any]
_MEMO_TYPES = (datetime, str, int)  # values worth converting once per call (immutable, cheap to hash)


@dataclass(frozen=True, slots=True)
class Plan:
    """How rows with one set of keys go into one table."""

    sql: str
    # per column of the statement, in its order: the row's key that holds the value, or the column's
    # Python-side default (for the columns the rows leave out), and the type's processor
    sources: tuple[str | Callable[[], Any], ...]
    processors: tuple[Processor | None, ...]


def _default(column: Any) -> Callable[[], Any] | None:
    default = column.default
    if default.is_scalar:
        value = default.arg
        return lambda: value
    if default.is_callable:  # SQLAlchemy wraps a callable without arguments into one that takes the context
        function = default.arg
        return lambda: function(None)
    return None


@functools.cache
def plan(table: Table, keys: tuple[str, ...], dialect: Dialect) -> Plan | None:
    """The statement for rows with these keys, or None when only SQLAlchemy can insert them faithfully."""
    left_out = [c for c in table.columns if c.key not in keys and c.default is not None]
    columns = [table.c[key] for key in keys] + left_out
    sources = [*keys, *(_default(c) for c in left_out)]
    if any(source is None for source in sources) or any(
            c.type.bind_expression(bindparam(c.key)) is not None for c in columns):
        return None
    compiled = insert(table).values({c: bindparam(f"p{i}") for i, c in enumerate(columns)}).compile(dialect=dialect)
    order = [int(name[1:]) for name in compiled.positiontup or ()]
    if sorted(order) != list(range(len(columns))):
        return None
    return Plan(compiled.string, tuple(sources[i] for i in order),  # type: ignore[misc]
                tuple(columns[i].type.dialect_impl(dialect).bind_processor(dialect) for i in order))


def _converted(processor: Processor | None, values: Sequence[Any]) -> Sequence[Any]:
    if processor is None:
        return values
    memo: dict[tuple[type, Any], Any] = {}  # keyed by type too: True == 1, but they may convert differently
    out = []
    for value in values:
        if isinstance(value, _MEMO_TYPES):
            key = (value.__class__, value)
            if key not in memo:
                memo[key] = processor(value)
            out.append(memo[key])
        else:
            out.append(processor(value))
    return out


def insert_many(connection: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> bool:
    """Insert ``rows`` (all with the same keys) in one driver executemany; False: not done, use SQLAlchemy.

    Only on the synchronous ``sqlite3`` connection of ``Database.run_write`` (the writer of every hot path)."""
    driver = connection.connection.dbapi_connection
    if not isinstance(driver, sqlite3.Connection):  # aiosqlite's adapter (an AsyncSession's unit): SQLAlchemy
        return False
    first = rows[0].keys()
    found = plan(table, tuple(first), connection.dialect)
    if found is None or any(row.keys() != first for row in rows):
        return False
    columns = [[row[source] for row in rows] if isinstance(source, str) else [source() for _ in rows]
               for source in found.sources]
    converted = [_converted(p, values) for p, values in zip(found.processors, columns, strict=True)]
    parameters = list(zip(*converted, strict=True))
    try:
        driver.executemany(found.sql, parameters)
    except sqlite3.Error as exc:
        raise DBAPIError.instance(found.sql, parameters, exc, sqlite3.Error) from exc
    return True
