"""``wallboard.changed`` frames to the supervisors' and admins' open consoles, coalesced.

A relay batch subscriber: any committed change of queues (tickets), agents (presence, skills), offers or SLA
warnings/breaches marks the wallboard stale. The first change is pushed at once; changes within the next
``interval`` seconds are pushed together, once, when it ends. So a page never receives more than one frame per
interval, and refetches ``GET /api/v1/wallboard`` on it. Frames go to the hub topic ``agent:<id>`` of each
active supervisor and admin with a console open in this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from sqlalchemy import select

from contactcenter.db.engine import Database
from contactcenter.db.models import User
from contactcenter.domain.enums import Role
from contactcenter.events import (
    AgentChanged,
    Event,
    OfferDecided,
    OfferMade,
    RoutingEscalated,
    SlaBreached,
    SlaWarning,
    TicketChanged,
    TicketCreated,
    TicketsMerged,
)
from contactcenter.hub import Hub
from contactcenter.relay import Relay
from routing.push import agent_topic

REASONS: dict[str, str] = {
    TicketCreated.topic: "queues", TicketChanged.topic: "queues", TicketsMerged.topic: "queues",
    RoutingEscalated.topic: "queues", AgentChanged.topic: "agents", OfferMade.topic: "offers",
    OfferDecided.topic: "offers", SlaWarning.topic: "sla", SlaBreached.topic: "sla",
}
SUPERVISORS = (Role.SUPERVISOR.value, Role.ADMIN.value)
log = logging.getLogger(__name__)


class WallboardPusher:
    def __init__(self, db: Database, hub: Hub, interval: float) -> None:
        self.db = db
        self.hub = hub
        self.interval = interval
        self._reasons: set[str] = set()
        self._last = float("-inf")  # monotonic time of the last push
        self._task: asyncio.Task[None] | None = None
        self.pushed = 0  # frames published (one per supervisor console), for tests and metrics

    def subscribe(self, relay: Relay) -> None:
        relay.subscribe_batch(tuple(REASONS), "wallboard-push", self.on_events)

    async def on_events(self, events: list[Event]) -> None:
        self.changed(*(REASONS[e.topic] for e in events if e.topic in REASONS))

    def changed(self, *reasons: str) -> None:
        """Mark the wallboard stale; the push happens now or when the interval since the last one ends."""
        if not reasons:
            return
        self._reasons.update(reasons)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._flush(), name="wallboard-push")

    async def _flush(self) -> None:
        wait = self._last + self.interval - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        reasons, self._reasons = self._reasons, set()
        self._last = time.monotonic()
        try:
            await self.publish(",".join(sorted(reasons)))
        except Exception:  # e.g. the database is down: the next change pushes again
            log.exception("wallboard push failed")

    async def publish(self, reason: str) -> int:
        async with self.db.read() as session:
            staff = (await session.scalars(select(User.id).where(
                User.role.in_(SUPERVISORS), User.is_active.is_(True)))).all()
        frame = {"type": "wallboard.changed", "reason": reason}
        sent = 0
        for user_id in staff:
            if self.hub.listeners(agent_topic(user_id)):
                sent += await self.hub.publish(agent_topic(user_id), frame)
        self.pushed += sent
        return sent

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
