"""The SLA service: recomputes a ticket's clocks when its events arrive, and the sweeper that fires due timers.

- ``on_events`` (an outbox-relay subscriber) recomputes every clock of the tickets named by a batch of events from
  their whole recorded history and the policy chosen now, and writes the timers (due times of warnings and
  breaches) in one transaction. Idempotent: the same history gives the same rows.
- ``tick(now)`` fires the pending timers due by ``now``: a conditional UPDATE (``state = 'pending'``) claims each one,
  so that with several processes each fires exactly once; firing writes an audit row and an outbox event and runs
  the policy's escalation steps for that point, in the claiming transaction.
- The background task sleeps until the earliest pending due time (``SELECT min(due_at)`` through the index), at
  most ``max_sleep_seconds``, and is woken early when this process writes an earlier due time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from contactcenter.actions.audit import SYSTEM, record
from contactcenter.actions.channel_events import is_opted_out
from contactcenter.actions.notifications import do_notify, supervisors
from contactcenter.actions.sla import do_send_customer_update
from contactcenter.actions.tickets import do_update_ticket
from contactcenter.db.engine import Database, after_commit
from contactcenter.db.models import ContactIdentity, Message, SlaPolicy, SlaTimer, Ticket
from contactcenter.db.types import utcnow
from contactcenter.domain.enums import AuthorKind, Direction, IdentityKind, Priority, TicketType
from contactcenter.domain.lifecycle import ACTIVE
from contactcenter.events import (
    Event,
    MessageReceived,
    ReplyQueued,
    ServiceContractChanged,
    SlaBreached,
    SlaEscalated,
    SlaPoliciesChanged,
    SlaWarning,
    TicketChanged,
    TicketCreated,
    TicketsMerged,
    emit,
)
from contactcenter.ops.logs import log_failure
from contactcenter.relay import Relay
from contactcenter.settings import SlaSettings
from contactcenter.sla import store
from contactcenter.sla.clocks import Clock, ClockState, Happening, compute_clocks
from contactcenter.sla.customer import UpdateFacts, skip_reason
from contactcenter.sla.policies import (
    COMPLAINT_BREACH_STEPS,
    Choice,
    Facts,
    Policy,
    PolicyError,
    Step,
    choose,
    parse_policy,
)

log = logging.getLogger(__name__)
IDLE_RETRY = 0.05  # seconds before looking again at due timers that another sweeper holds
TOPICS = (TicketCreated.topic, MessageReceived.topic, TicketChanged.topic, ReplyQueued.topic, TicketsMerged.topic,
          SlaPoliciesChanged.topic, ServiceContractChanged.topic)
CHUNK = 500  # tickets recomputed per transaction after a policy change


@dataclass(frozen=True, slots=True)
class TicketSla:
    """A ticket's SLA as of a moment: the policy chosen and every clock."""

    choice: Choice | None
    clocks: tuple[Clock, ...]
    listed_due: datetime | None = None  # the breach time the ticket row lists (tickets.sla_due_at)


