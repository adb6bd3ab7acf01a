"""Inbound e-mail throughput: N messages from C concurrent SMTP clients against the real listener.

    python bench/email.py                      # starts `contactcenter serve` on SQLite in a temporary folder
    python bench/email.py --postgres postgresql+asyncpg://postgres@127.0.0.1:5432/test
    python bench/email.py -n 5000 -c 8

Each client keeps one SMTP session and sends message after message (as an MTA does); the time of a
message is from MAIL FROM to the 250 after DATA, which the server gives only after the commit. 30% of
the messages reply to an earlier one (In-Reply-To). Prints messages/s, p50/p99 and one JSON line; then
checks that every accepted message was stored exactly once.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is named email.py: its folder must not shadow the standard library's email package.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import argparse
import asyncio
import json
import os
import random
import time
import uuid
from importlib.util import module_from_spec, spec_from_file_location
from typing import Any

import aiosmtplib

_spec = spec_from_file_location("bench_intake", _HERE / "intake.py")
assert _spec is not None and _spec.loader is not None
_intake = module_from_spec(_spec)
_spec.loader.exec_module(_intake)
TEXTS, free_port, own_server, stored_messages = (_intake.TEXTS, _intake.free_port, _intake.own_server,
                                                 _intake.stored_messages)

ROOT = _HERE.parent
SUPPORT = "support@example.com"


def build(i: int, person: int, text: str, reply_to: str | None) -> tuple[str, str, bytes]:
    message_id = f"{uuid.uuid4().hex}@bench.example"
    sender = f"customer{person}@bench.example"
    headers = [f"From: Customer {person} <{sender}>", f"To: {SUPPORT}", f"Subject: Request {i}",
               f"Message-ID: <{message_id}>", "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8",
               "Content-Transfer-Encoding: 8bit"]
    if reply_to:
        headers.append(f"In-Reply-To: <{reply_to}>")
    raw = ("\r\n".join(headers) + "\r\n\r\n" + text + "\r\n").encode()
    return sender, message_id, raw


async def run(port: int, total: int, concurrency: int, contacts: int, follow_up: float, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    sent_ids: dict[int, list[str]] = {}  # person -> Message-IDs accepted
    latencies: list[float] = []
    errors: dict[str, int] = {}
    accepted = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(total):
        queue.put_nowait(i)

    async def client() -> None:
        nonlocal accepted
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=60)
        await smtp.connect()
        try:
            while True:
                try:
                    i = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                person = rng.randrange(contacts)
                earlier = sent_ids.get(person)
                reply_to = rng.choice(earlier) if earlier and rng.random() < follow_up else None
                sender, message_id, raw = build(i, person, rng.choice(TEXTS), reply_to)
                started = time.perf_counter()
                try:
                    await smtp.sendmail(sender, [SUPPORT], raw)
                except aiosmtplib.SMTPException as exc:
                    errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                    if smtp.is_connected:
                        await smtp.quit()
                    smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=60)
                    await smtp.connect()
                    continue
                latencies.append(time.perf_counter() - started)
                accepted += 1
                sent_ids.setdefault(person, []).append(message_id)
        finally:
            if smtp.is_connected:
                await smtp.quit()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1000, 2) if latencies else 0.0

    return {"messages": total, "accepted": accepted, "errors": errors, "concurrency": concurrency,
            "seconds": round(elapsed, 2), "messages_per_s": round(accepted / elapsed, 1),
            "p50_ms": pct(0.5), "p99_ms": pct(0.99), "max_ms": pct(1.0)}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--messages", type=int, default=10_000)
    parser.add_argument("-c", "--concurrency", type=int, default=32)
    parser.add_argument("--contacts", type=int, default=2_000)
    parser.add_argument("--follow-up", type=float, default=0.3)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--postgres", help="start the server on a fresh database on this PostgreSQL server URL")
    args = parser.parse_args()
    port = free_port()
    smtp = {"CC_EMAIL__PORT": str(port), "CC_EMAIL__SUPPORT_ADDRESSES": SUPPORT}
    async with own_server(args.postgres, smtp) as (_, database_url):
        warm = 0
        if args.warmup:
            warm = (await run(port, args.warmup, args.concurrency, args.contacts, args.follow_up,
                              args.seed + 1))["accepted"]
        figures = await run(port, args.messages, args.concurrency, args.contacts, args.follow_up, args.seed)
        count = await stored_messages(database_url, "email")
    figures["database"] = "postgresql" if args.postgres else "sqlite"
    figures["stored"] = count
    figures["stored_exactly_once"] = count == figures["accepted"] + warm
    figures["loadavg"] = [round(x, 2) for x in os.getloadavg()]
    print(f"{figures['accepted']} of {figures['messages']} e-mails accepted in {figures['seconds']} s: "
          f"{figures['messages_per_s']} messages/s, p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms to 250 "
          f"(concurrency {figures['concurrency']}, {figures['database']}, load {figures['loadavg']})")
    print(json.dumps({"bench": "email", **figures}))


if __name__ == "__main__":
    asyncio.run(main())
