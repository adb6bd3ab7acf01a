"""Request and response shapes of the API (pydantic); they also make the OpenAPI description."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from contactcenter.domain.enums import Presence, Priority, Role, TicketStatus, TicketType


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- sign-in -------------------------------------------------------------------------------------

class LoginIn(Strict):
    email: str = Field(max_length=320)
    password: str = Field(max_length=1024)


class UserOut(BaseModel):
    id: int
    email: str
    name: str
    role: Role


class LoginOut(BaseModel):
    user: UserOut
    csrf_token: str


class TokenIn(Strict):
    name: str = Field(min_length=1, max_length=120)


class TokenOut(BaseModel):
    id: int
    name: str
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None
    token: str | None = Field(None, description="the secret; shown only when the token is created")


# --- tickets -------------------------------------------------------------------------------------

class TicketQuery(Strict):
    status: str | None = Field(None, description="comma-separated statuses, e.g. new,open")
    assignee: str | None = Field(None, description="'me', 'none' or a user id")
    queue: str | None = Field(None, max_length=80, description="skill/queue name")
    channel: str | None = Field(None, max_length=20)
    priority: Priority | None = None
    type: TicketType | None = None
    tag: str | None = Field(None, max_length=80)
    contact_id: int | None = Field(None, ge=1)
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


class ReplyIn(Strict):
    text: str = Field(min_length=1, max_length=100_000)
    html: str | None = Field(None, max_length=500_000)
    status: TicketStatus | None = Field(None, description="set this status with the reply, e.g. pending or solved")


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
    tags: list[str] | None = Field(None, max_length=50)
    assignee_id: int | None = Field(None, ge=1)
    queue: str | None = Field(None, max_length=80)
    subject: str | None = Field(None, min_length=1, max_length=500)


class MergeIn(Strict):
    into: int = Field(ge=1, description="the id of the ticket/contact that remains")


# --- contacts ------------------------------------------------------------------------------------

class IdentityOut(BaseModel):
    id: int
    kind: str
    value: str
    method: str
    created_at: datetime


class ContactOut(BaseModel):
    id: int
    name: str
    organization_id: int | None
    language: str | None
    notes: str
    merged_into_id: int | None
    created_at: datetime
    identities: list[IdentityOut]


class ContactSearch(Strict):
    q: str | None = Field(None, max_length=200, description="name, e-mail, phone or chat id")
    organization_id: int | None = Field(None, ge=1)
    limit: int = Field(25, ge=1, le=100)
    cursor: str | None = Field(None, max_length=40)


class ContactPage(BaseModel):
    items: list[ContactOut]
    next_cursor: str | None


class Contact360(ContactOut):
    organization: dict[str, Any] | None
    contracts: list[dict[str, Any]]
    tickets: list[TicketOut]
    merges: list[dict[str, Any]]


class ContactPatch(Strict):
    name: str | None = Field(None, max_length=200)
    organization_id: int | None = Field(None, ge=1)
    language: str | None = Field(None, max_length=8)
    notes: str | None = Field(None, max_length=10_000)


class IdentityIn(Strict):
    kind: Literal["email", "phone", "telegram", "chat"]
    value: str = Field(min_length=1, max_length=320)


class ContactMergeOut(BaseModel):
    id: int
    source_id: int
    target_id: int
    identity_ids: list[int]
    ticket_ids: list[int]
    created_at: datetime
    undone_at: datetime | None


# --- organizations, products, contracts, SLA policies --------------------------------------------

class OrganizationIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    tier: str = Field("standard", max_length=40)
    domains: list[str] = Field(default_factory=list, max_length=50)
    notes: str = Field("", max_length=10_000)


class OrganizationPatch(Strict):
    name: str | None = Field(None, min_length=1, max_length=200)
    tier: str | None = Field(None, max_length=40)
    domains: list[str] | None = Field(None, max_length=50)
    notes: str | None = Field(None, max_length=10_000)


class OrganizationOut(BaseModel):
    id: int
    name: str
    tier: str
    domains: list[str]
    notes: str
    created_at: datetime


class ProductIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    code: str | None = Field(None, max_length=60)
    description: str = Field("", max_length=10_000)


class ProductPatch(Strict):
    name: str | None = Field(None, min_length=1, max_length=200)
    code: str | None = Field(None, max_length=60)
    description: str | None = Field(None, max_length=10_000)


class ProductOut(BaseModel):
    id: int
    name: str
    code: str | None
    description: str


class ContractIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    organization_id: int = Field(ge=1)
    product_id: int | None = Field(None, ge=1)
    sla_policy_id: int | None = Field(None, ge=1)
    starts_on: date
    ends_on: date | None = None
    support_hours: str = Field("", max_length=200)
    channels: list[str] = Field(default_factory=list, max_length=20)


class ContractPatch(Strict):
    name: str | None = Field(None, min_length=1, max_length=200)
    product_id: int | None = Field(None, ge=1)
    sla_policy_id: int | None = Field(None, ge=1)
    starts_on: date | None = None
    ends_on: date | None = None
    support_hours: str | None = Field(None, max_length=200)
    channels: list[str] | None = Field(None, max_length=20)


class ContractOut(BaseModel):
    id: int
    name: str
    organization_id: int
    product_id: int | None
    sla_policy_id: int | None
    starts_on: date
    ends_on: date | None
    support_hours: str
    channels: list[str]
    active: bool


class SlaPolicyOut(BaseModel):
    id: int
    name: str
    description: str
    conditions: dict[str, Any]
    targets: dict[str, Any]
    calendar: dict[str, Any]
    position: int


# --- agents --------------------------------------------------------------------------------------

class AgentOut(BaseModel):
    id: int
    email: str
    name: str
    role: Role
    is_active: bool
    languages: list[str]
    capacity: dict[str, int]
    presence: Presence
    presence_changed_at: datetime | None
    skills: dict[str, int]


class AgentIn(Strict):
    email: str = Field(max_length=320)
    name: str = Field(min_length=1, max_length=200)
    role: Role = Role.AGENT
    password: str | None = Field(None, min_length=10, max_length=1024)
    languages: list[str] = Field(default_factory=lambda: ["en"], max_length=20)


class AgentPatch(Strict):
    name: str | None = Field(None, min_length=1, max_length=200)
    role: Role | None = None
    is_active: bool | None = None
    languages: list[str] | None = Field(None, max_length=20)
    capacity: dict[str, int] | None = Field(None, description="per channel, e.g. {\"email\": 10, \"chat\": 3}")
    skills: dict[str, int] | None = Field(None, description="skill name -> level 1..5; replaces all skills")


class PresenceIn(Strict):
    presence: Presence


class SkillIn(Strict):
    name: str = Field(min_length=1, max_length=80, pattern=r"^[\w-]+$")
    description: str = Field("", max_length=2000)


class SkillOut(BaseModel):
    id: int
    name: str
    description: str
