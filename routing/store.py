"""The router's database work: plain synchronous functions run inside ``Database.run_write``.

Every routing transaction starts with ``take_lock``: on PostgreSQL a transaction-level advisory lock,
so routers in several processes take turns; on SQLite the write lock does the same. Under the lock
the chosen agent's presence and load are read again (for a batch of new tickets, the likely agents all at once
before the first offer), so a decision is never made on stale data.
"""

from __future__ import annotations

import dataclasses
import functools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    BindParameter,
    CompoundSelect,
    Table,
    and_,
    bindparam,
    exists,
    func,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.orm import Session

from contactcenter.actions.audit import SYSTEM, audit_row, record
from contactcenter.db.engine import note_events
from contactcenter.db.ids import insert_rows, prefetch_ids
from contactcenter.db.models import WAITING_SQL, AgentSkill, AuditEvent, Offer, OutboxEvent, Skill, Ticket, User
from contactcenter.domain.enums import OfferStatus, Presence, Priority, TicketType
from contactcenter.domain.lifecycle import ROUTABLE
from contactcenter.events import (
    AgentChanged,
    Event,
    OfferDecided,
    OfferMade,
    RoutingEscalated,
    TicketChanged,
    emit,
    outbox_row,
)
from contactcenter.settings import RoutingSettings
from routing.policy import AgentView, Choice, Need, WaitingTicket, ring_for
from routing.policy import relax as relax_need
from routing.requirements import Requirements

# Core tables: routing's hot statements are plain Core (an ORM-flavoured select costs about twice as much to
# execute, and routing never holds these rows as objects).
TICKETS = cast(Table, Ticket.__table__)
USERS = cast(Table, User.__table__)
OFFERS = cast(Table, Offer.__table__)
AGENT_SKILLS = cast(Table, AgentSkill.__table__)
SKILLS = cast(Table, Skill.__table__)
ROUTING_LOCK = 7_465_821  # any constant: the advisory lock id all routers share
_ROUTABLE = [s.value for s in ROUTABLE]


def take_lock(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ROUTING_LOCK})


# --- agents ------------------------------------------------------------------------------------

_IDS: BindParameter[list[int]] = bindparam("ids", expanding=True)
_AGENT_FIELDS = ("id", "presence", "languages", "capacity", "created_at", "last_assigned_at", "presence_changed_at",
                 "last_offered_at", "wrap_up_until")
_USERS = select(*(USERS.c[name] for name in _AGENT_FIELDS)).where(USERS.c.is_active)
_SOME_USERS = _USERS.where(USERS.c.id.in_(_IDS))
_SKILLS = (select(AGENT_SKILLS.c.user_id, SKILLS.c.name, AGENT_SKILLS.c.level)
           .join(SKILLS, SKILLS.c.id == AGENT_SKILLS.c.skill_id).where(AGENT_SKILLS.c.user_id.in_(_IDS)))


def _loads(assignee: Any, offered_to: Any) -> CompoundSelect[Any]:
    """Per agent and channel: active tickets assigned to them, and tickets offered to them."""
    return union_all(
        select(TICKETS.c.assignee_id, TICKETS.c.channel, func.count())
        .where(assignee, TICKETS.c.status.in_(_ROUTABLE)).group_by(TICKETS.c.assignee_id, TICKETS.c.channel),
        select(OFFERS.c.user_id, TICKETS.c.channel, func.count()).join(TICKETS, TICKETS.c.id == OFFERS.c.ticket_id)
        .where(offered_to, OFFERS.c.status == OfferStatus.PENDING).group_by(OFFERS.c.user_id, TICKETS.c.channel))


_LOADS = _loads(TICKETS.c.assignee_id.in_(_IDS), OFFERS.c.user_id.in_(_IDS))
# One agent, checked before every offer: plain parameters compile and bind faster than an expanding IN list.
_ONE_USER = _USERS.where(USERS.c.id == bindparam("id"))
_ONE_LOAD = _loads(TICKETS.c.assignee_id == bindparam("id"), OFFERS.c.user_id == bindparam("id"))


