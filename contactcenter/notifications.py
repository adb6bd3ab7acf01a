"""Notifications pushed live: each new notification goes to its user's open consoles (hub topic ``agent:<id>``)
as a ``{"type": "notification", ...}`` frame, after the commit that wrote it.

The row stays in the ``notifications`` table whether or not a console was open: a console that opens later reads
``GET /api/v1/me/notifications?unread=1``. Writers: ``actions.notifications.do_notify``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from contactcenter.db.engine import Database
from contactcenter.db.models import Notification
from contactcenter.events import Event, NotificationCreated
from contactcenter.hub import Hub
from contactcenter.relay import Relay
from routing.push import agent_topic


def notification_frame(notification: Notification) -> dict[str, Any]:
    """What the console receives (the same fields as the API)."""
    return {"type": "notification", "id": notification.id, "kind": notification.kind,
            "ticket_id": notification.ticket_id, "text": notification.text,
            "created_at": notification.created_at.isoformat(), "read_at": None}


class NotificationPusher:
    """Relay subscriber: new notifications to the consoles of their users open in this process."""

    def __init__(self, db: Database, hub: Hub) -> None:
        self.db = db
        self.hub = hub

    def subscribe(self, relay: Relay) -> None:
        relay.subscribe_batch((NotificationCreated.topic,), "notification-push", self.on_events)

    async def on_events(self, events: list[Event]) -> None:
        wanted = {e.notification_id for e in events
                  if isinstance(e, NotificationCreated) and self.hub.listeners(agent_topic(e.user_id))}
        if not wanted:
            return
        async with self.db.read() as session:
            rows = (await session.scalars(select(Notification).where(Notification.id.in_(wanted))
                                          .order_by(Notification.id))).all()
        for notification in rows:
            if notification.read_at is None:
                await self.hub.publish(agent_topic(notification.user_id), notification_frame(notification))
