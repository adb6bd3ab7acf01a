"""Everything stored about a contact, as one ZIP: ``contact.json`` plus attachment files and raw payloads.

``SECTIONS`` says where each table's rows are in ``contact.json``; ``INTERNAL`` lists the sections filled only
for an export with internal data (staff-side records an admin decides to hand over or not).
"""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from datetime import date, datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from contactcenter.db.models import (
    Attachment,
    AuditEvent,
    Call,
    CallEvent,
    ChannelEvent,
    Contact,
    ContactIdentity,
    ContactMerge,
    CustomerSession,
    KbAutoAnswer,
    KbLearnedPhrasing,
    MagicLink,
    Mention,
    Message,
    Notification,
    Offer,
    OptOut,
    RawInbound,
    SlaTicket,
    SlaTimer,
    Survey,
    Ticket,
    TicketTag,
)
from contactcenter.errors import NotFound
from contactcenter.privacy.purge import chunks
from contactcenter.privacy.traces import Addresses, channel_event_ids, raw_inbound_ids
from contactcenter.storage import AttachmentStore

FORMAT = "contactcenter-export/1"
SECTIONS = {  # table -> the key of contact.json that holds its rows
    "contacts": "contacts", "contact_identities": "identities", "contact_merges": "contact_merges",
    "tickets": "tickets", "ticket_tags": "tickets",  # as each ticket's "tags"
    "messages": "messages", "attachments": "messages",  # as each message's "attachments" (+ files)
    "calls": "calls", "call_events": "calls",  # as each call's "events"
    "sla_tickets": "sla_tickets", "sla_timers": "sla_timers", "surveys": "surveys",
    "kb_auto_answers": "kb_auto_answers", "kb_learned_phrasings": "learned_phrasings",
    "magic_links": "magic_links", "customer_sessions": "customer_sessions",
    "channel_events": "channel_events", "raw_inbound": "raw_inbound", "opt_outs": "opt_outs",
    "audit_events": "audit", "offers": "offers", "notifications": "notifications", "mentions": "mentions",
}
INTERNAL = ("offers", "notifications", "mentions")  # staff-side: only with ?internal=true / --internal


def _row(obj: Any, *names: str) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in names}


def _json(value: Any) -> str:
    def default(item: Any) -> Any:
        if isinstance(item, datetime | date):
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


async def _all(session: AsyncSession, model: Any, column: Any, ids: list[Any]) -> list[Any]:
    """Rows of ``model`` whose ``column`` is one of ``ids`` (in chunks), by id."""
    rows: list[Any] = []
    for part in chunks(sorted(set(ids))):
        rows += (await session.scalars(select(model).where(column.in_(part)))).all()
    key = getattr(model, "id", None)
    return sorted(rows, key=lambda r: getattr(r, "id", 0) if key is not None else 0)


def _unnamed(session: Session, ids: list[int],
             provider_ids: dict[str, set[str]]) -> tuple[list[Any], list[Any], list[Any]]:
    """Rows that name the contact without pointing at it: channel events, kept raw payloads, opt-outs."""
    who = Addresses.of(session, ids)
    event_ids = channel_event_ids(session, provider_ids, who)
    raw_ids = raw_inbound_ids(session, who)
    events = [row for part in chunks(event_ids) for row in session.execute(
        select(ChannelEvent.id, ChannelEvent.channel, ChannelEvent.kind, ChannelEvent.key, ChannelEvent.ref,
               ChannelEvent.value, ChannelEvent.payload, ChannelEvent.raw, ChannelEvent.created_at)
        .where(ChannelEvent.id.in_(part))).all()]
    raws = [row for part in chunks(raw_ids) for row in session.execute(
        select(RawInbound.id, RawInbound.channel, RawInbound.status, RawInbound.reason, RawInbound.envelope,
               RawInbound.raw, RawInbound.created_at, RawInbound.replayed_at).where(RawInbound.id.in_(part))).all()]
    opt_outs = list(session.scalars(select(OptOut).where(OptOut.address.in_(sorted(who.all)))).all()) \
        if who.all else []
    return events, raws, opt_outs


