"""The delivery worker: sends queued replies through the channel registry and records the outcome."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from channels.base import ChannelRegistry, OutboundAttachment, OutboundMessage, QuotedMessage, Receipt
from contactcenter.actions.audit import SYSTEM, record
from contactcenter.actions.channel_events import reported_status
from contactcenter.db.engine import Database
from contactcenter.db.models import Attachment, Contact, ContactIdentity, Message, Ticket
from contactcenter.domain.delivery import advances
from contactcenter.domain.enums import DeliveryStatus, Direction, IdentityKind
from contactcenter.domain.identities import Address
from contactcenter.events import Event, ReplyQueued
from contactcenter.storage import AttachmentStore

log = logging.getLogger(__name__)


HISTORY = 20  # earlier messages of the ticket whose provider ids a reply refers to


def _buttons(meta: dict[str, Any] | None) -> tuple[tuple[str, str], ...]:
    """The (label, data) choices a reply offers, as its writer stored them in ``metadata.buttons``."""
    found = (meta or {}).get("buttons") or []
    return tuple((str(b[0]), str(b[1])) for b in found if isinstance(b, list | tuple) and len(b) == 2)


class DeliveryWorker:
    def __init__(self, db: Database, registry: ChannelRegistry, store: AttachmentStore | None = None) -> None:
        self.db = db
        self.registry = registry
        self.store = store

    async def on_reply_queued(self, event: Event) -> None:
        """Send one queued reply. Idempotent: a reply no longer queued is left alone."""
        assert isinstance(event, ReplyQueued)
        async with self.db.read() as session:
            message = await session.get(Message, event.message_id)
            if message is None or message.delivery_status != DeliveryStatus.QUEUED:
                return
            ticket = await session.get(Ticket, message.ticket_id)
            assert ticket is not None
            identities = (await session.execute(select(ContactIdentity.kind, ContactIdentity.value)
                                                .where(ContactIdentity.contact_id == ticket.contact_id)
                                                .order_by(ContactIdentity.id))).all()
            earlier = (await session.execute(
                select(Message.provider_id, Message.direction, Message.text, Message.created_at, Contact.name)
                .outerjoin(Contact, Contact.id == Message.contact_id)
                .where(Message.ticket_id == ticket.id, Message.id < message.id, Message.internal.is_(False))
                .order_by(Message.id.desc()).limit(HISTORY))).all()
            files = (await session.execute(select(Attachment.filename, Attachment.content_type, Attachment.sha256)
                                           .where(Attachment.message_id == message.id))).all()
        last_in = next((m for m in earlier if m.direction == Direction.INBOUND), None)
        attachments = tuple([OutboundAttachment(name, kind, await self.store.read(sha))
                             for name, kind, sha in files] if self.store is not None else [])
        outbound = OutboundMessage(
            message_id=message.id, ticket_id=ticket.id, channel=message.channel,
            to=tuple(Address(IdentityKind(kind), value) for kind, value in identities),
            subject=ticket.subject, text=message.text, html=message.html, conversation_key=ticket.conversation_key,
            language=ticket.language, thread_ids=tuple(m.provider_id for m in reversed(earlier) if m.provider_id),
            quoted=QuotedMessage(last_in.text, last_in.name or "", last_in.created_at) if last_in else None,
            attachments=attachments, buttons=_buttons(message.meta))
        sender = self.registry.sender(message.channel)
        if sender is None:
            receipt = Receipt(DeliveryStatus.FAILED, error=f"no sender for channel {message.channel!r}")
        else:
            receipt = await sender.send(outbound)
        async with self.db.write() as session:
            stored = await session.get(Message, message.id)
            assert stored is not None
            stored.delivery_status = receipt.status
            stored.provider_id = receipt.provider_id
            stored.delivery_error = receipt.error
            if receipt.provider_id:  # a delivery report may have arrived before this receipt was stored
                reported = await reported_status(session, message.channel, receipt.provider_id)
                if reported is not None and advances(stored.delivery_status, reported):
                    stored.delivery_status = reported
            record(session, SYSTEM, "message.delivery", "message", message.id,
                   {"status": receipt.status, "error": receipt.error}, ticket_id=ticket.id)
        if receipt.status == DeliveryStatus.FAILED:
            log.warning("reply %s on ticket %s not delivered: %s", message.id, ticket.id, receipt.error)

    async def on_gave_up(self, event: Event, error: str) -> None:
        """The relay stopped retrying this reply: mark it failed so agents see it was not sent."""
        assert isinstance(event, ReplyQueued)
        async with self.db.write() as session:
            message = await session.get(Message, event.message_id)
            if message is None or message.delivery_status != DeliveryStatus.QUEUED:
                return
            message.delivery_status = DeliveryStatus.FAILED
            message.delivery_error = f"gave up after repeated errors: {error}"[:2000]
            record(session, SYSTEM, "message.delivery", "message", message.id,
                   {"status": DeliveryStatus.FAILED.value, "error": message.delivery_error},
                   ticket_id=message.ticket_id)
