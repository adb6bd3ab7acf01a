"""The agent's queue pages and ticket search over a large data set, measured over HTTP.

    python bench/queue.py                                     # SQLite in a temporary folder, 1,000,000 tickets
    python bench/queue.py --data-dir /tmp/ccq --keep          # keep the loaded data set afterwards ...
    python bench/queue.py --data-dir /tmp/ccq --reuse         # ... and measure it again without reloading
    python bench/queue.py --postgres postgresql+asyncpg://postgres@127.0.0.1:5432/test [--keep | --reuse]
    python bench/queue.py --tickets 50000 --concurrency 1,8   # smaller, and also with 8 concurrent clients

The data set is written straight into a fresh database, not through HTTP: migrations first
(contactcenter.db.migrate.upgrade), the first agent through `contactcenter admin create-user`, then
contacts with e-mail identities, tickets, messages and the full-text index in bulk (executemany on a
synchronous sqlite3 connection with synchronous=OFF; COPY via asyncpg on PostgreSQL, with foreign-key
triggers off). The plain secondary indexes are dropped for the load and created again afterwards from their
own definitions, so the schema is exactly the migrated one. PostgreSQL gets VACUUM ANALYZE afterwards (what
autovacuum does on a live server); SQLite gets nothing the server would not do itself (no ANALYZE).

The data: ~200,000 contacts (1 per 5 tickets), tickets created evenly over the last year, 1-3 messages each
(the customer's question, an agent reply, a follow-up). Customer texts are the real support queries of
BANKING77 (read in place from ../shared/corpora) and, for Persian-speaking contacts, Persian sentences. The
search document of each ticket is built with contactcenter.db.search.document() exactly as intake and replies
build it. Statuses are ~10% new/open/pending, the rest solved/closed, spread evenly over the year (the harder
case for "newest first": the open tickets do not cluster at the recent end).

Then the real server (`python -m contactcenter serve`) is started on that database, an API token is made
with `contactcenter admin create-token`, and the cases are requested: the queue's first page, deep pages
reached by following next_cursor, "mine" and "unassigned" views, text searches with and without a status
filter, and a floor (a search that finds nothing: what every request costs). At concurrency 1 the cases take
turns, one request each per round (--requests rounds after --warmup requests of each), so that other work on
the machine falls on all of them alike; at higher concurrency each case runs on its own. Prints p50/p99/max
per case, the server's peak RSS (VmHWM) and ends with one JSON line of the figures.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is named like the standard library's `queue`, which asyncio imports (and bench/email.py like
# `email`): keep this folder off the import path before importing anything else (hence the file-wide E402
# exemption below).
ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

import argparse
import asyncio
import json
import os
import secrets
import shutil
import sqlite3
import subprocess
import tempfile
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp

from bench.queue_data import AGENT_EMAIL, DataSet, load_postgres, load_sqlite
from tests.servers import free_port, wait_healthy

MARKER = "bench-queue.json"

async def migrate(database_url: str) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    from contactcenter.db.migrate import upgrade
    engine = create_async_engine(database_url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


async def cli(env: dict[str, str], *args: str) -> str:
    """Run `python -m contactcenter ARGS` and return what it printed."""
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "contactcenter", *args, env=env, cwd=ROOT,
                                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await process.communicate()
    if process.returncode:
        raise SystemExit(f"contactcenter {' '.join(args)} failed: {err.decode().strip()}")
    return out.decode().strip()


# ---------------------------------------------------------------------------------------------- the database


@dataclass
class Target:
    data_dir: Path
    env: dict[str, str]
    database_url: str  # for SQLAlchemy
    postgres_admin: str | None = None
    database_name: str | None = None

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "contactcenter.db"


async def _pg_admin(server_url: str, statement: str) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine
    engine = create_async_engine(server_url, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(statement))
    await engine.dispose()


async def loaded_tickets(target: Target) -> int | None:
    """How many tickets the target database holds; None when it has no schema (or no database)."""
    if target.postgres_admin is None:
        if not target.sqlite_path.exists():
            return None
        with sqlite3.connect(target.sqlite_path) as conn:
            try:
                return int(conn.execute("SELECT count(*) FROM tickets").fetchone()[0])
            except sqlite3.OperationalError:
                return None
    import asyncpg
    try:
        conn = await asyncpg.connect(target.database_url.replace("postgresql+asyncpg://", "postgresql://"))
    except asyncpg.InvalidCatalogNameError:
        return None
    try:
        return int(await conn.fetchval("SELECT count(*) FROM tickets"))
    except asyncpg.UndefinedTableError:
        return None
    finally:
        await conn.close()


def forget(target: Target) -> None:
    """Remove the SQLite database (if any) and the marker of a loaded data set."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{target.sqlite_path}{suffix}").unlink(missing_ok=True)
    (target.data_dir / MARKER).unlink(missing_ok=True)


