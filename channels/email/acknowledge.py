"""An optional acknowledgement with the ticket number when mail opens a ticket (``email.acknowledge``).

Subscribed to ``ticket.created``. Never sent for automatic mail (auto-replies, lists, bounces) or imported
mail, at most ``acknowledge_per_sender`` per address and window, and at most once per ticket (an audit
row records it, so a redelivered event sends nothing). The mail says Auto-Submitted: auto-replied, so
well-behaved auto-responders do not answer it.
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from channels.email import CHANNEL
from channels.email.sender import EmailSender
from contactcenter.actions.audit import SYSTEM, record
from contactcenter.db.engine import Database
from contactcenter.db.models import AuditEvent, Message, Ticket
from contactcenter.domain.enums import Direction
from contactcenter.events import Event, TicketCreated
from contactcenter.ratelimit import RateLimiter

log = logging.getLogger(__name__)

TEMPLATES = {
    "en": "Hello,\n\nWe received your message and opened ticket #{ticket}. Reply to this e-mail to add to it.\n",
    "fa": ("سلام،\n\nپیام شما دریافت شد و درخواست شماره #{ticket} ثبت شد. "
           "برای افزودن توضیحات به همین ایمیل پاسخ دهید.\n"),
    "ar": "مرحبًا،\n\nتلقينا رسالتك وفتحنا التذكرة رقم #{ticket}. للإضافة إليها، قم بالرد على هذه الرسالة.\n",
}


def acknowledgement_text(language: str, ticket_id: int) -> str:
    """The acknowledgement in the ticket's language (English when we have none for it)."""
    return TEMPLATES.get(language, TEMPLATES["en"]).format(ticket=ticket_id)


class Acknowledger:
    def __init__(self, db: Database, sender: EmailSender, per_sender: int, window_seconds: float) -> None:
        self.db = db
        self.sender = sender
        self.limiter = RateLimiter(per_sender, window_seconds)

    async def on_ticket_created(self, event: Event) -> None:
        assert isinstance(event, TicketCreated)
        if event.channel != CHANNEL:
            return
        async with self.db.read() as session:
            ticket = await session.get(Ticket, event.ticket_id)
            first = await session.scalar(select(Message).where(
                Message.ticket_id == event.ticket_id, Message.direction == Direction.INBOUND).order_by(Message.id)
                .limit(1))
            done = await session.scalar(select(AuditEvent.id).where(
                AuditEvent.action == "email.acknowledged", AuditEvent.object_id == event.ticket_id).limit(1))
        if ticket is None or first is None or done is not None:
            return
        meta = first.meta or {}
        address = str(meta.get("from") or "")
        if not address or meta.get("automatic") or meta.get("imported"):
            return
        if self.limiter.blocked(address):
            log.info("no acknowledgement for ticket %s: the sender's limit is reached", ticket.id)
            return
        self.limiter.hit(address)
        mail = self.sender.build_acknowledgement(ticket.id, ticket.subject, ticket.language, address,
                                                 first.provider_id, acknowledgement_text(ticket.language, ticket.id))
        error = await self.sender.deliver(mail, [address])
        async with self.db.write() as session:
            record(session, SYSTEM, "email.acknowledged", "ticket", ticket.id,
                   {"to": address, "error": error}, ticket_id=ticket.id)
