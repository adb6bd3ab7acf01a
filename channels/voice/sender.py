"""Replies on phone tickets: there is no written channel back, so the agent calls back (POST /api/v1/calls)."""

from __future__ import annotations

from channels.base import OutboundMessage, Receipt
from contactcenter.domain.enums import DeliveryStatus


class VoiceSender:
    """Refuses written replies with a clear reason; the reply stays on the ticket as a record."""

    async def send(self, message: OutboundMessage) -> Receipt:
        return Receipt(DeliveryStatus.FAILED, error="phone tickets are answered by calling back "
                                                    "(POST /api/v1/calls), not by a written reply")
