"""The SLA engine's SQL: a ticket's facts and history, policies, timers and per-ticket figures. Synchronous
functions over a SQLAlchemy ``Session`` (run inside ``Database.run_write`` or ``AsyncSession.run_sync``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import BindParameter, Table, bindparam, func, select, text, update
from sqlalchemy.orm import Session

from contactcenter.actions.audit import SYSTEM, record
from contactcenter.db.ids import insert_keyed_rows, insert_rows
from contactcenter.db.models import (
    AuditEvent,
    Message,
    Organization,
    ServiceContract,
    SlaPolicy,
    SlaTicket,
    SlaTimer,
    Ticket,
    TicketTag,
)
from contactcenter.domain.enums import AuthorKind, Direction, TicketStatus
from contactcenter.sla.clocks import Clock, ClockState, Happening, Kind, Metric
from contactcenter.sla.policies import Choice, Contract, Facts

PENDING, FIRED, CANCELLED = "pending", "fired", "cancelled"
STATUSES = frozenset(s.value for s in TicketStatus)
SLA_LOCK_SPACE = 6  # first key of the two-key advisory locks "SLA of ticket <id>" (a key space of its own)


def lock_tickets(session: Session, ticket_ids: Iterable[int]) -> None:
    """On PostgreSQL, hold "SLA of ticket <id>" locks until the transaction ends, taken in id order: two
    processes never rewrite one ticket's timers at once (no duplicate inserts), and never deadlock on them.
    Other writers (intake, actions) do not take these locks. SQLite serializes writers anyway."""
    if session.get_bind().dialect.name != "postgresql":
        return
    ids = sorted(set(ticket_ids))
    if ids:  # one round trip: the function scan yields the (sorted) array's elements in order
        session.execute(text("SELECT count(pg_advisory_xact_lock(:space, t.id)) FROM unnest(CAST(:ids AS integer[])) "
                             "WITH ORDINALITY AS t(id, n)"), {"space": SLA_LOCK_SPACE, "ids": ids})


TERMS = 0  # second key of the lock on "the terms clocks are chosen by" (ticket ids, the other locks, start at 1)


def lock_terms(session: Session, *, shared: bool) -> None:
    """On PostgreSQL, hold the lock on the terms SLA clocks are chosen by (policies, service contracts) until the
    transaction ends: intake starting new tickets' clocks takes it shared, a change of those terms exclusively and
    before any row lock (``actions.sla.lock_terms_to_change``). So a change commits either before intake reads the
    terms, or after its new tickets are committed, where the change's recompute finds them. SQLite serializes
    writers anyway."""
    if session.get_bind().dialect.name == "postgresql":
        how = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
        session.execute(text(f"SELECT {how}(:space, :terms)"), {"space": SLA_LOCK_SPACE, "terms": TERMS})


@dataclass(frozen=True, slots=True)
class TicketInputs:
    """Everything the clocks and the policy choice need about one ticket."""

    id: int
    facts: Facts
    history: tuple[Happening, ...]
    status: TicketStatus
    merged: bool
    sla_due_at: datetime | None  # as the ticket row lists it now (for the routing order)


# Statements of every recompute, built once (docs/architecture.md, "Statements on hot paths").
_IDS: BindParameter[list[int]] = bindparam("ids", expanding=True)
_POLICIES = select(SlaPolicy).order_by(SlaPolicy.position, SlaPolicy.id)
_TIMERS, _FIGURES = cast(Table, SlaTimer.__table__), cast(Table, SlaTicket.__table__)
_TIMERS_OF = select(*(_TIMERS.c[name] for name in ("id", "ticket_id", "metric", "cycle", "point", "due_at", "state",
                                                   "policy_id"))).where(_TIMERS.c.ticket_id.in_(_IDS))
_FIGURES_OF = select(_FIGURES).where(_FIGURES.c.ticket_id.in_(_IDS))
_TIMER_ID = _TIMERS.c.id == bindparam("timer")
_CANCEL = update(_TIMERS).where(_TIMER_ID).values(state=CANCELLED, updated_at=bindparam("now"))
_MOVE = update(_TIMERS).where(_TIMER_ID).values(state=PENDING, due_at=bindparam("due"), policy_id=bindparam("policy"),
                                                updated_at=bindparam("now"))
_FIGURE_COLUMNS = tuple(c.key for c in _FIGURES.c if c.key != "ticket_id")
_REFIGURE = update(_FIGURES).where(_FIGURES.c.ticket_id == bindparam("ticket")).values(
    {name: bindparam(f"new_{name}") for name in _FIGURE_COLUMNS})


def policy_rows(session: Session) -> Sequence[SlaPolicy]:
    return session.scalars(_POLICIES).all()


TICKETS, _M, _A, _TT = (cast(Table, model.__table__) for model in (Ticket, Message, AuditEvent, TicketTag))
_TICKETS = select(*(TICKETS.c[name] for name in ("id", "priority", "type", "channel", "organization_id", "status",
                                            "created_at", "updated_at", "merged_into_id", "sla_due_at"))
                  ).where(TICKETS.c.id.in_(_IDS))
_TAGS = select(_TT.c.ticket_id, _TT.c.tag).where(_TT.c.ticket_id.in_(_IDS))
_MESSAGES = select(_M.c.ticket_id, _M.c.id, _M.c.direction, _M.c.author_kind, _M.c.internal, _M.c.created_at
                   ).where(_M.c.ticket_id.in_(_IDS))
_LIST_DUE = update(TICKETS).where(TICKETS.c.id == bindparam("ticket")).values(sla_due_at=bindparam("due"))
_STATUS_CHANGES = select(_A.c.ticket_id, _A.c.created_at, _A.c.changes).where(_A.c.ticket_id.in_(_IDS),
                                                                             _A.c.action == "ticket.updated")


def ticket_inputs(session: Session, ticket_ids: Iterable[int]) -> dict[int, TicketInputs]:
    """Facts and histories of the tickets (missing ids are left out); a fixed number of queries."""
    ids = sorted(set(ticket_ids))
    if not ids:
        return {}
    conn = session.connection()  # Core statements on the connection: the cheapest way through SQLAlchemy
    tickets = conn.execute(_TICKETS, {"ids": ids}).all()
    tiers, contracts = organization_terms(session, {t.organization_id for t in tickets})
    tags: dict[int, set[str]] = {}
    for tagged, tag in conn.execute(_TAGS, {"ids": ids}):
        tags.setdefault(tagged, set()).add(tag)
    history: dict[int, list[tuple[datetime, int, Happening]]] = {i: [] for i in ids}
    messages = conn.execute(_MESSAGES, {"ids": ids}).all()
    for m in messages:
        if m.direction == Direction.INBOUND and m.author_kind == AuthorKind.CONTACT:
            history[m.ticket_id].append((m.created_at, 1, Happening(m.created_at, Kind.CUSTOMER_MESSAGE)))
        elif m.direction == Direction.OUTBOUND and m.author_kind == AuthorKind.AGENT and not m.internal:
            history[m.ticket_id].append((m.created_at, 1, Happening(m.created_at, Kind.AGENT_REPLY)))
    audits = conn.execute(_STATUS_CHANGES, {"ids": ids}).all()
    for a in audits:
        change = (a.changes or {}).get("status")
        if isinstance(change, list) and len(change) == 2 and change[1] in STATUSES:
            entry = Happening(a.created_at, Kind.STATUS, TicketStatus(change[1]))
            history[a.ticket_id].append((a.created_at, 2, entry))
    out: dict[int, TicketInputs] = {}
    for t in tickets:
        org = t.organization_id
        facts = Facts(t.priority, t.type, t.channel, tiers.get(org, ""), frozenset(tags.get(t.id, ())),
                      tuple(contracts.get(org, ())))
        out[t.id] = TicketInputs(t.id, facts, ticket_history(t.created_at, history[t.id], TicketStatus(t.status),
                                                             t.updated_at),
                                 TicketStatus(t.status), t.merged_into_id is not None, t.sla_due_at)
    return out


def organization_terms(session: Session, org_ids: Iterable[int | None]
                       ) -> tuple[dict[int | None, str], dict[int | None, list[Contract]]]:
    """The tier and the service contracts (newest first) of each organization; no query for none."""
    ids = {org_id for org_id in org_ids if org_id is not None}
    tiers: dict[int | None, str] = {}
    contracts: dict[int | None, list[Contract]] = {}
    if ids:  # most tickets of a busy day come from people of no organization: no queries for them
        tiers = {org_id: tier for org_id, tier in session.execute(
            select(Organization.id, Organization.tier).where(Organization.id.in_(ids)))}
        for c in session.scalars(select(ServiceContract).where(ServiceContract.organization_id.in_(ids))
                                 .order_by(ServiceContract.starts_on.desc(), ServiceContract.id)):
            contracts.setdefault(c.organization_id, []).append(
                Contract(c.name, c.sla_policy_id, c.starts_on, c.ends_on, tuple(str(x) for x in c.channels or ()),
                         c.support_hours or ""))
    return tiers, contracts


def ticket_history(created_at: datetime, entries: list[tuple[datetime, int, Happening]], status: TicketStatus,
                   updated_at: datetime) -> tuple[Happening, ...]:
    """A ticket's history for the clocks: its creation, then ``entries`` (time, order at the same time, what)
    in time order; a status the entries do not end on is taken as of ``updated_at``."""
    happenings = [Happening(created_at, Kind.CREATED)] + [h for _, _, h in sorted(entries, key=lambda e: e[:2])]
    last = next((h.status for h in reversed(happenings) if h.kind == Kind.STATUS), TicketStatus.NEW)
    if last != status:  # a change without a status audit row (e.g. merged away): take it as of its update
        happenings.append(Happening(max(updated_at, happenings[-1].at), Kind.STATUS, status))
    return tuple(happenings)


def new_ticket_history(created_at: datetime, received: Iterable[datetime]) -> tuple[Happening, ...]:
    """The history of a ticket being created by intake with the customer's messages ``received`` at these times
    (what ``ticket_inputs`` reads back once it is committed)."""
    return ticket_history(created_at, [(at, 1, Happening(at, Kind.CUSTOMER_MESSAGE)) for at in received],
                          TicketStatus.NEW, created_at)


def desired_timers(clocks: Sequence[Clock]) -> dict[tuple[str, int, str], datetime | None]:
    """The due time each timer should have (None: cancelled).

    A running clock keeps every point; a clock that is paused, stopped or met keeps only a breach that already
    happened (it is recorded once, even if late); warnings that can no longer come are cancelled.
    """
    out: dict[tuple[str, int, str], datetime | None] = {}
    for clock in clocks:
        for point in clock.points:
            keep = clock.state == ClockState.RUNNING or (point.name == "breach" and clock.breached)
            out[(clock.metric.value, clock.cycle, point.name)] = point.at if keep else None
    return out


def save(session: Session, results: Mapping[int, tuple[Choice | None, Sequence[Clock]]],
         now: datetime, *, new_tickets: bool = False) -> datetime | None:
    """Bring each ticket's timers and figures in line with its clocks (two reads for the whole batch, then Core
    statements: inserts for new rows, one update per kind of change). Fired timers are never touched. Returns the
    earliest due time that was written or moved (None when no pending timer changed).

    ``new_tickets``: tickets created in this transaction, which have no timers or figures to read yet."""
    ids = sorted(results)
    if not ids:
        return None
    connection = session.connection()
    existing: dict[int, dict[tuple[str, int, str], Any]] = {i: {} for i in ids}
    figures_rows: dict[int, Any] = {}
    if not new_tickets:
        for timer in connection.execute(_TIMERS_OF, {"ids": ids}):
            existing[timer.ticket_id][(timer.metric, timer.cycle, timer.point)] = timer
        figures_rows = {r.ticket_id: r for r in connection.execute(_FIGURES_OF, {"ids": ids})}
    writes = _TimerWrites(now)
    new_figures: list[dict[str, Any]] = []
    refigured: list[dict[str, Any]] = []
    changed: list[datetime] = []
    for ticket_id in ids:
        choice, clocks = results[ticket_id]
        changed += writes.add(ticket_id, choice, clocks, existing[ticket_id])
        figures = _figures(choice, clocks, now)
        row = figures_rows.get(ticket_id)
        old_flags = list(row.flags or []) if row is not None else []
        if row is None:
            new_figures.append({"ticket_id": ticket_id, **figures})
        else:
            refigured.append({"ticket": ticket_id, **{f"new_{name}": value for name, value in figures.items()}})
        if figures["flags"] != old_flags:  # e.g. the contract ended: the ticket fell back to the default policy
            record(session, SYSTEM, "sla.flagged", "ticket", ticket_id,
                   {"flags": [old_flags, figures["flags"]], "policy": figures["policy_name"],
                    "contract": figures["contract"]}, ticket_id=ticket_id)
    insert_rows(session, SlaTimer, writes.new)
    for statement, rows in ((_CANCEL, writes.cancelled), (_MOVE, writes.moved), (_REFIGURE, refigured)):
        if rows:
            connection.execute(statement, rows)
    insert_keyed_rows(session, SlaTicket, new_figures)
    session.flush()  # sessions do not autoflush: the sweeper's next query and claim must see the audit rows
    return min(changed, default=None)


class _TimerWrites:
    """The timer rows a recompute inserts, cancels and moves."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.new: list[dict[str, Any]] = []
        self.cancelled: list[dict[str, Any]] = []
        self.moved: list[dict[str, Any]] = []

    def add(self, ticket_id: int, choice: Choice | None, clocks: Sequence[Clock],
            existing: dict[tuple[str, int, str], Any]) -> list[datetime]:
        """Line up one ticket's timers (``existing``: its rows) with its clocks; return the due times of pending
        timers that were added or changed."""
        wanted = desired_timers(clocks)
        policy_id = choice.policy.id if choice else None
        changed: list[datetime] = []
        for key, timer in existing.items():
            if timer.state == FIRED:
                continue
            due = wanted.pop(key, None)
            if due is None:
                if timer.state != CANCELLED:
                    self.cancelled.append({"timer": timer.id, "now": self.now})
            elif timer.state != PENDING or timer.due_at != due or timer.policy_id != policy_id:
                self.moved.append({"timer": timer.id, "due": due, "policy": policy_id, "now": self.now})
                changed.append(due)
        for (metric, cycle, point), due in wanted.items():
            if due is not None and (metric, cycle, point) not in existing:
                self.new.append({"ticket_id": ticket_id, "metric": metric, "cycle": cycle, "point": point,
                                 "due_at": due, "state": PENDING, "policy_id": policy_id, "fired_at": None,
                                 "updated_at": self.now})
                changed.append(due)
        return changed


