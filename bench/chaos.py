"""Chaos: mixed inbound load on every inbound channel while a server process is killed with SIGKILL and
restarted (and, on PostgreSQL, while the database itself is stopped); then nothing acknowledged may be lost.

    python bench/chaos.py                       # SQLite: one `contactcenter serve`, kill -9 it, restart it
    python bench/chaos.py --postgres            # a private PostgreSQL cluster (initdb in a temporary folder,
                                                # its own port): two servers, kill -9 one; then stop PostgreSQL
    python bench/chaos.py --seconds 30 --concurrency 3

Load (each worker sends one message after another, retrying a refused or cut-off one with the same dedupe
key as a provider would, up to 3 times): web form JSON and portal follow-ups, e-mail over SMTP to the
servers' listeners, Telegram webhook updates (secret header), Twilio SMS webhooks (real signatures), chat
visitors over the WebSocket (a message counts when its ``ack`` arrives; retried with the same client id), and
agent replies on the e-mail, Telegram and SMS tickets. Replies leave through local recording servers on
127.0.0.1 (a Bot API, a Twilio REST API, an SMTP sink) that count every send.

Checks: every message answered 2xx / SMTP 250 is stored exactly once; every queued reply was sent at most once,
and each is either sent or marked failed ("interrupted"). With --postgres also an outage: while PostgreSQL
is stopped every inbound request must be answered 503 (HTTP, with Retry-After), 451 (SMTP) or an
``unavailable`` chat frame, never 500,
and the servers recover by themselves when it is back. Prints the figures and ends with one JSON line.
The shared PostgreSQL server on 127.0.0.1:5432 is never used.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This folder holds email.py: it must not shadow the standard library's email package.
_HERE = Path(__file__).resolve().parent
ROOT = _HERE.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(ROOT))

import argparse
import asyncio
import base64
import json
import os
import shutil
import tempfile
import time
import uuid
from collections import Counter
from typing import Any
from urllib.parse import urlencode

import aiohttp
import aiosmtplib
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from bench.chaos_load import Load, Tally, _frame
from bench.chaos_servers import MARKER, PUBLIC, SID, SUPPORT, TG_SECRET, TWILIO_TOKEN, Recorders, Servers
from contactcenter.db.engine import Database
from contactcenter.db.models import Message
from contactcenter.domain.enums import Direction
from contactcenter.privacy.keyring import Keyring, parse_master_keys
from tests.pgcluster import PrivateCluster

# --- the outage (PostgreSQL only) ------------------------------------------------------------------------

async def outage(servers: Servers, cluster: PrivateCluster, http: aiohttp.ClientSession,
                 seconds: float, portal: str) -> dict[str, Any]:
    """Stop PostgreSQL (immediate), probe every inbound channel on every server, start it again, and measure
    how long each server takes to store a message again (no restart, no operator)."""
    probe = Load(servers, Tally(), token="")
    probe.phase = "outage"
    await asyncio.to_thread(cluster.stop)
    stopped = time.monotonic()
    rounds = 0
    while time.monotonic() - stopped < seconds:
        rounds += 1
        for worker in range(len(servers.urls)):
            await _probe_once(probe, http, worker, portal)
    await asyncio.to_thread(cluster.start)
    restarted = time.monotonic()
    recovered: list[float] = []
    for n, url in enumerate(servers.urls):
        while time.monotonic() - restarted < 120:
            try:
                async with http.post(url + "/api/v1/webform", json={"email": "back@chaos.example",
                                                                    "message": "are you back?"}) as response:
                    probe.tally.answers[f"recovery webform {response.status}"] += 1
                    if response.status == 201:
                        break
            except (aiohttp.ClientError, TimeoutError):
                probe.tally.answers["recovery webform connection-error"] += 1
            await asyncio.sleep(0.1)
        recovered.append(round(time.monotonic() - restarted, 2))
        code, _ = await _smtp_once(servers.ports[n][1], "recovery@chaos.example")
        probe.tally.answers[f"recovery email {code}"] += 1
    answers = {k: v for k, v in probe.tally.answers.items() if k.startswith("outage ")}
    return {"seconds": round(restarted - stopped, 1), "answers": answers,
            "http_503": sum(v for k, v in answers.items() if k.endswith(" 503")),
            "smtp_451": answers.get("outage email 451", 0),
            "http_500": sum(v for k, v in answers.items() if k.endswith(" 500")),
            "chat_unavailable": answers.get("outage chat unavailable", 0),
            "other": sum(v for k, v in answers.items() if not k.endswith((" 503", " 451", " unavailable"))),
            "recovered_after_seconds": recovered,
            "recovery_answers": {k: v for k, v in probe.tally.answers.items() if k.startswith("recovery ")}}


async def _smtp_once(port: int, sender: str) -> tuple[int, str]:
    raw = (f"From: {sender}\r\nTo: {SUPPORT}\r\nSubject: probe\r\nMessage-ID: <{uuid.uuid4().hex}@chaos.example>"
           "\r\n\r\nprobe\r\n").encode()
    try:
        errors, text = await aiosmtplib.send(raw, sender=sender, recipients=[SUPPORT], hostname="127.0.0.1",
                                             port=port, timeout=30)
        return (250 if not errors else 0), text
    except aiosmtplib.SMTPResponseException as exc:
        return exc.code, exc.message
    except (aiosmtplib.SMTPException, OSError, TimeoutError):
        return 0, "connection error"


async def _probe_once(probe: Load, http: aiohttp.ClientSession, worker: int, portal: str) -> None:
    """One request on each HTTP channel to server ``worker`` (no retries), and one mail."""
    url = probe.servers.urls[worker]
    params = {"MessageSid": "SM" + uuid.uuid4().hex, "AccountSid": SID, "From": "+989120000999",
              "To": "+15005550006", "Body": "probe", "NumMedia": "0"}
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(PUBLIC + "/webhooks/twilio/sms", params)
    probe.update_id += 1
    update = {"update_id": 9_000_000 + probe.update_id, "message": {
        "message_id": probe.update_id, "date": int(time.time()), "text": "probe",
        "from": {"id": 999, "is_bot": False, "first_name": "P"}, "chat": {"id": 999, "type": "private"}}}
    requests: dict[str, tuple[str, dict[str, Any]]] = {
        "webform": ("/api/v1/webform", {"json": {"email": "probe@chaos.example", "message": "probe"}}),
        "portal": (f"/api/v1/portal/{portal}/messages", {"json": {"text": "probe"}}),
        "sms": ("/webhooks/twilio/sms", {"data": urlencode(params), "headers": {
            "X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"}}),
        "telegram": ("/webhooks/telegram", {"json": update, "headers": {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET}}),
    }
    for channel, (path, kwargs) in requests.items():
        try:
            async with http.post(url + path, **kwargs) as response:
                key = f"outage {channel} {response.status}"
                if response.status == 503 and not response.headers.get("Retry-After"):
                    key += " (no Retry-After)"
                probe.tally.answers[key] += 1
        except (aiohttp.ClientError, TimeoutError):
            probe.tally.answers[f"outage {channel} connection-error"] += 1
    code, _ = await _smtp_once(probe.servers.ports[worker][1], "probe@chaos.example")
    probe.tally.answers[f"outage email {code or 'connection-error'}"] += 1
    try:
        async with http.ws_connect(url.replace("http", "ws") + "/chat/ws") as ws:
            await ws.send_json({"type": "hello", "last_seen": 0, "prechat": {"name": "Probe"}})
            frame = await _frame(ws, ("welcome", "error"))
            probe.tally.answers[f"outage chat {frame.get('code') or frame['type']}"] += 1
    except (aiohttp.ClientError, TimeoutError, ValueError):
        probe.tally.answers["outage chat connection-error"] += 1


# --- the check -------------------------------------------------------------------------------------------

async def settle(database: Database, tally: Tally, limit: float = 120.0) -> float:
    """Wait until no queued reply is still queued or being sent; the seconds it took."""
    ids = [i for i, _ in tally.replies.values()]
    started = time.monotonic()
    while ids and time.monotonic() - started < limit:
        async with database.read() as session:
            open_ = await session.scalar(select(Message.id).where(
                Message.id.in_(ids), Message.delivery_status.in_(("queued", "sending"))).limit(1))
        if open_ is None:
            break
        await asyncio.sleep(0.5)
    return time.monotonic() - started


async def check(database: Database, tally: Tally, recorders: Recorders) -> dict[str, Any]:
    async with database.read() as session:
        texts = list(await session.scalars(select(Message.text).where(Message.direction == Direction.INBOUND)))
        rows = (await session.execute(select(Message.id, Message.delivery_status, Message.delivery_error).where(
            Message.id.in_([i for i, _ in tally.replies.values()])))).all()
    stored: Counter[str] = Counter()
    for text in texts:
        stored.update(m for m in MARKER.findall(text) if m.startswith("in-"))
    per_channel: dict[str, dict[str, int]] = {}
    for marker, channel in tally.accepted.items():
        figures = per_channel.setdefault(channel, {"accepted": 0, "stored": 0, "lost": 0, "duplicated": 0})
        figures["accepted"] += 1
        copies = stored.get(marker, 0)
        figures["stored" if copies == 1 else "lost" if copies == 0 else "duplicated"] += 1
    unacknowledged = sum(1 for m in stored if m not in tally.accepted)
    status = {r.id: (r.delivery_status, r.delivery_error or "") for r in rows}
    sends = recorders.sends()
    replies = {"queued": len(tally.replies), "sent_once": 0, "sent_twice": 0, "marked_interrupted": 0,
               "sent_and_marked_interrupted": 0, "failed_other": 0, "unaccounted": 0}
    for marker, (message_id, _) in tally.replies.items():
        count = sends.get(marker, 0)
        state, error = status.get(message_id, ("missing", ""))
        interrupted = state == "failed" and "interrupted" in error
        if count > 1:
            replies["sent_twice"] += 1
        elif count == 1:
            replies["sent_and_marked_interrupted" if interrupted else "sent_once"] += 1
        elif interrupted:
            replies["marked_interrupted"] += 1
        elif state == "failed":
            replies["failed_other"] += 1
        else:
            replies["unaccounted"] += 1
    totals = {k: sum(f[k] for f in per_channel.values()) for k in ("accepted", "stored", "lost", "duplicated")}
    return {**totals, "stored_without_acknowledgement": unacknowledged, "channels": per_channel,
            "replies": replies}


# --- the run ---------------------------------------------------------------------------------------------

async def run(args: argparse.Namespace) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="cc-chaos-"))
    cluster = PrivateCluster() if args.postgres else None
    recorders = Recorders()
    await recorders.start()
    master_key = base64.b64encode(os.urandom(32)).decode()
    try:
        if cluster is not None:
            await asyncio.to_thread(cluster.start)
        servers = Servers(2 if cluster else 1, cluster.url if cluster else "", folder, recorders, master_key)
        database_url = servers.database_url or f"sqlite+aiosqlite:///{folder / 'contactcenter.db'}"
        servers.cli("admin", "create-user", "--email", "agent@chaos.example", "--name", "Agent", "--role", "agent",
                    "--password", "chaos agent password")
        token = servers.cli("admin", "create-token", "--email", "agent@chaos.example").splitlines()[-1]
        tally = Tally()
        result: dict[str, Any] = {"database": "postgresql" if cluster else "sqlite", "servers": len(servers.urls),
                                  "seconds": args.seconds, "concurrency": args.concurrency}
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
            for n in range(len(servers.urls)):
                servers.start(n)
            for n in range(len(servers.urls)):
                await servers.healthy(http, n)
            load = Load(servers, tally, token)
            workers = load.tasks(http, args.concurrency)
            started = time.monotonic()
            await asyncio.sleep(args.seconds / 3)
            servers.kill(0)  # SIGKILL: no shutdown, whatever was in flight is cut off
            killed = time.monotonic()
            print(f"killed server 0 (kill -9) after {killed - started:.1f} s; "
                  f"{len(tally.accepted)} messages accepted so far", flush=True)
            await asyncio.sleep(args.down)
            servers.start(0)
            back = await servers.healthy(http, 0)
            result["restart_seconds"] = round(time.monotonic() - killed, 1)
            print(f"server 0 restarted, healthy {back:.1f} s after start", flush=True)
            await asyncio.sleep(max(0.0, args.seconds - (time.monotonic() - started)))
            load.stop.set()
            await asyncio.gather(*workers)
            result["load_seconds"] = round(time.monotonic() - started, 1)
            result["answers"] = dict(sorted(tally.answers.items()))
            result["retries"], result["gave_up"] = tally.retries, tally.gave_up
            if cluster is not None:
                print(f"stopping PostgreSQL for {args.outage:.0f} s", flush=True)
                result["outage"] = await outage(servers, cluster, http, args.outage, tally.portals[0])
            database = Database(database_url, keyring=Keyring(parse_master_keys(master_key)))
            try:
                result["settle_seconds"] = round(await settle(database, tally), 1)
                result.update(await check(database, tally, recorders))
            finally:
                await database.dispose()
            result["exit_codes"] = servers.stop_all()
            result["server_logs"] = servers.log_counts()
        return result
    finally:
        for process in (servers.processes if "servers" in locals() else []):
            if process is not None and process.poll() is None:
                process.kill()
        await recorders.stop()
        if cluster is not None:
            await asyncio.to_thread(cluster.remove)
        shutil.rmtree(folder, ignore_errors=True)


def report(result: dict[str, Any]) -> bool:
    ok = result["lost"] == 0 and result["duplicated"] == 0 and result["replies"]["sent_twice"] == 0 \
        and result["replies"]["unaccounted"] == 0
    print(f"\n{result['database']}, {result['servers']} server process(es), {result['load_seconds']} s of load, "
          f"server 0 killed (kill -9) and back after {result['restart_seconds']} s")
    print(f"{'channel':<10}{'accepted':>10}{'stored':>10}{'lost':>8}{'duplicated':>12}")
    for channel, f in sorted(result["channels"].items()):
        print(f"{channel:<10}{f['accepted']:>10}{f['stored']:>10}{f['lost']:>8}{f['duplicated']:>12}")
    print(f"{'all':<10}{result['accepted']:>10}{result['stored']:>10}{result['lost']:>8}{result['duplicated']:>12}")
    print(f"stored without an acknowledgement (cut off before the answer): {result['stored_without_acknowledgement']};"
          f" client retries {result['retries']}, messages given up {result['gave_up']}")
    r = result["replies"]
    print(f"replies queued {r['queued']}: sent once {r['sent_once']}, sent twice {r['sent_twice']}, "
          f"marked interrupted {r['marked_interrupted']} (+{r['sent_and_marked_interrupted']} sent and marked), "
          f"failed otherwise {r['failed_other']}, unaccounted {r['unaccounted']}; "
          f"settled in {result['settle_seconds']} s")
    if "outage" in result:
        o = result["outage"]
        ok = ok and o["http_500"] == 0 and o["other"] == 0
        print(f"PostgreSQL stopped {o['seconds']} s: {o['http_503']} HTTP 503, {o['smtp_451']} SMTP 451, "
              f"{o['chat_unavailable']} chat 'unavailable' frames, "
              f"{o['http_500']} HTTP 500, {o['other']} other answers; stored again after "
              f"{', '.join(f'{s} s' for s in o['recovered_after_seconds'])} (per server) once it was back")
    ok = ok and result["server_logs"]["unhandled_errors_500"] == 0
    print(f"server exit codes at the end (SIGTERM): {result['exit_codes']}; server logs: "
          f"{result['server_logs']['unhandled_errors_500']} unhandled errors (500), "
          f"{result['server_logs']['tracebacks']} tracebacks (background work retried while the database was away)")
    print("OK: nothing acknowledged was lost" if ok else "FAILED")
    return bool(ok)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", action="store_true", help="a private PostgreSQL cluster, two servers, outage")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the load (default 30)")
    parser.add_argument("--down", type=float, default=2.0, help="seconds the killed server stays down (default 2)")
    parser.add_argument("--outage", type=float, default=8.0, help="seconds PostgreSQL stays stopped (default 8)")
    parser.add_argument("--concurrency", type=int, default=2, help="workers per channel (default 2)")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    ok = report(result)
    print(json.dumps(result, ensure_ascii=False))
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
