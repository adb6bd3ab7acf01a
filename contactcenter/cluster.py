"""Several server processes on one PostgreSQL database: LISTEN/NOTIFY carries wake-ups and live pushes.

Channels (each process listens on all three with one dedicated asyncpg connection):

- ``cc_events``: a unit of work that appended outbox rows committed -> every process's relay looks now (the
  outbox row, claimed with ``FOR UPDATE SKIP LOCKED``, stays the record; a lost notification costs at most
  ``relay.poll_interval``).
- ``cc_sla``: an SLA due time was written (payload: ISO time) -> a sweeper sleeping past it wakes.
- ``cc_hub``: the hub's traffic (``ClusterHub``): which topics each process has listeners for, and frames for
  topics that another process listens to.

A notification is at most 8,000 bytes: longer hub messages travel in numbered parts. Notifications are not
durable: while the connection is down they are lost, which the pollers above and the clients' reloads cover.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from contactcenter.hub import Frame, LocalHub, Subscriber
from contactcenter.ops.repeat import Repeater

log = logging.getLogger(__name__)

EVENTS, SLA, HUB = "cc_events", "cc_sla", "cc_hub"
PART_BYTES = 7000  # below PostgreSQL's 8,000-byte payload limit, with room for the envelope
HEARTBEAT = 5.0  # seconds between "alive" messages of a process
FORGET_AFTER = 3 * HEARTBEAT  # a process not heard from for this long (killed) has no listeners any more
RECONNECT = (0.2, 5.0)  # first and longest wait before reconnecting


def asyncpg_dsn(database_url: str) -> str:
    """The plain libpq URL asyncpg takes, from our SQLAlchemy URL."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