def _figures(choice: Choice | None, clocks: Sequence[Clock], now: datetime) -> dict[str, Any]:
    out: dict[str, Any] = {
        "policy_id": choice.policy.id if choice else None, "policy_name": choice.policy.name if choice else "",
        "contract": choice.contract if choice else None, "flags": list(choice.flags) if choice else [],
        "breaches": sum(1 for c in clocks if c.breached), "computed_at": now,
        "first_response_business_seconds": None, "first_response_calendar_seconds": None,
        "resolution_business_seconds": None, "resolution_calendar_seconds": None,
    }
    for clock in clocks:
        if clock.metric != Metric.NEXT_RESPONSE and clock.state == ClockState.MET:
            out[f"{clock.metric.value}_business_seconds"] = int(clock.elapsed.total_seconds())
            out[f"{clock.metric.value}_calendar_seconds"] = int(clock.calendar_elapsed.total_seconds())
    return out


def breach_due(clocks: Sequence[Clock]) -> datetime | None:
    """The earliest breach among the running clocks (already passed or to come): what routing orders by."""
    return min((c.due_at for c in clocks if c.state == ClockState.RUNNING and c.due_at is not None), default=None)


def list_breach_due(session: Session, changes: Mapping[int, datetime | None]) -> None:
    """Copy changed breach times to the tickets (``tickets.sla_due_at``, read by the router's index)."""
    if changes:
        session.connection().execute(_LIST_DUE, [{"ticket": ticket, "due": due} for ticket, due in changes.items()])


