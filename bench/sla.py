"""SLA sweeper speed: how late warnings and breaches fire among many running clocks, and the cost per fired timer.

    python bench/sla.py                          # 100,000 and 1,000,000 pending timers, SQLite in a temporary folder
    python bench/sla.py --sizes 10000 --due 500  # a quick run
    python bench/sla.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test   # PostgreSQL

On PostgreSQL each size gets a database of its own on that server (``bench_sla_<pid>_<size>``), dropped at the end;
the database named in the URL is only used to create and drop it.

For each size, the database holds that many pending timers (due over the next 30 days, for 10,000 tickets) —
the running clocks — plus ``--due`` real tickets whose first-response breach falls in the next few seconds
(``--spread`` seconds after a 2-second lead), computed by the service from their history. Then:

- lateness: the real background sweeper runs (``SlaService.start``) until every due breach fired; lateness is
  the ``sla.breached`` audit row's time minus the timer's due time (both UTC, written by the same process);
- cost: the same number of timers made due at once and fired by one ``tick(now)``; wall time / fired
  (each firing recomputes its ticket, claims the row, writes an audit row and an outbox event).

Ends with one JSON line of the figures.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import asyncio
import json
import os
import random
import shutil
import sqlite3
import tempfile
import time
from datetime import timedelta
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import create_async_engine

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from contactcenter.db.engine import Database
from contactcenter.db.migrate import upgrade
from contactcenter.db.models import AuditEvent, Contact, SlaPolicy, SlaTimer, Ticket
from contactcenter.db.types import utcnow
from contactcenter.settings import SlaSettings
from contactcenter.sla.service import SlaService

BACKGROUND_TICKETS = 10_000
TARGET = timedelta(minutes=60)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * p))], 4) if ordered else 0.0


async def seed(db: Database, size: int) -> None:
    """A policy (around the clock, first response only, no warnings), a contact, and ``size`` pending timers."""
    now = utcnow()
    async with db.write() as session:
        session.add(SlaPolicy(name="Bench", position=1, conditions={}, calendar={"business_hours": False},
                              targets={"first_response_minutes": 60, "warn_percent": [], "warn_before_minutes": []}))
        session.add(Contact(name="Bench"))
    rng = random.Random(6)
    tickets = [{"subject": "bench", "status": "open", "priority": "normal", "type": "question", "channel": "email",
                "language": "en", "contact_id": 1, "requirements": {}, "created_at": now, "updated_at": now,
                "last_message_at": now} for _ in range(BACKGROUND_TICKETS)]
    async with db.write() as session:
        await session.execute(insert(Ticket), tickets)
    per_ticket = max(1, size // BACKGROUND_TICKETS)
    chunk: list[dict[str, Any]] = []
    made = 0
    for ticket_id in range(1, BACKGROUND_TICKETS + 1):
        for cycle in range(per_ticket):
            if made == size:
                break
            due = now + timedelta(seconds=rng.uniform(3600, 30 * 86400))
            chunk.append({"ticket_id": ticket_id, "metric": "next_response", "cycle": cycle + 1, "point": "breach",
                          "due_at": due, "state": "pending", "policy_id": 1, "updated_at": now})
            made += 1
        if len(chunk) >= 50_000 or ticket_id == BACKGROUND_TICKETS:
            async with db.write() as session:
                await session.execute(insert(SlaTimer), chunk)
            chunk = []


async def due_tickets(db: Database, service: SlaService, count: int, first_due_in: float, spread: float) -> None:
    """``count`` tickets whose first-response breach is due between now + first_due_in and + spread seconds."""
    now = utcnow()
    rows = []
    for i in range(count):
        due = now + timedelta(seconds=first_due_in + spread * i / max(1, count))
        created = due - TARGET
        rows.append({"subject": "due", "status": "open", "priority": "normal", "type": "question", "channel": "email",
                     "language": "en", "contact_id": 1, "requirements": {}, "created_at": created,
                     "updated_at": created, "last_message_at": created})
    async with db.write() as session:
        first = (await session.scalar(select(func.max(Ticket.id)))) or 0
        await session.execute(insert(Ticket), rows)
    ids = list(range(first + 1, first + count + 1))
    for start in range(0, len(ids), 500):
        await service.recompute(ids[start:start + 500])


async def fired_breaches(db: Database) -> int:
    async with db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(AuditEvent)
                                        .where(AuditEvent.action == "sla.breached")) or 0)


async def admin_sql(server_url: str, statement: str) -> None:
    engine = create_async_engine(server_url, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(statement))
    await engine.dispose()


def database_url(folder: Path, server_url: str, size: int) -> str:
    if not server_url:
        return f"sqlite+aiosqlite:///{folder / f'sla-{size}.db'}"
    return f"{server_url.rsplit('/', 1)[0]}/bench_sla_{os.getpid()}_{size}"


async def one_size(folder: Path, server_url: str, size: int, due: int, spread: float) -> dict[str, Any]:
    url = database_url(folder, server_url, size)
    if server_url:
        await admin_sql(server_url, f'CREATE DATABASE "{url.rsplit("/", 1)[1]}"')
    try:
        return await measure(url, size, due, spread)
    finally:
        if server_url:
            await admin_sql(server_url, f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


async def measure(url: str, size: int, due: int, spread: float) -> dict[str, Any]:
    db = Database(url)
    await upgrade(db.engine)
    started = time.perf_counter()
    await seed(db, size)
    seeded = time.perf_counter() - started
    if db.engine.dialect.name == "postgresql":
        # A live server's autovacuum keeps statistics and the visibility map current; right after a bulk load they
        # are missing, and autovacuum would start on the 1,000,000 rows in the middle of the measurement.
        async with db.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("VACUUM ANALYZE"))
    else:
        # Likewise on SQLite: fold the bulk load's write-ahead log into the database file and gather statistics,
        # as a server that has been running holds them (not a 20-transaction WAL checkpointed under the sweeper).
        plain = sqlite3.connect(url.split(":///", 1)[1], isolation_level=None)
        plain.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        plain.execute("ANALYZE")
        plain.close()
    service = SlaService(db, SlaSettings(max_sleep_seconds=30.0, batch_size=200))

    # lateness: the real background sweeper
    await due_tickets(db, service, due, 2.0, spread)
    service.start()
    deadline = time.monotonic() + 2.0 + spread + 120
    while await fired_breaches(db) < due and time.monotonic() < deadline:  # noqa: ASYNC110 (polls the database)
        await asyncio.sleep(0.5)
    await service.stop()
    async with db.read() as session:
        rows = (await session.execute(select(AuditEvent.created_at, AuditEvent.changes)
                                      .where(AuditEvent.action == "sla.breached"))).all()
    from datetime import datetime
    late = [(at - datetime.fromisoformat(str(changes["due_at"]))).total_seconds() for at, changes in rows]

    # cost: a burst all due at once, one tick
    await due_tickets(db, service, due, 0.0, 0.0)
    before = await fired_breaches(db)
    tick_started = time.perf_counter()
    fired = await service.tick(utcnow() + timedelta(seconds=1))
    cost = time.perf_counter() - tick_started
    assert await fired_breaches(db) - before == fired
    async with db.read() as session:
        pending = await session.scalar(select(func.count()).select_from(SlaTimer).where(SlaTimer.state == "pending"))
    await db.dispose()
    return {"pending_timers": pending, "seed_seconds": round(seeded, 1), "fired": len(late),
            "lateness_p50_s": pct(late, 0.5), "lateness_p99_s": pct(late, 0.99),
            "lateness_max_s": round(max(late), 4) if late else 0.0,
            "burst": fired, "cost_per_fired_ms": round(1000 * cost / max(1, fired), 3)}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--due", type=int, default=2000, help="timers due during the run (and in the burst)")
    parser.add_argument("--spread", type=float, default=10.0, help="seconds over which they fall due")
    parser.add_argument("--database-url", default="", help="a PostgreSQL server (postgresql+asyncpg://...); "
                        "default: SQLite in a temporary folder")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-sla-"))
    results: dict[str, Any] = {"bench": "sla", "database": "postgresql" if args.database_url else "sqlite",
                               "due": args.due, "spread_s": args.spread}
    try:
        for size in args.sizes:
            results[str(size)] = await one_size(folder, args.database_url, size, args.due, args.spread)
            print(f"{size}: {results[str(size)]}", file=sys.stderr)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(json.dumps(results))


if __name__ == "__main__":
    asyncio.run(main())
