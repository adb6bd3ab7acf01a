"""Agent-side writes on tickets: reply, internal note, field changes, merge."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from contactcenter.actions.audit import Actor, record
from contactcenter.db import search
from contactcenter.db.models import Message, Ticket, TicketTag, User
from contactcenter.db.types import utcnow
from contactcenter.domain.enums import AuthorKind, DeliveryStatus, Direction, Priority, TicketStatus, TicketType
from contactcenter.domain.lifecycle import ROUTABLE, TransitionError, check_transition
from contactcenter.errors import Conflict, Invalid, NotFound
from contactcenter.events import NoteAdded, ReplyQueued, TicketChanged, TicketsMerged, emit
from contactcenter.privacy.sealing import Sealer
from contactcenter.sanitize import sanitize_html


async def get_ticket(session: AsyncSession, ticket_id: int, *, for_update: bool = False) -> Ticket:
    query = select(Ticket).where(Ticket.id == ticket_id)
    if for_update:
        query = query.with_for_update()
    ticket = await session.scalar(query)
    if ticket is None:
        raise NotFound(f"ticket {ticket_id} not found")
    return ticket


async def _add_agent_message(session: AsyncSession, ticket: Ticket, text: str, html: str | None, *,
                             internal: bool, actor: Actor) -> Message:
    if ticket.merged_into_id is not None:
        raise Conflict(f"ticket {ticket.id} was merged into {ticket.merged_into_id}; write there")
    now = utcnow()
    seal = await Sealer.for_contact(session, ticket.contact_id)  # sealed with the customer's data key
    message = Message(ticket_id=ticket.id, direction=Direction.OUTBOUND, author_kind=AuthorKind.AGENT,
                      user_id=actor.id, channel=ticket.channel, internal=internal, subject=ticket.subject,
                      text=seal.text(ticket.contact_id, text), key_id=seal.key_id(ticket.contact_id),
                      html=seal.optional_text(ticket.contact_id, sanitize_html(html) if html else None),
                      delivery_status=DeliveryStatus.INTERNAL if internal else DeliveryStatus.QUEUED,
                      thread_reason="agent", created_at=now)
    session.add(message)
    ticket.updated_at = now
    await session.flush()
    await session.run_sync(search.index_many, [(ticket.id, text, False)])
    return message


async def do_reply(session: AsyncSession, ticket_id: int, text: str, html: str | None = None, *,
                   actor: Actor, status: TicketStatus | None = None) -> Message:
    """Queue a public reply on the ticket's channel; the delivery worker sends it after commit."""
    ticket = await get_ticket(session, ticket_id, for_update=True)
    if ticket.status == TicketStatus.CLOSED:
        raise Conflict(f"ticket {ticket_id} is closed; a closed ticket takes no replies")
    message = await _add_agent_message(session, ticket, text, html, internal=False, actor=actor)
    record(session, actor, "message.replied", "message", message.id, {"channel": ticket.channel},
           ticket_id=ticket.id)
    emit(session, ReplyQueued(ticket_id=ticket.id, message_id=message.id))
    target = status or (TicketStatus.OPEN if ticket.status == TicketStatus.NEW else None)
    if target is not None and target != ticket.status:
        await do_update_ticket(session, ticket.id, {"status": target}, actor=actor)
    return message


async def do_add_note(session: AsyncSession, ticket_id: int, text: str, *, actor: Actor) -> Message:
    """An internal note: visible to staff only, never delivered."""
    ticket = await get_ticket(session, ticket_id, for_update=True)
    message = await _add_agent_message(session, ticket, text, None, internal=True, actor=actor)
    record(session, actor, "message.noted", "message", message.id, {}, ticket_id=ticket.id)
    emit(session, NoteAdded(ticket_id=ticket.id, message_id=message.id))
    return message


async def ticket_tags(session: AsyncSession, ticket_ids: Sequence[int]) -> dict[int, list[str]]:
    rows = (await session.execute(select(TicketTag.ticket_id, TicketTag.tag)
                                  .where(TicketTag.ticket_id.in_(ticket_ids)).order_by(TicketTag.tag))).all()
    found: dict[int, list[str]] = {i: [] for i in ticket_ids}
    for ticket_id, tag in rows:
        found[ticket_id].append(tag)
    return found


