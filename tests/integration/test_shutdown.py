"""Graceful shutdown of a real `contactcenter serve` process: SIGTERM under load on the web form, SMTP and
SMS, with agent replies queued. The process stops accepting, finishes what it took, flushes the outbox and
the deliveries, and exits 0; every message that was answered 2xx / 250 is stored exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import smtplib
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
import pytest
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from contactcenter.app import build_context
from contactcenter.context import Context
from contactcenter.db.models import Message, OutboxEvent
from contactcenter.domain.enums import DeliveryStatus, Direction, Role
from contactcenter.settings import Settings
from tests.conftest import create_staff
from tests.mailtools import SUPPORT, crlf, mail
from tests.servers import ROOT, free_port, wait_healthy

PUBLIC = "https://cc.example.test"
TWILIO_TOKEN = "twilio-auth-token-for-tests"
SID = "AC" + "0" * 32
ACCEPT_BEFORE_STOP = 60  # messages answered before SIGTERM is sent
PER_WORKER = 300  # bound on each load loop


class Load:
    """Markers of the messages the server acknowledged, and how many requests were refused otherwise."""

    def __init__(self) -> None:
        self.accepted: list[str] = []
        self.replies: list[int] = []
        self.tickets: list[int] = []
        self.refused = 0
        self.enough = asyncio.Event()
        self.gone = asyncio.Event()  # the server stopped answering

    def accept(self, marker: str) -> None:
        self.accepted.append(marker)
        if len(self.accepted) >= ACCEPT_BEFORE_STOP:
            self.enough.set()


async def webform(http: aiohttp.ClientSession, url: str, load: Load, worker: int) -> None:
    for n in range(PER_WORKER):
        marker = f"wf-{worker}-{n}-{uuid.uuid4().hex[:8]}"
        try:
            async with http.post(url + "/api/v1/webform", json={"email": f"c{worker}@example.com",
                                                                "message": f"help {marker}"}) as response:
                if response.status in (200, 201):
                    load.accept(marker)
                    load.tickets.append(int((await response.json())["ticket_number"]))
                else:
                    load.refused += 1
        except aiohttp.ClientError:
            load.gone.set()
            return


async def sms(http: aiohttp.ClientSession, url: str, load: Load, worker: int) -> None:
    for n in range(PER_WORKER):
        marker = f"sms-{worker}-{n}-{uuid.uuid4().hex[:8]}"
        params = {"MessageSid": "SM" + uuid.uuid4().hex, "AccountSid": SID, "From": f"+98912123{worker:04d}",
                  "To": "+15005550006", "Body": f"sms {marker}", "NumMedia": "0"}
        signature = RequestValidator(TWILIO_TOKEN).compute_signature(PUBLIC + "/webhooks/twilio/sms", params)
        try:
            async with http.post(url + "/webhooks/twilio/sms", data=urlencode(params), headers={
                    "X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"}) as response:
                if response.status == 200:
                    load.accept(marker)
                else:
                    load.refused += 1
        except aiohttp.ClientError:
            load.gone.set()
            return


def smtp_worker(port: int, load: Load, worker: int, loop: asyncio.AbstractEventLoop) -> None:
    """One SMTP session sending mail after mail (as an MTA does), in a thread."""
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
            for n in range(PER_WORKER):
                marker = f"mail-{worker}-{n}-{uuid.uuid4().hex[:8]}"
                smtp.mail(f"m{worker}@example.net")
                smtp.rcpt(SUPPORT)
                code, _ = smtp.data(crlf(mail(f"m{worker}@example.net", "Help", f"mail {marker}",
                                              Message_ID=f"<{marker}@example.net>")))
                if code == 250:
                    loop.call_soon_threadsafe(load.accept, marker)
                else:
                    loop.call_soon_threadsafe(setattr, load, "refused", load.refused + 1)
                    return
    except (OSError, smtplib.SMTPException):
        return


async def replies(http: aiohttp.ClientSession, url: str, load: Load, token: str) -> None:
    for _ in range(PER_WORKER):
        if not load.tickets:
            await asyncio.sleep(0.05)
            continue
        try:
            async with http.post(f"{url}/api/v1/tickets/{load.tickets[-1]}/replies", json={"text": "On it."},
                                 headers={"Authorization": f"Bearer {token}"}) as response:
                if response.status == 201:
                    load.replies.append(int((await response.json())["id"]))
        except aiohttp.ClientError:
            return


async def stored(ctx: Context) -> tuple[list[str], dict[int, str], int]:
    """Inbound texts, replies' delivery statuses, and outbox events that were due but not handled."""
    async with ctx.db.read() as session:
        texts = list(await session.scalars(select(Message.text).where(Message.direction == Direction.INBOUND)))
        statuses = dict((await session.execute(select(Message.id, Message.delivery_status)
                                                .where(Message.direction == Direction.OUTBOUND))).all())
        pending = int(await session.scalar(select(func.count()).select_from(OutboxEvent).where(
            OutboxEvent.status.in_(("pending", "claimed")), OutboxEvent.attempts == 0,
            OutboxEvent.topic.in_(("message.received", "ticket.created", "reply.queued")))) or 0)
    return texts, statuses, pending