async def prepare(target: Target, args: argparse.Namespace) -> dict[str, Any]:
    """Load the data set (or find it loaded, with --reuse); return what the marker file records."""
    marker = target.data_dir / MARKER
    if args.reuse and marker.exists():
        recorded = json.loads(marker.read_text())
        if recorded.get("database") == target.database_url and recorded.get("tickets") == args.tickets \
                and await loaded_tickets(target) == args.tickets:
            print(f"reusing the data set in {target.data_dir} ({args.tickets:,} tickets, loaded in "
                  f"{recorded['load_seconds']} s)", flush=True)
            return dict(recorded, reused=True)
    # A fresh database.
    if target.postgres_admin:
        await _pg_admin(target.postgres_admin, f'DROP DATABASE IF EXISTS "{target.database_name}" WITH (FORCE)')
        await _pg_admin(target.postgres_admin, f'CREATE DATABASE "{target.database_name}"')
    forget(target)

    def say(line: str) -> None:
        print(f"{line} ({time.perf_counter() - started:.0f} s)", flush=True)

    print(f"loading {args.tickets:,} tickets into {'PostgreSQL' if target.postgres_admin else 'SQLite'}",
          flush=True)
    started = time.perf_counter()
    await migrate(target.database_url)
    await cli(dict(target.env, CC_PASSWORD=secrets.token_urlsafe(16)), "admin", "create-user", "--email", AGENT_EMAIL,
        "--name", "Bench Agent", "--role", "agent")
    data = DataSet(args.tickets, args.seed, time.time())
    if target.postgres_admin:
        counts = await load_postgres(target.database_url, data, say)
    else:
        counts = await asyncio.to_thread(load_sqlite, target.sqlite_path, data, say)
    seconds = round(time.perf_counter() - started, 1)
    size = None if target.postgres_admin else sum(
        p.stat().st_size for p in target.data_dir.glob("contactcenter.db*"))
    print(f"loaded {counts['tickets']:,} tickets, {counts['messages']:,} messages, {counts['contacts']:,} contacts "
          f"in {seconds} s" + (f" ({size / 2**30:.2f} GiB)" if size else ""), flush=True)
    recorded = {"database": target.database_url, **counts, "load_seconds": seconds, "db_bytes": size}
    marker.write_text(json.dumps(recorded))
    return dict(recorded, reused=False)


# ---------------------------------------------------------------------------------------------- measuring


@dataclass
class Case:
    name: str
    query: dict[str, str]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000, 2) if ordered else 0.0


async def fetch(http: aiohttp.ClientSession, url: str, query: dict[str, str]) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    async with http.get(f"{url}/api/v1/tickets?{urlencode(query)}") as response:
        body = await response.read()
        if response.status != 200:
            raise SystemExit(f"{query}: HTTP {response.status}: {body[:300]!r}")
    return time.perf_counter() - started, json.loads(body)


async def cursor_after(http: aiohttp.ClientSession, url: str, query: dict[str, str], pages: int) -> str | None:
    """Follow next_cursor ``pages`` times from the first page; None when the list ends sooner."""
    cursor = None
    for _ in range(pages):
        _, page = await fetch(http, url, dict(query, **({"cursor": cursor} if cursor else {})))
        cursor = page["next_cursor"]
        if cursor is None:
            return None
    return cursor


async def cases(http: aiohttp.ClientSession, url: str, deep: list[int]) -> list[Case]:
    queue = {"status": "new,open", "queue": "billing", "limit": "25"}
    found = [Case("queue first page", queue)]
    for pages in deep:
        cursor = await cursor_after(http, url, queue, pages)
        if cursor:
            found.append(Case(f"queue page {pages + 1}", dict(queue, cursor=cursor)))
    found += [
        Case("mine (assignee=me, open+pending)", {"assignee": "me", "status": "open,pending", "limit": "25"}),
        Case("unassigned new", {"assignee": "none", "status": "new", "limit": "25"}),
    ]
    for label, words in (("common", "card"), ("rare", "netflix"), ("two words", "card declined"),
                         ("Persian", "کارت")):
        found.append(Case(f"search {label}: {words}", {"q": words, "limit": "25"}))
        found.append(Case(f"search {label}: {words} + new,open", {"q": words, "status": "new,open", "limit": "25"}))
    # The floor: an authenticated request whose query finds nothing at once (auth, two transactions, JSON).
    found.append(Case("floor: search for a word in no ticket", {"q": "zyxwvut", "limit": "25"}))
    return found