async def collect(session: AsyncSession, contact_id: int, *, internal: bool = False) -> tuple[dict[str, Any],
                                                                                              list[Any], list[Any]]:
    """The export document, the attachment rows and the other files (name, bytes) to add to the ZIP."""
    contact = await session.get(Contact, contact_id)
    if contact is None:
        raise NotFound(f"contact {contact_id} not found")
    ids = await _family(session, contact_id)
    contacts = (await session.scalars(select(Contact).where(Contact.id.in_(ids)).order_by(Contact.id))).all()
    identities = (await session.scalars(select(ContactIdentity).where(ContactIdentity.contact_id.in_(ids))
                                        .order_by(ContactIdentity.id))).all()
    tickets = (await session.scalars(select(Ticket).where(Ticket.contact_id.in_(ids)).order_by(Ticket.id))).all()
    ticket_ids = [t.id for t in tickets]
    messages = [m for m in await _all(session, Message, Message.ticket_id, ticket_ids)
                if m.contact_id not in ids]  # theirs are read below, on any ticket
    messages = sorted([*messages, *(await session.scalars(select(Message).where(Message.contact_id.in_(ids))))],
                      key=lambda m: m.id)
    provider_ids: dict[str, set[str]] = {}
    for m in messages:
        if m.provider_id:
            provider_ids.setdefault(m.channel, set()).add(m.provider_id)
    if not internal:
        messages = [m for m in messages if not m.internal]
    message_ids = [m.id for m in messages]
    raw: dict[int, bytes] = {}
    for part in chunks(message_ids):
        raw |= {r.id: r.raw for r in (await session.execute(select(Message.id, Message.raw).where(
            Message.id.in_(part), Message.raw.is_not(None)))).all()}
    attachments = await _all(session, Attachment, Attachment.message_id, message_ids)
    tags = [(t.ticket_id, t.tag) for t in await _all(session, TicketTag, TicketTag.ticket_id, ticket_ids)]
    calls = sorted({c.id: c for c in [
        *(await session.scalars(select(Call).where(Call.contact_id.in_(ids)))),
        *await _all(session, Call, Call.ticket_id, ticket_ids)]}.values(), key=lambda c: c.id)
    call_events = await _all(session, CallEvent, CallEvent.call_sid, [c.call_sid for c in calls])
    merges = (await session.scalars(select(ContactMerge).where(or_(
        ContactMerge.source_id.in_(ids), ContactMerge.target_id.in_(ids))).order_by(ContactMerge.id))).all()
    audit = sorted({e.id: e for e in [
        *(await session.scalars(select(AuditEvent).where(or_(
            (AuditEvent.object_type == "contact") & AuditEvent.object_id.in_(ids),
            (AuditEvent.actor_kind == "contact") & AuditEvent.actor_id.in_(ids))))),
        *await _all(session, AuditEvent, AuditEvent.ticket_id, ticket_ids),
        *[e for e in await _all(session, AuditEvent, AuditEvent.object_id, [c.id for c in calls])
          if e.object_type == "call"]]}.values(), key=lambda e: e.id)
    phrasings = await _all(session, KbLearnedPhrasing, KbLearnedPhrasing.ticket_id, ticket_ids)
    surveys = sorted({s.id: s for s in [
        *(await session.scalars(select(Survey).where(Survey.contact_id.in_(ids)))),
        *await _all(session, Survey, Survey.ticket_id, ticket_ids)]}.values(), key=lambda s: s.id)
    sla_tickets = await _all(session, SlaTicket, SlaTicket.ticket_id, ticket_ids)
    sla_timers = await _all(session, SlaTimer, SlaTimer.ticket_id, ticket_ids)
    auto_answers = await _all(session, KbAutoAnswer, KbAutoAnswer.ticket_id, ticket_ids)
    links = (await session.scalars(select(MagicLink).where(MagicLink.contact_id.in_(ids)).order_by(MagicLink.id))).all()
    sign_ins = (await session.scalars(select(CustomerSession).where(CustomerSession.contact_id.in_(ids))
                                      .order_by(CustomerSession.id))).all()
    events, raws, opt_outs = await session.run_sync(lambda s: _unnamed(s, ids, provider_ids))
    offers = await _all(session, Offer, Offer.ticket_id, ticket_ids) if internal else []
    notifications = await _all(session, Notification, Notification.ticket_id, ticket_ids) if internal else []
    mentions = await _all(session, Mention, Mention.ticket_id, ticket_ids) if internal else []
    by_message: dict[int, list[dict[str, Any]]] = {}
    for a in attachments:
        by_message.setdefault(a.message_id, []).append(
            {**_row(a, "id", "filename", "content_type", "size", "created_at"),
             "file": f"attachments/{a.id}-{_safe(a.filename)}"})
    by_call: dict[str, list[dict[str, Any]]] = {}
    for e in call_events:
        by_call.setdefault(e.call_sid, []).append(_row(e, "id", "sequence", "status", "duration", "payload",
                                                       "created_at"))
    document = {
        "format": FORMAT,
        "contact_id": contact_id,
        "internal": internal,
        "contacts": [_row(c, "id", "name", "language", "notes", "organization_id", "merged_into_id",
                          "created_at", "updated_at", "erased_at") for c in contacts],
        "identities": [_row(i, "id", "contact_id", "kind", "value", "method", "created_at") for i in identities],
        "tickets": [{**_row(t, "id", "subject", "status", "priority", "type", "channel", "language",
                            "contact_id", "queue", "created_at", "updated_at", "solved_at", "closed_at",
                            "merged_into_id", "follow_up_of_id", "anonymized_at"),
                     "tags": sorted(tag for tid, tag in tags if tid == t.id)} for t in tickets],
        "messages": [{**_row(m, "id", "ticket_id", "direction", "author_kind", "contact_id", "channel", "internal",
                             "subject", "text", "html", "external_id", "provider_id", "delivery_status",
                             "delivery_error", "created_at"),
                      "metadata": m.meta, "attachments": by_message.get(m.id, []),
                      "raw": f"raw/{m.id}.bin" if m.id in raw else None} for m in messages],
        "calls": [{**_row(c, "id", "call_sid", "direction", "from_number", "to_number", "ticket_id", "topic",
                          "status", "outcome", "duration", "recording_url", "created_at", "ended_at"),
                   "events": by_call.get(c.call_sid, [])} for c in calls],
        "contact_merges": [_row(m, "id", "source_id", "target_id", "identity_ids", "ticket_ids", "created_at",
                                "undone_at") for m in merges],
        "sla_tickets": [_row(s, "ticket_id", "policy_name", "contract", "flags", "first_response_business_seconds",
                             "first_response_calendar_seconds", "resolution_business_seconds",
                             "resolution_calendar_seconds", "breaches", "computed_at") for s in sla_tickets],
        "sla_timers": [_row(s, "id", "ticket_id", "metric", "cycle", "point", "due_at", "state", "fired_at")
                       for s in sla_timers],
        "surveys": [_row(s, "id", "ticket_id", "contact_id", "channel", "created_at", "due_at", "sent_at",
                         "rating", "comment", "answered_at", "first_answered_at") for s in surveys],
        "kb_auto_answers": [_row(a, "id", "ticket_id", "article_id", "message_id", "channel", "hold_until",
                                 "outcome", "decided_at", "created_at") for a in auto_answers],
        "learned_phrasings": [_row(p, "id", "article_id", "text", "ticket_id", "status", "created_at")
                              for p in phrasings],
        "magic_links": [_row(x, "id", "email", "contact_id", "created_at", "expires_at", "sent_at", "used_at")
                        for x in links],
        "customer_sessions": [_row(x, "id", "contact_id", "created_at", "expires_at") for x in sign_ins],
        "channel_events": [{**_row(e, "id", "channel", "kind", "key", "ref", "value", "payload", "created_at"),
                            "raw": f"channel_events/{e.id}.bin" if e.raw else None} for e in events],
        "raw_inbound": [{**_row(r, "id", "channel", "status", "reason", "envelope", "created_at", "replayed_at"),
                         "raw": f"raw_inbound/{r.id}.bin"} for r in raws],
        "opt_outs": [_row(o, "id", "channel", "address", "keyword", "created_at") for o in opt_outs],
        "audit": [_row(e, "id", "created_at", "actor_kind", "actor_id", "action", "object_type", "object_id",
                       "ticket_id", "changes") for e in audit],
        "offers": [_row(o, "id", "ticket_id", "user_id", "status", "ring", "created_at", "expires_at",
                        "decided_at") for o in offers],
        "notifications": [_row(n, "id", "user_id", "kind", "ticket_id", "text", "created_at", "read_at")
                          for n in notifications],
        "mentions": [_row(x, "id", "message_id", "ticket_id", "user_id", "author_id", "created_at", "read_at")
                     for x in mentions],
    }
    files = [(f"raw/{i}.bin", raw[i]) for i in sorted(raw)]
    files += [(f"channel_events/{e.id}.bin", e.raw) for e in events if e.raw]
    files += [(f"raw_inbound/{r.id}.bin", r.raw) for r in raws]
    return document, list(attachments), files


def _safe(filename: str) -> str:
    name = "".join(c if c.isalnum() or c in "._-" else "_" for c in filename)[:100].lstrip(".")
    return name or "file"


async def export_zip(session: AsyncSession, store: AttachmentStore, contact_id: int, *,
                     internal: bool = False) -> bytes:
    """The ZIP archive of everything about the contact (a missing file is listed in ``missing_files``)."""
    document, attachments, others = await collect(session, contact_id, internal=internal)
    files: list[tuple[str, bytes]] = []
    missing: list[int] = []
    for a in attachments:
        try:
            files.append((f"attachments/{a.id}-{_safe(a.filename)}", await store.read(a.sha256, a.file_key)))
        except (OSError, ValueError):
            missing.append(a.id)
    files += others
    document["missing_files"] = missing

    def build() -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("contact.json", _json(document))
            for name, data in files:
                archive.writestr(name, data)
        return buffer.getvalue()

    return await asyncio.to_thread(build)
