"""Contacts: search, the customer 360, edits, identities, merges."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import (
    BaseModel,
    Field,
)

from contactcenter.api.framework import MAX_ID
from contactcenter.api.schemas.base import LanguageCode, Patch, Strict
from contactcenter.api.schemas.calls import CallOut
from contactcenter.api.schemas.directory import ContractOut, OrganizationOut
from contactcenter.api.schemas.tickets import TicketOut


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


class Contact360(ContactOut):
    """The customer 360: who they are, their organization and contracts, every ticket, every merge."""

    organization: OrganizationOut | None
    contracts: list[ContractOut]
    tickets: list[TicketOut] = Field(description="newest first, at most 100")
    ticket_count: int
    merges: list[ContactMergeOut] = Field(description="merges where this contact is the source or the target")
    calls: list[CallOut] = Field(default_factory=list, description="phone calls, newest first, at most 50 "
                                 "(all of them: GET /contacts/{id}/calls)")
