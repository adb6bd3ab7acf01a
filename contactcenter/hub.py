"""Live push to open WebSockets: a small publish/subscribe hub behind an interface.

Topics are plain strings (``visitor:<key>``, ``ticket:<id>``, ``chats``). ``LocalHub`` reaches the
subscribers of this process only. Several server processes (issue 9) need a hub that also forwards
``publish`` to the other processes (e.g. PostgreSQL LISTEN/NOTIFY or Redis) and delivers what
arrives from them with ``deliver_local``; callers do not change.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol

log = logging.getLogger(__name__)

Frame = Mapping[str, Any]


class Subscriber(Protocol):
    """One open connection that wants frames of some topics."""

    async def deliver(self, frame: Frame) -> bool:
        """Send the frame; False when it was not sent (closed, or already sent to this connection)."""
        ...


class Hub(Protocol):
    def subscribe(self, topic: str, subscriber: Subscriber) -> None: ...

    def unsubscribe(self, topic: str, subscriber: Subscriber) -> None: ...

    async def publish(self, topic: str, frame: Frame) -> int:
        """Hand the frame to every subscriber of the topic; returns how many took it (in this process)."""
        ...

    async def deliver_local(self, topic: str, frame: Frame) -> int:
        """Hand the frame to this process's subscribers of the topic only (never to other processes)."""
        ...

    def listeners(self, topic: str) -> int:
        """How many connections of this process listen to the topic."""
        ...


class LocalHub:
    """The in-process hub: a topic -> subscribers map."""

    def __init__(self) -> None:
        self._topics: dict[str, set[Subscriber]] = {}

    def subscribe(self, topic: str, subscriber: Subscriber) -> None:
        self._topics.setdefault(topic, set()).add(subscriber)

    def unsubscribe(self, topic: str, subscriber: Subscriber) -> None:
        subscribers = self._topics.get(topic)
        if subscribers is not None:
            subscribers.discard(subscriber)
            if not subscribers:
                del self._topics[topic]

    async def publish(self, topic: str, frame: Frame) -> int:
        return await self.deliver_local(topic, frame)

    async def deliver_local(self, topic: str, frame: Frame) -> int:
        taken = 0
        for subscriber in list(self._topics.get(topic, ())):
            try:
                taken += await subscriber.deliver(frame)
            except Exception:  # one broken connection must not stop the others
                log.exception("push to a subscriber of %s failed", topic.split(":", 1)[0])
        return taken

    def listeners(self, topic: str) -> int:
        return len(self._topics.get(topic, ()))