async def do_update_ticket(session: AsyncSession, ticket_id: int, changes: dict[str, Any], *,
                           actor: Actor) -> Ticket:
    """Change status, priority, type, tags, assignee or queue; checks the lifecycle and the assignee."""
    ticket = await get_ticket(session, ticket_id, for_update=True)
    if ticket.merged_into_id is not None:
        raise Conflict(f"ticket {ticket_id} was merged into {ticket.merged_into_id}")
    diff: dict[str, list[Any]] = {}
    now = utcnow()
    if "status" in changes and changes["status"] != ticket.status:
        target = TicketStatus(changes["status"])
        try:
            check_transition(TicketStatus(ticket.status), target)
        except TransitionError as exc:
            raise Conflict(str(exc)) from None
        diff["status"] = [ticket.status, target.value]
        ticket.status = target
        if target == TicketStatus.SOLVED:
            ticket.solved_at = now
        elif target == TicketStatus.CLOSED:
            ticket.closed_at = now
            ticket.solved_at = ticket.solved_at or now
        else:
            ticket.solved_at = None
    if "assignee_id" in changes and changes["assignee_id"] != ticket.assignee_id:
        assignee_id = changes["assignee_id"]
        if assignee_id is not None:
            user = await session.get(User, assignee_id)
            if user is None or not user.is_active:
                raise Invalid(f"assignee {assignee_id} is not an active user")
        diff["assignee_id"] = [ticket.assignee_id, assignee_id]
        ticket.assignee_id = assignee_id
    for field in ("priority", "type", "queue", "subject"):
        if field in changes and changes[field] != getattr(ticket, field):
            value = changes[field]
            diff[field] = [getattr(ticket, field), value.value if hasattr(value, "value") else value]
            setattr(ticket, field, value)
    if diff.get("type", [None, None])[1] == TicketType.COMPLAINT and "priority" not in changes \
            and Priority(ticket.priority).rank < Priority.HIGH.rank:
        diff["priority"] = [ticket.priority, Priority.HIGH.value]  # complaints are handled first
        ticket.priority = Priority.HIGH
    if "tags" in changes:
        old = (await ticket_tags(session, [ticket.id]))[ticket.id]
        new = sorted({t.strip().lower() for t in changes["tags"] if t.strip()})
        if new != old:
            diff["tags"] = [old, new]
            await session.execute(delete(TicketTag).where(TicketTag.ticket_id == ticket.id))
            session.add_all([TicketTag(ticket_id=ticket.id, tag=t) for t in new])
    if diff:
        ticket.updated_at = now
        freed = _requeue(ticket, diff, now)
        record(session, actor, "ticket.updated", "ticket", ticket.id, diff, ticket_id=ticket.id)
        emit(session, TicketChanged(ticket_id=ticket.id, fields=tuple(sorted(diff)), freed_user_id=freed))
    return ticket


def _requeue(ticket: Ticket, diff: dict[str, list[Any]], now: datetime) -> int | None:
    """Keep the router's view right after a change; return the agent whose capacity it freed, if any."""
    was_active = TicketStatus(diff["status"][0]) in ROUTABLE if "status" in diff else ticket.status in ROUTABLE
    previous = diff["assignee_id"][0] if "assignee_id" in diff else ticket.assignee_id
    if ticket.status in ROUTABLE and ticket.assignee_id is None and (previous is not None or not was_active):
        ticket.waiting_since, ticket.ring, ticket.next_ring_at = now, 0, None  # back in the queue
        ticket.routing_queue = ticket.queue
    elif "queue" in diff and ticket.assignee_id is None:
        ticket.routing_queue, ticket.ring, ticket.next_ring_at = ticket.queue, 0, None
    if previous is not None and was_active and (previous != ticket.assignee_id or ticket.status not in ROUTABLE):
        return int(previous)
    return None


async def do_merge_tickets(session: AsyncSession, source_id: int, target_id: int, *, actor: Actor) -> Ticket:
    """Move the source's messages onto the target, close the source and point it at the target."""
    if source_id == target_id:
        raise Conflict("cannot merge a ticket into itself")
    first, second = sorted((source_id, target_id))  # lock in id order: no deadlock between two merges
    locked = {t.id: t for t in [await get_ticket(session, first, for_update=True),
                                await get_ticket(session, second, for_update=True)]}
    source, target = locked[source_id], locked[target_id]
    for ticket in (source, target):
        if ticket.merged_into_id is not None:
            raise Conflict(f"ticket {ticket.id} was already merged into {ticket.merged_into_id}")
    if target.status == TicketStatus.CLOSED:
        raise Conflict(f"ticket {target.id} is closed; merge into an active ticket")
    moved = cast(CursorResult[Any], await session.execute(
        update(Message).where(Message.ticket_id == source.id).values(ticket_id=target.id))).rowcount
    await search.move_document(session, source.id, target.id)
    now = utcnow()
    source.merged_into_id = target.id
    if source.status != TicketStatus.CLOSED:
        source.status = TicketStatus.CLOSED
        source.closed_at = now
    source.updated_at = target.updated_at = now
    target.last_message_at = max(target.last_message_at, source.last_message_at)
    record(session, actor, "ticket.merged", "ticket", source.id,
           {"into": target.id, "messages_moved": moved}, ticket_id=source.id)
    record(session, actor, "ticket.merged_in", "ticket", target.id, {"from": source.id}, ticket_id=target.id)
    emit(session, TicketsMerged(source_id=source.id, target_id=target.id))
    return target
