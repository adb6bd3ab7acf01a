"""Lookups by composite key that use the index on SQLite.

SQLite answers ``(a, b) IN (VALUES ...)`` by scanning the whole table or index, so intake would slow
down as the tables grow. The same condition written as ``(a = ? AND b IN (...)) OR ...``, one branch
per distinct prefix, is an index search per branch on SQLite and PostgreSQL alike (``key_in``).

On hot paths ``KeyedSelect`` builds the statement once, with bound parameters (building and keying a
statement costs more than running it), and runs it once per distinct prefix.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Generic, TypeVarTuple

from sqlalchemy import ColumnElement, Connection, Row, Select, and_, bindparam, false, or_
from sqlalchemy.orm import QueryableAttribute, Session

Column = ColumnElement[Any] | QueryableAttribute[Any]
Ts = TypeVarTuple("Ts")


def _groups(keys: Iterable[tuple[Any, ...]]) -> dict[tuple[Any, ...], list[Any]]:
    """The keys' last values, grouped by the rest of the key."""
    groups: dict[tuple[Any, ...], list[Any]] = {}
    for key in keys:
        groups.setdefault(tuple(key[:-1]), []).append(key[-1])
    return groups


def key_in(columns: Sequence[Column], keys: Iterable[tuple[Any, ...]]) -> ColumnElement[bool]:
    """``tuple(columns) IN keys``, written so that an index on ``columns`` (in that order) is used."""
    groups = _groups(keys)
    if not groups:
        return false()
    *prefix_columns, last = columns
    return or_(*(and_(*(column == value for column, value in zip(prefix_columns, prefix, strict=True)),
                      last.in_(values)) for prefix, values in groups.items()))


class KeyedSelect(Generic[*Ts]):
    """``statement`` restricted to ``tuple(columns) IN keys``, built once; ``rows`` runs it per key prefix.

    With one column it is a plain ``IN`` list: one execution however many keys."""

    def __init__(self, statement: Select[*Ts], columns: Sequence[Column]) -> None:
        *prefix, last = columns
        self.statement = statement.where(*(column == bindparam(f"key{i}") for i, column in enumerate(prefix)),
                                         last.in_(bindparam("last", expanding=True)))

    def rows(self, executor: Connection | Session, keys: Iterable[tuple[Any, ...]],
             params: Mapping[str, Any] | None = None) -> list[Row[*Ts]]:
        """Every row whose key is one of ``keys`` (a Session for ORM entities, else its connection);
        ``params``: the statement's other bound parameters."""
        found: list[Row[*Ts]] = []
        for prefix, values in _groups(keys).items():
            bound = {**(params or {}), **{f"key{i}": value for i, value in enumerate(prefix)}, "last": values}
            found += executor.execute(self.statement, bound).all()
        return found
