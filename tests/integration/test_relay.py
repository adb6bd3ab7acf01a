"""The outbox relay with a real database: after commit only, retries, dead letters, takeover of stale claims."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.dialects import sqlite

from contactcenter.context import Context
from contactcenter.db.models import OutboxEvent
from contactcenter.db.types import utcnow
from contactcenter.events import Event, TicketChanged, emit
from contactcenter.relay import _DUE_SQLITE, Relay
from contactcenter.settings import RelaySettings

FAST = RelaySettings(poll_interval=0.01, batch_size=10, max_attempts=3, retry_base_delay=0.0, claim_timeout=30)


async def write_event(ctx: Context, event: Event) -> None:
    async with ctx.db.write() as session:
        emit(session, event)


async def rows(ctx: Context) -> list[OutboxEvent]:
    async with ctx.db.read() as session:
        return list((await session.scalars(select(OutboxEvent).order_by(OutboxEvent.id))).all())


async def test_events_reach_subscribers_only_after_commit(ctx: Context) -> None:
    relay = Relay(ctx.db, FAST)
    seen: list[Event] = []

    async def handler(event: Event) -> None:
        seen.append(event)

    relay.subscribe(TicketChanged.topic, "recorder", handler)
    with pytest.raises(RuntimeError):
        async with ctx.db.write() as session:
            emit(session, TicketChanged(ticket_id=1, fields=("status",)))
            raise RuntimeError("the change fails")
    await write_event(ctx, TicketChanged(ticket_id=2, fields=("priority", "tags")))
    await relay.drain()
    assert seen == [TicketChanged(ticket_id=2, fields=("priority", "tags"))]
    [row] = await rows(ctx)
    assert (row.status, row.attempts) == ("done", 0)


async def test_a_failing_subscriber_is_retried_alone_until_it_succeeds(ctx: Context) -> None:
    relay = Relay(ctx.db, FAST)
    calls = {"steady": 0, "flaky": 0}

    async def steady(_: Event) -> None:
        calls["steady"] += 1

    async def flaky(_: Event) -> None:
        calls["flaky"] += 1
        if calls["flaky"] < 3:
            raise ConnectionError("provider down")

    relay.subscribe(TicketChanged.topic, "steady", steady)
    relay.subscribe(TicketChanged.topic, "flaky", flaky)
    await write_event(ctx, TicketChanged(ticket_id=1, fields=("status",)))
    await relay.drain()
    [row] = await rows(ctx)
    assert calls == {"steady": 1, "flaky": 3}  # the one that succeeded is not called again
    assert (row.status, row.attempts) == ("done", 2)


async def test_an_event_that_keeps_failing_becomes_a_dead_letter(ctx: Context) -> None:
    relay = Relay(ctx.db, FAST)

    async def broken(_: Event) -> None:
        raise ValueError("cannot handle this")

    relay.subscribe(TicketChanged.topic, "broken", broken)
    await write_event(ctx, TicketChanged(ticket_id=1, fields=("status",)))
    await relay.drain()
    [row] = await rows(ctx)
    assert (row.status, row.attempts, row.pending_subscribers) == ("dead", 3, ["broken"])
    assert row.last_error is not None and "cannot handle this" in row.last_error
    assert await relay.run_once() == 0  # dead letters are left alone


async def test_backoff_delays_the_next_attempt(ctx: Context) -> None:
    relay = Relay(ctx.db, RelaySettings(poll_interval=0.01, max_attempts=5, retry_base_delay=60))

    async def failing(_: Event) -> None:
        raise ConnectionError("down")

    relay.subscribe(TicketChanged.topic, "failing", failing)
    await write_event(ctx, TicketChanged(ticket_id=1, fields=("status",)))
    assert await relay.run_once() == 1
    assert await relay.run_once() == 0  # not due for a minute
    [row] = await rows(ctx)
    assert row.status == "pending" and row.available_at > utcnow() + timedelta(seconds=50)


async def test_a_claim_left_by_a_dead_process_is_taken_over(ctx: Context) -> None:
    relay = Relay(ctx.db, FAST)
    seen: list[Event] = []

    async def handler(event: Event) -> None:
        seen.append(event)

    relay.subscribe(TicketChanged.topic, "recorder", handler)
    await write_event(ctx, TicketChanged(ticket_id=7, fields=("status",)))
    async with ctx.db.write() as session:  # claimed by a process that then died
        await session.execute(update(OutboxEvent).values(status="claimed", claimed_until=utcnow() + timedelta(hours=1)))
    assert await relay.run_once() == 0
    async with ctx.db.write() as session:
        await session.execute(update(OutboxEvent).values(claimed_until=utcnow() - timedelta(seconds=1)))
    assert await relay.run_once() == 1
    assert seen == [TicketChanged(ticket_id=7, fields=("status",))]


async def test_events_without_subscribers_are_marked_done(ctx: Context) -> None:
    relay = Relay(ctx.db, FAST)
    await write_event(ctx, TicketChanged(ticket_id=1, fields=("status",)))
    await relay.drain()
    assert [r.status for r in await rows(ctx)] == ["done"]


async def test_old_delivered_events_are_deleted_and_others_kept(ctx: Context) -> None:
    relay = Relay(ctx.db, FAST)
    for ticket_id in (1, 2):
        await write_event(ctx, TicketChanged(ticket_id=ticket_id, fields=("status",)))
    await relay.drain()
    await write_event(ctx, TicketChanged(ticket_id=3, fields=("status",)))  # still pending
    first = (await rows(ctx))[0].id
    long_ago = utcnow() - timedelta(days=8)
    async with ctx.db.write() as session:
        await session.execute(update(OutboxEvent).where(OutboxEvent.id == first)
                              .values(created_at=long_ago, available_at=long_ago, done_at=long_ago))
    assert await relay.housekeep() == 1
    assert [(r.payload["ticket_id"], r.status) for r in await rows(ctx)] == [(2, "done"), (3, "pending")]
    assert await Relay(ctx.db, RelaySettings(keep_done_days=0)).housekeep(utcnow() + timedelta(days=30)) == 0


async def test_drain_beside_the_running_relay_delivers_each_event_once(ctx: Context) -> None:
    relay = Relay(ctx.db, FAST)
    seen: list[int] = []

    async def slow(event: Event) -> None:
        assert isinstance(event, TicketChanged)
        await asyncio.sleep(0.01)
        seen.append(event.ticket_id)

    relay.subscribe(TicketChanged.topic, "slow", slow)
    for ticket_id in range(1, 6):
        await write_event(ctx, TicketChanged(ticket_id=ticket_id, fields=("status",)))
    relay.start()
    await asyncio.gather(relay.drain(), relay.drain())
    await relay.stop()
    assert sorted(seen) == [1, 2, 3, 4, 5]


async def test_a_dead_letter_is_reported_to_its_subscriber_once(ctx: Context) -> None:
    relay = Relay(ctx.db, FAST)
    reported: list[tuple[Event, str]] = []

    async def broken(_: Event) -> None:
        raise ConnectionError("provider gone")

    async def gave_up(event: Event, error: str) -> None:
        reported.append((event, error))

    relay.subscribe(TicketChanged.topic, "broken", broken, on_dead=gave_up)
    await write_event(ctx, TicketChanged(ticket_id=3, fields=("status",)))
    await relay.drain()
    assert [(e, "provider gone" in msg) for e, msg in reported] == [(TicketChanged(ticket_id=3, fields=("status",)),
                                                                       True)]


async def test_the_claim_takes_the_oldest_due_events_of_both_kinds_up_to_a_batch(ctx: Context) -> None:
    relay = Relay(ctx.db, RelaySettings(batch_size=3))
    for ticket in range(1, 7):
        await write_event(ctx, TicketChanged(ticket_id=ticket, fields=("status",)))
    ids = [r.id for r in await rows(ctx)]
    async with ctx.db.write() as session:  # 1: claimed by a process that died; 2: a retry not due yet
        await session.execute(update(OutboxEvent).where(OutboxEvent.id == ids[0]).values(
            status="claimed", claimed_until=utcnow() - timedelta(seconds=1)))
        await session.execute(update(OutboxEvent).where(OutboxEvent.id == ids[1]).values(
            available_at=utcnow() + timedelta(hours=1)))
    claimed = await ctx.db.run_write(lambda session: relay._claim(session, utcnow()))
    assert [c.id for c in claimed] == [ids[0], ids[2], ids[3]]


async def test_the_claim_walks_an_index_in_id_order_on_sqlite(ctx: Context) -> None:
    """However many events wait, the claim of pending events reads one batch: no sort of every due event. (SQLite
    has no statistics and took the (status, available_at) index and a sort before the unary + of _DUE_SQLITE.)"""
    if not ctx.db.is_sqlite:
        pytest.skip("SQLite's query plan")
    pending = str(_DUE_SQLITE[0].compile(dialect=sqlite.dialect()))
    with sqlite3.connect(ctx.settings.data_path / "contactcenter.db") as connection:
        plan = " ".join(row[-1] for row in connection.execute(
            f"EXPLAIN QUERY PLAN {pending}", ("pending", "2030-01-01 00:00:00.000000", 10, 0)))
    assert "ix_outbox_status_id" in plan and "TEMP B-TREE" not in plan, plan
