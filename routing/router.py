"""The router: reacts to events (new ticket, change, presence, offer decided) and to a timer (offers
that expired, wrap-ups that ended, tickets due for the next overflow step) by offering tickets.

Each reaction is one transaction (``Database.run_write``) under the routing lock: decide with the
policy over the in-memory board, check the chosen agent again in the database, write the offer and
its explanation. Handlers are idempotent, as the outbox relay delivers at least once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from contactcenter.db.engine import Database
from contactcenter.db.models import Offer, Ticket, User
from contactcenter.db.types import utcnow
from contactcenter.domain.enums import OfferStatus, Presence
from contactcenter.events import AgentChanged, Event, OfferDecided, TicketChanged, TicketCreated
from contactcenter.ops.repeat import Repeater
from contactcenter.relay import Relay
from contactcenter.settings import RoutingSettings
from routing import store
from routing.board import AgentBoard
from routing.policy import (
    AgentView,
    Candidate,
    Choice,
    Need,
    Strategy,
    free_capacity,
    is_eligible,
    queue_key,
    ring_for,
)
from routing.store import TICKETS, USERS

log = logging.getLogger(__name__)
REFRESH_EVERY = 30  # timer rounds between full reloads of the board (other processes' changes)
MAX_OFFERS_PER_ROUND = 20
STRAGGLER_AGE = timedelta(minutes=5)  # a new ticket older than this whose creation no router read


class Router:
    def __init__(self, db: Database, settings: RoutingSettings) -> None:
        self.db = db
        self.settings = settings
        self.strategy = Strategy(settings.strategy)
        self.board = AgentBoard()
        self._loaded = False
        self._offered: set[int] = set()  # tickets offered in the unit of work under way
        self._verified: set[int] = set()  # agents read from the database in the unit under way (board is current)
        self._needs: dict[tuple[int, int], Need] = {}  # (ticket, ring) -> its needs, in the unit under way
        self._rounds = 0
        self._timer = Repeater("router-timer", self.tick, settings.timer_interval, log=log,
                               failure="routing timer round failed; retrying")

    # --- wiring ------------------------------------------------------------------------------

    def subscribe(self, relay: Relay) -> None:
        relay.subscribe_batch((TicketCreated.topic, TicketChanged.topic, AgentChanged.topic, OfferDecided.topic),
                              "routing", self.on_events)

    def start(self) -> None:
        self._timer.start()

    async def stop(self) -> None:
        await self._timer.stop()

    async def on_events(self, events: list[Event]) -> None:
        """Route what the events changed, all in one transaction."""
        def work(session: Session, now: datetime) -> None:
            created = [e.ticket_id for e in events if isinstance(e, TicketCreated)]
            store.queue_new(session, created)
            prefetched = store.ticket_facts(session, created)  # a new ticket's facts in one query per batch
            histories = store.offer_histories(session, created)
            self._verify_likely_agents(session, prefetched.values(), now)
            for event in events:
                if isinstance(event, TicketCreated):
                    facts = prefetched.pop(event.ticket_id, None)  # used once: later events read again
                    self._route_ticket(session, event.ticket_id, now, facts, histories.pop(event.ticket_id, None))
                elif isinstance(event, TicketChanged):
                    self._ticket_changed(session, event, now)
                elif isinstance(event, AgentChanged):
                    self._agent_changed(session, event.user_id, now)
                elif isinstance(event, OfferDecided) and event.status in (OfferStatus.REJECTED, OfferStatus.CANCELLED):
                    self._route_ticket(session, event.ticket_id, now)

        await self._run(work)

    async def tick(self) -> None:
        """One timer round (the background task calls it every ``timer_interval``; tests call it)."""
        await self._run(self._tick)

    async def _run(self, work: Callable[[Session, datetime], None]) -> None:
        def unit(session: Session) -> None:
            store.take_lock(session)
            if not self._loaded:
                self.board.replace_all(store.agent_views(session, self.settings))
                self._loaded = True
            self._offered.clear()
            self._verified.clear()
            self._needs.clear()
            work(session, utcnow())

        try:
            await self.db.run_write(unit, urgent=True)  # offers are waited for, like intake
        except BaseException:
            self._loaded = False  # the board may hold what was rolled back: reload it next time
            raise

    # --- reactions (each runs inside one transaction, under the lock) ----------------------------

    def _ticket_changed(self, session: Session, event: TicketChanged, now: datetime) -> None:
        facts = store.ticket_facts(session, [event.ticket_id]).get(event.ticket_id)
        if facts is None:
            return
        needs_changed = bool({"requirements", "queue"} & set(event.fields))
        if facts.assignee_id is not None or not facts.waiting or needs_changed:
            for offer in session.scalars(select(Offer).where(Offer.ticket_id == facts.id,
                                                             Offer.status == OfferStatus.PENDING)):
                store.decide_offer(session, offer, OfferStatus.CANCELLED, now)  # taken, closed or needs changed
                self._refresh(session, [offer.user_id])
        if facts.assignee_id is not None:
            self._refresh(session, [facts.assignee_id])
        if event.freed_user_id is not None:
            wrap_up = self.settings.wrap_up.get(self.settings.channel_class(facts.channel), 0)
            if wrap_up > 0:
                session.execute(update(USERS).where(USERS.c.id == event.freed_user_id)
                                .values(wrap_up_until=now + timedelta(seconds=wrap_up)))
            self._route_agent(session, event.freed_user_id, now)
        if facts.waiting:
            self._route_ticket(session, facts.id, now)

    def _agent_changed(self, session: Session, user_id: int, now: datetime) -> None:
        agent = self._refresh(session, [user_id]).get(user_id)
        if agent is None:
            return
        if agent.presence == Presence.OFFLINE:
            for ticket_id in store.release_live_work(session, user_id, self.settings, now):
                self._route_ticket(session, ticket_id, now)
            self._refresh(session, [user_id])
        elif agent.presence == Presence.AVAILABLE:
            self._route_agent(session, user_id, now)

    def _tick(self, session: Session, now: datetime) -> None:
        if self._rounds == 0 and (queued := store.queue_stragglers(session, now - STRAGGLER_AGE)):
            log.info("queued %d waiting tickets created while routing was off", queued)
        self._rounds += 1
        if self._rounds % REFRESH_EVERY == 0:
            self.board.replace_all(store.agent_views(session, self.settings))
        reroute: list[int] = []
        expired = session.scalars(select(Offer).where(Offer.status == OfferStatus.PENDING, Offer.expires_at <= now)
                                  .order_by(Offer.expires_at).limit(100)).all()
        for offer in expired:
            store.decide_offer(session, offer, OfferStatus.EXPIRED, now)
            store.count_missed(session, offer.user_id, self.settings, now)
            self._refresh(session, [offer.user_id])
            reroute.append(offer.ticket_id)
        due = session.scalars(select(Ticket.id).where(Ticket.next_ring_at <= now)
                              .order_by(Ticket.next_ring_at).limit(100)).all()
        reroute += due
        rested = session.scalars(select(User.id).where(User.wrap_up_until <= now).limit(100)).all()
        if rested:
            session.execute(update(USERS).where(USERS.c.id.in_(rested)).values(wrap_up_until=None))
        for ticket_id in dict.fromkeys(reroute):
            self._route_ticket(session, ticket_id, now)
        for user_id in rested:
            self._route_agent(session, user_id, now)

    # --- the two decisions ---------------------------------------------------------------------

    def _route_ticket(self, session: Session, ticket_id: int, now: datetime, facts: store.TicketFacts | None = None,
                      history: store.OfferHistory | None = None) -> None:
        """Offer one waiting ticket to the best eligible agent, or schedule its next overflow step.

        ``facts`` and ``history`` may come from a prefetch for the whole batch, read in this transaction.
        """
        if ticket_id in self._offered:  # an earlier event of this batch gave it away: the prefetch is stale
            facts, history = None, None
        facts = facts or store.ticket_facts(session, [ticket_id]).get(ticket_id)
        if facts is None:
            return
        history = history or store.offer_history(session, ticket_id)
        if not facts.waiting or history.pending:
            if facts.next_ring_at is not None:  # its overflow clock starts again if it waits again
                session.execute(update(TICKETS).where(TICKETS.c.id == ticket_id).values(next_ring_at=None))
            return
        facts = self._current_ring(session, facts, now)
        need = self._need(facts, facts.ring)
        exclude = set(history.declined_by(facts.ring))
        for _ in range(3):  # the board may be stale: check the choice, try the next one
            choice = self.board.choose(need, now, strategy=self.strategy,
                                       voice_blocks=self.settings.voice_blocks_other_work, exclude=frozenset(exclude))
            if choice.agent_id is None:
                break
            known = self.board.get(choice.agent_id)
            if known is not None and choice.agent_id in self._verified:
                agent: AgentView | None = known  # read in this transaction, and our own offers since are on it
            else:
                agent = store.agent_state(session, self.settings, known) if known is not None else None
                self._verified.add(choice.agent_id)
                if agent is None:
                    self.board.remove(choice.agent_id)
                else:
                    self.board.put(agent)
            if agent is not None and is_eligible(agent, need, now, voice_blocks=self.settings.voice_blocks_other_work):
                self._offer(session, facts, need, agent=agent, choice=choice, now=now)
                return
            exclude.add(choice.agent_id)
        store.schedule_next_ring(session, facts, self.settings)

    def _route_agent(self, session: Session, user_id: int, now: datetime) -> None:
        """Give a free agent the most urgent waiting tickets they can take, up to their free capacity."""
        agent = self._refresh(session, [user_id]).get(user_id)
        for _ in range(MAX_OFFERS_PER_ROUND):
            if agent is None or agent.presence != Presence.AVAILABLE or (
                    agent.wrap_up_until is not None and agent.wrap_up_until > now):
                return
            free = {bucket for bucket in agent.capacity if free_capacity(agent, bucket) > 0}
            if not free:
                return
            channels = None if "email" in free else [c for c, b in self.settings.channel_classes.items() if b in free]
            waiting = store.waiting_candidates(session, sorted(agent.skills), channels, self.settings.candidates)
            waiting.sort(key=lambda t: queue_key(t.as_waiting(), now, self.settings.aging_minutes))
            picked: tuple[store.TicketFacts, Need] | None = None
            for facts in waiting:
                facts = replace(facts, ring=self._ring_reached(facts, now))
                need = self._need(facts, facts.ring)
                if is_eligible(agent, need, now, voice_blocks=self.settings.voice_blocks_other_work) \
                        and agent.id not in store.offer_history(session, facts.id).declined_by(facts.ring):
                    picked = self._current_ring(session, facts, now), need
                    break
            if picked is None:
                return
            choice = Choice(agent.id, self.strategy, (Candidate(agent.id, ("agent became free",)),), 1)
            self._offer(session, *picked, agent=agent, choice=choice, now=now)
            agent = self.board.get(agent.id)

    # --- helpers -------------------------------------------------------------------------------

    def _need(self, facts: store.TicketFacts, ring: int) -> Need:
        """The ticket's needs in ``ring`` (worked out once per unit: its requirements are parsed from JSON)."""
        key = (facts.id, ring)
        if key not in self._needs:
            self._needs[key] = store.need_at(facts, self.settings, ring)
        return self._needs[key]

    def _ring_reached(self, facts: store.TicketFacts, now: datetime) -> int:
        waited = (now - (facts.waiting_since or facts.created_at)).total_seconds()
        return max(facts.ring, ring_for(waited, self.settings.steps(facts.queue)))

    def _current_ring(self, session: Session, facts: store.TicketFacts, now: datetime) -> store.TicketFacts:
        """The ticket moved to the overflow ring its wait has reached (recorded, supervisors alerted)."""
        if self._ring_reached(facts, now) != facts.ring:
            return store.advance_ring(session, facts, self.settings, now)
        return facts

    def _offer(self, session: Session, facts: store.TicketFacts, need: Need, *, agent: AgentView, choice: Choice,
               now: datetime) -> None:
        store.write_offer(session, facts, agent, choice, need, now, self.settings)
        self._offered.add(facts.id)
        bucket = self.settings.channel_class(facts.channel)
        self.board.put(replace(agent, load={**agent.load, bucket: agent.load.get(bucket, 0) + 1},
                               last_offered_at=now))

    def _verify_likely_agents(self, session: Session, tickets: Iterable[store.TicketFacts], now: datetime) -> None:
        """Read at once the agents the board would offer these tickets to (each one's best few), so that the
        offers need no check of their own: two small queries per offer became a few per batch."""
        likely: set[int] = set()
        for facts in tickets:
            if facts.waiting:
                need = self._need(facts, self._ring_reached(facts, now))
                choice = self.board.choose(need, now, strategy=self.strategy,
                                           voice_blocks=self.settings.voice_blocks_other_work)
                likely.update(c.agent_id for c in choice.candidates)
        if likely:
            self._refresh(session, sorted(likely))

    def _refresh(self, session: Session, user_ids: list[int]) -> dict[int, AgentView]:
        """Read these agents again and put them on the board (current for the rest of this unit)."""
        fresh = {a.id: a for a in store.agent_views(session, self.settings, user_ids)}
        self._verified.update(user_ids)
        for user_id in user_ids:
            if user_id in fresh:
                self.board.put(fresh[user_id])
            else:
                self.board.remove(user_id)
        return fresh
