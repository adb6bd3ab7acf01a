"""Replies on web-form tickets are delivered by showing them on the ticket's portal page."""

from __future__ import annotations

from channels.base import OutboundMessage, Receipt
from contactcenter.domain.enums import DeliveryStatus


class PortalSender:
    """Nothing leaves the server: the committed reply is already visible at the private portal link."""

    async def send(self, message: OutboundMessage) -> Receipt:
        return Receipt(DeliveryStatus.DELIVERED, provider_id=f"portal:{message.message_id}")