class SlaService:
    def __init__(self, db: Database, settings: SlaSettings) -> None:
        self.db = db
        self.settings = settings
        self._parsed: dict[int, tuple[str, Policy | None]] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._planned: datetime | None = None  # when the sleeping sweeper looks next (None: it is awake)
        self.due_listeners: list[Callable[[datetime], None]] = []  # told of due times soon (other processes)

    # --- wiring ------------------------------------------------------------------------------

    def subscribe(self, relay: Relay) -> None:
        relay.subscribe_batch(TOPICS, "sla", self.on_events)

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.get_running_loop().create_task(self._sweeper(), name="sla-sweeper")

    async def stop(self) -> None:
        # The flag ends the loop even if the cancellation is lost (it can be, in Python 3.11, when the wake-up
        # event is set at the same moment: the relay keeps delivering while the application shuts down).
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    # --- recomputing -------------------------------------------------------------------------

    async def on_events(self, events: list[Event]) -> None:
        if any(isinstance(e, SlaPoliciesChanged) for e in events):
            await self.recompute_active()
        else:
            organizations = {e.organization_id for e in events if isinstance(e, ServiceContractChanged)}
            if organizations:
                await self.recompute_active(organizations)
        ids: list[int] = []
        for event in events:
            if getattr(event, "clocks_started", False):  # intake started this new ticket's clocks (start_clocks)
                continue
            if isinstance(event, TicketsMerged):
                ids += [event.source_id, event.target_id]
            else:
                ticket_id = getattr(event, "ticket_id", None)
                if isinstance(ticket_id, int):
                    ids.append(ticket_id)
        if ids:
            await self.recompute(ids)

    async def recompute(self, ticket_ids: Sequence[int], now: datetime | None = None) -> None:
        """Recompute and store the timers of these tickets (one transaction)."""
        at = now or utcnow()
        _, earliest = await self.db.run_write(lambda session: self._recompute(session, ticket_ids, at))
        self.written(earliest)

    def written(self, earliest: datetime | None) -> None:
        """Tell the sweepers of a committed due time (``None``: nothing new is due)."""
        if earliest is None:
            return
        self.wake_for(earliest)
        if earliest < utcnow() + timedelta(seconds=self.settings.max_sleep_seconds):
            for listener in self.due_listeners:  # other sweepers may sleep past it
                listener(earliest)

    def wake_for(self, due: datetime) -> None:
        """Wake the sweeper if it sleeps past ``due`` (not after every recompute: an idle wake-up costs a
        round of queries on the database that intake writes to)."""
        if self._planned is None or due < self._planned:
            self._wake.set()

    async def recompute_active(self, organization_ids: set[int] | None = None) -> int:
        """Recompute every active ticket (after a policy change) or those of some organizations (after a change of
        their contracts), a chunk per transaction; return how many."""
        query = select(Ticket.id).where(Ticket.status.in_([s.value for s in ACTIVE]), Ticket.merged_into_id.is_(None))
        if organization_ids is not None:
            query = query.where(Ticket.organization_id.in_(organization_ids))
        async with self.db.read() as session:
            ids = list((await session.scalars(query.order_by(Ticket.id))).all())
        for start in range(0, len(ids), CHUNK):
            await self.recompute(ids[start:start + CHUNK])
        return len(ids)

    def _recompute(self, session: Session, ticket_ids: Sequence[int],
                   now: datetime) -> tuple[dict[int, TicketSla], datetime | None]:
        """Recompute and save; return the results and the earliest due time written or moved (None: nothing new
        is due)."""
        store.lock_tickets(session, ticket_ids)
        policies = self.policies(session)
        results = self._evaluate(session, ticket_ids, policies, now)
        earliest = store.save(session, {ticket_id: (sla.choice, sla.clocks) for ticket_id, sla in results.items()},
                              now)
        store.list_breach_due(session, {ticket_id: due for ticket_id, sla in results.items()
                                        if (due := store.breach_due(sla.clocks)) != sla.listed_due})
        return results, earliest

    def _evaluate(self, session: Session, ticket_ids: Sequence[int], policies: Sequence[Policy],
                  now: datetime) -> dict[int, TicketSla]:
        return {ticket_id: evaluate(policies, inputs.facts, inputs.history, now, inputs.sla_due_at)
                for ticket_id, inputs in store.ticket_inputs(session, ticket_ids).items()}

    def start_clocks(self, policies: Sequence[Policy], facts: Facts,
                     received: Sequence[datetime], now: datetime) -> TicketSla:
        """The clocks of a ticket that intake creates ``now`` with the customer's messages ``received`` (no
        query: intake knows everything the recompute would read back). Intake writes them with ``save_started``
        in its own transaction and flags its events ``clocks_started``, so that ``on_events`` skips them."""
        return evaluate(policies, facts, store.new_ticket_history(now, received), now)

    def save_started(self, session: Session, started: Mapping[int, TicketSla], now: datetime) -> None:
        """Write the timers and figures of tickets created in this transaction (``start_clocks``); the sweeper
        hears of the earliest due time once the transaction commits."""
        earliest = store.save(session, {ticket_id: (sla.choice, sla.clocks) for ticket_id, sla in started.items()},
                              now, new_tickets=True)
        if earliest is not None:
            after_commit(session, lambda: self.written(earliest))

    def ticket_sla(self, session: Session, ticket_id: int, now: datetime) -> TicketSla | None:
        """A ticket's SLA computed now (for the API); None when there is no such ticket."""
        return self._evaluate(session, [ticket_id], self.policies(session), now).get(ticket_id)

    def policies(self, session: Session) -> list[Policy]:
        """The policies, parsed once per version of their row; a policy that cannot be read is left out (logged)."""
        out: list[Policy] = []
        seen: set[int] = set()
        for row in store.policy_rows(session):
            seen.add(row.id)
            policy = self._parse(row)
            if policy is not None:
                out.append(policy)
        for stale in set(self._parsed) - seen:
            del self._parsed[stale]
        return out

    def _parse(self, row: SlaPolicy) -> Policy | None:
        key = json.dumps([row.name, row.position, row.conditions, row.targets, row.calendar, row.escalation],
                         sort_keys=True, default=str)
        cached = self._parsed.get(row.id)
        if cached is not None and cached[0] == key:
            return cached[1]
        base = self.settings.calendar_path()
        try:
            policy: Policy | None = parse_policy(row.id, row.name, row.position, row.conditions, row.targets,
                                                 row.calendar, row.escalation,
                                                 lambda path: (base / path).read_bytes())
        except PolicyError as exc:
            log.error("SLA policy %s is ignored: %s", row.name, exc)
            policy = None
        self._parsed[row.id] = (key, policy)
        return policy

    # --- the sweeper -------------------------------------------------------------------------

    async def next_due(self) -> datetime | None:
        async with self.db.read() as session:
            return await session.run_sync(store.next_due)

    async def tick(self, now: datetime | None = None) -> int:
        """Fire every pending timer due by ``now``; return how many this process fired."""
        at = now or utcnow()
        fired = 0
        due = await self.next_due()
        if due is None or due > at:  # nothing due: no write transaction
            return 0
        while True:
            async with self.db.write() as session:
                batch, claimed = await self._fire_batch(session, at)
            fired += claimed
            if batch < self.settings.batch_size:
                return fired

    async def _fire_batch(self, session: AsyncSession, now: datetime) -> tuple[int, int]:
        limit = self.settings.batch_size
        ids = await session.run_sync(lambda s: store.due_tickets(s, now, limit))
        if not ids:
            return 0, 0
        # Recompute those tickets first, in this transaction and under their SLA locks: a timer whose clock
        # stopped or moved since it was written (an event the relay has not delivered yet) is cancelled or moved
        # instead of firing wrongly. Then claim what is still due.
        results, _ = await session.run_sync(lambda s: self._recompute(s, ids, now))
        timers = await session.run_sync(lambda s: store.due_timers(s, now, ids))
        policies = {p.id: p for p in await session.run_sync(self.policies)}
        mine = await session.run_sync(lambda s: store.claim(s, [t.id for t in timers], now))
        if mine:  # their tickets in one query (``_fire`` then finds them in the session)
            (await session.scalars(select(Ticket).where(
                Ticket.id.in_({t.ticket_id for t in timers if t.id in mine})))).all()
        for timer in timers:
            if timer.id in mine:
                sla = results.get(timer.ticket_id)
                clock = next((c for c in sla.clocks if c.metric.value == timer.metric and c.cycle == timer.cycle),
                             None) if sla else None
                await self._fire(session, timer, policies.get(timer.policy_id or 0), clock)
        return max(len(timers), len(ids)), len(mine)

    async def _fire(self, session: AsyncSession, timer: SlaTimer, policy: Policy | None, clock: Clock | None) -> None:
        ticket = await session.get(Ticket, timer.ticket_id)
        if ticket is None:
            return
        due = timer.due_at.isoformat()
        details = {"metric": timer.metric, "cycle": timer.cycle, "point": timer.point, "due_at": due,
                   "policy": policy.name if policy else None}
        if timer.point == "breach":
            record(session, SYSTEM, "sla.breached", "ticket", ticket.id, details, ticket_id=ticket.id)
            emit(session, SlaBreached(ticket_id=ticket.id, metric=timer.metric, cycle=timer.cycle, due_at=due))
        else:
            record(session, SYSTEM, "sla.warning", "ticket", ticket.id, details, ticket_id=ticket.id)
            emit(session, SlaWarning(ticket_id=ticket.id, metric=timer.metric, cycle=timer.cycle,
                                     point=timer.point, due_at=due))
        if ticket.merged_into_id is not None:
            return
        for step in ladder(policy, ticket.type):
            if step.at == timer.point and (not step.metrics or timer.metric in step.metrics):
                await self._escalate(session, ticket, timer, step, clock)

    async def _escalate(self, session: AsyncSession, ticket: Ticket, timer: SlaTimer, step: Step,
                        clock: Clock | None) -> None:
        """One rung of the ladder, recorded; runs once because its timer fires once (and notifications are also
        unique per user and timer)."""
        changes: dict[str, object] = {"action": step.action, "metric": timer.metric, "point": timer.point}
        user_id: int | None = None
        if step.action == "raise_priority":
            current = Priority(ticket.priority)
            order = list(Priority)
            raised = order[min(order.index(current) + 1, len(order) - 1)]
            changes["priority"] = [current.value, raised.value]
            if raised != current:
                await do_update_ticket(session, ticket.id, {"priority": raised}, actor=SYSTEM)
        elif step.action == "reroute":
            changes["queue"] = [ticket.queue, step.queue]
            if step.queue != ticket.queue:
                await do_update_ticket(session, ticket.id, {"queue": step.queue}, actor=SYSTEM)
        elif step.action in ("notify_assignee", "notify_supervisor"):
            user_id = ticket.assignee_id if step.action == "notify_assignee" else None
            changes.update(await self._notify(session, ticket, timer, step))
        elif step.action == "notify_customer":
            changes.update(await self._update_customer(session, ticket, timer, clock))
        record(session, SYSTEM, "sla.escalated", "ticket", ticket.id, changes, ticket_id=ticket.id)
        emit(session, SlaEscalated(ticket_id=ticket.id, metric=timer.metric, point=timer.point, action=step.action,
                                   user_id=user_id))

    async def _notify(self, session: AsyncSession, ticket: Ticket, timer: SlaTimer, step: Step) -> dict[str, object]:
        """Durable notifications: to the assignee (an unassigned ticket: to the supervisors instead) or to every
        active supervisor and admin. One per user and timer: ``UNIQUE(user_id, key)`` with key ``sla:<timer id>``."""
        out: dict[str, object] = {}
        if step.action == "notify_assignee" and ticket.assignee_id is not None:
            users = [ticket.assignee_id]
        else:
            users = await supervisors(session)
            if step.action == "notify_assignee":
                out["unassigned"] = True  # nobody to tell but the supervisors
        kind = "sla.breach" if timer.point == "breach" else "sla.warning"
        written = await do_notify(session, users, kind=kind, text=notification_text(ticket, timer),
                                  ticket_id=ticket.id, key=f"sla:{timer.id}", actor=SYSTEM)
        out["notified"] = sorted(users)
        out["notifications"] = written
        return out

    async def _update_customer(self, session: AsyncSession, ticket: Ticket, timer: SlaTimer,
                               clock: Clock | None) -> dict[str, object]:
        """The customer update of a notify_customer step, or why it was not sent."""
        facts = await customer_facts(session, ticket, clock)
        reason = skip_reason(facts, self.settings.customer_update_channels)
        if reason is not None:
            return {"customer_update": "skipped", "reason": reason, "channel": ticket.channel}
        text = self.settings.customer_update(ticket.language, ticket.id)
        message = await do_send_customer_update(
            session, ticket, text, why={"metric": timer.metric, "cycle": timer.cycle, "point": timer.point},
            actor=SYSTEM)
        return {"customer_update": "queued", "message_id": message.id, "channel": ticket.channel}

    async def _sweeper(self) -> None:
        while not self._stopping:
            self._wake.clear()
            self._planned = None
            delay = self.settings.max_sleep_seconds
            try:
                fired = await self.tick()
                due = await self.next_due()
                if due is not None:
                    delay = min(delay, max(0.0, (due - utcnow()).total_seconds()))
                    if delay == 0 and not fired:  # due but held by another process: do not spin
                        delay = IDLE_RETRY
            except Exception:
                log_failure(log, "SLA sweeper round failed; retrying")
                delay = min(delay, 1.0)
            if self._stopping:
                return
            self._planned = utcnow() + timedelta(seconds=delay)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay + 0.001):
                    await self._wake.wait()