def figures_of(latencies: list[float], items: int, seconds: float) -> dict[str, Any]:
    return {"p50_ms": percentile(latencies, 0.5), "p99_ms": percentile(latencies, 0.99),
            "max_ms": percentile(latencies, 1.0), "requests": len(latencies), "items": items,
            "requests_per_s": round(len(latencies) / seconds, 1)}


async def measure_in_turn(http: aiohttp.ClientSession, url: str, todo: list[Case], requests: int,
                          warmup: int) -> dict[str, dict[str, Any]]:
    """Concurrency 1: one request of each case in turn, ``requests`` rounds, so that whatever else runs on the
    machine meanwhile falls on every case alike."""
    for case in todo:
        for _ in range(warmup):
            await fetch(http, url, case.query)
    latencies: dict[str, list[float]] = {case.name: [] for case in todo}
    items: dict[str, int] = {}
    for _ in range(requests):
        for case in todo:
            seconds, page = await fetch(http, url, case.query)
            latencies[case.name].append(seconds)
            items[case.name] = len(page["items"])
    return {case.name: figures_of(latencies[case.name], items[case.name], sum(latencies[case.name]))
            for case in todo}


async def measure_block(http: aiohttp.ClientSession, url: str, case: Case, requests: int, warmup: int,
                        concurrency: int) -> dict[str, Any]:
    """``requests`` requests of one case from ``concurrency`` clients at once."""
    for _ in range(warmup):
        await fetch(http, url, case.query)
    latencies: list[float] = []
    items = 0
    todo = list(range(requests))

    async def worker() -> None:
        nonlocal items
        while todo:
            todo.pop()
            seconds, page = await fetch(http, url, case.query)
            latencies.append(seconds)
            items = len(page["items"])

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return figures_of(latencies, items, time.perf_counter() - started)


def memory(pid: int) -> dict[str, float]:
    found: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            found[key] = round(int(value.split()[0]) / 1024, 1)
    return found


class Server:
    """`python -m contactcenter serve` on the prepared database, started again if it goes away."""

    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        self.env = dict(env, CC_SERVER__PORT=str(self.port))
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.peak_rss_mb = 0.0
        self.restarts = 0

    async def start(self, http: aiohttp.ClientSession) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "contactcenter", "serve"],  # noqa: ASYNC220
                                        env=self.env, cwd=ROOT)
        await wait_healthy(http, [self.url], 30)

    def memory(self) -> dict[str, float]:
        assert self.process is not None
        found = memory(self.process.pid)
        self.peak_rss_mb = max(self.peak_rss_mb, found["VmHWM"])
        return found

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)
            self.process = None

    async def restart(self, http: aiohttp.ClientSession, why: str) -> None:
        """The server stopped answering (on a shared machine something may have signalled it): start it again."""
        code = self.process.poll() if self.process else None
        print(f"  ! {why}; the server {'exited with code ' + str(code) if code is not None else 'stopped listening'}"
              ": starting it again and repeating the case", flush=True)
        self.stop()
        self.restarts += 1
        await self.start(http)


async def run_server(target: Target, args: argparse.Namespace) -> dict[str, Any]:
    server = Server(target.env)
    token = (await cli(server.env, "admin", "create-token", "--email", AGENT_EMAIL, "--name", "bench-queue")) \
        .splitlines()[-1]
    results: dict[str, Any] = {}
    connector = aiohttp.TCPConnector(limit=max(args.concurrency))
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}, connector=connector) as http:
        try:
            await server.start(http)
            results["rss_after_start_mb"] = server.memory()["VmRSS"]
            results["load_average_before"] = round(os.getloadavg()[0], 2)
            todo = await cases(http, server.url, args.deep)
            for concurrency in args.concurrency:
                print(f"\nconcurrency {concurrency}: {args.requests} requests per case after {args.warmup} warm-up"
                      + (", the cases in turn" if concurrency == 1 else ", one case after the other"), flush=True)
                print(f"  {'case':46} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'req/s':>7} {'items':>5}")
                figures: dict[str, dict[str, Any]] = {}
                for case in todo if concurrency > 1 else [None]:
                    for _ in range(3):
                        try:
                            if case is None:
                                figures = await measure_in_turn(http, server.url, todo, args.requests, args.warmup)
                            else:
                                figures[case.name] = await measure_block(http, server.url, case, args.requests,
                                                                         args.warmup, concurrency)
                            break
                        except aiohttp.ClientConnectionError as exc:
                            await server.restart(http, f"{case.name if case else 'cases in turn'}: "
                                                       f"{type(exc).__name__}")
                    else:
                        raise SystemExit("the server keeps going away")
                    server.memory()
                for name, got in figures.items():
                    print(f"  {name:46} {got['p50_ms']:8.2f} {got['p99_ms']:8.2f} {got['max_ms']:8.2f} "
                          f"{got['requests_per_s']:7.1f} {got['items']:5d}", flush=True)
                results[f"concurrency_{concurrency}"] = figures
            results["load_average_after"] = round(os.getloadavg()[0], 2)
            results["server_rss_end_mb"] = server.memory()["VmRSS"]
            results["server_peak_rss_mb"] = server.peak_rss_mb
            results["server_restarts"] = server.restarts
        finally:
            server.stop()
    return results