def agent_views(session: Session, settings: RoutingSettings, user_ids: Sequence[int] | None = None) -> list[AgentView]:
    """Agents as routing sees them (all active staff when ``user_ids`` is None), loads included."""
    rows = session.execute(_USERS if user_ids is None else _SOME_USERS, {"ids": list(user_ids or ())}).all()
    ids = [r.id for r in rows]
    if not ids:
        return []
    skills: dict[int, dict[str, int]] = defaultdict(dict)
    for user_id, name, level in session.execute(_SKILLS, {"ids": ids}):
        skills[user_id][name] = level
    loads = agent_loads(session, settings, ids)
    views = []
    for r in rows:
        idle_since = max(t for t in (r.created_at, r.last_assigned_at, r.presence_changed_at) if t is not None)
        views.append(AgentView(
            id=r.id, presence=Presence(r.presence), skills=skills.get(r.id, {}),
            languages=frozenset(str(x) for x in r.languages or ()),
            capacity={**settings.capacity, **{str(k): int(v) for k, v in (r.capacity or {}).items()}},
            load=loads.get(r.id, {}), idle_since=idle_since, last_offered_at=r.last_offered_at,
            wrap_up_until=r.wrap_up_until))
    return views


def agent_state(session: Session, settings: RoutingSettings, known: AgentView) -> AgentView | None:
    """``known`` with presence, languages, capacity, wrap-up and load read again (skills kept: they change
    rarely and every change reaches the board as an event). None when the user is gone or deactivated."""
    conn = session.connection()  # Core statements on the connection: less overhead than Session.execute
    row = conn.execute(_ONE_USER, {"id": known.id}).first()
    if row is None:
        return None
    load: dict[str, int] = {}
    for _, channel, count in conn.execute(_ONE_LOAD, {"id": known.id}):
        bucket = settings.channel_class(str(channel))
        load[bucket] = load.get(bucket, 0) + int(count)
    return replace(known, presence=Presence(row.presence), languages=frozenset(str(x) for x in row.languages or ()),
                   capacity={**settings.capacity, **{str(k): int(v) for k, v in (row.capacity or {}).items()}},
                   load=load,
                   last_offered_at=row.last_offered_at, wrap_up_until=row.wrap_up_until)


