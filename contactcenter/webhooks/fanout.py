"""Relay subscriber: each relayed event becomes one delivery row per active endpoint that asked for it."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence

from sqlalchemy import insert, select

from contactcenter.db.engine import Database
from contactcenter.db.models import WebhookDelivery, WebhookEndpoint
from contactcenter.db.types import utcnow
from contactcenter.events import EVENT_TYPES, Event, encode
from contactcenter.relay import Relay

ENDPOINT_CACHE_SECONDS = 5.0  # endpoints changed by another process are seen within this time


class WebhookFanout:
    def __init__(self, db: Database, wake: Callable[[], None]) -> None:
        self.db = db
        self.wake = wake
        self._endpoints: list[tuple[int, frozenset[str]]] = []
        self._loaded_at = float("-inf")

    def subscribe(self, relay: Relay) -> None:
        relay.subscribe_batch(EVENT_TYPES, "webhooks", self.on_events)

    def forget_endpoints(self) -> None:
        """Reload the endpoints at the next event (called when this process changed one)."""
        self._loaded_at = float("-inf")

    async def _active(self) -> list[tuple[int, frozenset[str]]]:
        if time.monotonic() - self._loaded_at > ENDPOINT_CACHE_SECONDS:
            async with self.db.read() as session:
                rows = (await session.execute(select(WebhookEndpoint.id, WebhookEndpoint.events).where(
                    WebhookEndpoint.is_active))).all()
            self._endpoints = [(endpoint_id, frozenset(events or ())) for endpoint_id, events in rows]
            self._loaded_at = time.monotonic()
        return self._endpoints

    async def on_events(self, events: Sequence[Event]) -> None:
        endpoints = await self._active()
        if not endpoints:
            return
        now = utcnow()
        rows = [{"uid": str(uuid.uuid4()), "endpoint_id": endpoint_id, "topic": event.topic,
                 "payload": encode(event), "status": "pending", "attempts": 0, "next_attempt_at": now,
                 "created_at": now}
                for event in events for endpoint_id, kinds in endpoints if event.topic in kinds]
        if rows:
            async with self.db.write() as session:
                await session.execute(insert(WebhookDelivery), rows)
            self.wake()