@pytest.mark.slow
async def test_sigterm_under_load_loses_nothing_and_exits_0(settings: Settings, tmp_path: Path) -> None:
    ctx = build_context(settings)  # the same data folder (key file) and database as the server process
    agent = await create_staff(ctx, Role.AGENT)
    port, smtp_port = free_port(), free_port()
    env = {**os.environ, "CC_SERVER__PORT": str(port), "CC_SERVER__DATA_DIR": str(tmp_path),
           "CC_SERVER__SECRET_KEY": settings.server.secret_key, "CC_SERVER__LOG_LEVEL": "WARNING",
           "CC_SERVER__PUBLIC_URL": PUBLIC, "CC_EMAIL__ENABLED": "true", "CC_EMAIL__PORT": str(smtp_port),
           "CC_WEBFORM__RATE_PER_IP": "0", "CC_WEBFORM__RATE_PER_ADDRESS": "0",
           "CC_SMS__AUTH_TOKEN": TWILIO_TOKEN, "CC_SMS__ACCOUNT_SID": SID, "CC_SMS__FROM_NUMBER": "+15005550006",
           "CC_KB__EMBEDDINGS": "off"}
    if settings.database.url:
        env["CC_DATABASE__URL"] = settings.database.url
    process = subprocess.Popen([sys.executable, "-m", "contactcenter", "serve"], env=env, cwd=ROOT)  # noqa: ASYNC220
    url = f"http://127.0.0.1:{port}"
    load = Load()
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
            await wait_healthy(http, [url])
            loop = asyncio.get_running_loop()
            workers = [asyncio.create_task(webform(http, url, load, n)) for n in range(4)]
            workers += [asyncio.create_task(sms(http, url, load, n)) for n in range(2)]
            workers.append(asyncio.create_task(replies(http, url, load, agent.token)))
            workers += [asyncio.create_task(asyncio.to_thread(smtp_worker, smtp_port, load, n, loop))
                        for n in range(2)]
            await asyncio.wait_for(load.enough.wait(), timeout=120)
            process.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(process.wait, 60)
            await asyncio.gather(*workers)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert code == 0
    texts, statuses, pending = await stored(ctx)
    await ctx.db.dispose()
    found: dict[str, int] = {}
    for text in texts:
        for word in text.split():
            if word.startswith(("wf-", "sms-", "mail-")):
                found[word] = found.get(word, 0) + 1
    assert len(load.accepted) >= ACCEPT_BEFORE_STOP
    assert [m for m in load.accepted if found.get(m) != 1] == []  # every acknowledged message, exactly once
    assert load.replies and [r for r in load.replies if statuses[r] != DeliveryStatus.DELIVERED] == []
    assert pending == 0
