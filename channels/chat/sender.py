"""Agent replies on chat tickets are pushed to the visitor's open WebSocket(s); the stored message stays
there for a visitor who reconnects later."""

from __future__ import annotations

from channels.base import OutboundMessage, Receipt
from channels.chat.history import public_message_frame, ticket_topic, visitor_topic
from contactcenter.db.engine import Database
from contactcenter.domain.enums import DeliveryStatus
from contactcenter.hub import Hub


class ChatSender:
    """Pushes a reply through the hub: ``delivered`` when an open widget took it, else ``sent`` (stored,
    shown when the visitor comes back or opens the ticket's portal link)."""

    def __init__(self, db: Database, hub: Hub) -> None:
        self.db = db
        self.hub = hub

    async def send(self, message: OutboundMessage) -> Receipt:
        if not message.conversation_key:
            return Receipt(DeliveryStatus.FAILED, error="chat ticket without a conversation key")
        async with self.db.read() as session:
            frame = await public_message_frame(session, message.message_id)
        if frame is None:
            return Receipt(DeliveryStatus.FAILED, error="reply not found or not public")
        taken = await self.hub.publish(visitor_topic(message.conversation_key), frame)
        await self.hub.publish(ticket_topic(message.ticket_id), frame)
        status = DeliveryStatus.DELIVERED if taken else DeliveryStatus.SENT
        return Receipt(status, provider_id=f"chat:{message.message_id}")
