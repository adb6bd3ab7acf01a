"""Prometheus metrics: request counts and latency per route template, and contact-center figures.

Counters of domain events (intake, offers, SLA) are fed by the outbox relay, so they count in the
process that relayed the event; gauges (queue depth, outbox lag, dead letters) are read from the
database when /metrics is scraped. Every process has its own registry: scrape each of them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest
from sqlalchemy import func, select, text

from contactcenter.db.engine import Database
from contactcenter.db.models import WAITING_SQL, Message, OutboxEvent, Ticket
from contactcenter.db.types import utcnow
from contactcenter.domain.enums import OutboxStatus
from contactcenter.events import Event, MessageReceived, OfferDecided, OfferMade, SlaBreached, SlaWarning, TicketCreated
from contactcenter.relay import Relay

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """One registry per application (tests run several apps in one process)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.registry = r = CollectorRegistry(auto_describe=False)
        self.requests = Counter("cc_http_requests", "HTTP requests by route template, method and status",
                                ["route", "method", "status"], registry=r)
        self.latency = Histogram("cc_http_request_duration_seconds", "Time to answer an HTTP request",
                                 ["route"], buckets=_BUCKETS, registry=r)
        self.intake = Counter("cc_intake_messages", "Inbound messages stored, by channel", ["channel"], registry=r)
        self.tickets = Counter("cc_tickets_created", "Tickets created, by channel", ["channel"], registry=r)
        self.offers = Counter("cc_offers", "Routing offers: made, then accepted/rejected/expired/cancelled",
                              ["outcome"], registry=r)
        self.sla = Counter("cc_sla_events", "SLA warnings and breaches, by metric", ["kind", "metric"], registry=r)
        self.webhooks = Counter("cc_webhook_deliveries", "Outbound webhook attempts by outcome", ["outcome"],
                                registry=r)
        self.queue_depth = Gauge("cc_queue_depth", "Tickets waiting for an agent, by queue", ["queue"], registry=r)
        self.outbox_pending = Gauge("cc_outbox_pending", "Outbox events not yet delivered", registry=r)
        self.outbox_lag = Gauge("cc_outbox_lag_seconds", "Age of the oldest undelivered outbox event", registry=r)
        self.outbox_dead = Gauge("cc_outbox_dead_letters", "Outbox events the relay gave up on", registry=r)
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one request (the labelled children are cached: two dict lookups and two adds)."""
        key = (route, method, status)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (self.requests.labels(route, method, str(status)),
                                               self.latency.labels(route))
        children[0].inc()
        children[1].observe(seconds)

    def subscribe(self, relay: Relay) -> None:
        """Count domain events as the relay delivers them (never fails, so never holds an event back)."""
        relay.subscribe_batch((TicketCreated.topic, MessageReceived.topic, OfferMade.topic, OfferDecided.topic,
                               SlaWarning.topic, SlaBreached.topic), "metrics", self.on_events)

    async def on_events(self, events: Sequence[Event]) -> None:
        received: list[int] = []  # events stored before they named their channel
        for event in events:
            if isinstance(event, MessageReceived):
                if event.channel:
                    self.intake.labels(event.channel).inc()
                else:
                    received.append(event.message_id)
            elif isinstance(event, TicketCreated):
                self.tickets.labels(event.channel).inc()
            elif isinstance(event, OfferMade):
                self.offers.labels("made").inc()
            elif isinstance(event, OfferDecided):
                self.offers.labels(event.status).inc()
            elif isinstance(event, SlaWarning):
                self.sla.labels("warning", event.metric).inc()
            elif isinstance(event, SlaBreached):
                self.sla.labels("breach", event.metric).inc()
        if received:
            async with self.db.read() as session:
                rows = (await session.execute(select(Message.channel, func.count()).where(
                    Message.id.in_(received)).group_by(Message.channel))).all()
            for channel, count in rows:
                self.intake.labels(channel).inc(count)

    async def refresh(self) -> None:
        """Read the gauges from the database (at scrape time, a few indexed queries)."""
        async with self.db.read() as session:
            queues = (await session.execute(select(Ticket.routing_queue, func.count()).where(
                text(WAITING_SQL)).group_by(Ticket.routing_queue))).all()
            pending, oldest = (await session.execute(select(func.count(), func.min(OutboxEvent.created_at)).where(
                OutboxEvent.status.in_((OutboxStatus.PENDING, OutboxStatus.CLAIMED))))).one()
            dead = await session.scalar(select(func.count()).where(OutboxEvent.status == OutboxStatus.DEAD))
        self.queue_depth.clear()
        for queue, count in queues:
            self.queue_depth.labels(queue or "").set(count)
        self.outbox_pending.set(pending)
        self.outbox_lag.set((utcnow() - oldest).total_seconds() if oldest is not None else 0.0)
        self.outbox_dead.set(dead or 0)

    async def render(self) -> bytes:
        await self.refresh()
        return generate_latest(self.registry)


def now() -> float:
    """The clock request durations are measured with."""
    return time.perf_counter()
