"""Delivery status of outbound messages: reports may arrive twice or out of order. Pure."""

from __future__ import annotations

from contactcenter.domain.enums import DeliveryStatus

# How far a message has come. A report never moves a message back: a late "sent" after "delivered" is
# ignored, and "delivered" wins over an earlier "failed" (the provider retried and got through).
_RANK = {DeliveryStatus.QUEUED: 0, DeliveryStatus.SENDING: 1, DeliveryStatus.SENT: 2, DeliveryStatus.FAILED: 3,
         DeliveryStatus.DELIVERED: 4}


def advances(current: str, reported: str) -> bool:
    """Whether a reported status moves a message forward from ``current``."""
    try:
        return _RANK[DeliveryStatus(reported)] > _RANK[DeliveryStatus(current)]
    except (KeyError, ValueError):
        return False


def furthest(statuses: list[str]) -> str | None:
    """The furthest of several reported statuses (None for none)."""
    known = [DeliveryStatus(s) for s in statuses if s in _RANK]
    return max(known, key=_RANK.__getitem__).value if known else None