def next_due(session: Session) -> datetime | None:
    """The earliest pending due time (the index on (state, due_at) answers it)."""
    return session.scalar(select(func.min(SlaTimer.due_at)).where(SlaTimer.state == PENDING))


def due_tickets(session: Session, now: datetime, limit: int) -> list[int]:
    """Tickets of the earliest pending timers due by ``now`` (at most ``limit`` timers read)."""
    rows = session.execute(select(SlaTimer.ticket_id).where(SlaTimer.state == PENDING, SlaTimer.due_at <= now)
                           .order_by(SlaTimer.due_at, SlaTimer.id).limit(limit)).scalars().all()
    return sorted(set(rows))


def due_timers(session: Session, now: datetime, ticket_ids: Sequence[int]) -> Sequence[SlaTimer]:
    """These tickets' pending timers due by ``now``, earliest first. On PostgreSQL rows another sweeper holds
    are skipped."""
    query = (select(SlaTimer).where(SlaTimer.ticket_id.in_(ticket_ids), SlaTimer.state == PENDING,
                                    SlaTimer.due_at <= now).order_by(SlaTimer.due_at, SlaTimer.id))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return session.scalars(query).all()


def claim(session: Session, timer_ids: Sequence[int], now: datetime) -> set[int]:
    """Mark these timers fired unless someone else did; return the ids this transaction changed. The conditional
    UPDATE (``state = 'pending'``) is the lock of record: a row another process fired is not returned."""
    if not timer_ids:
        return set()
    result = session.execute(update(SlaTimer).where(SlaTimer.id.in_(timer_ids), SlaTimer.state == PENDING)
                             .values(state=FIRED, fired_at=now, updated_at=now).returning(SlaTimer.id)
                             .execution_options(synchronize_session=False))
    return set(result.scalars().all())
