"""What every report is made of: a date range in a time zone, typed columns, rows, a summary; CSV output."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from statistics import mean, median
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute

COLUMN_TYPES = ("string", "integer", "number", "seconds", "ratio")


@dataclass(frozen=True, slots=True)
class Range:
    """The days ``since`` .. ``until`` (both included) in the zone ``tz``."""

    since: date
    until: date
    tz: str = "UTC"

    @property
    def start(self) -> datetime:
        return datetime.combine(self.since, time.min, ZoneInfo(self.tz)).astimezone(UTC)

    @property
    def end(self) -> datetime:
        """The first moment after the range (exclusive bound)."""
        return datetime.combine(self.until + timedelta(days=1), time.min, ZoneInfo(self.tz)).astimezone(UTC)

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(ZoneInfo(self.tz))

    def within(self, query: Select[Any], column: InstrumentedAttribute[Any]) -> Select[Any]:
        return query.where(column >= self.start, column < self.end)


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    label: str
    type: str = "integer"

    def out(self) -> dict[str, str]:
        return {"key": self.key, "label": self.label, "type": self.type}


@dataclass
class Report:
    name: str
    columns: Sequence[Column]
    rows: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    def out(self, span: Range) -> dict[str, Any]:
        return {"report": self.name, "since": span.since, "until": span.until, "timezone": span.tz,
                "columns": [c.out() for c in self.columns], "rows": self.rows, "summary": self.summary}

    def csv(self) -> str:
        """The rows as CSV (RFC 4180, header of column keys); values that a spreadsheet would run as a formula
        are prefixed with an apostrophe."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow([c.key for c in self.columns])
        for row in self.rows:
            writer.writerow([_cell(row.get(c.key)) for c in self.columns])
        return out.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = value.isoformat() if isinstance(value, datetime | date) else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not _number(text) else text


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def p90(values: Sequence[float]) -> float:
    """The 90th percentile by the nearest-rank method (a value that occurred)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


def stats(values: Sequence[float]) -> dict[str, Any]:
    """count, median, p90 and mean (seconds, one decimal), None when there are no values."""
    if not values:
        return {"count": 0, "median": None, "p90": None, "mean": None}
    return {"count": len(values), "median": round(float(median(values)), 1), "p90": round(float(p90(values)), 1),
            "mean": round(float(mean(values)), 1)}


def pairs(result: Iterable[Any]) -> dict[Any, Any]:
    """The two-column rows of a query as a dict."""
    return {row[0]: row[1] for row in result}


def ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None
