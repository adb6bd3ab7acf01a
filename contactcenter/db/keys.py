"""Lookups by composite key that use the index on SQLite.

SQLite answers ``(a, b) IN (VALUES ...)`` by scanning the whole table or index, so intake would slow
down as the tables grow. The same condition written as ``(a = ? AND b IN (...)) OR ...``, one branch
per distinct prefix, is an index search per branch on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, false, or_
from sqlalchemy.orm import QueryableAttribute

Column = ColumnElement[Any] | QueryableAttribute[Any]


def key_in(columns: Sequence[Column], keys: Iterable[tuple[Any, ...]]) -> ColumnElement[bool]:
    """``tuple(columns) IN keys``, written so that an index on ``columns`` (in that order) is used."""
    groups: dict[tuple[Any, ...], list[Any]] = {}
    for key in keys:
        groups.setdefault(tuple(key[:-1]), []).append(key[-1])
    if not groups:
        return false()
    *prefix_columns, last = columns
    return or_(*(and_(*(column == value for column, value in zip(prefix_columns, prefix, strict=True)),
                      last.in_(values)) for prefix, values in groups.items()))
