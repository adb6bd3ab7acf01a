"""Routing speed: decision latency with 1,000 agents, 50 skills and 10,000 waiting tickets, and the time
from an inbound message to the agent's offer at 200 messages/s.

    python bench/routing.py                      # SQLite in a temporary folder
    python bench/routing.py --postgres postgresql+asyncpg://postgres@127.0.0.1:5432/test

Decisions are measured in-process on a seeded database: the policy's choice over the board alone, a whole
routing transaction for one ticket (choice, check in the database, offer written, commit), and a free agent
picking the most urgent of the 10,000 waiting tickets. Then `contactcenter serve` runs on a second seeded
database and web-form messages arrive at a steady rate; the latency is the offer's creation time minus the
message's arrival time (both taken by the server). Ends with one JSON line of the figures.
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/email.py is named as the issue asks: this folder must not shadow the standard library's email package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import asyncio
import json
import os
import random
import shutil
import tempfile
import time
from datetime import timedelta
from importlib.util import module_from_spec, spec_from_file_location
from typing import Any

import aiohttp
from sqlalchemy import func, insert, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from contactcenter.db.engine import Database
from contactcenter.db.migrate import upgrade
from contactcenter.db.models import AgentSkill, Contact, Message, Offer, Skill, Ticket, User
from contactcenter.db.types import utcnow
from contactcenter.settings import load_settings
from routing.router import Router
from routing.store import base_need, ticket_facts

_spec = spec_from_file_location("bench_intake", Path(__file__).resolve().parent / "intake.py")
assert _spec is not None and _spec.loader is not None
_intake = module_from_spec(_spec)
_spec.loader.exec_module(_intake)
own_server, pg_admin = _intake.own_server, _intake._pg_admin

TOPIC_SKILLS = ["general", "billing", "technical", "complaints"]  # the web form's topics route to these
PRIORITIES = ["low"] * 2 + ["normal"] * 5 + ["high"] * 2 + ["urgent"]


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * p))], 3) if ordered else 0.0


async def seed(db: Database, *, agents: int, skills: int, waiting: int, seed_value: int,
               capacity: dict[str, int]) -> None:
    """Skills, available agents with 5 skills each and waiting tickets, inserted in bulk."""
    rng = random.Random(seed_value)
    names = TOPIC_SKILLS + [f"skill{i:02d}" for i in range(skills - len(TOPIC_SKILLS))]
    now = utcnow()
    async with db.write() as session:
        await session.execute(insert(Skill), [{"id": i + 1, "name": n, "description": ""} for i, n in enumerate(names)])
        await session.execute(insert(User), [
            {"id": i + 1, "email": f"agent{i}@bench.example", "name": f"Agent {i}", "role": "agent", "is_active": True,
             "languages": rng.choice([["en"], ["en", "fa"], ["fa"]]), "capacity": capacity, "presence": "available",
             "presence_changed_at": now - timedelta(seconds=rng.randrange(3600)), "created_at": now,
             "missed_offers": 0} for i in range(agents)])
        await session.execute(insert(AgentSkill), [
            {"user_id": i + 1, "skill_id": s + 1, "level": rng.randint(1, 5)}
            for i in range(agents) for s in rng.sample(range(len(names)), 5)])
        if waiting:
            await session.execute(insert(Contact), [{"id": 1, "name": "Waiting customer", "notes": "",
                                                     "created_at": now, "updated_at": now}])
            rows = []
            for i in range(waiting):
                queue = rng.choice(names)
                since = now - timedelta(seconds=rng.randrange(1800))
                language = rng.choice(["en", "en", "fa"])
                rows.append({"id": i + 1, "subject": f"Waiting {i}", "status": "new",
                             "priority": rng.choice(PRIORITIES), "type": "question", "channel": "webform",
                             "language": language, "contact_id": 1,
                             "queue": queue, "routing_queue": queue, "ring": 0, "waiting_since": since,
                             # half of them under an SLA clock (the free agent reads them by due time too)
                             "sla_due_at": since + timedelta(minutes=rng.randrange(30, 480)) if i % 2 else None,
                             "requirements": {"skills": {queue: rng.randint(1, 3)}, "language": language,
                                              "channel": "webform"},
                             "created_at": since, "updated_at": since, "last_message_at": since})
            await session.execute(insert(Ticket), rows)


async def decisions(database_url: str, args: argparse.Namespace) -> dict[str, Any]:
    settings = load_settings(environ={}).routing
    db = Database(database_url)
    await upgrade(db.engine)
    await seed(db, agents=args.agents, skills=args.skills, waiting=args.waiting, seed_value=args.seed,
               capacity={"email": 1000, "chat": 3})
    router = Router(db, settings)
    rng = random.Random(args.seed)
    await router._run(lambda session, now: None)  # loads the board
    async with db.read() as session:
        sample = rng.sample(range(1, args.waiting + 1), min(args.samples, args.waiting))
        facts = await session.run_sync(lambda s: ticket_facts(s, sample))
    now = utcnow()
    pure: list[float] = []
    for ticket_id in sample:
        need = base_need(facts[ticket_id], settings)
        started = time.perf_counter()
        router.board.choose(need, now, strategy=router.strategy, voice_blocks=True)
        pure.append((time.perf_counter() - started) * 1000)
    whole: list[float] = []
    for ticket_id in sample[: args.transactions]:
        started = time.perf_counter()
        await router._run(lambda session, now, t=ticket_id: router._route_ticket(session, t, now))
        whole.append((time.perf_counter() - started) * 1000)
    async with db.read() as session:
        offered = await session.scalar(select(func.count()).select_from(Offer))
    # A free agent takes the most urgent ticket it can: agents with exactly one free e-mail slot.
    async with db.write() as session:
        await session.execute(User.__table__.update().values(capacity={"email": 1, "chat": 0, "voice": 0,
                                                                        "messaging": 0}))
    await router._run(lambda session, now: router.board.replace_all([]))
    router._loaded = False
    freed: list[float] = []
    for user_id in rng.sample(range(1, args.agents + 1), min(args.transactions, args.agents)):
        started = time.perf_counter()
        await router._run(lambda session, now, u=user_id: router._route_agent(session, u, now))
        freed.append((time.perf_counter() - started) * 1000)
    async with db.read() as session:
        offered_total = await session.scalar(select(func.count()).select_from(Offer))
    await db.dispose()
    return {"agents": args.agents, "skills": args.skills, "waiting": args.waiting,
            "decision_ms_p50": pct(pure, 0.5), "decision_ms_p99": pct(pure, 0.99),
            "route_ticket_tx_ms_p50": pct(whole, 0.5), "route_ticket_tx_ms_p99": pct(whole, 0.99),
            "offers_for_tickets": offered, "free_agent_tx_ms_p50": pct(freed, 0.5),
            "free_agent_tx_ms_p99": pct(freed, 0.99), "offers_for_free_agents": (offered_total or 0) - (offered or 0)}


async def end_to_end(args: argparse.Namespace) -> dict[str, Any]:
    data = Path(tempfile.mkdtemp(prefix="cc-bench-routing-"))
    env = {"CC_ROUTING__OFFER_TIMEOUT": '{"email": 60, "chat": 30, "voice": 20, "messaging": 60}'}
    async with own_server(args.postgres, env, data=data) as (url, database_url):
        db = Database(database_url.replace("sqlite:///", "sqlite+aiosqlite:///"))
        await seed(db, agents=args.agents, skills=args.skills, waiting=0, seed_value=args.seed,
                   capacity={"email": 1000})
        rng = random.Random(args.seed)
        statuses: dict[int, int] = {}
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as http:
            async def post(i: int) -> None:
                body = {"name": f"Customer {i}", "email": f"c{i}@customers.example", "subject": f"Question {i}",
                        "message": rng.choice(_intake.TEXTS), "topic": rng.choice(["general", "billing", "technical"])}
                async with http.post(url + "/api/v1/webform", json=body,
                                     headers={"Idempotency-Key": f"routing-{i}"}) as response:
                    statuses[response.status] = statuses.get(response.status, 0) + 1

            started = time.perf_counter()
            tasks = []
            for i in range(args.messages):  # open loop: one message every 1/rate seconds, whatever the answers
                delay = started + i / args.rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(post(i)))
            await asyncio.gather(*tasks)
            sent_for = time.perf_counter() - started
        await asyncio.sleep(2)  # let the last events reach the router
        async with db.read() as session:
            rows = (await session.execute(
                select(Message.created_at, Ticket.created_at, func.min(Offer.created_at))
                .join(Offer, Offer.ticket_id == Message.ticket_id).join(Ticket, Ticket.id == Message.ticket_id)
                .where(Message.direction == "in").group_by(Message.id, Message.created_at, Ticket.created_at))).all()
            tickets = await session.scalar(select(func.count()).select_from(Ticket))
        await db.dispose()
    shutil.rmtree(data, ignore_errors=True)
    latencies = [(offered - arrived).total_seconds() * 1000 for arrived, _, offered in rows]
    to_batch = [(opened - arrived).total_seconds() * 1000 for arrived, opened, _ in rows]  # waiting for intake
    return {"messages": args.messages, "rate_target": args.rate, "rate_sent": round(args.messages / sent_for, 1),
            "answers": statuses, "tickets": tickets, "offered": len(latencies),
            "message_to_offer_ms_p50": pct(latencies, 0.5), "message_to_offer_ms_p99": pct(latencies, 0.99),
            "message_to_offer_ms_max": pct(latencies, 1.0),
            "of_which_until_intake_batch_ms_p50": pct(to_batch, 0.5),
            "of_which_until_intake_batch_ms_p99": pct(to_batch, 0.99)}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int, default=1_000)
    parser.add_argument("--skills", type=int, default=50)
    parser.add_argument("--waiting", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=5_000, help="pure decisions measured")
    parser.add_argument("--transactions", type=int, default=500, help="routing transactions measured")
    parser.add_argument("--messages", type=int, default=3_000, help="messages sent in the end-to-end part")
    parser.add_argument("--rate", type=float, default=200.0, help="messages per second in the end-to-end part")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--postgres", help="a PostgreSQL server URL: each part runs on a fresh database there")
    args = parser.parse_args()
    load = [round(x, 2) for x in os.getloadavg()]
    if args.postgres:
        name = f"cc_bench_routing_{os.getpid()}"
        await pg_admin(args.postgres, f'CREATE DATABASE "{name}"')
        try:
            figures = await decisions(f"{args.postgres.rsplit('/', 1)[0]}/{name}", args)
        finally:
            await pg_admin(args.postgres, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    else:
        folder = Path(tempfile.mkdtemp(prefix="cc-bench-decisions-"))
        try:
            figures = await decisions(f"sqlite+aiosqlite:///{folder / 'contactcenter.db'}", args)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    print(f"decision over the board: p50 {figures['decision_ms_p50']} ms, p99 {figures['decision_ms_p99']} ms; "
          f"whole routing transaction: p50 {figures['route_ticket_tx_ms_p50']} ms, "
          f"p99 {figures['route_ticket_tx_ms_p99']} ms; free agent picks from {args.waiting:,} waiting: "
          f"p50 {figures['free_agent_tx_ms_p50']} ms, p99 {figures['free_agent_tx_ms_p99']} ms")
    figures.update(await end_to_end(args))
    print(f"message to offer at {figures['rate_sent']} messages/s: p50 {figures['message_to_offer_ms_p50']} ms, "
          f"p99 {figures['message_to_offer_ms_p99']} ms ({figures['offered']} of {figures['messages']} offered)")
    figures.update({"database": "postgresql" if args.postgres else "sqlite", "loadavg_at_start": load,
                    "loadavg_at_end": [round(x, 2) for x in os.getloadavg()]})
    print(json.dumps({"bench": "routing", **figures}))


if __name__ == "__main__":
    asyncio.run(main())