# ---------------------------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200, help="measured requests per case")
    parser.add_argument("--warmup", type=int, default=20, help="unmeasured requests per case first")
    parser.add_argument("--concurrency", default="1", help="comma-separated, e.g. 1,8 (default 1)")
    parser.add_argument("--deep", default="40,400", help="pages to follow before the measured deep pages")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--postgres", help="load and serve a database on this PostgreSQL server URL")
    parser.add_argument("--database", help="PostgreSQL database name (default cc_bench_queue, or with the "
                                           "process id unless --keep/--reuse)")
    parser.add_argument("--data-dir", help="server data folder, with the SQLite database (default: temporary, "
                                           "or $TMPDIR/cc-bench-queue[-pg] with --keep/--reuse)")
    parser.add_argument("--keep", action="store_true", help="keep the data folder / database afterwards")
    parser.add_argument("--reuse", action="store_true", help="measure an already loaded data set if it is there "
                                                             "(load it otherwise); implies --keep")
    parser.add_argument("--load-only", action="store_true", help="load (implies --keep) and do not measure")
    args = parser.parse_args()
    args.concurrency = [int(c) for c in args.concurrency.split(",")]
    args.deep = [int(p) for p in args.deep.split(",") if p]
    keep = args.keep or args.reuse or args.load_only

    default_dir = Path(tempfile.gettempdir()) / ("cc-bench-queue" + ("-pg" if args.postgres else ""))
    data_dir = Path(args.data_dir) if args.data_dir else default_dir if keep else \
        Path(tempfile.mkdtemp(prefix="cc-bench-queue-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "CC_SERVER__DATA_DIR": str(data_dir), "CC_SERVER__LOG_LEVEL": "WARNING"}
    env.pop("CC_DATABASE__URL", None)
    target = Target(data_dir, env, f"sqlite+aiosqlite:///{data_dir / 'contactcenter.db'}")
    if args.postgres:
        target.postgres_admin = args.postgres
        target.database_name = args.database or ("cc_bench_queue" if keep else f"cc_bench_queue_{os.getpid()}")
        target.database_url = f"{args.postgres.rsplit('/', 1)[0]}/{target.database_name}"
        env["CC_DATABASE__URL"] = target.database_url
    try:
        figures = asyncio.run(run(target, args))
    finally:
        if not keep:
            if target.postgres_admin:
                asyncio.run(_pg_admin(target.postgres_admin,
                                      f'DROP DATABASE IF EXISTS "{target.database_name}" WITH (FORCE)'))
            shutil.rmtree(data_dir, ignore_errors=True)
        else:
            print(f"kept the data set in {data_dir}" + (f" and database {target.database_name}"
                                                         if target.postgres_admin else ""))
    print(json.dumps({"bench": "queue", **figures}, ensure_ascii=False))


async def run(target: Target, args: argparse.Namespace) -> dict[str, Any]:
    loaded = await prepare(target, args)
    figures: dict[str, Any] = {"database": "postgresql" if args.postgres else "sqlite",
                               "tickets": loaded["tickets"], "messages": loaded["messages"],
                               "contacts": loaded["contacts"], "load_seconds": loaded["load_seconds"],
                               "reused": loaded["reused"], "db_bytes": loaded.get("db_bytes")}
    if not args.load_only:
        figures.update(await run_server(target, args))
        print(f"\nserver peak RSS (VmHWM) {figures['server_peak_rss_mb']} MiB "
              f"(after start {figures['rss_after_start_mb']} MiB); 1-minute load average "
              f"{figures['load_average_before']} before, {figures['load_average_after']} after "
              f"({os.cpu_count()} CPUs, other work on the machine shows in the figures)")
    return figures


if __name__ == "__main__":
    main()