def agent_loads(session: Session, settings: RoutingSettings, ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """Per agent and channel class: active tickets assigned to them plus tickets offered to them."""
    loads: dict[int, dict[str, int]] = defaultdict(dict)
    rows: list[Any] = list(session.execute(_LOADS, {"ids": list(ids)}).all())
    for row in rows:
        user_id, bucket, count = int(row[0]), settings.channel_class(str(row[1])), int(row[2])
        loads[user_id][bucket] = loads[user_id].get(bucket, 0) + count
    return loads


# --- tickets -----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class TicketFacts:
    """What the router reads of a ticket."""

    id: int
    status: str
    priority: str
    type: str
    channel: str
    language: str
    queue: str | None
    requirements: dict[str, Any]
    assignee_id: int | None
    merged_into_id: int | None
    created_at: datetime
    waiting_since: datetime | None
    ring: int
    next_ring_at: datetime | None
    sla_due_at: datetime | None  # the earliest breach of its running SLA clocks (kept by the SLA engine)

    @property
    def waiting(self) -> bool:
        return self.assignee_id is None and self.status in _ROUTABLE and self.merged_into_id is None

    def as_waiting(self) -> WaitingTicket:
        return WaitingTicket(self.id, Priority(self.priority), self.waiting_since or self.created_at, self.sla_due_at)


_FACTS = tuple(TICKETS.c[field.name] for field in dataclasses.fields(TicketFacts))


_TICKETS = select(*_FACTS).where(TICKETS.c.id.in_(_IDS))
_OPEN_OR_DECLINED = select(OFFERS.c.ticket_id, OFFERS.c.user_id, OFFERS.c.status, OFFERS.c.ring).where(
    OFFERS.c.ticket_id.in_(bindparam("tickets", expanding=True)),
    OFFERS.c.status.in_([OfferStatus.PENDING, OfferStatus.REJECTED, OfferStatus.EXPIRED]))


def ticket_facts(session: Session, ticket_ids: Iterable[int]) -> dict[int, TicketFacts]:
    ids = list(ticket_ids)
    if not ids:
        return {}
    return {r.id: TicketFacts(*r) for r in session.connection().execute(_TICKETS, {"ids": ids})}


def base_need(ticket: TicketFacts, settings: RoutingSettings) -> Need:
    """The ticket's requirements as a Need; a queue set by hand goes first."""
    needs = Requirements.from_dict(ticket.requirements)
    skills = dict(needs.skills)
    if ticket.queue and not needs.overridden and next(iter(skills), None) != ticket.queue:
        skills = {ticket.queue: skills.pop(ticket.queue, 1), **skills}
    if ticket.type == TicketType.COMPLAINT and not needs.overridden and "complaints" not in skills:
        skills = {"complaints": 1, **skills}  # made a complaint after it arrived: the complaints team first
    return Need(skills=skills, language=ticket.language, channel_class=settings.channel_class(ticket.channel),
                optional=frozenset(needs.optional))


def need_at(ticket: TicketFacts, settings: RoutingSettings, ring: int) -> Need:
    return relax_need(base_need(ticket, settings), settings.steps(ticket.queue), ring)


@dataclass(frozen=True, slots=True)
class OfferHistory:
    pending: bool  # offered to someone now
    declined: frozenset[tuple[int, int]]  # (agent, ring) of every rejected or expired offer

    def declined_by(self, ring: int) -> frozenset[int]:
        """Agents who rejected or let expire an offer of the ticket in this ring or later (not asked again)."""
        return frozenset(agent for agent, at in self.declined if at >= ring)


def offer_history(session: Session, ticket_id: int) -> OfferHistory:
    return offer_histories(session, [ticket_id])[ticket_id]


def offer_histories(session: Session, ticket_ids: Sequence[int]) -> dict[int, OfferHistory]:
    """The open and declined offers of each ticket (an empty history for a ticket without any)."""
    rows: dict[int, list[Any]] = {ticket_id: [] for ticket_id in ticket_ids}
    if ticket_ids:
        for row in session.connection().execute(_OPEN_OR_DECLINED, {"tickets": list(ticket_ids)}):
            rows[row.ticket_id].append(row)
    return {ticket_id: OfferHistory(any(r.status == OfferStatus.PENDING for r in found),
                                    frozenset((r.user_id, r.ring) for r in found if r.status != OfferStatus.PENDING))
            for ticket_id, found in rows.items()}


def waiting_candidates(session: Session, queues: Sequence[str], channels: Sequence[str] | None,
                       per_queue: int) -> list[TicketFacts]:
    """The longest-waiting tickets and those whose SLA breach comes first, of every priority in each of these
    queues and in no queue, not offered to anyone: two index ranges per queue and priority (an IN list made
    SQLite scan all waiting tickets). The most urgent ticket by ``policy.queue_key`` is among them."""
    params: dict[str, Any] = {f"q{i}": queue for i, queue in enumerate(queues)}
    params.update({"limit": per_queue, "channels": list(channels or ())})
    statement = _candidates_statement(len(queues), channels is not None)
    found = {r.id: TicketFacts(*r) for r in session.execute(statement, params).all()}
    return list(found.values())


@functools.lru_cache(maxsize=64)
def _candidates_statement(queues: int, by_channel: bool) -> CompoundSelect[Any]:
    not_offered = ~exists().where(and_(OFFERS.c.ticket_id == TICKETS.c.id, OFFERS.c.status == OfferStatus.PENDING))
    parts = []
    for priority in Priority:
        for in_queue in [TICKETS.c.routing_queue == bindparam(f"q{i}") for i in range(queues)] + \
                [TICKETS.c.routing_queue.is_(None)]:
            for order in (TICKETS.c.waiting_since, TICKETS.c.sla_due_at):
                query = (select(*_FACTS).where(text(WAITING_SQL), in_queue, TICKETS.c.priority == priority.value,
                                               TICKETS.c.waiting_since.is_not(None), order.is_not(None), not_offered)
                         .order_by(order).limit(bindparam("limit")))
                if by_channel:
                    query = query.where(TICKETS.c.channel.in_(bindparam("channels", expanding=True)))
                parts.append(query.subquery().select())
    return union_all(*parts)


# --- writes --------------------------------------------------------------------------------------

_QUEUE_NEW = (update(TICKETS).where(TICKETS.c.id.in_(_IDS), TICKETS.c.waiting_since.is_(None))
              .values(waiting_since=TICKETS.c.created_at))


def queue_new(session: Session, ticket_ids: Sequence[int]) -> None:
    """Put new tickets in the queue (intake leaves ``waiting_since`` empty): until the router has read a
    ticket's creation, with the subscribers before it done (an automatic answer may hold it), no agent
    who becomes free can be given it."""
    if ticket_ids:
        session.connection().execute(_QUEUE_NEW, {"ids": list(ticket_ids)})


def queue_stragglers(session: Session, created_before: datetime) -> int:
    """Queue the waiting tickets whose creation the router never read (made while routing was off)."""
    result = session.execute(update(TICKETS).where(text(WAITING_SQL), TICKETS.c.waiting_since.is_(None),
                                                   TICKETS.c.created_at < created_before)
                             .values(waiting_since=TICKETS.c.created_at))
    return int(getattr(result, "rowcount", 0) or 0)


_OFFERED = update(USERS).where(USERS.c.id == bindparam("user")).values(last_offered_at=bindparam("now"))
_ASSIGNED = update(TICKETS).where(TICKETS.c.id == bindparam("ticket")).values(
    assignee_id=bindparam("user"), next_ring_at=None, updated_at=bindparam("now"))
_HAS_WORK = update(USERS).where(USERS.c.id == bindparam("user")).values(last_assigned_at=bindparam("now"),
                                                                          missed_offers=0)


def write_offer(session: Session, ticket: TicketFacts, agent: AgentView, choice: Choice, need: Need, now: datetime,
                settings: RoutingSettings) -> int:
    """Offer the ticket to the agent (or assign it at once when the channel's timeout is 0) and say why (``need``:
    the ticket's needs in its current ring, which the agent was chosen for); return the offer's id. Core
    statements only: this runs for every offer."""
    timeout = settings.offer_timeout.get(settings.channel_class(ticket.channel), 0)
    reason = {"ring": ticket.ring, **choice.explain(), "need": _need_dict(need)}
    pending = timeout > 0
    prefetch_ids(session, [Offer, AuditEvent, OutboxEvent])  # SQLite: the next ids of all three in one query
    [offer_id] = insert_rows(session, Offer, [{
        "ticket_id": ticket.id, "user_id": agent.id, "ring": ticket.ring, "reason": reason, "created_at": now,
        "status": OfferStatus.PENDING if pending else OfferStatus.ACCEPTED,
        "expires_at": now + timedelta(seconds=timeout) if pending else None, "decided_at": None if pending else now}])
    if pending:
        session.connection().execute(_OFFERED, {"user": agent.id, "now": now})
        action: str = "ticket.offered"
        event: Event = OfferMade(offer_id=offer_id, ticket_id=ticket.id, user_id=agent.id)
    else:
        assign(session, ticket.id, agent.id, now)
        action, event = "ticket.assigned", TicketChanged(ticket_id=ticket.id, fields=("assignee_id",))
    insert_rows(session, AuditEvent, [audit_row(SYSTEM, action, "ticket", ticket.id, {"to": agent.id, **reason},
                                                ticket_id=ticket.id, at=now)])
    insert_rows(session, OutboxEvent, [outbox_row(event, now)])
    note_events(session)
    return offer_id


def _need_dict(need: Need) -> dict[str, Any]:
    return {"skills": dict(need.skills), "language": need.language, "channel_class": need.channel_class}


def assign(session: Session, ticket_id: int, user_id: int, now: datetime) -> None:
    conn = session.connection()
    conn.execute(_ASSIGNED, {"ticket": ticket_id, "user": user_id, "now": now})
    conn.execute(_HAS_WORK, {"user": user_id, "now": now})


def schedule_next_ring(session: Session, ticket: TicketFacts, settings: RoutingSettings) -> None:
    """Nobody fits now: remember when the next overflow step applies (None after the last)."""
    steps = settings.steps(ticket.queue)
    since = ticket.waiting_since or ticket.created_at
    due = since + timedelta(seconds=steps[ticket.ring].after) if ticket.ring < len(steps) else None
    if due != ticket.next_ring_at:
        session.execute(update(TICKETS).where(TICKETS.c.id == ticket.id).values(next_ring_at=due))


def advance_ring(session: Session, ticket: TicketFacts, settings: RoutingSettings, now: datetime) -> TicketFacts:
    """Move a waiting ticket to the ring its wait has reached; alert the supervisors."""
    steps = settings.steps(ticket.queue)
    since = ticket.waiting_since or ticket.created_at
    ring = max(ticket.ring, ring_for((now - since).total_seconds(), steps))
    need = need_at(ticket, settings, ring)
    queue = next(iter(need.skills), None)
    session.execute(update(TICKETS).where(TICKETS.c.id == ticket.id).values(ring=ring, routing_queue=queue,
                                                                        next_ring_at=None))
    if ring != ticket.ring:
        record(session, SYSTEM, "ticket.escalated", "ticket", ticket.id,
               {"ring": [ticket.ring, ring], "need": _need_dict(need)}, ticket_id=ticket.id)
        emit(session, RoutingEscalated(ticket_id=ticket.id, ring=ring))
    return replace(ticket, ring=ring, next_ring_at=None)


def decide_offer(session: Session, offer: Offer, status: OfferStatus, now: datetime) -> None:
    offer.status, offer.decided_at = status, now
    emit(session, OfferDecided(offer_id=offer.id, ticket_id=offer.ticket_id, user_id=offer.user_id,
                               status=status.value))


def count_missed(session: Session, user_id: int, settings: RoutingSettings, now: datetime) -> bool:
    """One more offer let expire; set the agent away after too many in a row. True when set away."""
    user = session.get(User, user_id)
    if user is None:
        return False
    user.missed_offers += 1
    if user.missed_offers < settings.missed_offers_to_away or user.presence != Presence.AVAILABLE:
        return False
    record(session, SYSTEM, "agent.presence", "user", user.id,
           {"presence": [user.presence, Presence.AWAY.value], "why": f"{user.missed_offers} offers missed"})
    user.presence, user.presence_changed_at, user.missed_offers = Presence.AWAY, now, 0
    emit(session, AgentChanged(user_id=user.id, fields=("presence",)))
    return True


def release_live_work(session: Session, user_id: int, settings: RoutingSettings, now: datetime) -> list[int]:
    """An agent went offline: their chats and calls go back to the queue, their offers are cancelled."""
    live = [channel for channel, bucket in settings.channel_classes.items() if bucket in ("chat", "voice")]
    tickets = list(session.scalars(select(Ticket.id).where(
        Ticket.assignee_id == user_id, Ticket.status.in_(_ROUTABLE), Ticket.channel.in_(live))))
    if tickets:
        session.execute(update(TICKETS).where(TICKETS.c.id.in_(tickets)).values(
            assignee_id=None, waiting_since=now, ring=0, next_ring_at=None, routing_queue=TICKETS.c.queue,
            updated_at=now))
        for ticket_id in tickets:
            record(session, SYSTEM, "ticket.updated", "ticket", ticket_id,
                   {"assignee_id": [user_id, None], "why": "agent offline"}, ticket_id=ticket_id)
            emit(session, TicketChanged(ticket_id=ticket_id, fields=("assignee_id",)))
    offers = list(session.scalars(select(Offer).where(Offer.user_id == user_id,
                                                      Offer.status == OfferStatus.PENDING)))
    for offer in offers:
        decide_offer(session, offer, OfferStatus.CANCELLED, now)
    return tickets + [o.ticket_id for o in offers]
