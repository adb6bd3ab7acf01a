"""The machine's yardstick: a bare aiohttp handler that stores each request with one SQLite insert.

    python bench/baseline.py            # 20,000 requests at concurrency 32, the same client as bench/intake.py

Issue 2 gives its intake target next to this figure ("about 5,000 requests/s here"). The VM's speed changes
from hour to hour, so BENCHMARKS.md records this figure beside intake's to tell a slower machine from slower
code. Ends with one JSON line.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import asyncio
import json
import os
import subprocess
import tempfile

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from intake import run  # its client; importing it also makes the repository importable

from tests.servers import free_port, wait_healthy

SERVER = """
import sqlite3, sys
from aiohttp import web
db = sqlite3.connect(sys.argv[2], isolation_level=None)
db.execute("PRAGMA journal_mode=WAL"); db.execute("PRAGMA synchronous=NORMAL")
db.execute("CREATE TABLE IF NOT EXISTS messages (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
async def store(request):
    body = await request.text()
    row = db.execute("INSERT INTO messages (body) VALUES (?)", (body,)).lastrowid
    return web.json_response({"id": row}, status=201)
app = web.Application()
app.router.add_post("/{tail:.*}", store)
app.router.add_get("/health", lambda request: web.json_response({"ok": True}))
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--requests", type=int, default=20_000)
    parser.add_argument("-c", "--concurrency", type=int, default=32)
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="cc-baseline-") as data:
        server = subprocess.Popen([sys.executable, "-c", SERVER, str(port), os.path.join(data, "bare.db")])  # noqa: ASYNC220
        url = f"http://127.0.0.1:{port}"
        try:
            async with aiohttp.ClientSession() as session:
                await wait_healthy(session, [url], 20)
            await run(url, 500, args.concurrency, 2_000, 0.0, 8)
            figures = await run(url, args.requests, args.concurrency, 2_000, 0.0, 7)
        finally:
            server.terminate()
            server.wait()
    print(f"bare aiohttp + one SQLite insert: {figures['messages_per_s']} requests/s, "
          f"p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms (concurrency {args.concurrency})")
    print(json.dumps({"bench": "baseline", **figures}))


if __name__ == "__main__":
    asyncio.run(main())
