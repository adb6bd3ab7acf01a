"""Ticket changes and @mentions pushed live to the agent consoles (a relay subscriber).

Consoles that sent ``{"type": "console"}`` on the agents' WebSocket listen to the hub topic ``desk``:
they receive ``ticket.updated`` frames (``ticket_id``, ``reasons``) for new messages on any channel,
replies, notes, status/assignee/priority changes, new and merged tickets, and refetch what they show.
One frame per ticket per relay batch. A mentioned agent receives a ``mention`` frame on ``agent:<id>``.
Frames carry no message text but the mention's short excerpt (staff only; internal notes never reach
the ``visitor:`` topics).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from contactcenter.db.engine import Database
from contactcenter.db.models import Mention, Message, User
from contactcenter.events import (
    Event,
    MentionMade,
    MessageReceived,
    NoteAdded,
    ReplyQueued,
    TicketChanged,
    TicketCreated,
    TicketsMerged,
)
from contactcenter.hub import Hub
from contactcenter.relay import Relay
from routing.push import agent_topic

DESK = "desk"
EXCERPT = 200
_REASONS: dict[type[Event], str] = {TicketCreated: "created", MessageReceived: "message", ReplyQueued: "reply",
                                    NoteAdded: "note", TicketChanged: "changed", TicketsMerged: "merged"}


def ticket_updates(events: list[Event]) -> list[dict[str, Any]]:
    """One ``ticket.updated`` frame per ticket, in order of first appearance (pure)."""
    frames: dict[int, dict[str, Any]] = {}
    for event in events:
        reason = _REASONS.get(type(event))
        if isinstance(event, TicketsMerged):
            ids = [event.source_id, event.target_id]
        elif isinstance(event, TicketCreated | MessageReceived | ReplyQueued | NoteAdded | TicketChanged):
            ids = [event.ticket_id]
        else:
            continue
        assert reason is not None
        for ticket_id in ids:
            frame = frames.setdefault(ticket_id, {"type": "ticket.updated", "ticket_id": ticket_id, "reasons": [],
                                                  "fields": []})
            if reason not in frame["reasons"]:
                frame["reasons"].append(reason)
            if isinstance(event, TicketChanged):
                frame["fields"] += [f for f in event.fields if f not in frame["fields"]]
    return list(frames.values())


class ConsolePusher:
    """Relay subscriber: ticket changes to every open console, mentions to the agent named."""

    def __init__(self, db: Database, hub: Hub) -> None:
        self.db = db
        self.hub = hub

    def subscribe(self, relay: Relay) -> None:
        topics = (*(cls.topic for cls in _REASONS), MentionMade.topic)
        relay.subscribe_batch(topics, "console-push", self.on_events)

    async def on_events(self, events: list[Event]) -> None:
        if self.hub.listeners(DESK):
            for frame in ticket_updates(events):
                await self.hub.publish(DESK, frame)
        mentions = [e for e in events if isinstance(e, MentionMade) and self.hub.listeners(agent_topic(e.user_id))]
        if not mentions:
            return
        async with self.db.read() as session:
            rows = (await session.execute(
                select(Mention.id, Message.text, User.name).join(Message, Message.id == Mention.message_id)
                .outerjoin(User, User.id == Mention.author_id)
                .where(Mention.id.in_({e.mention_id for e in mentions})))).all()
        found = {mention_id: (text, name) for mention_id, text, name in rows}
        for event in mentions:
            if event.mention_id in found:
                text, name = found[event.mention_id]
                await self.hub.publish(agent_topic(event.user_id), {
                    "type": "mention", "mention_id": event.mention_id, "ticket_id": event.ticket_id,
                    "message_id": event.message_id, "author_name": name or "", "excerpt": text[:EXCERPT]})
