"""Supervisor reports: a date range in, a table and a summary out."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, field_validator, model_validator

from contactcenter.api.schemas.base import Strict

MAX_DAYS = 1100  # about three years per report


class ReportQuery(Strict):
    since: date | None = Field(None, description="first day, included (default: 29 days before until)")
    until: date | None = Field(None, description="last day, included (default: today)")
    tz: str | None = Field(None, max_length=64, description="IANA time zone of the days and hours "
                           "(default: the hours.timezone setting)")
    format: Literal["json", "csv"] = Field("json", description="csv: the rows as a text/csv attachment")

    @field_validator("tz")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError("not a known IANA time zone, e.g. Asia/Tehran or UTC") from None
        return value

    @model_validator(mode="after")
    def _order(self) -> ReportQuery:
        if self.since is not None and self.until is not None:
            if self.since > self.until:
                raise ValueError("since must not be after until")
            if (self.until - self.since).days >= MAX_DAYS:
                raise ValueError(f"a report covers at most {MAX_DAYS} days")
        return self


class ColumnOut(BaseModel):
    key: str
    label: str
    type: str = Field(description="string, integer, number, seconds or ratio (0..1)")


class ReportOut(BaseModel):
    report: str
    since: date
    until: date
    timezone: str
    columns: list[ColumnOut]
    rows: list[dict[str, Any]]
    summary: dict[str, Any]


class ReportInfo(BaseModel):
    name: str
    title: str
    path: str
