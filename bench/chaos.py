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
import random
import re
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp
import aiosmtplib
from aiohttp import web
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from contactcenter.db.engine import Database
from contactcenter.db.models import Message
from contactcenter.domain.enums import Direction
from contactcenter.privacy.keyring import Keyring, parse_master_keys
from tests.integration.test_sms import TwilioRecorder
from tests.integration.test_telegram import BOT_TOKEN, BotApiRecorder
from tests.mailtools import Recorder as SmtpRecorder
from tests.pgcluster import PrivateCluster
from tests.servers import free_port, wait_healthy

PUBLIC = "https://chaos.example.test"
TWILIO_TOKEN = "chaos-twilio-auth-token"  # noqa: S105 (a test value for local servers)
TG_SECRET = "chaos-webhook-secret_0123456789"  # noqa: S105
SID = "AC" + "1" * 32
SUPPORT = "support@example.com"
MARKER = re.compile(r"\b(?:in|rp)-[a-z]+-\d+-\d+-[0-9a-f]{8}\b")
TRIES = 3
REPLY_CHANNELS = ("email", "telegram", "sms")


# --- the recorders (the tests' own stand-ins for the providers) ------------------------------------------

@dataclass
class Recorders:
    telegram: BotApiRecorder = field(default_factory=BotApiRecorder)
    twilio: TwilioRecorder = field(default_factory=TwilioRecorder)
    smtp: SmtpRecorder = field(default_factory=SmtpRecorder)
    runners: list[web.AppRunner] = field(default_factory=list)
    urls: dict[str, str] = field(default_factory=dict)

    async def start(self) -> None:
        for name, app in (("telegram", self.telegram.app), ("twilio", self.twilio.app)):
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            port = free_port()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            self.runners.append(runner)
            self.urls[name] = f"http://127.0.0.1:{port}"
        await self.smtp.start()

    async def stop(self) -> None:
        for runner in self.runners:
            await runner.cleanup()
        await self.smtp.stop()

    def sends(self) -> Counter[str]:
        """How often each reply marker was sent, over the three providers."""
        texts = [str(p.get("text", "")) for p in self.telegram.sent()]
        texts += [str(c["form"].get("Body", "")) for c in self.twilio.calls]
        for message in self.smtp.messages():
            for part in message.walk():
                if part.get_content_type() == "text/plain":
                    payload = part.get_payload(decode=True)
                    texts.append(payload.decode("utf-8", "replace") if isinstance(payload, bytes) else "")
        found: Counter[str] = Counter()
        for text in texts:
            found.update(set(m for m in MARKER.findall(text) if m.startswith("rp-")))
        return found


# --- the server processes -------------------------------------------------------------------------------

