"""The mixed inbound load of bench/chaos.py: every channel's sender, retrying as a provider would."""

from __future__ import annotations

import asyncio
import random
import re
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp
import aiosmtplib
from twilio.request_validator import RequestValidator

from bench.chaos_servers import PUBLIC, REPLY_CHANNELS, SID, SUPPORT, TG_SECRET, TRIES, TWILIO_TOKEN, Servers

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
