"""PostgreSQL stopped under a running app: every inbound channel is told to retry (HTTP 503 with Retry-After,
SMTP 451), never 500, and the app recovers by itself when the database is back. Runs on a private cluster
(its own port and folder), never on the shared server; skipped without PostgreSQL's server binaries."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from contactcenter.app import create_app
from contactcenter.context import CTX
from contactcenter.db.models import Message
from contactcenter.domain.enums import Role
from contactcenter.settings import Settings, load_settings
from tests.conftest import create_staff
from tests.mailtools import mail, send
from tests.pgcluster import PrivateCluster, postgres_bin

pytestmark = pytest.mark.skipif(postgres_bin() is None, reason="PostgreSQL server binaries (initdb) not installed")

Client = TestClient[Any, Any]
PUBLIC = "https://cc.example.test"
TWILIO_TOKEN = "twilio-auth-token-for-tests"
TG_SECRET = "webhook-secret-for-tests_0123456789"
SMS_PATH, TG_PATH = "/webhooks/twilio/sms", "/webhooks/telegram"


@pytest.fixture
def cluster() -> Iterator[PrivateCluster]:
    pg = PrivateCluster()
    pg.start()
    yield pg
    pg.remove()



def outage_settings(tmp_path: Path, url: str) -> Settings:
    return load_settings(environ={}).with_overrides({
        "server": {"data_dir": str(tmp_path), "secret_key": "outage-test-secret", "public_url": PUBLIC},
        "database": {"url": url, "pool_size": 3},
        "relay": {"poll_interval": 0.2, "retry_base_delay": 0.1, "linger": 0.0},
        "email": {"port": 0},
        "kb": {"embeddings": "off"},
        "sms": {"auth_token": TWILIO_TOKEN, "account_sid": "AC" + "0" * 32, "from_number": "+15005550006"},
        "telegram": {"webhook_secret": TG_SECRET, "bot_token": "123456:TEST-token"},
        "voice": {"auth_token": TWILIO_TOKEN},
    })


async def post_twilio(client: Client, path: str, params: dict[str, str]) -> int:
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(PUBLIC + path, params)
    response = await client.post(path, data=urlencode(params), headers={
        "X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"})
    return response.status


async def post_sms(client: Client, sid: str) -> int:
    return await post_twilio(client, SMS_PATH, {"MessageSid": sid, "AccountSid": "AC" + "0" * 32,
                                                "From": "+989121234567", "To": "+15005550006",
                                                "Body": f"outage test {sid}", "NumMedia": "0"})


async def post_telegram(client: Client, update_id: int) -> int:
    update = {"update_id": update_id, "message": {
        "message_id": update_id, "date": 1763900000, "text": f"outage test {update_id}",
        "from": {"id": 4242, "is_bot": False, "first_name": "Sara"},
        "chat": {"id": 4242, "type": "private", "first_name": "Sara"}}}
    headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": TG_SECRET}
    response = await client.post(TG_PATH, data=json.dumps(update), headers=headers)
    return response.status


async def post_webform(client: Client, key: str) -> tuple[int, dict[str, Any], str]:
    response = await client.post("/api/v1/webform", json={"email": "sara@example.com", "message": f"form {key}"},
                                 headers={"Idempotency-Key": key})
    body = await response.json() if response.content_type == "application/json" else {}
    return response.status, body, response.headers.get("Retry-After", "")


async def test_database_down_answers_retry_later_on_every_channel_and_recovers(
        aiohttp_client: Callable[..., Awaitable[Client]], tmp_path: Path, cluster: PrivateCluster) -> None:
    client = await aiohttp_client(create_app(outage_settings(tmp_path, cluster.url)))
    ctx = client.app[CTX]
    assert ctx.smtp is not None
    agent = await create_staff(ctx, Role.AGENT)
    status, first, _ = await post_webform(client, "before")
    assert status == 201
    portal = first["portal_url"].rsplit("/", 1)[1]

    await asyncio.to_thread(cluster.stop)  # immediate: the server dies like a crash
    answers: dict[str, int] = {}
    status, body, retry = await post_webform(client, "during")
    assert (status, body["error"]["code"]) == (503, "unavailable") and retry.isdigit()
    answers["webform"] = status
    response = await client.post(f"/api/v1/portal/{portal}/messages", json={"text": "still there?"})
    answers["portal"] = response.status
    answers["sms"] = await post_sms(client, "SMoutage1")
    answers["telegram"] = await post_telegram(client, 7001)
    answers["agent api"] = (await client.get("/api/v1/tickets", headers=agent.headers)).status
    answers["portal page"] = (await client.get(f"/t/{portal}")).status
    answers["voice"] = await post_twilio(client, "/webhooks/twilio/voice/incoming", {
        "CallSid": "CAoutage1", "From": "+989121234567", "To": "+15005550006", "CallStatus": "ringing"})
    answers["sms status"] = await post_twilio(client, "/webhooks/twilio/sms/status", {
        "MessageSid": "SMunknown", "MessageStatus": "delivered", "AccountSid": "AC" + "0" * 32})
    answers["readyz"] = (await client.get("/readyz")).status
    refused_mail = mail("Reza <reza@example.ir>", "Hi", "down?", Message_ID="<outage-1@example.ir>")
    code, text = await send(ctx.smtp.port, refused_mail)
    assert code == 451 and "try again" in text
    assert answers == dict.fromkeys(answers, 503), answers
    assert (await client.get("/healthz")).status == 200  # the process itself is alive

    await asyncio.to_thread(cluster.start)
    for _ in range(240):  # the app reconnects by itself: no restart, no operator
        status, _, _ = await post_webform(client, f"after-{uuid.uuid4().hex}")
        if status == 201:
            break
        assert status == 503
        await asyncio.sleep(0.25)
    else:
        raise AssertionError("the app did not recover after the database came back")
    # Redeliveries of what was refused are stored now, exactly once.
    assert await post_sms(client, "SMoutage1") == 200
    assert await post_sms(client, "SMoutage1") == 200
    assert await post_telegram(client, 7001) == 200
    code, _ = await send(ctx.smtp.port, refused_mail)
    assert code == 250
    assert (await client.get("/readyz")).status == 200
    async with ctx.db.read() as session:
        stored = dict((await session.execute(select(Message.channel, func.count()).group_by(Message.channel))).all())
    assert stored == {"webform": 2, "sms": 1, "telegram": 1, "email": 1}
