"""Live chat over real WebSockets: V visitors each send M messages (waiting for each ack), then an agent
replies once on every chat and we time the push until the visitor's socket receives it.

    python bench/chat.py                         # starts its own server on SQLite in a temporary folder
    python bench/chat.py --postgres postgresql+asyncpg://postgres@127.0.0.1:5432/test

Prints acked messages/s with p50/p99 ack latency, the reply push latency (API commit -> relay ->
delivery -> hub -> socket), checks that every message is stored exactly once, and ends with one JSON line.
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/email.py and bench/queue.py must not shadow the standard library's email and queue packages.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import asyncio
import json
import os
import subprocess
import tempfile
import time
from importlib.util import module_from_spec, spec_from_file_location
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
TEXTS = ["سلام، سفارشم هنوز نرسیده", "My card was charged twice.", "رمز عبورم را فراموش کرده‌ام", "Where is my refund?"]


_spec = spec_from_file_location("bench_intake", Path(__file__).resolve().parent / "intake.py")
assert _spec is not None and _spec.loader is not None
_intake = module_from_spec(_spec)
_spec.loader.exec_module(_intake)
own_server, stored_messages = _intake.own_server, _intake.stored_messages


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000


def agent_token(env: dict[str, str]) -> str:
    cli = [sys.executable, "-m", "contactcenter", "admin"]
    subprocess.run([*cli, "create-user", "--email", "bench@example.com", "--name", "Bench", "--password",
                    "bench-password-123"], env=env, cwd=ROOT, check=True, capture_output=True)
    out = subprocess.run([*cli, "create-token", "--email", "bench@example.com"], env=env, cwd=ROOT,
                         check=True, capture_output=True, text=True).stdout
    return next(word for word in out.split() if word.startswith("cc_"))


async def frame_of(ws: aiohttp.ClientWebSocketResponse, kind: str) -> dict[str, Any]:
    while True:
        frame: dict[str, Any] = await ws.receive_json(timeout=60)
        if frame["type"] == kind:
            return frame


async def visitor(session: aiohttp.ClientSession, url: str, index: int, messages: int,
                  latencies: list[float]) -> tuple[aiohttp.ClientWebSocketResponse, int]:
    ws = await session.ws_connect(url.replace("http", "ws") + "/chat/ws")
    await ws.send_json({"type": "hello", "last_seen": 0, "prechat": {"name": f"Visitor {index}"}})
    await frame_of(ws, "welcome")
    ticket = 0
    for n in range(messages):
        started = time.perf_counter()
        await ws.send_json({"type": "message", "client_id": f"b{index}-{n}", "text": TEXTS[(index + n) % 4]})
        ticket = (await frame_of(ws, "ack"))["ticket"]
        latencies.append(time.perf_counter() - started)
    return ws, ticket


async def run(url: str, env: dict[str, str], database_url: str, visitors: int, messages: int) -> dict[str, Any]:
    token = agent_token(env)
    headers = {"Authorization": f"Bearer {token}"}
    latencies: list[float] = []
    pushes: list[float] = []
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        async with session.put(url + "/api/v1/agents/me/presence", json={"presence": "available"},
                               headers=headers) as response:
            assert response.status == 200
        started = time.perf_counter()
        chats = await asyncio.gather(*(visitor(session, url, i, messages, latencies) for i in range(visitors)))
        elapsed = time.perf_counter() - started

        async def reply(ws: aiohttp.ClientWebSocketResponse, ticket: int) -> None:
            begun = time.perf_counter()
            async with session.post(f"{url}/api/v1/tickets/{ticket}/replies", json={"text": "On it."},
                                    headers=headers) as response:
                assert response.status == 201
            await frame_of(ws, "message")
            pushes.append(time.perf_counter() - begun)

        await asyncio.sleep(4.0)  # let the relay (router included) finish the messages' events: time the replies alone
        await asyncio.gather(*(reply(ws, ticket) for ws, ticket in chats))
        for ws, _ in chats:
            await ws.close()
    total = visitors * messages
    return {"bench": "chat", "visitors": visitors, "messages_per_visitor": messages, "messages": total,
            "seconds": round(elapsed, 3), "messages_per_s": round(total / elapsed, 1),
            "ack_p50_ms": round(percentile(latencies, 0.5), 1), "ack_p99_ms": round(percentile(latencies, 0.99), 1),
            "reply_push_p50_ms": round(percentile(pushes, 0.5), 1),
            "reply_push_p99_ms": round(percentile(pushes, 0.99), 1),
            "chat_tickets": len({ticket for _, ticket in chats}), "stored": await stored_messages(database_url, "chat")}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--visitors", type=int, default=50)
    parser.add_argument("--messages", type=int, default=20)
    parser.add_argument("--postgres", help="a PostgreSQL server URL; the benchmark makes its own database there")
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="cc-chat-bench-"))
    limits_off = {"CC_CHAT__RATE_PER_IP": "0", "CC_CHAT__RATE_PER_VISITOR": "0"}
    async with own_server(args.postgres, limits_off, data=data) as (url, database_url):
        env = {**os.environ, "CC_SERVER__DATA_DIR": str(data)}  # for the admin commands that make the agent
        if args.postgres:
            env["CC_DATABASE__URL"] = database_url
        figures = await run(url, env, database_url, args.visitors, args.messages)
        figures["database"] = "postgresql" if args.postgres else "sqlite"
    print(f"{figures['messages']} chat messages from {args.visitors} visitors: {figures['messages_per_s']}/s, "
          f"ack p50 {figures['ack_p50_ms']} ms, p99 {figures['ack_p99_ms']} ms; reply push p50 "
          f"{figures['reply_push_p50_ms']} ms, p99 {figures['reply_push_p99_ms']} ms")
    assert figures["chat_tickets"] == args.visitors, "one ticket per visitor"
    assert figures["stored"] == figures["messages"], "every message stored exactly once"
    print(json.dumps(figures))


if __name__ == "__main__":
    asyncio.run(main())
