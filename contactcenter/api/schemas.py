"""Request and response shapes of the API (pydantic); they also make the OpenAPI description."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from contactcenter.api.framework import MAX_ID
from contactcenter.domain.enums import Presence, Priority, Role, TicketStatus, TicketType


def _check_text(value: Any) -> None:
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("text must not contain NUL characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("text must be valid Unicode (no lone surrogates)") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key)
            _check_text(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _check_text(item)


class Strict(BaseModel):
    """Every request body and query: unknown fields are refused, and no text anywhere in it (nested JSON
    included) holds NUL characters or lone surrogates: they are never meaningful and PostgreSQL refuses them."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*")
    @classmethod
    def _clean_text(cls, value: Any) -> Any:
        _check_text(value)
        return value


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


class PasswordIn(Strict):
    current_password: str = Field(max_length=1024)
    new_password: str = Field(min_length=10, max_length=1024)


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
    tags: list[Annotated[str, StringConstraints(max_length=80)]] | None = Field(None, max_length=50)
    assignee_id: int | None = Field(None, ge=1, le=MAX_ID)
    queue: str | None = Field(None, max_length=80)
    subject: str | None = Field(None, min_length=1, max_length=500)


class MergeIn(Strict):
    into: int = Field(ge=1, le=MAX_ID, description="the id of the ticket/contact that remains")


# --- contacts ------------------------------------------------------------------------------------

def _folded(value: Any) -> Any:
    """Trim and lower-case a string before its pattern is checked."""
    return value.strip().lower() if isinstance(value, str) else value




LanguageCode = Annotated[str, StringConstraints(strip_whitespace=True, max_length=8,
                                                pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,4})?$")]
ChannelName = Annotated[str, BeforeValidator(_folded), StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,19}$")]


