"""The delivery worker: sends queued replies through the channel registry and records the outcome."""

from __future__ import annotations

import logging

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from channels.base import ChannelRegistry, MaybeSent, OutboundAttachment, OutboundMessage, QuotedMessage, Receipt
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


def buttons_of(message: Message) -> tuple[tuple[str, str], ...]:
    """Choices stored with the message (``meta["buttons"]``: [label, data] pairs), e.g. a survey's ratings."""
    found = (message.meta or {}).get("buttons") or []
    return tuple((str(pair[0]), str(pair[1])) for pair in found if isinstance(pair, list | tuple) and len(pair) == 2)


class DeliveryWorker:
    def __init__(self, db: Database, registry: ChannelRegistry, store: AttachmentStore | None = None) -> None:
        self.db = db
        self.registry = registry
        self.store = store

    async def on_reply_queued(self, event: Event) -> None:
        """Send one queued reply, at most once. A reply no longer queued is left alone; one found ``sending``
        was cut off mid-send (the process died): it is marked failed for an agent to check, not sent again."""
        assert isinstance(event, ReplyQueued)
        if not await self._claim(event.message_id):
            return
        async with self.db.read() as session:
            message = await session.get(Message, event.message_id)
            assert message is not None
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
            files = (await session.execute(select(Attachment.filename, Attachment.content_type, Attachment.sha256,
                                                  Attachment.file_key)
                                           .where(Attachment.message_id == message.id))).all()
        last_in = next((m for m in earlier if m.direction == Direction.INBOUND), None)
        attachments = tuple([OutboundAttachment(name, kind, await self.store.read(sha, key))
                             for name, kind, sha, key in files] if self.store is not None else [])
        outbound = OutboundMessage(
            message_id=message.id, ticket_id=ticket.id, channel=message.channel,
            to=tuple(Address(IdentityKind(kind), value) for kind, value in identities),
            subject=ticket.subject, text=message.text, html=message.html, conversation_key=ticket.conversation_key,
            language=ticket.language, thread_ids=tuple(m.provider_id for m in reversed(earlier) if m.provider_id),
            quoted=QuotedMessage(last_in.text, last_in.name or "", last_in.created_at) if last_in else None,
            attachments=attachments, buttons=buttons_of(message))
        sender = self.registry.sender(message.channel)
        if sender is None:
            receipt = Receipt(DeliveryStatus.FAILED, error=f"no sender for channel {message.channel!r}")
        else:
            try:
                receipt = await sender.send(outbound)
            except MaybeSent as exc:  # sending again could give the customer two copies
                receipt = Receipt(DeliveryStatus.FAILED, error=f"no answer from the provider after sending ({exc}): "
                                  "it may have reached the customer; check before sending it again")
            except BaseException:  # surely not sent: queued again, so that the relay's retry sends it
                async with self.db.write() as session:
                    await session.execute(update(Message).where(
                        Message.id == message.id, Message.delivery_status == DeliveryStatus.SENDING)
                        .values(delivery_status=DeliveryStatus.QUEUED))
                raise
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

    async def _claim(self, message_id: int) -> bool:
        """Move the reply from queued to sending (a conditional UPDATE: one worker wins); False when it is not
        to be sent. A reply already ``sending`` is marked failed as interrupted."""
        async with self.db.write() as session:
            claimed = await session.execute(update(Message).where(
                Message.id == message_id, Message.delivery_status == DeliveryStatus.QUEUED)
                .values(delivery_status=DeliveryStatus.SENDING).returning(Message.id))
            if claimed.first() is not None:
                return True
            message = await session.get(Message, message_id)
            if message is not None and message.delivery_status == DeliveryStatus.SENDING:
                _mark_failed(session, message, "interrupted while sending (the server stopped): it may or may not "
                                               "have reached the customer; check before sending it again")
                log.warning("reply %s was interrupted while sending; marked failed", message.id)
        return False

    async def on_gave_up(self, event: Event, error: str) -> None:
        """The relay stopped retrying this reply: mark it failed so agents see it was not sent."""
        assert isinstance(event, ReplyQueued)
        async with self.db.write() as session:
            message = await session.get(Message, event.message_id)
            if message is None or message.delivery_status not in (DeliveryStatus.QUEUED, DeliveryStatus.SENDING):
                return
            _mark_failed(session, message, f"gave up after repeated errors: {error}"[:2000])


def _mark_failed(session: AsyncSession, message: Message, error: str) -> None:
    """The reply was not (or not surely) sent: failed with the reason, audited, for an agent to see."""
    message.delivery_status = DeliveryStatus.FAILED
    message.delivery_error = error
    record(session, SYSTEM, "message.delivery", "message", message.id,
           {"status": DeliveryStatus.FAILED.value, "error": error}, ticket_id=message.ticket_id)
