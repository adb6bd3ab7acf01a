"""Enumerations of the ticket model. Stored in the database as their string values."""

from __future__ import annotations

from enum import StrEnum


class TicketStatus(StrEnum):
    NEW = "new"
    OPEN = "open"
    PENDING = "pending"
    ON_HOLD = "on-hold"
    SOLVED = "solved"
    CLOSED = "closed"


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"

    @property
    def rank(self) -> int:
        """Higher is more urgent."""
        return _PRIORITY_RANK[self]


_PRIORITY_RANK = {p: i for i, p in enumerate(Priority)}


class TicketType(StrEnum):
    QUESTION = "question"
    INCIDENT = "incident"
    PROBLEM = "problem"
    TASK = "task"
    COMPLAINT = "complaint"


class Direction(StrEnum):
    INBOUND = "in"
    OUTBOUND = "out"


class AuthorKind(StrEnum):
    CONTACT = "contact"
    AGENT = "agent"
    SYSTEM = "system"


class DeliveryStatus(StrEnum):
    RECEIVED = "received"  # inbound, stored
    QUEUED = "queued"  # outbound, waiting for the delivery worker
    SENDING = "sending"  # claimed by a delivery worker: the provider call is under way (or was cut off)
    SENT = "sent"  # handed to the provider
    DELIVERED = "delivered"  # confirmed by the provider, or visible in the portal
    FAILED = "failed"
    INTERNAL = "internal"  # internal notes are never delivered


class Role(StrEnum):
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"

    def at_least(self, other: Role) -> bool:
        order = [Role.AGENT, Role.SUPERVISOR, Role.ADMIN]
        return order.index(self) >= order.index(other)


class Presence(StrEnum):
    AVAILABLE = "available"
    BUSY = "busy"
    AWAY = "away"
    OFFLINE = "offline"


class IdentityKind(StrEnum):
    EMAIL = "email"
    PHONE = "phone"
    TELEGRAM = "telegram"
    CHAT = "chat"


class LinkMethod(StrEnum):
    """How an identity came to belong to a contact."""

    VERIFIED = "verified"  # proven (signed-in, verified by the host site, replied from it)
    CLAIMED = "claimed"  # given by the sender, not proven
    AGENT = "agent"  # added by an agent
    MERGE = "merge"  # moved here by a contact merge


class OutboxStatus(StrEnum):
    PENDING = "pending"
    CLAIMED = "claimed"
    DONE = "done"
    DEAD = "dead"


class OfferStatus(StrEnum):
    PENDING = "pending"  # waiting for the agent to accept or reject
    ACCEPTED = "accepted"  # the agent took it (or it was assigned at once)
    REJECTED = "rejected"
    EXPIRED = "expired"  # not answered in time
    CANCELLED = "cancelled"  # the ticket or the agent changed before an answer
