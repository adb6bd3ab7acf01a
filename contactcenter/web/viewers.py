"""Collision detection: who has a ticket open in the console, and who is typing on it.

The agents' WebSocket (``channels/chat/agent_socket.py``) records a connection as a viewer on
``{"type": "view"}`` and forgets it on ``leave`` or when it closes; every change is pushed as a
``viewers`` frame to the connections of this process that view the ticket (hub topic ``desk:ticket:<id>``).

Several processes (``ClusterHub``): each process also publishes its own viewers of a ticket on the topic
``desk:viewers``, which every process listens to (``ViewersSync``), and repeats all of them every
``REPEAT`` seconds; the frame a console gets merges this process's viewers with the others' lists. A
process not heard from for ``FORGET_AFTER`` seconds (stopped or killed) no longer counts.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

from contactcenter.hub import Frame, Hub, Subscriber
from contactcenter.ops.repeat import Repeater

MAX_VIEWED = 20  # tickets one connection may have open at once
SYNC_TOPIC = "desk:viewers"
REPEAT = 10.0  # seconds between repeats of a process's whole list
FORGET_AFTER = 3 * REPEAT
log = logging.getLogger(__name__)


def desk_ticket_topic(ticket_id: int) -> str:
    return f"desk:ticket:{ticket_id}"


@dataclass
class Viewer:
    user_id: int
    name: str
    typing: bool = False


class Viewers:
    """ticket id -> connection -> viewer (this process), and the other processes' lists."""

    def __init__(self) -> None:
        self.origin = uuid.uuid4().hex[:12]
        self._tickets: dict[int, dict[Subscriber, Viewer]] = {}
        self._remote: dict[str, tuple[float, dict[int, list[dict[str, Any]]]]] = {}  # origin -> (heard, lists)

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

    def _local(self, ticket_id: int) -> list[dict[str, Any]]:
        people: dict[int, dict[str, Any]] = {}
        for viewer in self._tickets.get(ticket_id, {}).values():
            person = people.setdefault(viewer.user_id, {"id": viewer.user_id, "name": viewer.name, "typing": False})
            person["typing"] = person["typing"] or viewer.typing
        return [people[k] for k in sorted(people)]

    def frame(self, ticket_id: int) -> dict[str, Any]:
        """The ``viewers`` frame: each agent once (typing if any of their connections types), by id."""
        people = {p["id"]: dict(p) for p in self._local(ticket_id)}
        for _, lists in self._remote.values():
            for person in lists.get(ticket_id, ()):
                mine = people.setdefault(person["id"], dict(person))
                mine["typing"] = bool(mine["typing"] or person["typing"])
        return {"type": "viewers", "ticket": ticket_id, "viewers": [people[k] for k in sorted(people)]}

    async def changed(self, hub: Hub, ticket_id: int) -> None:
        """Tell this process's viewers of the ticket, and the other processes, the new list."""
        await hub.publish(SYNC_TOPIC, {"type": "viewers-of", "origin": self.origin, "ticket": ticket_id,
                                       "viewers": self._local(ticket_id)})
        await hub.deliver_local(desk_ticket_topic(ticket_id), self.frame(ticket_id))

    def state(self) -> dict[str, Any]:
        """This process's whole list (repeated, so that a process that starts later learns it)."""
        return {"type": "viewers-state", "origin": self.origin,
                "tickets": {str(t): self._local(t) for t in self._tickets}}

    def heard(self, frame: Frame, now: float) -> list[int]:
        """Take another process's ``viewers-of`` or ``viewers-state``; return the tickets whose list changed."""
        origin = str(frame.get("origin", ""))
        if not origin or origin == self.origin:
            return []
        _, lists = self._remote.get(origin, (now, {}))
        if frame.get("type") == "viewers-of":
            new = dict(lists)
            new[int(frame["ticket"])] = list(frame.get("viewers") or [])
        else:
            new = {int(t): list(v) for t, v in dict(frame.get("tickets") or {}).items()}
        changed = [t for t in set(lists) | set(new) if lists.get(t, []) != new.get(t, [])]
        self._remote[origin] = (now, {t: v for t, v in new.items() if v})
        return changed

    def forget_silent(self, now: float, after: float = FORGET_AFTER) -> list[int]:
        """Drop the lists of processes not heard from for ``after`` seconds; return their tickets."""
        gone = [o for o, (heard, _) in self._remote.items() if now - heard > after]
        return sorted({t for o in gone for t in self._remote.pop(o)[1]})


class ViewersSync:
    """Listens on ``desk:viewers`` for the other processes' lists and repeats this process's own."""

    def __init__(self, viewers: Viewers, hub: Hub, repeat: float = REPEAT) -> None:
        self.viewers, self.hub, self.repeat = viewers, hub, repeat
        self._timer = Repeater("viewers-sync", self._repeat, repeat, log=log,
                               failure="sharing the list of ticket viewers failed; retrying", first_delay=0)

    async def deliver(self, frame: Frame) -> bool:
        for ticket_id in self.viewers.heard(frame, time.monotonic()):
            await self.hub.deliver_local(desk_ticket_topic(ticket_id), self.viewers.frame(ticket_id))
        return True

    def start(self) -> None:
        self.hub.subscribe(SYNC_TOPIC, self)
        self._timer.start()

    async def stop(self) -> None:
        self.hub.unsubscribe(SYNC_TOPIC, self)
        await self._timer.stop()

    async def _repeat(self) -> None:
        """Forget the viewers of processes gone silent, then repeat this process's own list."""
        for ticket_id in self.viewers.forget_silent(time.monotonic(), 3 * self.repeat):
            await self.hub.deliver_local(desk_ticket_topic(ticket_id), self.viewers.frame(ticket_id))
        await self.hub.publish(SYNC_TOPIC, self.viewers.state())
