"""Intake throughput over HTTP: N web-form messages at concurrency C, new tickets and follow-ups mixed.

    python bench/intake.py                       # starts its own server on SQLite in a temporary folder
    python bench/intake.py --postgres postgresql+asyncpg://postgres@127.0.0.1:5432/test
    python bench/intake.py --url http://127.0.0.1:8080   # a running server (its rate limits must allow it)

Prints messages/s with p50/p99 latency and ends with one JSON line of the figures. When it started the
server itself, it also checks that every accepted message is stored exactly once.
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
import sqlite3
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.servers import free_port, wait_healthy

__all__ = ["free_port", "own_server", "run", "stored_messages"]  # what the other bench scripts use
TEXTS = [
    "My card payment was charged twice, please refund one of them.",
    "The app closes as soon as I enter my password on Android.",
    "سلام، مبلغ خرید من دو بار از حسابم کم شده است. لطفاً بررسی کنید.",
    "I want to change the phone number on my account.",
    "رمز عبورم را فراموش کرده‌ام و کد تأیید برایم نمی‌آید.",
]


async def _pg_admin(server_url: str, statement: str) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine
    engine = create_async_engine(server_url, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(statement))
    await engine.dispose()


@asynccontextmanager
async def own_server(postgres: str | None, extra_env: dict[str, str] | None = None,
                     data: Path | None = None) -> AsyncIterator[tuple[str, str]]:
    """Start `contactcenter serve` on a fresh database (rate limits off, plus ``extra_env`` settings);
    yield its URL and database URL once it answers. Other bench scripts use this too."""
    data = data or Path(tempfile.mkdtemp(prefix="cc-bench-"))
    port = free_port()
    env = {**os.environ, "CC_SERVER__PORT": str(port), "CC_SERVER__DATA_DIR": str(data),
           "CC_SERVER__LOG_LEVEL": "WARNING", "CC_WEBFORM__RATE_PER_IP": "0", "CC_WEBFORM__RATE_PER_ADDRESS": "0",
           "CC_EMAIL__ENABLED": "false", **(extra_env or {})}
    db_name = f"cc_bench_{os.getpid()}"
    database_url = f"sqlite:///{data / 'contactcenter.db'}"
    if postgres:
        await _pg_admin(postgres, f'CREATE DATABASE "{db_name}"')
        env["CC_DATABASE__URL"] = database_url = f"{postgres.rsplit('/', 1)[0]}/{db_name}"
    server = subprocess.Popen([sys.executable, "-m", "contactcenter", "serve"], env=env, cwd=ROOT)  # noqa: ASYNC220
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:
            await wait_healthy(session, [url], 20)
        yield url, database_url
    finally:
        server.terminate()
        server.wait(timeout=30)
        if postgres:
            await _pg_admin(postgres, f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        shutil.rmtree(data, ignore_errors=True)


async def stored_messages(database_url: str, channel: str | None = None) -> int:
    """Inbound messages stored (on one channel, if given)."""
    query = ("SELECT count(*) FROM messages WHERE direction = 'in' AND channel = :channel" if channel
             else "SELECT count(*) FROM messages WHERE direction = 'in'")
    params = {"channel": channel} if channel else {}
    if database_url.startswith("sqlite"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as conn:
            return int(conn.execute(query, params).fetchone()[0])
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine
    engine = create_async_engine(database_url)
    async with engine.connect() as conn:
        count = (await conn.execute(text(query), params)).scalar_one()
    await engine.dispose()
    return int(count)


async def run(url: str, total: int, concurrency: int, contacts: int, follow_up: float,
              seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    tokens: list[str] = []  # portal tokens of tickets created so far
    latencies: list[float] = []
    errors: dict[str, int] = {}
    kinds = {"new": 0, "follow_up": 0}
    accepted = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(total):
        queue.put_nowait(i)

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal accepted
        while True:
            try:
                i = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            text = rng.choice(TEXTS)
            key = uuid.uuid4().hex
            if tokens and rng.random() < follow_up:
                kind = "follow_up"
                path = f"/api/v1/portal/{rng.choice(tokens)}/messages"
                body: dict[str, Any] = {"text": f"{text} (follow-up {i})"}
            else:
                kind = "new"
                person = rng.randrange(contacts)
                path = "/api/v1/webform"
                body = {"name": f"Customer {person}", "email": f"customer{person}@bench.example",
                        "subject": f"Request {i}", "message": text, "topic": rng.choice(["billing", "technical"])}
            started = time.perf_counter()
            try:
                async with session.post(url + path, json=body, headers={"Idempotency-Key": key}) as response:
                    payload = await response.json()
                    status = response.status
            except aiohttp.ClientError as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                continue
            latencies.append(time.perf_counter() - started)
            if status in (200, 201):
                accepted += 1
                kinds[kind] += 1
                if kind == "new" and payload.get("portal_url"):
                    tokens.append(payload["portal_url"].rsplit("/", 1)[1])
            else:
                errors[str(status)] = errors.get(str(status), 0) + 1

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1000, 2) if latencies else 0.0

    return {"messages": total, "accepted": accepted, "new": kinds["new"], "follow_ups": kinds["follow_up"],
            "errors": errors, "concurrency": concurrency, "seconds": round(elapsed, 2),
            "messages_per_s": round(accepted / elapsed, 1), "p50_ms": pct(0.5), "p99_ms": pct(0.99),
            "max_ms": pct(1.0)}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--messages", type=int, default=20_000)
    parser.add_argument("-c", "--concurrency", type=int, default=32)
    parser.add_argument("--contacts", type=int, default=2_000)
    parser.add_argument("--follow-up", type=float, default=0.3, help="share of follow-ups on earlier tickets")
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--url", help="a running server instead of starting one")
    parser.add_argument("--postgres", help="start the server on a fresh database on this PostgreSQL server URL")
    args = parser.parse_args()

    async def measure(url: str) -> dict[str, Any]:
        if args.warmup:
            await run(url, args.warmup, args.concurrency, args.contacts, args.follow_up, args.seed + 1)
        return await run(url, args.messages, args.concurrency, args.contacts, args.follow_up, args.seed)

    if args.url:
        figures = await measure(args.url)
        figures["database"] = "as configured on the target"
    else:
        async with own_server(args.postgres) as (url, database_url):
            figures = await measure(url)
            stored = await stored_messages(database_url)
            sent = args.messages + args.warmup
            figures["database"] = "postgresql" if args.postgres else "sqlite"
            figures["stored_exactly_once"] = stored == figures["accepted"] + (sent - args.messages
                                                                                if args.warmup else 0)
            figures["stored"] = stored
    print(f"{figures['accepted']} of {figures['messages']} messages accepted in {figures['seconds']} s: "
          f"{figures['messages_per_s']} messages/s, p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms "
          f"(concurrency {figures['concurrency']}, {figures['database']})")
    print(json.dumps({"bench": "intake", **figures}))


if __name__ == "__main__":
    asyncio.run(main())
