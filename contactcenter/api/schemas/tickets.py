"""Tickets: queries, pages, detail with timeline, replies, notes, changes, merges."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    Field,
    StringConstraints,
)

from contactcenter.api.framework import MAX_ID
from contactcenter.api.schemas.base import Strict
from contactcenter.domain.enums import Priority, TicketStatus, TicketType


class TicketQuery(Strict):
    status: str | None = Field(None, description="comma-separated statuses, e.g. new,open")
    assignee: str | None = Field(None, description="'me', 'none' or a user id")
    queue: str | None = Field(None, max_length=80, description="skill/queue name")
    channel: str | None = Field(None, max_length=20)
    priority: Priority | None = None
    type: TicketType | None = None
    tag: str | None = Field(None, max_length=80)
    contact_id: int | None = Field(None, ge=1, le=MAX_ID)
    q: str | None = Field(None, max_length=200, description="words that must all appear in the ticket")
    order: Literal["newest", "oldest"] = "newest"
    limit: int = Field(25, ge=1, le=100)
    cursor: str | None = Field(None, max_length=40, description="next_cursor from the previous page")


class ContactRef(BaseModel):
    id: int
    name: str


class TicketOut(BaseModel):
    id: int
    number: int
    subject: str
    status: TicketStatus
    priority: Priority
    type: TicketType
    channel: str
    language: str
    queue: str | None
    contact: ContactRef
    organization_id: int | None
    assignee_id: int | None
    tags: list[str]
    requirements: dict[str, Any]
    follow_up_of_id: int | None
    merged_into_id: int | None
    created_at: datetime
    updated_at: datetime
    last_message_at: datetime
    solved_at: datetime | None
    closed_at: datetime | None


class TicketPage(BaseModel):
    items: list[TicketOut]
    next_cursor: str | None


class AttachmentOut(BaseModel):
    id: int
    filename: str
    content_type: str
    size: int
    sha256: str
    url: str


class TimelineEntry(BaseModel):
    kind: Literal["message", "event"]
    at: datetime
    id: int
    # messages
    direction: str | None = None
    author_kind: str | None = None
    author_id: int | None = None
    author_name: str | None = None
    channel: str | None = None
    internal: bool | None = None
    text: str | None = None
    html: str | None = None
    delivery_status: str | None = None
    thread_reason: str | None = None
    attachments: list[AttachmentOut] = []
    # events
    action: str | None = None
    actor_kind: str | None = None
    actor_id: int | None = None
    changes: dict[str, Any] | None = None


class TicketDetail(TicketOut):
    timeline: list[TimelineEntry]
    sla_flags: list[str] = Field(default_factory=list, description='what the SLA engine noticed, e.g. '
                                 '"contract_expired": the contract ended and the default policy applies (docs/sla.md)')


class ReplyIn(Strict):
    text: str = Field(min_length=1, max_length=100_000)
    html: str | None = Field(None, max_length=500_000)
    status: TicketStatus | None = Field(None, description="set this status with the reply, e.g. pending or solved")
    article_id: int | None = Field(None, ge=1, le=MAX_ID, description="the knowledge-base article this reply "
                                   "answers with: the customer's question is kept as its phrasing, for review")


class NoteIn(Strict):
    text: str = Field(min_length=1, max_length=100_000)


class MessageOut(BaseModel):
    id: int
    ticket_id: int
    internal: bool
    delivery_status: str
    created_at: datetime


class TicketPatch(Strict):
    status: TicketStatus | None = None
    priority: Priority | None = None
    type: TicketType | None = None
    tags: list[Annotated[str, StringConstraints(max_length=80)]] | None = Field(None, max_length=50)
    assignee_id: int | None = Field(None, ge=1, le=MAX_ID)
    queue: str | None = Field(None, max_length=80)
    subject: str | None = Field(None, min_length=1, max_length=500)


class MergeIn(Strict):
    into: int = Field(ge=1, le=MAX_ID, description="the id of the ticket/contact that remains")