class Patch(Strict):
    """A partial update: fields left out stay as they are; ``null`` is accepted only where it means
    "none" (the fields named in ``nullable``), never to blank out a required value."""

    nullable: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*")
    @classmethod
    def _not_null(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and info.field_name not in cls.nullable:
            raise ValueError("may not be null; leave the field out to keep its value")
        return value


class IdentityOut(BaseModel):
    id: int
    kind: str
    value: str
    method: str = Field(description="how it was linked: verified, claimed, agent or merge")
    created_at: datetime


class ContactOut(BaseModel):
    id: int
    name: str
    organization_id: int | None
    language: str | None
    notes: str
    merged_into_id: int | None = Field(description="set when this contact was merged into another; follow it")
    created_at: datetime
    identities: list[IdentityOut]


class ContactSearch(Strict):
    q: str | None = Field(None, max_length=200, description="name part, or an exact e-mail, phone or chat id")
    organization_id: int | None = Field(None, ge=1, le=MAX_ID)
    limit: int = Field(25, ge=1, le=100)
    cursor: str | None = Field(None, max_length=40)


class ContactPage(BaseModel):
    items: list[ContactOut]
    next_cursor: str | None


class ContactPatch(Patch):
    nullable: ClassVar[frozenset[str]] = frozenset({"organization_id", "language"})
    name: str | None = Field(None, max_length=200)
    organization_id: int | None = Field(None, ge=1, le=MAX_ID, description="null detaches the contact")
    language: LanguageCode | None = None
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
    actor_id: int | None
    created_at: datetime
    undone_at: datetime | None


# --- organizations, products, contracts, SLA policies --------------------------------------------

Domain = Annotated[str, BeforeValidator(_folded), StringConstraints(
    max_length=253, pattern=r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}$")]
Tier = Annotated[str, BeforeValidator(_folded), StringConstraints(pattern=r"^[a-z0-9_-]{1,40}$")]
DirectoryName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class DirectoryQuery(Strict):
    q: str | None = Field(None, max_length=200, description="part of the name (case-insensitive)")
    limit: int = Field(50, ge=1, le=200)
    cursor: str | None = Field(None, max_length=40, description="next_cursor from the previous page")


class OrganizationIn(Strict):
    name: DirectoryName
    tier: Tier = "standard"
    domains: list[Domain] = Field(default_factory=list, max_length=50,
                                  description="e-mail domains; new contacts from them join this organization")
    notes: str = Field("", max_length=10_000)


class OrganizationPatch(Patch):
    name: DirectoryName | None = None
    tier: Tier | None = None
    domains: list[Domain] | None = Field(None, max_length=50)
    notes: str | None = Field(None, max_length=10_000)


class OrganizationOut(BaseModel):
    id: int
    name: str
    tier: str
    domains: list[str]
    notes: str
    created_at: datetime


class OrganizationPage(BaseModel):
    items: list[OrganizationOut]
    next_cursor: str | None


class ProductIn(Strict):
    name: DirectoryName
    code: str | None = Field(None, max_length=60, pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = Field("", max_length=10_000)


class ProductPatch(Patch):
    nullable: ClassVar[frozenset[str]] = frozenset({"code"})
    name: DirectoryName | None = None
    code: str | None = Field(None, max_length=60, pattern=r"^[A-Za-z0-9_.-]+$")
    description: str | None = Field(None, max_length=10_000)


class ProductOut(BaseModel):
    id: int
    name: str
    code: str | None
    description: str


class ProductPage(BaseModel):
    items: list[ProductOut]
    next_cursor: str | None


class ContractIn(Strict):
    name: DirectoryName
    organization_id: int = Field(ge=1, le=MAX_ID)
    product_id: int | None = Field(None, ge=1, le=MAX_ID)
    sla_policy_id: int | None = Field(None, ge=1, le=MAX_ID)
    starts_on: date
    ends_on: date | None = Field(None, description="last day covered; null = open-ended")
    support_hours: str = Field("", max_length=200)
    channels: list[ChannelName] = Field(default_factory=list, max_length=20)

    @field_validator("ends_on")
    @classmethod
    def _dates_in_order(cls, value: date | None, info: ValidationInfo) -> date | None:
        starts_on = info.data.get("starts_on")
        if value is not None and starts_on is not None and value < starts_on:
            raise ValueError("ends_on must not be before starts_on")
        return value


class ContractPatch(Patch):
    nullable: ClassVar[frozenset[str]] = frozenset({"product_id", "sla_policy_id", "ends_on"})
    name: DirectoryName | None = None
    product_id: int | None = Field(None, ge=1, le=MAX_ID)
    sla_policy_id: int | None = Field(None, ge=1, le=MAX_ID)
    starts_on: date | None = None
    ends_on: date | None = None
    support_hours: str | None = Field(None, max_length=200)
    channels: list[ChannelName] | None = Field(None, max_length=20)


class ContractQuery(Strict):
    organization_id: int | None = Field(None, ge=1, le=MAX_ID)
    product_id: int | None = Field(None, ge=1, le=MAX_ID)
    active: bool | None = Field(None, description="only contracts in force today (true) or not (false)")
    limit: int = Field(50, ge=1, le=200)
    cursor: str | None = Field(None, max_length=40)


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
    active: bool = Field(description="starts_on <= today (UTC) <= ends_on, or no ends_on")


class ContractPage(BaseModel):
    items: list[ContractOut]
    next_cursor: str | None


class OrganizationDetail(OrganizationOut):
    contracts: list[ContractOut]
    contact_count: int


class SlaTargets(Strict):
    first_response_minutes: int = Field(ge=1, le=525_600)
    next_response_minutes: int = Field(ge=1, le=525_600)
    resolution_minutes: int = Field(ge=1, le=5_256_000)


def _check_calendar(calendar: dict[str, Any]) -> dict[str, Any]:
    zone = calendar.get("timezone")
    if zone is not None:
        if not isinstance(zone, str):
            raise ValueError("calendar.timezone must be a string such as Asia/Tehran")
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"calendar.timezone {zone!r} is not a known time zone") from None
    return calendar


class SlaPolicyIn(Strict):
    name: str = Field(min_length=1, max_length=120)
    description: str = Field("", max_length=10_000)
    conditions: dict[str, Any] = Field(
        default_factory=dict, description="which tickets it applies to, e.g. {\"type\": [\"complaint\"]}")
    targets: SlaTargets
    calendar: dict[str, Any] = Field(default_factory=dict,
                                     description="business_hours, timezone, days, hours")
    position: int = Field(0, ge=0, le=1_000_000, description="lower positions are tried first")

    @field_validator("calendar")
    @classmethod
    def _calendar(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _check_calendar(value)


class SlaPolicyPatch(Patch):
    name: str | None = Field(None, min_length=1, max_length=120)
    description: str | None = Field(None, max_length=10_000)
    conditions: dict[str, Any] | None = None
    targets: SlaTargets | None = None
    calendar: dict[str, Any] | None = None
    position: int | None = Field(None, ge=0, le=1_000_000)

    @field_validator("calendar")
    @classmethod
    def _calendar(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if value is None else _check_calendar(value)


class SlaPolicyOut(BaseModel):
    id: int
    name: str
    description: str
    conditions: dict[str, Any]
    targets: dict[str, Any]
    calendar: dict[str, Any]
    position: int


class Contact360(ContactOut):
    """The customer 360: who they are, their organization and contracts, every ticket, every merge."""

    organization: OrganizationOut | None
    contracts: list[ContractOut]
    tickets: list[TicketOut] = Field(description="newest first, at most 100")
    ticket_count: int
    merges: list[ContactMergeOut] = Field(description="merges where this contact is the source or the target")


# --- agents --------------------------------------------------------------------------------------

SkillName = Annotated[str, StringConstraints(min_length=1, max_length=80, pattern=r"^[\w-]+$")]
Capacity = dict[ChannelName, Annotated[int, Field(ge=0, le=1000)]]
SkillLevels = dict[SkillName, Annotated[int, Field(ge=1, le=5)]]


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


class AgentQuery(Strict):
    role: Role | None = None
    active: bool | None = Field(None, description="only active (true) or deactivated (false) users")


class AgentIn(Strict):
    email: str = Field(max_length=320)
    name: str = Field(min_length=1, max_length=200)
    role: Role = Role.AGENT
    password: str | None = Field(None, min_length=10, max_length=1024)
    languages: list[LanguageCode] = Field(default_factory=lambda: ["en"], max_length=20)
    capacity: Capacity = Field(default_factory=dict,
                               description="per channel, e.g. {\"email\": 10, \"chat\": 3}")
    skills: SkillLevels = Field(default_factory=dict, description="skill name -> level 1..5")


class AgentPatch(Patch):
    name: str | None = Field(None, min_length=1, max_length=200)
    role: Role | None = Field(None, description="admins only")
    is_active: bool | None = Field(None,
                                   description="admins only; false ends sessions and revokes API tokens")
    languages: list[LanguageCode] | None = Field(None, max_length=20)
    capacity: Capacity | None = Field(None, description="per channel, e.g. {\"email\": 10, \"chat\": 3}")
    skills: SkillLevels | None = Field(None, description="skill name -> level 1..5; replaces all skills")


class PresenceIn(Strict):
    presence: Presence


class SkillIn(Strict):
    name: SkillName
    description: str = Field("", max_length=2000)


class SkillPatch(Patch):
    description: str | None = Field(None, max_length=2000)


class SkillOut(BaseModel):
    id: int
    name: str
    description: str
