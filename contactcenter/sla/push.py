"""SLA warnings and breaches pushed live to the assignee's console (hub topic ``agent:<id>``).

Escalation steps that tell people something (``notify_assignee``, ``notify_supervisor``) write durable
notifications instead (``contactcenter/notifications.py``): those reach a console that opens later too and arrive
as ``{"type": "notification"}`` frames. A warning or breach of an assigned ticket is also pushed here as it
happens, as ``sla.warning`` / ``sla.breached`` frames, to consoles open in this process.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from contactcenter.db.engine import Database
from contactcenter.db.models import Ticket
from contactcenter.events import Event, SlaBreached, SlaWarning
from contactcenter.hub import Hub
from contactcenter.relay import Relay
from routing.push import agent_topic


def sla_frame(event: SlaWarning | SlaBreached) -> dict[str, Any]:
    """What the console receives."""
    kind = "sla.breached" if isinstance(event, SlaBreached) else "sla.warning"
    point = event.point if isinstance(event, SlaWarning) else "breach"
    return {"type": kind, "ticket_id": event.ticket_id, "metric": event.metric, "cycle": event.cycle,
            "point": point, "due_at": event.due_at}


class SlaPusher:
    """Relay subscriber: SLA warnings and breaches to the consoles of the tickets' assignees."""

    def __init__(self, db: Database, hub: Hub) -> None:
        self.db = db
        self.hub = hub

    def subscribe(self, relay: Relay) -> None:
        relay.subscribe_batch((SlaWarning.topic, SlaBreached.topic), "sla-push", self.on_events)

    async def on_events(self, events: list[Event]) -> None:
        wanted = [e for e in events if isinstance(e, SlaWarning | SlaBreached)]
        if not wanted:
            return
        async with self.db.read() as session:
            assignees = dict((await session.execute(select(Ticket.id, Ticket.assignee_id).where(
                Ticket.id.in_({e.ticket_id for e in wanted})))).all())
        for event in wanted:
            assignee = assignees.get(event.ticket_id)
            if assignee is not None and self.hub.listeners(agent_topic(assignee)):
                await self.hub.publish(agent_topic(assignee), sla_frame(event))
