"""SLA warnings, breaches and escalation steps pushed live to the agents' consoles (hub topic ``agent:<id>``).

``notify_assignee`` steps reach the ticket's assignee, ``notify_supervisor`` steps every active supervisor and
admin with a console open in this process. Warnings and breaches of an assigned ticket reach its assignee.
A console that is not open misses the push; the audit rows and ``GET /tickets/{id}/sla`` keep the record.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from contactcenter.db.engine import Database
from contactcenter.db.models import Ticket, User
from contactcenter.domain.enums import Role
from contactcenter.events import Event, SlaBreached, SlaEscalated, SlaWarning
from contactcenter.hub import Hub
from contactcenter.relay import Relay
from routing.push import agent_topic

SUPERVISORS = (Role.SUPERVISOR.value, Role.ADMIN.value)


def sla_frame(event: SlaWarning | SlaBreached | SlaEscalated) -> dict[str, Any]:
    """What the console receives."""
    if isinstance(event, SlaEscalated):
        return {"type": "sla.escalated", "ticket_id": event.ticket_id, "metric": event.metric, "point": event.point,
                "action": event.action}
    kind = "sla.breached" if isinstance(event, SlaBreached) else "sla.warning"
    point = event.point if isinstance(event, SlaWarning) else "breach"
    return {"type": kind, "ticket_id": event.ticket_id, "metric": event.metric, "cycle": event.cycle,
            "point": point, "due_at": event.due_at}


class SlaPusher:
    """Relay subscriber: SLA events to the consoles of the people they concern."""

    def __init__(self, db: Database, hub: Hub) -> None:
        self.db = db
        self.hub = hub

    def subscribe(self, relay: Relay) -> None:
        relay.subscribe_batch((SlaWarning.topic, SlaBreached.topic, SlaEscalated.topic), "sla-push", self.on_events)

    async def on_events(self, events: list[Event]) -> None:
        wanted = [e for e in events if isinstance(e, SlaWarning | SlaBreached | SlaEscalated)]
        if not wanted:
            return
        async with self.db.read() as session:
            assignees = dict((await session.execute(select(Ticket.id, Ticket.assignee_id).where(
                Ticket.id.in_({e.ticket_id for e in wanted})))).all())
            supervisors = list((await session.scalars(select(User.id).where(
                User.role.in_(SUPERVISORS), User.is_active.is_(True)))).all())
        for event in wanted:
            targets: set[int] = set()
            if isinstance(event, SlaEscalated):
                if event.action == "notify_supervisor":
                    targets.update(supervisors)
                elif event.action == "notify_assignee":
                    user_id = event.user_id or assignees.get(event.ticket_id)
                    if user_id is not None:
                        targets.add(user_id)
            elif (assignee := assignees.get(event.ticket_id)) is not None:
                targets.add(assignee)
            for user_id in sorted(targets):
                if self.hub.listeners(agent_topic(user_id)):
                    await self.hub.publish(agent_topic(user_id), sla_frame(event))
