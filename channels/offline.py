"""Contacts made in person, by post or by fax: agents record them (POST /api/v1/recorded-contacts).

Replies on such tickets cannot be sent by the server; the agent hands them over in person or posts them.
"""

from __future__ import annotations

from channels.base import OutboundMessage, Receipt
from contactcenter.domain.enums import DeliveryStatus

OFFLINE_CHANNELS = ("in_person", "letter", "fax")


class OfflineSender:
    """Marks a reply as sent for manual delivery: the agent gives or posts it; nothing leaves the server."""

    async def send(self, message: OutboundMessage) -> Receipt:
        return Receipt(DeliveryStatus.SENT, provider_id=f"manual:{message.message_id}")