class Servers:
    """`contactcenter serve` processes on one database; each has its HTTP port and its SMTP port."""

    def __init__(self, count: int, database_url: str, folder: Path, recorders: Recorders, master_key: str) -> None:
        self.database_url = database_url
        self.folder = folder
        self.ports = [(free_port(), free_port()) for _ in range(count)]
        self.urls = [f"http://127.0.0.1:{http}" for http, _ in self.ports]
        self.processes: list[subprocess.Popen[bytes] | None] = [None] * count
        self.env = {**os.environ, "CC_SERVER__SECRET_KEY": "chaos-bench-secret", "CC_SERVER__PUBLIC_URL": PUBLIC,
                    "CC_SERVER__LOG_LEVEL": "ERROR", "CC_PRIVACY__MASTER_KEY": master_key,
                    "CC_EMAIL__ENABLED": "true", "CC_EMAIL__SMTP_HOST": "127.0.0.1",
                    "CC_EMAIL__SMTP_PORT": str(recorders.smtp.port), "CC_EMAIL__ACKNOWLEDGE": "false",
                    "CC_WEBFORM__RATE_PER_IP": "0", "CC_WEBFORM__RATE_PER_ADDRESS": "0",
                    "CC_CHAT__RATE_PER_IP": "0", "CC_CHAT__RATE_PER_VISITOR": "0",
                    "CC_LIMITS__AGENT_SENDS_PER_MINUTE": "0", "CC_KB__EMBEDDINGS": "off",
                    "CC_SMS__AUTH_TOKEN": TWILIO_TOKEN, "CC_SMS__ACCOUNT_SID": SID,
                    "CC_SMS__FROM_NUMBER": "+15005550006", "CC_SMS__API_BASE_URL": recorders.urls["twilio"],
                    "CC_TELEGRAM__WEBHOOK_SECRET": TG_SECRET, "CC_TELEGRAM__BOT_TOKEN": BOT_TOKEN,
                    "CC_TELEGRAM__API_BASE_URL": recorders.urls["telegram"],
                    "CC_RELAY__CLAIM_TIMEOUT": "10"}  # a killed process's claims are taken over after 10 s
        if database_url:
            self.env["CC_DATABASE__URL"] = database_url

    def env_of(self, n: int) -> dict[str, str]:
        http, smtp = self.ports[n]
        return {**self.env, "CC_SERVER__PORT": str(http), "CC_EMAIL__PORT": str(smtp),
                "CC_SERVER__DATA_DIR": str(self.folder / f"server{n}" if self.database_url else self.folder)}

    def cli(self, *args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "contactcenter", *args], env=self.env_of(0), cwd=ROOT,
                              check=True, capture_output=True, text=True, timeout=120)
        return done.stdout.strip()

    def start(self, n: int) -> None:
        with (self.folder / f"server{n}.log").open("ab") as log:  # stderr of every start of server n
            self.processes[n] = subprocess.Popen([sys.executable, "-m", "contactcenter", "serve"],
                                                 env=self.env_of(n), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log)

    def log_counts(self) -> dict[str, int]:
        """What the servers logged: answers 500 ("unhandled error") and tracebacks (background retries)."""
        text = "".join((self.folder / f"server{n}.log").read_text("utf-8", "replace")
                       for n in range(len(self.urls)) if (self.folder / f"server{n}.log").exists())
        return {"unhandled_errors_500": text.count("unhandled error"), "tracebacks": text.count("Traceback")}

    def kill(self, n: int) -> None:
        process = self.processes[n]
        assert process is not None
        process.send_signal(signal.SIGKILL)
        process.wait()

    def stop_all(self) -> list[int]:
        codes = []
        for process in self.processes:
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            if process is not None:
                try:
                    codes.append(process.wait(timeout=60))
                except subprocess.TimeoutExpired:
                    process.kill()
                    codes.append(process.wait())
        return codes

    async def healthy(self, http: aiohttp.ClientSession, n: int, limit: float = 120.0) -> float:
        """Wait until server ``n`` answers /health 200; return the seconds it took."""
        return await wait_healthy(http, [self.urls[n]], limit)


# --- the load --------------------------------------------------------------------------------------------

@dataclass
class Tally:
    accepted: dict[str, str] = field(default_factory=dict)  # marker -> channel
    replies: dict[str, tuple[int, str]] = field(default_factory=dict)  # marker -> (message id, channel)
    tickets: dict[str, list[int]] = field(default_factory=lambda: {c: [] for c in REPLY_CHANNELS})
    portals: list[str] = field(default_factory=list)
    answers: Counter[str] = field(default_factory=Counter)  # "channel status" -> count
    retries: int = 0
    gave_up: int = 0


