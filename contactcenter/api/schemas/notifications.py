"""A staff member's notifications."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from contactcenter.api.schemas.base import Strict


class NotificationQuery(Strict):
    unread: bool = Field(False, description="only notifications not read yet (unread=1)")
    limit: int = Field(50, ge=1, le=200)
    cursor: str | None = Field(None, max_length=40, description="next_cursor from the previous page")


class NotificationOut(BaseModel):
    id: int
    kind: str = Field(description='what it is about: "sla.assignee", "sla.supervisor", ...')
    ticket_id: int | None
    text: str
    created_at: datetime
    read_at: datetime | None


class NotificationPage(BaseModel):
    items: list[NotificationOut] = Field(description="newest first")
    next_cursor: str | None
    unread: int = Field(description="how many of my notifications are unread in all")


class ReadAllOut(BaseModel):
    marked: int = Field(description="how many notifications this call marked read")
