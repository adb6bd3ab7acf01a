"""InboundMessage -> ticket: the single entry point for every channel.

One transaction: drop redeliveries, resolve the contact, thread the message, store it with its
attachments, index it for search, and write audit and outbox rows.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from channels.base import InboundMessage
from contactcenter.actions.audit import Actor, record
from contactcenter.actions.contacts import resolve_contact
from contactcenter.db import search
from contactcenter.db.engine import Database
from contactcenter.db.models import Attachment, Contact, Message, Ticket
from contactcenter.db.types import utcnow
from contactcenter.domain.enums import AuthorKind, DeliveryStatus, Direction, TicketStatus
from contactcenter.domain.language import detect_language
from contactcenter.domain.lifecycle import status_after_customer_message
from contactcenter.domain.threading import FoundTicket, decide
from contactcenter.events import MessageReceived, TicketChanged, TicketCreated, emit
from contactcenter.settings import Settings
from contactcenter.storage import AttachmentStore
from routing.requirements import derive

SUBJECT_FROM_TEXT = 80


@dataclass(frozen=True, slots=True)
class IntakeResult:
    ticket_id: int
    message_id: int
    contact_id: int
    created_ticket: bool
    duplicate: bool
    thread_reason: str
    portal_token: str | None = None  # the private link token, shown once when a ticket is created


def token_hash(token: str) -> str:
    """How portal tokens are stored: only their sha256."""
    return hashlib.sha256(token.encode()).hexdigest()


async def _duplicate(session: AsyncSession, msg: InboundMessage) -> IntakeResult | None:
    row = (await session.execute(
        select(Message.id, Message.ticket_id, Message.contact_id, Message.thread_reason)
        .where(Message.channel == msg.channel, Message.external_id == msg.external_id))).first()
    if row is None:
        return None
    return IntakeResult(ticket_id=row.ticket_id, message_id=row.id, contact_id=row.contact_id or 0,
                        created_ticket=False, duplicate=True, thread_reason=row.thread_reason)


async def _live(session: AsyncSession, ticket: Ticket | None) -> Ticket | None:
    """Follow merges to the ticket that now holds the conversation."""
    seen: set[int] = set()
    while ticket is not None and ticket.merged_into_id is not None and ticket.id not in seen:
        seen.add(ticket.id)
        ticket = await session.get(Ticket, ticket.merged_into_id)
    return ticket


async def _is_participant(session: AsyncSession, ticket: Ticket, contact: Contact) -> bool:
    if ticket.contact_id == contact.id:
        return True
    return await session.scalar(select(Message.id).where(
        Message.ticket_id == ticket.id, Message.contact_id == contact.id).limit(1)) is not None


async def _find_thread(session: AsyncSession, msg: InboundMessage, contact: Contact) -> FoundTicket | None:
    """Walk the evidence chain, strongest first."""
    hints = msg.hints
    ticket: Ticket | None = None
    evidence = ""
    if hints.portal_token:
        ticket = await session.scalar(select(Ticket).where(Ticket.portal_token_hash == token_hash(hints.portal_token)))
        evidence = "portal-link"
    if ticket is None and hints.ticket_number is not None:
        tagged = await session.get(Ticket, hints.ticket_number)
        if tagged is not None and await _is_participant(session, tagged, contact):
            ticket, evidence = tagged, "subject-tag"
    if ticket is None and hints.conversation_key:
        ticket = await session.scalar(
            select(Ticket).where(Ticket.contact_id == contact.id, Ticket.channel == msg.channel,
                                 Ticket.conversation_key == hints.conversation_key,
                                 Ticket.merged_into_id.is_(None))
            .order_by(Ticket.id.desc()).limit(1))
        evidence = "conversation"
    ticket = await _live(session, ticket)
    if ticket is None:
        return None
    return FoundTicket(ticket.id, TicketStatus(ticket.status), ticket.solved_at, evidence)


async def receive(session: AsyncSession, msg: InboundMessage, settings: Settings,
                  attachment_hashes: tuple[str, ...] = ()) -> IntakeResult:
    """Store ``msg`` on the right ticket in the caller's transaction. Attachments are already on disk."""
    duplicate = await _duplicate(session, msg)
    if duplicate is not None:
        return duplicate
    now = utcnow()
    language = msg.language or detect_language(f"{msg.subject} {msg.text}", settings.intake.default_language)
    contact = await resolve_contact(session, (msg.sender, *msg.other_addresses), msg.sender_name, language)
    found = await _find_thread(session, msg, contact)
    decision = decide(found, now, timedelta(days=settings.intake.reopen_window_days))
    actor = Actor.contact(contact.id)
    portal_token: str | None = None
    if decision.ticket_id is None:
        topic = settings.webform.topic(msg.topic) if msg.topic else None
        needs = derive(channel=msg.channel, language=language,
                       topic_skill=topic.skill if topic else "",
                       topic_type=topic.type if topic else "question",
                       topic_priority=topic.priority if topic else "normal")
        portal_token = secrets.token_urlsafe(32)
        subject = msg.subject.strip() or msg.text.strip().split("\n", 1)[0][:SUBJECT_FROM_TEXT]
        ticket = Ticket(subject=subject[:500], status=TicketStatus.NEW, priority=needs.priority, type=needs.type,
                        channel=msg.channel, language=language, contact_id=contact.id,
                        organization_id=contact.organization_id, queue=needs.queue,
                        requirements=needs.to_dict(), portal_token_hash=token_hash(portal_token),
                        conversation_key=msg.hints.conversation_key, follow_up_of_id=decision.follow_up_of,
                        created_at=now, updated_at=now, last_message_at=now)
        session.add(ticket)
        await session.flush()
        record(session, actor, "ticket.created", "ticket", ticket.id,
               {"channel": msg.channel, "follow_up_of": decision.follow_up_of}, ticket_id=ticket.id)
        emit(session, TicketCreated(ticket_id=ticket.id, channel=msg.channel))
    else:
        loaded = await session.get(Ticket, decision.ticket_id)
        assert loaded is not None
        ticket = loaded
        status = status_after_customer_message(TicketStatus(ticket.status))
        if status != ticket.status:
            record(session, actor, "ticket.updated", "ticket", ticket.id,
                   {"status": [ticket.status, status.value]}, ticket_id=ticket.id)
            emit(session, TicketChanged(ticket_id=ticket.id, fields=("status",)))
            ticket.status = status
            if decision.reopen:
                ticket.solved_at = None
        ticket.updated_at = ticket.last_message_at = now
    message = Message(ticket_id=ticket.id, direction=Direction.INBOUND, author_kind=AuthorKind.CONTACT,
                      contact_id=contact.id, channel=msg.channel, subject=msg.subject[:500], text=msg.text,
                      html=msg.html, external_id=msg.external_id, delivery_status=DeliveryStatus.RECEIVED,
                      thread_reason=decision.reason[:200], meta=dict(msg.metadata), raw=msg.raw or None,
                      created_at=msg.received_at)
    session.add(message)
    await session.flush()
    for attachment, sha in zip(msg.attachments, attachment_hashes, strict=True):
        session.add(Attachment(message_id=message.id, filename=attachment.filename[:255],
                               content_type=attachment.content_type, size=len(attachment.data), sha256=sha))
    await search.index_ticket(session, ticket.id, msg.subject if decision.ticket_id is None else "", msg.text,
                              new=decision.ticket_id is None)
    record(session, actor, "message.received", "message", message.id,
           {"channel": msg.channel, "thread_reason": message.thread_reason}, ticket_id=ticket.id)
    emit(session, MessageReceived(ticket_id=ticket.id, message_id=message.id))
    return IntakeResult(ticket_id=ticket.id, message_id=message.id, contact_id=contact.id,
                        created_ticket=decision.ticket_id is None, duplicate=False,
                        thread_reason=message.thread_reason, portal_token=portal_token)


async def intake(db: Database, store: AttachmentStore, settings: Settings, msg: InboundMessage) -> IntakeResult:
    """Persist ``msg`` (files first, then one transaction) and return where it went.

    A concurrent delivery of the same message loses the race on UNIQUE(channel, external_id);
    it is then retried once and answered with the original result.
    """
    hashes = tuple([await store.save(a.data) for a in msg.attachments])
    try:
        async with db.write() as session:
            return await receive(session, msg, settings, hashes)
    except IntegrityError:
        async with db.write() as session:
            return await receive(session, msg, settings, hashes)


def is_portal_token_match(ticket: Ticket, token: str) -> bool:
    """Constant-time check of a portal token against a ticket."""
    return ticket.portal_token_hash is not None and secrets.compare_digest(ticket.portal_token_hash,
                                                                           token_hash(token))


