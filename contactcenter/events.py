"""Typed domain events. Actions append them to the outbox in their transaction; the relay delivers them."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from contactcenter.db.engine import note_events
from contactcenter.db.models import OutboxEvent
from contactcenter.db.types import utcnow


@dataclass(frozen=True)
class Event:
    topic: ClassVar[str]


@dataclass(frozen=True)
class TicketCreated(Event):
    topic: ClassVar[str] = "ticket.created"
    ticket_id: int
    channel: str
    clocks_started: bool = False  # intake started its SLA clocks in the same transaction


@dataclass(frozen=True)
class MessageReceived(Event):
    topic: ClassVar[str] = "message.received"
    ticket_id: int
    message_id: int
    channel: str = ""  # "" in events stored before the field existed
    clocks_started: bool = False  # it opened its ticket, whose SLA clocks intake started with it


@dataclass(frozen=True)
class ReplyQueued(Event):
    """An agent reply waits for the delivery worker."""

    topic: ClassVar[str] = "reply.queued"
    ticket_id: int
    message_id: int


@dataclass(frozen=True)
class NoteAdded(Event):
    topic: ClassVar[str] = "note.added"
    ticket_id: int
    message_id: int


@dataclass(frozen=True)
class TicketChanged(Event):
    topic: ClassVar[str] = "ticket.changed"
    ticket_id: int
    fields: tuple[str, ...]
    freed_user_id: int | None = None  # an agent this change took the ticket from (their capacity is free)


@dataclass(frozen=True)
class TicketsMerged(Event):
    topic: ClassVar[str] = "ticket.merged"
    source_id: int
    target_id: int


@dataclass(frozen=True)
class ContactsMerged(Event):
    topic: ClassVar[str] = "contact.merged"
    merge_id: int
    source_id: int
    target_id: int
    undone: bool = False


@dataclass(frozen=True)
class ContactErased(Event):
    """A contact was erased on request: integrations should delete what they copied of these contacts and
    tickets (the ids are all that is left of them here)."""

    topic: ClassVar[str] = "contact.erased"
    contact_id: int
    contact_ids: tuple[int, ...]  # the contact and those merged into it
    ticket_ids: tuple[int, ...]  # their tickets, now deleted


@dataclass(frozen=True)
class AgentChanged(Event):
    topic: ClassVar[str] = "agent.changed"
    user_id: int
    fields: tuple[str, ...]


@dataclass(frozen=True)
class OfferMade(Event):
    """The router offered a ticket to an agent, who must accept or reject it in time."""

    topic: ClassVar[str] = "offer.made"
    offer_id: int
    ticket_id: int
    user_id: int


@dataclass(frozen=True)
class OfferDecided(Event):
    """An offer was accepted, rejected, expired or cancelled."""

    topic: ClassVar[str] = "offer.decided"
    offer_id: int
    ticket_id: int
    user_id: int
    status: str


@dataclass(frozen=True)
class RoutingEscalated(Event):
    """A ticket waited long enough for the next overflow step: supervisors are alerted."""

    topic: ClassVar[str] = "routing.escalated"
    ticket_id: int
    ring: int


@dataclass(frozen=True)
class ChannelEventRecorded(Event):
    """A channel reported something that is not a customer message (delivery report, button press, ...)."""

    topic: ClassVar[str] = "channel.event"
    event_id: int
    channel: str
    kind: str


@dataclass(frozen=True)
class SlaWarning(Event):
    """An SLA clock reached a warning point (e.g. 75 % of its target, 15 minutes before the breach)."""

    topic: ClassVar[str] = "sla.warning"
    ticket_id: int
    metric: str
    cycle: int
    point: str
    due_at: str  # ISO 8601: the breach moment as computed when the warning fired


@dataclass(frozen=True)
class SlaBreached(Event):
    topic: ClassVar[str] = "sla.breached"
    ticket_id: int
    metric: str
    cycle: int
    due_at: str


@dataclass(frozen=True)
class SlaEscalated(Event):
    """A step of a policy's escalation ladder: who is to be told (notify steps) or what was done."""

    topic: ClassVar[str] = "sla.escalated"
    ticket_id: int
    metric: str
    point: str
    action: str  # notify_assignee, notify_supervisor, notify_customer, raise_priority, reroute
    user_id: int | None = None  # the assignee for notify_assignee


@dataclass(frozen=True)
class SlaPoliciesChanged(Event):
    """An SLA policy was created, changed or deleted: the open tickets' clocks are recomputed."""

    topic: ClassVar[str] = "sla.policies_changed"
    policy_id: int


@dataclass(frozen=True)
class ServiceContractChanged(Event):
    """A service contract was created or changed: its organization's open tickets' clocks are recomputed."""

    topic: ClassVar[str] = "contract.changed"
    contract_id: int
    organization_id: int


@dataclass(frozen=True)
class NotificationCreated(Event):
    """A staff member has a new notification (pushed to their open consoles)."""

    topic: ClassVar[str] = "notification.created"
    notification_id: int
    user_id: int


@dataclass(frozen=True)
class MentionMade(Event):
    """An internal note named an agent with ``@handle``: their console is told."""

    topic: ClassVar[str] = "mention.made"
    mention_id: int
    ticket_id: int
    message_id: int
    user_id: int


@dataclass(frozen=True)
class SurveyDue(Event):
    """A solved ticket's satisfaction survey is due (written with a later ``available_at``: the delay)."""

    topic: ClassVar[str] = "survey.due"
    survey_id: int


@dataclass(frozen=True)
class MagicLinkRequested(Event):
    """A customer asked for a "my tickets" sign-in link: the e-mail goes out after commit."""

    topic: ClassVar[str] = "portal.magic_link"
    link_id: int


EVENT_TYPES: dict[str, type[Event]] = {
    cls.topic: cls
    for cls in (TicketCreated, MessageReceived, ReplyQueued, NoteAdded, TicketChanged, TicketsMerged,
                ContactsMerged, ContactErased, AgentChanged, OfferMade, OfferDecided, RoutingEscalated,
                ChannelEventRecorded, SlaWarning, SlaBreached, SlaEscalated, SlaPoliciesChanged,
                ServiceContractChanged, NotificationCreated, MentionMade, SurveyDue, MagicLinkRequested)
}


def encode(event: Event) -> dict[str, Any]:
    return {f.name: getattr(event, f.name) for f in dataclasses.fields(event)}  # flat: no deep copies


def decode(topic: str, payload: dict[str, Any]) -> Event:
    """Rebuild an event from its outbox row. Tuples come back from JSON as lists."""
    cls = EVENT_TYPES[topic]
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in payload.items()}
    return cls(**values)


def outbox_row(event: Event, at: datetime | None = None) -> dict[str, Any]:
    """The values of one outbox row (for bulk inserts; ``emit`` adds a single one)."""
    at = at or utcnow()
    return {"topic": event.topic, "payload": encode(event), "status": "pending", "attempts": 0,
            "available_at": at, "created_at": at}


def emit(session: AsyncSession | Session, event: Event, *, not_before: datetime | None = None) -> None:
    """Append ``event`` to the outbox in the caller's transaction (relayed no earlier than ``not_before``)."""
    row = outbox_row(event)
    if not_before is not None:
        row["available_at"] = max(not_before, row["available_at"])
    session.add(OutboxEvent(**row))
    note_events(session)
