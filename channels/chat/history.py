"""What a chat visitor may see: the public messages of their own chat tickets, as frames."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from channels.chat.parse import CHANNEL
from contactcenter.db.models import Contact, Message, Ticket, User
from contactcenter.domain.enums import AuthorKind, DeliveryStatus, Direction


def visitor_topic(visitor_id: str) -> str:
    return f"visitor:{visitor_id}"


def ticket_topic(ticket_id: int) -> str:
    return f"ticket:{ticket_id}"


ALL_CHATS = "chats"


def message_frame(message: Message, author_name: str | None) -> dict[str, Any]:
    """A message as the widget and the agent socket receive it. Never called for internal notes."""
    author = {AuthorKind.CONTACT.value: "you", AuthorKind.AGENT.value: "agent"}.get(message.author_kind, "system")
    client_id = None
    if message.direction == Direction.INBOUND and message.channel == CHANNEL and message.external_id:
        client_id = message.external_id.rpartition(":")[2]
    return {"type": "message", "id": message.id, "ticket": message.ticket_id, "direction": message.direction,
            "author": author, "author_name": author_name or "", "text": message.text, "client_id": client_id,
            "at": message.created_at.isoformat()}


def _public() -> Any:
    return (Message.internal.is_(False)) & (Message.delivery_status != DeliveryStatus.INTERNAL.value)


async def latest_ticket(session: AsyncSession, visitor_id: str) -> Ticket | None:
    """The newest chat ticket of this visitor's conversation (followed along merges)."""
    ticket = await session.scalar(select(Ticket).where(
        Ticket.channel == CHANNEL, Ticket.conversation_key == visitor_id).order_by(Ticket.id.desc()).limit(1))
    seen: set[int] = set()
    while ticket is not None and ticket.merged_into_id is not None and ticket.id not in seen:
        seen.add(ticket.id)
        ticket = await session.get(Ticket, ticket.merged_into_id)
    return ticket


async def missed_messages(session: AsyncSession, visitor_id: str, after_id: int, limit: int) -> list[dict[str, Any]]:
    """Public messages newer than ``after_id`` on the visitor's chat tickets, oldest first (at most ``limit``,
    the newest ones). Queued replies are included: the delivery worker may be pushing them right now, and
    each connection drops a message id it has already sent."""
    tickets = select(Ticket.id).where(Ticket.channel == CHANNEL, Ticket.conversation_key == visitor_id)
    rows = (await session.execute(
        select(Message, Contact.name, User.name).outerjoin(Contact, Contact.id == Message.contact_id)
        .outerjoin(User, User.id == Message.user_id)
        .where(Message.ticket_id.in_(tickets), Message.id > after_id, _public())
        .order_by(Message.id.desc()).limit(limit))).all()
    return [message_frame(m, cname if m.author_kind == AuthorKind.CONTACT.value else uname)
            for m, cname, uname in reversed(rows)]


async def public_message_frame(session: AsyncSession, message_id: int) -> dict[str, Any] | None:
    row = (await session.execute(
        select(Message, Contact.name, User.name).outerjoin(Contact, Contact.id == Message.contact_id)
        .outerjoin(User, User.id == Message.user_id).where(Message.id == message_id, _public()))).first()
    if row is None:
        return None
    message, cname, uname = row
    return message_frame(message, cname if message.author_kind == AuthorKind.CONTACT.value else uname)
