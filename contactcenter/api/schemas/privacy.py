"""Data protection: contact export and erasure, the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from contactcenter.api.schemas.base import Strict


class ExportQuery(Strict):
    internal: bool = Field(False, description="include internal notes (staff-only text) in the export")


class EraseIn(Strict):
    confirm: int = Field(description="the contact's id once more: erasure cannot be undone")


class ErasureOut(BaseModel):
    contact_id: int
    contacts: int = Field(description="the contact and the contacts merged into it")
    tickets: int = Field(description="tickets deleted")
    messages: int = Field(description="messages deleted or emptied")
    calls: int
    files: int = Field(description="attachment files deleted")
    raw_payloads: int = Field(description="kept inbound payloads from their addresses deleted")


class AuditQuery(Strict):
    actor: str | None = Field(None, pattern=r"^(system|\d{1,10}|(user|contact):\d{1,10})$",
                              description="a staff user id, or user:ID, contact:ID or system")
    object: str | None = Field(None, pattern=r"^[a-z_]{1,30}(:\d{1,10})?$",
                               description="an object type (ticket, contact, user, ...) or TYPE:ID")
    since: datetime | None = Field(None, description="only events at or after this moment (ISO 8601)")
    action: str | None = Field(None, max_length=60, description="an action name such as contact.erased")
    cursor: str | None = Field(None, max_length=40, description="next_cursor of the previous page")
    limit: int = Field(50, ge=1, le=500)


class AuditEventOut(BaseModel):
    id: int
    created_at: datetime
    actor_kind: str
    actor_id: int | None
    action: str
    object_type: str
    object_id: int
    ticket_id: int | None
    changes: dict[str, Any]


class AuditPage(BaseModel):
    items: list[AuditEventOut]
    next_cursor: str | None = Field(description="pass as cursor for older events; null on the last page")