class PgNotifier:
    """One LISTEN connection per process, reconnected when lost; ``notify`` sends in call order."""

    def __init__(self, database_url: str) -> None:
        self.dsn = asyncpg_dsn(database_url)
        self._callbacks: dict[str, list[Callable[[str], None]]] = {EVENTS: [], SLA: [], HUB: []}
        self._connected: list[Callable[[], None]] = []
        self._outgoing: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self._events_queued = False
        self._task: asyncio.Task[None] | None = None
        self._conn: asyncpg.Connection | None = None

    def on(self, channel: str, callback: Callable[[str], None]) -> None:
        """Call ``callback(payload)`` for every notification of another process on ``channel``."""
        self._callbacks[channel].append(callback)

    def on_connected(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` after every (re)connection (what was missed meanwhile is lost)."""
        self._connected.append(callback)

    def notify(self, channel: str, payload: str = "") -> None:
        self._outgoing.put_nowait((channel, payload))

    def notify_events(self) -> None:
        """Tell the other relays that events were committed (one queued notification covers many commits)."""
        if not self._events_queued:
            self._events_queued = True
            self.notify(EVENTS)

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="pg-notifier")

    async def stop(self) -> None:
        """Send what is queued (e.g. "this process leaves"), then close."""
        if self._task is None:
            return
        if self._conn is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2):
                    await self._outgoing.join()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def _run(self) -> None:
        delay = RECONNECT[0]
        while True:
            try:
                conn = await asyncpg.connect(self.dsn)
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("LISTEN connection failed (%s); retrying in %.1f s", type(exc).__name__, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECONNECT[1])
                continue
            delay = RECONNECT[0]
            try:
                await self._serve(conn)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("LISTEN connection lost (%s); reconnecting", type(exc).__name__)
            finally:
                self._conn = None
                with contextlib.suppress(Exception):
                    await asyncio.shield(conn.close(timeout=1))

    async def _serve(self, conn: asyncpg.Connection) -> None:
        own = conn.get_server_pid()

        def listener(_: object, pid: int, channel: str, payload: str) -> None:
            if pid == own:
                return
            for callback in self._callbacks.get(channel, ()):
                try:
                    callback(payload)
                except Exception:
                    log.exception("handling a %s notification failed", channel)

        for channel in self._callbacks:
            await conn.add_listener(channel, listener)
        self._conn = conn
        for connected in self._connected:
            connected()
        while True:
            channel, payload = await self._outgoing.get()
            if channel == EVENTS:
                self._events_queued = False
            try:
                await conn.execute("SELECT pg_notify($1, $2)", channel, payload)
            except asyncpg.PostgresError as exc:  # refused (not a lost connection): drop this one, go on
                log.error("a %s notification was refused: %s", channel, type(exc).__name__)
            except BaseException:
                if channel != EVENTS:  # a wake-up is covered by polling; a hub message is resent in order
                    self._requeue_first(channel, payload)
                raise
            finally:
                self._outgoing.task_done()

    def _requeue_first(self, channel: str, payload: str) -> None:
        rest = []
        while not self._outgoing.empty():
            rest.append(self._outgoing.get_nowait())
            self._outgoing.task_done()
        for item in [(channel, payload), *rest]:
            self._outgoing.put_nowait(item)


class ClusterHub(LocalHub):
    """A hub whose topics span every process: ``listeners`` counts other processes that listen to a topic,
    and ``publish`` forwards a frame to them (only when one does)."""

    def __init__(self, notifier: PgNotifier) -> None:
        super().__init__()
        self.node = uuid.uuid4().hex[:12]
        self.notifier = notifier
        self._remote: dict[str, set[str]] = {}  # topic -> processes listening to it
        self._seen: dict[str, float] = {}  # process -> when it was last heard from
        self._parts: dict[str, list[str | None]] = {}
        self._inbox: asyncio.Queue[tuple[str, Frame]] = asyncio.Queue()  # frames from elsewhere, in order
        self._inbox_task: asyncio.Task[None] | None = None
        self._heartbeat = Repeater("hub-heartbeat", self._beat, HEARTBEAT, log=log,
                                   failure="hub heartbeat failed; retrying")
        notifier.on(HUB, self._received)
        notifier.on_connected(lambda: self._send({"op": "hello", "topics": sorted(self._topics)}))

    async def start(self) -> None:
        self._heartbeat.start()
        self._inbox_task = asyncio.get_running_loop().create_task(self._deliver_received(), name="hub-inbox")

    async def stop(self) -> None:
        await self._heartbeat.stop()
        if self._inbox_task is not None:
            self._inbox_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._inbox_task
            self._inbox_task = None
        self._send({"op": "bye"})

    def subscribe(self, topic: str, subscriber: Subscriber) -> None:
        first = topic not in self._topics
        super().subscribe(topic, subscriber)
        if first:
            self._send({"op": "sub", "topic": topic})

    def unsubscribe(self, topic: str, subscriber: Subscriber) -> None:
        had = topic in self._topics
        super().unsubscribe(topic, subscriber)
        if had and topic not in self._topics:
            self._send({"op": "unsub", "topic": topic})

    async def publish(self, topic: str, frame: Frame) -> int:
        if self._remote.get(topic):
            self._send({"op": "frame", "topic": topic, "frame": dict(frame)})
        return await self.deliver_local(topic, frame)

    def listeners(self, topic: str) -> int:
        self._forget_silent()
        return super().listeners(topic) + len(self._remote.get(topic, ()))

    # --- wire ------------------------------------------------------------------------------------

    def _send(self, message: dict[str, Any]) -> None:
        text = json.dumps({"from": self.node, **message}, ensure_ascii=False, separators=(",", ":"))
        if len(text.encode()) <= PART_BYTES:
            self.notifier.notify(HUB, text)
            return
        key, chunks = uuid.uuid4().hex[:12], _chunks(text, PART_BYTES // 4)  # a character is at most 4 bytes
        for i, chunk in enumerate(chunks):
            self.notifier.notify(HUB, json.dumps({"from": self.node, "op": "part", "id": key, "i": i,
                                                  "n": len(chunks), "data": chunk}, ensure_ascii=False,
                                                 separators=(",", ":")))

    def _received(self, payload: str) -> None:
        message = json.loads(payload)
        node = message.get("from")
        if not isinstance(node, str) or node == self.node:
            return
        self._seen[node] = time.monotonic()
        op = message.get("op")
        if op == "part":
            parts = self._parts.setdefault(message["id"], [None] * int(message["n"]))
            parts[int(message["i"])] = message["data"]
            if all(p is not None for p in parts):
                del self._parts[message["id"]]
                self._received("".join(p or "" for p in parts))
            return
        if op in ("hello", "have"):
            self._drop(node)
            for topic in message.get("topics", ()):
                self._remote.setdefault(topic, set()).add(node)
            if op == "hello":  # a process (re)joined: tell it what this one listens to
                self._send({"op": "have", "topics": sorted(self._topics)})
        elif op == "sub":
            self._remote.setdefault(message["topic"], set()).add(node)
        elif op == "unsub":
            self._discard(message["topic"], node)
        elif op == "bye":
            self._drop(node)
            self._seen.pop(node, None)
        elif op == "frame":
            self._inbox.put_nowait((message["topic"], message["frame"]))

    def _discard(self, topic: str, node: str) -> None:
        nodes = self._remote.get(topic)
        if nodes is not None:
            nodes.discard(node)
            if not nodes:
                del self._remote[topic]

    def _drop(self, node: str) -> None:
        for topic in [t for t, nodes in self._remote.items() if node in nodes]:
            self._discard(topic, node)

    def _forget_silent(self) -> None:
        cutoff = time.monotonic() - FORGET_AFTER
        for node in [n for n, seen in self._seen.items() if seen < cutoff]:
            self._drop(node)
            del self._seen[node]

    async def _deliver_received(self) -> None:
        while True:
            topic, frame = await self._inbox.get()
            await self.deliver_local(topic, frame)  # never raises: it logs a subscriber's failure

    async def _beat(self) -> None:
        self._send({"op": "alive"})
        self._forget_silent()


def _chunks(text: str, size: int) -> list[str]:
    return [text[i:i + size] for i in range(0, len(text), size)]
