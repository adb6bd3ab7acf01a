"""Contacts recorded by agents (in person, letters, fax) and the cross-channel contact timeline."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, Field

from contactcenter.api.framework import MAX_ID
from contactcenter.api.schemas.base import Strict


class RecordedContactIn(Strict):
    """A contact made in person, by post or by fax, recorded as the customer's inbound message.

    Name the customer by ``contact_id``, by ``email``/``phone`` (a new contact when unknown), or only by
    ``ticket_id`` (the ticket's contact). With ``ticket_id`` the message continues that ticket when the
    customer is its contact or wrote on it (a closed ticket gets a follow-up ticket)."""

    channel: Literal["in_person", "letter", "fax"]
    text: str = Field(min_length=1, max_length=50_000, description="what the customer said or wrote")
    subject: str | None = Field(None, max_length=500)
    ticket_id: int | None = Field(None, ge=1, le=MAX_ID)
    contact_id: int | None = Field(None, ge=1, le=MAX_ID)
    name: str | None = Field(None, max_length=200)
    email: str | None = Field(None, max_length=320)
    phone: str | None = Field(None, max_length=40)
    occurred_at: AwareDatetime | None = Field(None, description="when the contact was made; default: now")
    idempotency_key: str | None = Field(None, min_length=1, max_length=100,
                                        description="a repeat with the same key (by the same agent) is a no-op")


class RecordedContactOut(BaseModel):
    """201 when recorded; 200 with duplicate=true for a repeated idempotency_key."""

    ticket_id: int
    message_id: int
    contact_id: int
    created_ticket: bool
    duplicate: bool
    thread_reason: str


class TimelineQuery(Strict):
    limit: int = Field(50, ge=1, le=200)
    cursor: str | None = Field(None, max_length=40, description="next_cursor from the previous page")


class TimelineItemOut(BaseModel):
    message_id: int
    ticket_id: int
    channel: str
    direction: Literal["in", "out"]
    author_kind: str
    internal: bool
    subject: str
    text: str = Field(description="the first 1,000 characters")
    delivery_status: str
    created_at: datetime


class TimelineOut(BaseModel):
    """Every message on every ticket of the contact, all channels together, newest first."""

    contact_id: int
    channels: list[str] = Field(description="the channels this contact has used")
    items: list[TimelineItemOut]
    next_cursor: str | None
