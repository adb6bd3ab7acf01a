"""The wallboard snapshot: who waits where, agents' state and load, SLA clocks at risk or breached.

Read-only queries over routing's and the SLA engine's tables (see docs/reports.md for each figure).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from contactcenter.db.models import WAITING_SQL, SlaTicket, SlaTimer, Ticket, User
from contactcenter.db.types import utcnow
from contactcenter.domain.enums import TicketStatus
from contactcenter.settings import RoutingSettings
from routing.store import agent_loads

ACTIVE = (TicketStatus.NEW.value, TicketStatus.OPEN.value, TicketStatus.PENDING.value, TicketStatus.ON_HOLD.value)
LIST_LIMIT = 200  # at-risk and breached lists are cut to the most urgent ones
BREACH = "breach"


async def queue_figures(session: AsyncSession, now: datetime) -> list[dict[str, Any]]:
    """Waiting tickets (active, unassigned, not merged) per routing queue and channel, longest wait first."""
    since = func.coalesce(Ticket.waiting_since, Ticket.created_at)
    rows = (await session.execute(
        select(Ticket.routing_queue, Ticket.channel, func.count(), func.min(since))
        .where(text(WAITING_SQL)).group_by(Ticket.routing_queue, Ticket.channel))).all()
    out = [{"queue": queue or "any", "skill": queue, "channel": channel, "waiting": int(count),
            "longest_wait_seconds": max(0, int((now - oldest).total_seconds())) if oldest is not None else 0}
           for queue, channel, count, oldest in rows]
    return sorted(out, key=lambda q: (-q["longest_wait_seconds"], q["queue"], q["channel"]))


async def agent_figures(session: AsyncSession, routing: RoutingSettings) -> list[dict[str, Any]]:
    """Every active staff member: presence, load and capacity per channel class, wrap-up end."""
    users = (await session.execute(select(User.id, User.name, User.presence, User.capacity, User.wrap_up_until)
                                   .where(User.is_active.is_(True)).order_by(User.name, User.id))).all()
    ids = [u.id for u in users]
    loads = await session.run_sync(lambda sync: agent_loads(sync, routing, ids)) if ids else {}
    return [{"id": u.id, "name": u.name, "presence": u.presence, "load": dict(loads.get(u.id, {})),
             "capacity": {**routing.capacity, **{str(k): int(v) for k, v in (u.capacity or {}).items()}},
             "wrap_up_until": u.wrap_up_until} for u in users]


def _clock_row(ticket: Any, metric: str, due_at: datetime) -> dict[str, Any]:
    return {"ticket_id": ticket.id, "number": ticket.id, "subject": ticket.subject, "priority": ticket.priority,
            "metric": metric, "due_at": due_at, "assignee_id": ticket.assignee_id}


async def sla_figures(session: AsyncSession) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(at_risk, breached) clocks of active tickets.

    At risk: a warning of the clock fired and its breach timer is still pending (running, not paused).
    Breached: the breach timer fired, and the clock is still the ticket's concern: not a first response that was
    given since, not a next-response cycle followed by a later one.
    """
    warn = aliased(SlaTimer)
    breach = aliased(SlaTimer)
    at_risk_rows = (await session.execute(
        select(Ticket.id, Ticket.subject, Ticket.priority, Ticket.assignee_id, breach.metric, breach.due_at)
        .join(breach, breach.ticket_id == Ticket.id)
        .where(breach.point == BREACH, breach.state == "pending", Ticket.status.in_(ACTIVE),
               Ticket.merged_into_id.is_(None),
               select(warn.id).where(and_(warn.ticket_id == breach.ticket_id, warn.metric == breach.metric,
                                          warn.cycle == breach.cycle, warn.point != BREACH,
                                          warn.state == "fired")).exists())
        .order_by(breach.due_at, Ticket.id).limit(LIST_LIMIT))).all()
    at_risk = [_clock_row(r, r.metric, r.due_at) for r in at_risk_rows]
    later = aliased(SlaTimer)
    breached_rows = (await session.execute(
        select(Ticket.id, Ticket.subject, Ticket.priority, Ticket.assignee_id, breach.metric, breach.due_at,
               breach.fired_at, SlaTicket.first_response_calendar_seconds)
        .join(breach, breach.ticket_id == Ticket.id)
        .outerjoin(SlaTicket, SlaTicket.ticket_id == Ticket.id)
        .where(breach.point == BREACH, breach.state == "fired", Ticket.status.in_(ACTIVE),
               Ticket.merged_into_id.is_(None),
               ~select(later.id).where(and_(later.ticket_id == breach.ticket_id, later.metric == breach.metric,
                                            later.cycle > breach.cycle)).exists())
        .order_by(breach.due_at, Ticket.id).limit(LIST_LIMIT * 2))).all()
    breached = []
    for r in breached_rows:
        if r.metric == "first_response" and r.first_response_calendar_seconds is not None:
            continue  # answered late: no longer waiting for anyone
        breached.append({**_clock_row(r, r.metric, r.due_at), "breached_at": r.fired_at or r.due_at})
    return at_risk, breached[:LIST_LIMIT]


async def snapshot(session: AsyncSession, routing: RoutingSettings) -> dict[str, Any]:
    """Everything ``GET /api/v1/wallboard`` answers."""
    now = utcnow()
    at_risk, breached = await sla_figures(session)
    return {"generated_at": now, "queues": await queue_figures(session, now),
            "agents": await agent_figures(session, routing), "at_risk": at_risk, "breached": breached}