def evaluate(policies: Sequence[Policy], facts: Facts, history: Sequence[Happening], now: datetime,
             listed_due: datetime | None = None) -> TicketSla:
    """A ticket's SLA as of ``now``: the policy its facts choose and every clock over its history."""
    choice = choose(policies, facts, now.date())
    if choice is None:
        return TicketSla(None, (), listed_due)
    return TicketSla(choice, tuple(compute_clocks(history, choice.policy.targets, choice.calendar, now)), listed_due)


def ladder(policy: Policy | None, ticket_type: str) -> tuple[Step, ...]:
    """The steps to run: the policy's ladder; a complaint escalates on breach even without a policy's steps."""
    if policy is not None:
        return policy.ladder(ticket_type)
    if ticket_type == TicketType.COMPLAINT:
        return tuple(Step("breach", action) for action in COMPLAINT_BREACH_STEPS)
    return ()


def notification_text(ticket: Ticket, timer: SlaTimer) -> str:
    """What the notification says (staff only: no customer sees it)."""
    what = {"first_response": "first response", "next_response": "next response",
            "resolution": "resolution"}.get(timer.metric, timer.metric)
    due = timer.due_at.strftime("%Y-%m-%d %H:%M UTC")
    if timer.point == "breach":
        head = f"SLA breached: {what} was due {due}"
    else:
        head = f"SLA warning ({timer.point.removeprefix('warn-')}): {what} due {due}"
    kind = "complaint " if ticket.type == TicketType.COMPLAINT else ""
    return f"{head} on {kind}ticket #{ticket.id} ({ticket.priority}): {ticket.subject}"[:500]