class Load:
    def __init__(self, servers: Servers, tally: Tally, token: str) -> None:
        self.servers = servers
        self.tally = tally
        self.token = token
        self.stop = asyncio.Event()
        self.rng = random.Random(7)
        self.update_id = 1_000_000
        self.phase = "load"

    def target(self, attempt: int, worker: int) -> int:
        """Spread workers over the servers; a retry goes to the next server (as a load balancer would)."""
        return (worker + attempt) % len(self.servers.urls)

    def marker(self, kind: str, channel: str, worker: int, n: int) -> str:
        return f"{kind}-{channel}-{worker}-{n}-{uuid.uuid4().hex[:8]}"

    async def _http(self, http: aiohttp.ClientSession, channel: str, worker: int,
                    make: Any) -> tuple[int, Any]:
        """Send one message with up to TRIES attempts (same dedupe key); (status, JSON body or None)."""
        status = 0
        for attempt in range(TRIES):
            if attempt:
                self.tally.retries += 1
                await asyncio.sleep(0.3)
            url = self.servers.urls[self.target(attempt, worker)]
            method, path, kwargs = make()
            try:
                async with http.request(method, url + path, **kwargs) as response:
                    status = response.status
                    body = await response.json() if response.content_type == "application/json" else None
            except (aiohttp.ClientError, TimeoutError):
                status = 0
                self.tally.answers[f"{self.phase} {channel} connection-error"] += 1
                continue
            self.tally.answers[f"{self.phase} {channel} {status}"] += 1
            if status < 500 and status != 429:
                return status, body
        self.tally.gave_up += 1
        return status, None

    async def webform(self, http: aiohttp.ClientSession, worker: int) -> None:
        n = 0
        while not self.stop.is_set():
            n += 1
            marker, key = self.marker("in", "webform", worker, n), str(uuid.uuid4())
            body = {"email": f"form{worker}-{n % 50}@chaos.example", "subject": "Chaos", "message": f"help {marker}"}
            status, answer = await self._http(http, "webform", worker, lambda body=body, key=key: (
                "POST", "/api/v1/webform", {"json": body, "headers": {"Idempotency-Key": key}}))
            if status in (200, 201):
                self.tally.accepted[marker] = "webform"
                if answer and answer.get("portal_url"):
                    self.tally.portals.append(answer["portal_url"].rsplit("/", 1)[1])

    async def portal(self, http: aiohttp.ClientSession, worker: int) -> None:
        n = 0
        while not self.stop.is_set():
            if not self.tally.portals:
                await asyncio.sleep(0.1)
                continue
            n += 1
            marker, token = self.marker("in", "portal", worker, n), self.rng.choice(self.tally.portals)
            body = {"text": f"follow-up {marker}", "submission_id": str(uuid.uuid4())}
            status, _ = await self._http(http, "portal", worker, lambda body=body, token=token: (
                "POST", f"/api/v1/portal/{token}/messages", {"json": body}))
            if status in (200, 201):
                self.tally.accepted[marker] = "portal"

    async def sms(self, http: aiohttp.ClientSession, worker: int) -> None:
        n = 0
        while not self.stop.is_set():
            n += 1
            marker = self.marker("in", "sms", worker, n)
            params = {"MessageSid": "SM" + uuid.uuid4().hex, "AccountSid": SID,
                      "From": f"+9891200{worker:02d}{n % 40:03d}", "To": "+15005550006", "Body": f"sms {marker}",
                      "NumMedia": "0"}
            signature = RequestValidator(TWILIO_TOKEN).compute_signature(PUBLIC + "/webhooks/twilio/sms", params)
            headers = {"X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"}
            status, _ = await self._http(http, "sms", worker, lambda params=params, headers=headers: (
                "POST", "/webhooks/twilio/sms", {"data": urlencode(params), "headers": headers}))
            if status == 200:
                self.tally.accepted[marker] = "sms"

    async def telegram(self, http: aiohttp.ClientSession, worker: int) -> None:
        n = 0
        while not self.stop.is_set():
            n += 1
            self.update_id += 1
            marker, user = self.marker("in", "telegram", worker, n), 50_000 + worker * 100 + n % 40
            update = {"update_id": self.update_id, "message": {
                "message_id": self.update_id, "date": int(time.time()), "text": f"telegram {marker}",
                "from": {"id": user, "is_bot": False, "first_name": "Chaos"},
                "chat": {"id": user, "type": "private", "first_name": "Chaos"}}}
            headers = {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET}
            status, _ = await self._http(http, "telegram", worker, lambda update=update, headers=headers: (
                "POST", "/webhooks/telegram", {"json": update, "headers": headers}))
            if status == 200:
                self.tally.accepted[marker] = "telegram"

    async def email(self, worker: int) -> None:
        n = 0
        while not self.stop.is_set():
            n += 1
            marker = self.marker("in", "email", worker, n)
            sender = f"mail{worker}-{n % 40}@chaos.example"
            raw = (f"From: Customer <{sender}>\r\nTo: {SUPPORT}\r\nSubject: Chaos {n}\r\n"
                   f"Message-ID: <{marker}@chaos.example>\r\nMIME-Version: 1.0\r\n"
                   f"Content-Type: text/plain; charset=utf-8\r\n\r\nmail {marker}\r\n").encode()
            for attempt in range(TRIES):
                if attempt:
                    self.tally.retries += 1
                    await asyncio.sleep(0.3)
                port = self.servers.ports[self.target(attempt, worker)][1]
                try:
                    errors, text = await aiosmtplib.send(raw, sender=sender, recipients=[SUPPORT],
                                                         hostname="127.0.0.1", port=port, timeout=30)
                    code = 250 if not errors else 0
                except aiosmtplib.SMTPResponseException as exc:
                    code, text = exc.code, exc.message
                except (aiosmtplib.SMTPException, OSError, TimeoutError):
                    self.tally.answers[f"{self.phase} email connection-error"] += 1
                    continue
                self.tally.answers[f"{self.phase} email {code}"] += 1
                if code == 250:
                    self.tally.accepted[marker] = "email"
                    found = re.search(r"ticket #(\d+)", text)
                    if found:
                        self.tally.tickets["email"].append(int(found[1]))
                    break
                if code < 400 or code >= 500:
                    break
            else:
                self.tally.gave_up += 1

    async def chat(self, http: aiohttp.ClientSession, worker: int) -> None:
        """A chat visitor over the WebSocket: one message at a time, acknowledged (``ack``) only once stored.
        A cut-off socket or an ``unavailable`` error is retried with the same client id (same visitor token)."""
        token: str | None = None
        n = 0
        while not self.stop.is_set():
            n += 1
            marker, client_id = self.marker("in", "chat", worker, n), uuid.uuid4().hex
            for attempt in range(TRIES):
                if attempt:
                    self.tally.retries += 1
                    await asyncio.sleep(0.3)
                url = self.servers.urls[self.target(attempt, worker)].replace("http", "ws") + "/chat/ws"
                try:
                    async with http.ws_connect(url) as ws:
                        await ws.send_json({"type": "hello", "last_seen": 0, "token": token,
                                            "prechat": {"name": f"Visitor {worker}"}})
                        welcome = await _frame(ws, ("welcome", "error"))
                        if welcome["type"] == "error":
                            self.tally.answers[f"{self.phase} chat {welcome.get('code')}"] += 1
                            continue
                        token = welcome["token"]
                        await ws.send_json({"type": "message", "client_id": client_id, "text": f"chat {marker}"})
                        answer = await _frame(ws, ("ack", "error"), client_id)
                except (aiohttp.ClientError, TimeoutError, KeyError, TypeError, ValueError):
                    self.tally.answers[f"{self.phase} chat connection-error"] += 1
                    continue
                self.tally.answers[f"{self.phase} chat {answer['type']} {answer.get('code', '')}".rstrip()] += 1
                if answer["type"] == "ack":
                    self.tally.accepted[marker] = "chat"
                    break
            else:
                self.tally.gave_up += 1

    async def discover(self, http: aiohttp.ClientSession) -> None:
        """The agents' view: which Telegram and SMS tickets exist (their numbers are not in webhook answers)."""
        while not self.stop.is_set():
            for channel in ("telegram", "sms"):
                try:
                    async with http.get(self.servers.urls[0] + "/api/v1/tickets",
                                        params={"channel": channel, "limit": "100"},
                                        headers={"Authorization": f"Bearer {self.token}"}) as response:
                        if response.status == 200:
                            self.tally.tickets[channel] = [t["id"] for t in (await response.json())["items"]]
                except (aiohttp.ClientError, TimeoutError):
                    pass
            await asyncio.sleep(1.0)

    async def replies(self, http: aiohttp.ClientSession, worker: int) -> None:
        n = 0
        while not self.stop.is_set():
            choices = [(c, t) for c in REPLY_CHANNELS for t in self.tally.tickets[c][-50:]]
            if not choices:
                await asyncio.sleep(0.2)
                continue
            n += 1
            channel, ticket = self.rng.choice(choices)
            marker = self.marker("rp", channel, worker, n)
            url = self.servers.urls[self.target(n, worker)]
            try:  # a reply is not retried: its 201 is what queues it (a retry would be a second reply)
                async with http.post(f"{url}/api/v1/tickets/{ticket}/replies", json={"text": f"Answer {marker}"},
                                     headers={"Authorization": f"Bearer {self.token}"}) as response:
                    self.tally.answers[f"{self.phase} reply {response.status}"] += 1
                    if response.status == 201:
                        self.tally.replies[marker] = (int((await response.json())["id"]), channel)
            except (aiohttp.ClientError, TimeoutError):
                self.tally.answers[f"{self.phase} reply connection-error"] += 1
            await asyncio.sleep(0.05)

    def tasks(self, http: aiohttp.ClientSession, concurrency: int) -> list[asyncio.Task[None]]:
        made = [asyncio.create_task(self.discover(http))]
        for worker in range(concurrency):
            made += [asyncio.create_task(self.webform(http, worker)), asyncio.create_task(self.portal(http, worker)),
                     asyncio.create_task(self.sms(http, worker)), asyncio.create_task(self.telegram(http, worker)),
                     asyncio.create_task(self.email(worker)), asyncio.create_task(self.chat(http, worker)),
                     asyncio.create_task(self.replies(http, worker))]
        return made


async def _frame(ws: aiohttp.ClientWebSocketResponse, kinds: tuple[str, ...],
                 client_id: str | None = None) -> dict[str, Any]:
    """The next frame of one of ``kinds`` (for ``client_id`` when given); others (pushes) are skipped."""
    while True:
        frame: dict[str, Any] = await ws.receive_json(timeout=15)
        if frame.get("type") in kinds and (client_id is None or frame.get("client_id") in (client_id, None)):
            return frame


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
