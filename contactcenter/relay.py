"""The outbox relay: delivers committed events to subscribers, at least once, with retries and dead letters.

Several processes may relay from one PostgreSQL database: rows are claimed with FOR UPDATE SKIP LOCKED
and a claim that is not finished in time (the process died) is taken over by another.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, Select, Table, bindparam, delete, literal_column, select, update
from sqlalchemy.orm import Session

from contactcenter.db.engine import Database
from contactcenter.db.models import OutboxEvent
from contactcenter.db.types import utcnow
from contactcenter.domain.enums import OutboxStatus
from contactcenter.events import Event, decode
from contactcenter.ops.logs import log_failure
from contactcenter.settings import RelaySettings

log = logging.getLogger(__name__)
HOUSEKEEPING_EVERY = 600.0  # seconds between deletions of old delivered events
HOUSEKEEPING_BATCH = 5000  # rows deleted per transaction at most

Handler = Callable[[Event], Awaitable[None]]
BatchHandler = Callable[[list[Event]], Awaitable[None]]
DeadHandler = Callable[[Event, str], Awaitable[None]]


# The claim and the outcome of every batch, built once (docs/architecture.md, "Statements on hot paths").
_OUTBOX = cast(Table, OutboxEvent.__table__)


def _due(available_at: ColumnElement[datetime]) -> tuple[Select[Any], Select[Any]]:
    """Due events, oldest first, in two walks of ``ix_outbox_status_id`` that stop after a batch however many are
    waiting: pending events whose time has come, and claims left by a process that died. (One statement with OR
    gathered and sorted every due event: 3.5 ms a claim with 20,000 waiting, when the relay most needs to catch up.)"""
    columns = (_OUTBOX.c.id, _OUTBOX.c.topic, _OUTBOX.c.payload, _OUTBOX.c.attempts, _OUTBOX.c.pending_subscribers)
    pending = select(*columns).where(_OUTBOX.c.status == OutboxStatus.PENDING, available_at <= bindparam("now"))
    stale = select(*columns).where(_OUTBOX.c.status == OutboxStatus.CLAIMED,
                                   _OUTBOX.c.claimed_until < bindparam("now"))
    return (pending.order_by(_OUTBOX.c.id).limit(bindparam("limit")),
            stale.order_by(_OUTBOX.c.id).limit(bindparam("limit")))


# SQLite's planner has no statistics and would take the (status, available_at) index and sort every due row; a
# unary + keeps available_at out of its choice of index.
_DUE_SQLITE = _due(literal_column("+outbox.available_at", _OUTBOX.c.available_at.type))
# PostgreSQL: rows another process claims are skipped.
_DUE_FOR_UPDATE = tuple(q.with_for_update(skip_locked=True) for q in _due(_OUTBOX.c.available_at))
_DONE = update(_OUTBOX).where(_OUTBOX.c.id.in_(bindparam("ids", expanding=True))).values(
    status=OutboxStatus.DONE, done_at=bindparam("now"), claimed_until=None)


@dataclass(frozen=True, slots=True)
class Subscriber:
    name: str
    topics: frozenset[str]
    handler: Handler | None = None  # called once per event...
    batch_handler: BatchHandler | None = None  # ...or once per relay batch with all its events, in order
    on_dead: DeadHandler | None = None  # told once when the relay gives up on an event for it


@dataclass(frozen=True, slots=True)
class Claimed:
    """An outbox row taken for delivery (plain values: no ORM object is loaded)."""

    id: int
    topic: str
    payload: dict[str, Any]
    attempts: int
    pending_subscribers: list[str] | None


class Relay:
    def __init__(self, db: Database, settings: RelaySettings) -> None:
        self.db = db
        self.settings = settings
        self._subscribers: list[Subscriber] = []
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._batch_lock = asyncio.Lock()  # one batch at a time in this process (drain beside run)
        self._unrecorded: list[tuple[Claimed, dict[str, str]]] = []  # delivered, outcome not yet written
        self._housekept_at = 0.0  # time.monotonic() of the last deletion of old delivered events

    def subscribe(self, topic: str, name: str, handler: Handler, on_dead: DeadHandler | None = None) -> None:
        """Call ``handler`` for every event of ``topic``. Handlers must be idempotent.

        ``on_dead(event, error)`` is called when the event becomes a dead letter for this subscriber,
        so that it can record the failure where users see it (e.g. a reply marked as not delivered).
        """
        self._subscribers.append(Subscriber(name, frozenset({topic}), handler=handler, on_dead=on_dead))

    def subscribe_batch(self, topics: Iterable[str], name: str, handler: BatchHandler) -> None:
        """Call ``handler`` once per batch with every event of ``topics`` in it (oldest first), so that a
        subscriber can do the work of many events in one transaction. If it fails, all of them are retried."""
        self._subscribers.append(Subscriber(name, frozenset(topics), batch_handler=handler))

    def wake(self) -> None:
        """Look for new events now (called after every commit)."""
        self._wake.set()

    def _claim(self, session: Session, now: datetime) -> list[Claimed]:
        """Due events, oldest first, up to a batch (those nobody subscribes to are simply marked done)."""
        limit = self.settings.batch_size
        connection = session.connection()
        claimed = sorted((Claimed(*row) for query in (_DUE_SQLITE if self.db.is_sqlite else _DUE_FOR_UPDATE)
                          for row in connection.execute(query, {"now": now, "limit": limit})),
                         key=lambda c: c.id)[:limit]
        if self.db.is_sqlite:  # one server process per SQLite file: nobody to share with, so reading is claim enough
            return claimed
        if claimed:
            session.execute(update(OutboxEvent).where(OutboxEvent.id.in_([c.id for c in claimed]))
                            .values(status=OutboxStatus.CLAIMED,
                                    claimed_until=now + timedelta(seconds=self.settings.claim_timeout)))
        return claimed

    def _record(self, session: Session, outcomes: list[tuple[Claimed, dict[str, str]]], now: datetime) -> None:
        """Mark delivered events done; schedule a retry (or the dead-letter state) for the others."""
        done = [row.id for row, failures in outcomes if not failures]
        if done:
            session.connection().execute(_DONE, {"ids": done, "now": now})
        for row, failures in outcomes:
            if not failures:
                continue
            attempts = row.attempts + 1
            dead = attempts >= self.settings.max_attempts
            delay = self.settings.retry_base_delay * 2 ** (attempts - 1)
            session.execute(update(OutboxEvent).where(OutboxEvent.id == row.id).values(
                attempts=attempts, status=OutboxStatus.DEAD if dead else OutboxStatus.PENDING,
                available_at=now + timedelta(seconds=delay), claimed_until=None,
                pending_subscribers=sorted(failures), last_error="; ".join(
                    f"{k}: {v}" for k, v in sorted(failures.items()))[:4000]))
            if dead:
                log.error("outbox event %s (%s) moved to dead letters after %s attempts", row.id, row.topic, attempts)

    def _owed(self, row: Claimed) -> set[str]:
        return set(row.pending_subscribers or [s.name for s in self._subscribers if row.topic in s.topics])

    async def _dispatch(self, rows: list[Claimed]) -> dict[int, dict[str, str]]:
        """Run the subscribers still owed each event; return the failures by row id and subscriber name."""
        failures: dict[int, dict[str, str]] = {row.id: {} for row in rows}
        owed = {row.id: self._owed(row) for row in rows}
        events: dict[int, Event] = {}
        for row in rows:
            try:
                events[row.id] = decode(row.topic, row.payload)
            except (KeyError, TypeError) as exc:
                failures[row.id] = {name: f"undecodable event: {exc!r}" for name in owed[row.id]}
        for sub in self._subscribers:
            if sub.batch_handler is None:
                continue
            mine = [row for row in rows if row.id in events and row.topic in sub.topics and sub.name in owed[row.id]]
            if mine:
                try:
                    await sub.batch_handler([events[row.id] for row in mine])
                except Exception as exc:  # a subscriber's failure must not stop the relay
                    log_failure(log, "subscriber %s failed on a batch of %d outbox events", sub.name, len(mine))
                    for row in mine:
                        failures[row.id][sub.name] = f"{type(exc).__name__}: {exc}"[:2000]
        for row in rows:
            if row.id not in events:
                continue
            for sub in self._subscribers:
                if sub.handler is not None and sub.name in owed[row.id] and row.topic in sub.topics:
                    try:
                        await sub.handler(events[row.id])
                    except Exception as exc:
                        log_failure(log, "subscriber %s failed on outbox event %s", sub.name, row.id)
                        failures[row.id][sub.name] = f"{type(exc).__name__}: {exc}"[:2000]
        return failures

    async def run_once(self) -> int:
        """Claim and deliver one batch; return how many events it handled."""
        async with self._batch_lock:
            return await self._run_batch()

    async def _run_batch(self) -> int:
        """Record the previous batch's outcome and claim the next batch in one transaction, then deliver it.

        The outcome of a batch is written with the next claim (one transaction per batch instead of two);
        ``drain`` and ``stop`` end with a round that claims nothing and only records.
        """
        previous, self._unrecorded = self._unrecorded, []

        def record_and_claim(session: Session) -> list[Claimed]:
            now = utcnow()
            self._record(session, previous, now)
            return self._claim(session, now)

        try:
            rows = await self.db.run_write(record_and_claim, urgent=True)  # an offer waits on it
        except BaseException:
            self._unrecorded = previous  # recorded next time: the events are delivered again at worst
            raise
        for row, failures in previous:
            if failures and row.attempts + 1 >= self.settings.max_attempts:
                await self._tell_dead(row, failures)
        if not rows:
            return 0
        outcome = await self._dispatch(rows)
        self._unrecorded = [(row, outcome[row.id]) for row in rows]
        return len(rows)

    async def _tell_dead(self, row: Claimed, failures: dict[str, str]) -> None:
        event = decode(row.topic, row.payload)
        for sub in self._subscribers:
            if sub.name in failures and row.topic in sub.topics and sub.on_dead is not None:
                try:
                    await sub.on_dead(event, failures[sub.name])
                except Exception:
                    log.exception("dead-letter handler of %s failed on outbox event %s", sub.name, row.id)

    async def housekeep(self, now: datetime | None = None) -> int:
        """Delete delivered events older than ``keep_done_days`` (dead letters and pending ones stay), a bounded
        batch per transaction; return how many."""
        if self.settings.keep_done_days <= 0:
            return 0
        cutoff = (now or utcnow()) - timedelta(days=self.settings.keep_done_days)
        # available_at <= done_at: the condition on it keeps the search inside the (status, available_at) index
        old = (select(OutboxEvent.id).where(OutboxEvent.status == OutboxStatus.DONE,
                                            OutboxEvent.available_at < cutoff, OutboxEvent.done_at < cutoff)
               .limit(HOUSEKEEPING_BATCH))

        def delete_batch(session: Session) -> int:
            result = session.execute(delete(OutboxEvent).where(OutboxEvent.id.in_(old.scalar_subquery())))
            return int(getattr(result, "rowcount", 0) or 0)

        deleted = 0
        while True:
            removed = await self.db.run_write(delete_batch)
            deleted += removed
            if removed < HOUSEKEEPING_BATCH:
                return deleted

    async def drain(self) -> None:
        """Deliver everything available now (used at shutdown and by tests)."""
        while await self.run_once():
            pass

    def start(self) -> None:
        """Relay in the background until ``stop``."""
        self._stopping = False
        self._task = asyncio.get_running_loop().create_task(self.run(), name="outbox-relay")

    async def stop(self) -> None:
        """Let the batch in hand finish (never cut a transaction short), then deliver what is left."""
        self._stopping = True
        self.wake()
        if self._task is not None:
            await self._task
            self._task = None
        await self.drain()

    async def run(self) -> None:
        """Relay until ``stop`` is called."""
        last = 0  # events in the last batch that had any
        while not self._stopping:
            self._wake.clear()  # before looking: a commit made during the batch wakes the next round
            try:
                handled = await self.run_once()
            except Exception:
                log_failure(log, "outbox relay batch failed; retrying")
                handled = 0
            if handled or self._stopping:
                last = handled or last
                continue
            if time.monotonic() - self._housekept_at > HOUSEKEEPING_EVERY:
                self._housekept_at = time.monotonic()
                try:
                    await self.housekeep()
                except Exception:
                    log_failure(log, "deleting old delivered outbox events failed; trying again later")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.settings.poll_interval)
            if not self._stopping and last >= self.settings.batch_size // 4:
                # Under load, let a burst of commits gather into one batch; when events come one by one,
                # deliver each at once (a new ticket reaches the router within milliseconds).
                await asyncio.sleep(self.settings.linger)
