"""Everything stored about a contact, as one ZIP: ``contact.json`` plus attachment files and raw payloads."""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from contactcenter.db.models import (
    Attachment,
    AuditEvent,
    Call,
    Contact,
    ContactIdentity,
    ContactMerge,
    KbLearnedPhrasing,
    Message,
    Ticket,
    TicketTag,
)
from contactcenter.errors import NotFound
from contactcenter.storage import AttachmentStore

FORMAT = "contactcenter-export/1"


def _row(obj: Any, *names: str) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in names}


def _json(value: Any) -> str:
    def default(item: Any) -> Any:
        if isinstance(item, datetime):
            return item.isoformat()
        raise TypeError(f"not JSON: {type(item).__name__}")
    return json.dumps(value, ensure_ascii=False, indent=2, default=default)


async def _family(session: AsyncSession, contact_id: int) -> list[int]:
    family, frontier = [contact_id], [contact_id]
    while frontier:
        frontier = list((await session.scalars(select(Contact.id).where(
            Contact.merged_into_id.in_(frontier), Contact.id.not_in(family)))).all())
        family += frontier
    return family


async def collect(session: AsyncSession, contact_id: int, *, internal: bool = False) -> tuple[dict[str, Any],
                                                                                              list[Any], list[Any]]:
    """The export document, the attachment rows and the messages with raw payloads to add as files."""
    contact = await session.get(Contact, contact_id)
    if contact is None:
        raise NotFound(f"contact {contact_id} not found")
    ids = await _family(session, contact_id)
    contacts = (await session.scalars(select(Contact).where(Contact.id.in_(ids)).order_by(Contact.id))).all()
    identities = (await session.scalars(select(ContactIdentity).where(ContactIdentity.contact_id.in_(ids))
                                        .order_by(ContactIdentity.id))).all()
    tickets = (await session.scalars(select(Ticket).where(Ticket.contact_id.in_(ids)).order_by(Ticket.id))).all()
    ticket_ids = [t.id for t in tickets]
    shown = or_(Message.ticket_id.in_(ticket_ids), Message.contact_id.in_(ids))
    query = select(Message).where(shown).order_by(Message.id)
    if not internal:
        query = query.where(Message.internal.is_(False))
    messages = (await session.scalars(query)).all()
    message_ids = [m.id for m in messages]
    raw = {r.id: r.raw for r in (await session.execute(select(Message.id, Message.raw).where(
        Message.id.in_(message_ids), Message.raw.is_not(None)))).all()}
    attachments = (await session.scalars(select(Attachment).where(Attachment.message_id.in_(message_ids))
                                         .order_by(Attachment.id))).all()
    tags = (await session.execute(select(TicketTag.ticket_id, TicketTag.tag)
                                  .where(TicketTag.ticket_id.in_(ticket_ids)))).all()
    calls = (await session.scalars(select(Call).where(Call.contact_id.in_(ids)).order_by(Call.id))).all()
    merges = (await session.scalars(select(ContactMerge).where(or_(
        ContactMerge.source_id.in_(ids), ContactMerge.target_id.in_(ids))).order_by(ContactMerge.id))).all()
    audit = (await session.scalars(select(AuditEvent).where(or_(
        (AuditEvent.object_type == "contact") & AuditEvent.object_id.in_(ids),
        (AuditEvent.actor_kind == "contact") & AuditEvent.actor_id.in_(ids),
        AuditEvent.ticket_id.in_(ticket_ids))).order_by(AuditEvent.id))).all()
    phrasings = (await session.scalars(select(KbLearnedPhrasing).where(
        KbLearnedPhrasing.ticket_id.in_(ticket_ids)).order_by(KbLearnedPhrasing.id))).all()
    by_message: dict[int, list[dict[str, Any]]] = {}
    for a in attachments:
        by_message.setdefault(a.message_id, []).append(
            {**_row(a, "id", "filename", "content_type", "size", "created_at"),
             "file": f"attachments/{a.id}-{_safe(a.filename)}"})
    document = {
        "format": FORMAT,
        "contact_id": contact_id,
        "contacts": [_row(c, "id", "name", "language", "notes", "organization_id", "merged_into_id",
                          "created_at", "updated_at", "erased_at") for c in contacts],
        "identities": [_row(i, "id", "contact_id", "kind", "value", "method", "created_at") for i in identities],
        "tickets": [{**_row(t, "id", "subject", "status", "priority", "type", "channel", "language",
                            "contact_id", "queue", "created_at", "updated_at", "solved_at", "closed_at",
                            "merged_into_id", "follow_up_of_id"),
                     "tags": sorted(tag for tid, tag in tags if tid == t.id)} for t in tickets],
        "messages": [{**_row(m, "id", "ticket_id", "direction", "author_kind", "contact_id", "channel", "internal",
                             "subject", "text", "html", "delivery_status", "created_at"),
                      "metadata": m.meta, "attachments": by_message.get(m.id, []),
                      "raw": f"raw/{m.id}.bin" if m.id in raw else None} for m in messages],
        "calls": [_row(c, "id", "direction", "from_number", "to_number", "ticket_id", "topic", "outcome",
                       "duration", "created_at", "ended_at") for c in calls],
        "contact_merges": [_row(m, "id", "source_id", "target_id", "created_at", "undone_at") for m in merges],
        "learned_phrasings": [_row(p, "id", "article_id", "text", "ticket_id", "status", "created_at")
                              for p in phrasings],
        "audit": [_row(e, "id", "created_at", "actor_kind", "actor_id", "action", "object_type", "object_id",
                       "ticket_id", "changes") for e in audit],
    }
    return document, list(attachments), [(i, raw[i]) for i in sorted(raw)]


def _safe(filename: str) -> str:
    name = "".join(c if c.isalnum() or c in "._-" else "_" for c in filename)[:100].lstrip(".")
    return name or "file"


async def export_zip(session: AsyncSession, store: AttachmentStore, contact_id: int, *,
                     internal: bool = False) -> bytes:
    """The ZIP archive of everything about the contact (a missing file is listed in ``missing_files``)."""
    document, attachments, raws = await collect(session, contact_id, internal=internal)
    files: list[tuple[str, bytes]] = []
    missing: list[int] = []
    for a in attachments:
        try:
            files.append((f"attachments/{a.id}-{_safe(a.filename)}", await store.read(a.sha256, a.file_key)))
        except (OSError, ValueError):
            missing.append(a.id)
    files += [(f"raw/{message_id}.bin", data) for message_id, data in raws]
    document["missing_files"] = missing

    def build() -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("contact.json", _json(document))
            for name, data in files:
                archive.writestr(name, data)
        return buffer.getvalue()

    return await asyncio.to_thread(build)
