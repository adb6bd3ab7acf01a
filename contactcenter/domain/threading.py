"""Where an inbound message goes, decided from the evidence intake found. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from contactcenter.domain.enums import TicketStatus
from contactcenter.domain.lifecycle import ACTIVE


@dataclass(frozen=True, slots=True)
class FoundTicket:
    """A ticket some piece of evidence points at, and which evidence it was."""

    ticket_id: int
    status: TicketStatus
    solved_at: datetime | None
    evidence: str  # e.g. "portal-link", "subject-tag", "conversation"
    last_activity_at: datetime | None = None  # the ticket's last change (customer message, reply, update)


@dataclass(frozen=True, slots=True)
class ThreadDecision:
    ticket_id: int | None  # None: open a new ticket
    reason: str  # stored on the message
    reopen: bool = False
    follow_up_of: int | None = None


def decide(found: FoundTicket | None, now: datetime, reopen_window: timedelta, *, idle_gap: timedelta | None = None,
           reopen_solved: bool = True) -> ThreadDecision:
    """Continue an active ticket, reopen a recently solved one, or open a (follow-up) ticket.

    Messaging channels may add two rules: a ticket quiet for longer than ``idle_gap`` is not continued (a
    follow-up ticket is opened), and with ``reopen_solved=False`` a solved ticket is never reopened.
    """
    if found is None:
        return ThreadDecision(None, "new: no thread evidence")
    if idle_gap is not None and found.last_activity_at is not None and now - found.last_activity_at > idle_gap:
        hours = idle_gap.total_seconds() / 3600
        return ThreadDecision(None, f"{found.evidence}: #{found.ticket_id} quiet for over {hours:g} h, "
                                    "follow-up ticket", follow_up_of=found.ticket_id)
    if found.status in ACTIVE:
        return ThreadDecision(found.ticket_id, f"{found.evidence}: continues #{found.ticket_id}")
    if found.status == TicketStatus.SOLVED and reopen_solved and found.solved_at \
            and now - found.solved_at <= reopen_window:
        return ThreadDecision(found.ticket_id, f"{found.evidence}: reopens solved #{found.ticket_id}", reopen=True)
    state = "closed" if found.status == TicketStatus.CLOSED else "solved too long ago"
    return ThreadDecision(None, f"{found.evidence}: #{found.ticket_id} is {state}, follow-up ticket",
                          follow_up_of=found.ticket_id)
