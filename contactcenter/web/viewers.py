"""Collision detection: who has a ticket open in the console, and who is typing on it (this process).

The agents' WebSocket (``channels/chat/agent_socket.py``) records a connection as a viewer on
``{"type": "view"}`` and forgets it on ``leave`` or when it closes; every change is published as a
``viewers`` frame on the hub topic ``desk:ticket:<id>``. Like ``LocalHub`` this knows one process
only: with several server processes, agents on different processes do not see each other (issue 9).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from contactcenter.hub import Subscriber

MAX_VIEWED = 20  # tickets one connection may have open at once


def desk_ticket_topic(ticket_id: int) -> str:
    return f"desk:ticket:{ticket_id}"


@dataclass
class Viewer:
    user_id: int
    name: str
    typing: bool = False


class Viewers:
    """ticket id -> connection -> viewer."""

    def __init__(self) -> None:
        self._tickets: dict[int, dict[Subscriber, Viewer]] = {}

    def view(self, ticket_id: int, conn: Subscriber, user_id: int, name: str) -> None:
        self._tickets.setdefault(ticket_id, {}).setdefault(conn, Viewer(user_id, name))

    def leave(self, ticket_id: int, conn: Subscriber) -> bool:
        """Forget the connection on the ticket; True when it was there."""
        viewers = self._tickets.get(ticket_id)
        if viewers is None or viewers.pop(conn, None) is None:
            return False
        if not viewers:
            del self._tickets[ticket_id]
        return True

    def set_typing(self, ticket_id: int, conn: Subscriber, typing: bool) -> bool:
        """Record typing; True when it changed."""
        viewer = self._tickets.get(ticket_id, {}).get(conn)
        if viewer is None or viewer.typing == typing:
            return False
        viewer.typing = typing
        return True

    def is_viewing(self, ticket_id: int, conn: Subscriber) -> bool:
        return conn in self._tickets.get(ticket_id, {})

    def frame(self, ticket_id: int) -> dict[str, Any]:
        """The ``viewers`` frame: each agent once (typing if any of their connections types), by id."""
        people: dict[int, dict[str, Any]] = {}
        for viewer in self._tickets.get(ticket_id, {}).values():
            person = people.setdefault(viewer.user_id, {"id": viewer.user_id, "name": viewer.name, "typing": False})
            person["typing"] = person["typing"] or viewer.typing
        return {"type": "viewers", "ticket": ticket_id, "viewers": [people[k] for k in sorted(people)]}