async def customer_facts(session: AsyncSession, ticket: Ticket, clock: Clock | None) -> UpdateFacts:
    """What ``skip_reason`` needs to know about a ticket (three small queries)."""
    wrote = await session.scalar(select(Message.id).where(
        Message.ticket_id == ticket.id, Message.direction == Direction.INBOUND,
        Message.author_kind == AuthorKind.CONTACT).limit(1)) is not None
    identities = (await session.execute(select(ContactIdentity.kind, ContactIdentity.value).where(
        ContactIdentity.contact_id == ticket.contact_id).order_by(ContactIdentity.id))).all()
    opted_out = False
    if ticket.channel == "sms":
        number = ticket.conversation_key or next((v for k, v in identities if k == IdentityKind.PHONE), None)
        opted_out = number is not None and await is_opted_out(session, "sms", number)
    return UpdateFacts(channel=ticket.channel, status=ticket.status, merged=ticket.merged_into_id is not None,
                       clock_running=clock is not None and clock.state == ClockState.RUNNING, customer_wrote=wrote,
                       address_kinds=frozenset(k for k, _ in identities), opted_out=opted_out)


def lateness(timer: SlaTimer) -> timedelta | None:
    """How late a fired timer fired (for the benchmark)."""
    return None if timer.fired_at is None else timer.fired_at - timer.due_at
