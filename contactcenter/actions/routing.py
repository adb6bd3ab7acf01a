"""Agent and supervisor actions on routing: answer an offer, transfer a ticket, override requirements."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from contactcenter.actions.audit import Actor, record
from contactcenter.actions.tickets import do_add_note, do_update_ticket, get_ticket
from contactcenter.db.models import Offer, Skill, Ticket, User
from contactcenter.db.types import utcnow
from contactcenter.domain.enums import OfferStatus, Role
from contactcenter.errors import Conflict, Forbidden, Invalid, NotFound
from contactcenter.events import OfferDecided, TicketChanged, emit
from routing.requirements import Requirements


async def _own_pending_offer(session: AsyncSession, offer_id: int, actor: Actor) -> Offer:
    offer = await session.get(Offer, offer_id, with_for_update=True)
    if offer is None or offer.user_id != actor.id:  # another agent's offers are not even confirmed to exist
        raise NotFound(f"offer {offer_id} not found")
    if offer.status != OfferStatus.PENDING:
        raise Conflict(f"offer {offer_id} is already {offer.status}")
    if offer.expires_at is not None and offer.expires_at <= utcnow():
        raise Conflict(f"offer {offer_id} has expired")
    return offer


def _decide(session: AsyncSession, offer: Offer, status: OfferStatus) -> None:
    offer.status, offer.decided_at = status, utcnow()
    emit(session, OfferDecided(offer_id=offer.id, ticket_id=offer.ticket_id, user_id=offer.user_id,
                               status=status.value))


async def do_accept_offer(session: AsyncSession, offer_id: int, *, actor: Actor) -> Offer:
    """The agent takes the offered ticket: it is assigned to them."""
    offer = await _own_pending_offer(session, offer_id, actor)
    ticket = await get_ticket(session, offer.ticket_id, for_update=True)
    if ticket.assignee_id is not None:
        _decide(session, offer, OfferStatus.CANCELLED)
        raise Conflict(f"ticket {ticket.id} was assigned meanwhile")
    now = utcnow()
    _decide(session, offer, OfferStatus.ACCEPTED)
    ticket.assignee_id, ticket.next_ring_at, ticket.updated_at = offer.user_id, None, now
    await session.execute(update(User).where(User.id == offer.user_id).values(last_assigned_at=now, missed_offers=0))
    record(session, actor, "ticket.assigned", "ticket", ticket.id, {"to": offer.user_id, "offer": offer.id},
           ticket_id=ticket.id)
    emit(session, TicketChanged(ticket_id=ticket.id, fields=("assignee_id",)))
    return offer


async def do_reject_offer(session: AsyncSession, offer_id: int, reason: str, *, actor: Actor) -> Offer:
    """The agent declines; the router offers the ticket to the next best agent."""
    offer = await _own_pending_offer(session, offer_id, actor)
    _decide(session, offer, OfferStatus.REJECTED)
    await session.execute(update(User).where(User.id == offer.user_id).values(missed_offers=0))
    record(session, actor, "ticket.offer_rejected", "ticket", offer.ticket_id, {"offer": offer.id, "reason": reason},
           ticket_id=offer.ticket_id)
    return offer


async def do_transfer(session: AsyncSession, ticket_id: int, *, to_user_id: int | None, to_skill: str | None,
                      note: str, actor: Actor) -> Ticket:
    """Hand a ticket to an agent (assigned at once) or to a skill group (routed again), with a note."""
    if (to_user_id is None) == (to_skill is None):
        raise Invalid("give exactly one of to_user_id and to_skill")
    if to_skill is not None:
        if await session.scalar(select(Skill.id).where(Skill.name == to_skill)) is None:
            raise Invalid(f"unknown skill {to_skill!r}")
        ticket = await get_ticket(session, ticket_id, for_update=True)
        needs = Requirements.from_dict(ticket.requirements)
        ticket.requirements = Requirements(
            skills={to_skill: 1}, language=needs.language, channel=needs.channel, priority=needs.priority,
            type=needs.type, rules=(*needs.rules, f"transfer to {to_skill}"), overridden=True).to_dict()
        ticket = await do_update_ticket(session, ticket_id, {"queue": to_skill, "assignee_id": None}, actor=actor)
    else:
        ticket = await do_update_ticket(session, ticket_id, {"assignee_id": to_user_id}, actor=actor)
    record(session, actor, "ticket.transferred", "ticket", ticket_id,
           {"to_user_id": to_user_id, "to_skill": to_skill}, ticket_id=ticket_id)
    if note.strip():
        await do_add_note(session, ticket_id, note, actor=actor)
    return ticket


async def do_override_requirements(session: AsyncSession, ticket_id: int, skills: dict[str, int],
                                   language: str | None, *, actor: Actor) -> Ticket:
    """A supervisor sets what the ticket needs; it is not derived again and is routed anew."""
    if actor.role is None or not actor.role.at_least(Role.SUPERVISOR):
        raise Forbidden("only supervisors override routing requirements")
    known = set((await session.scalars(select(Skill.name).where(Skill.name.in_(list(skills))))).all())
    if unknown := sorted(set(skills) - known):
        raise Invalid(f"unknown skill(s): {', '.join(unknown)}")
    ticket = await get_ticket(session, ticket_id, for_update=True)
    old = Requirements.from_dict(ticket.requirements)
    new = Requirements(skills=dict(skills), language=language or ticket.language, channel=old.channel,
                       priority=old.priority, type=old.type, rules=old.rules, overridden=True)
    ticket.requirements, ticket.language = new.to_dict(), new.language
    record(session, actor, "ticket.requirements", "ticket", ticket.id,
           {"skills": [dict(old.skills), dict(new.skills)], "language": [old.language, new.language]},
           ticket_id=ticket.id)
    changes = {"queue": new.queue} if new.queue != ticket.queue else {}
    await do_update_ticket(session, ticket.id, changes, actor=actor)
    if ticket.assignee_id is None:
        ticket.routing_queue, ticket.ring, ticket.next_ring_at = new.queue, 0, None
    emit(session, TicketChanged(ticket_id=ticket.id, fields=("requirements",)))
    return ticket
