"""kill -9 of a real `contactcenter serve` process while a reply is in the provider's hands: after the restart
every acknowledged message is there once, redeliveries are no-ops, and the reply is marked failed as
interrupted (for an agent to check), never sent a second time. `bench/chaos.py` does this under load."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy import func, select

from contactcenter.app import build_context
from contactcenter.db.models import Message
from contactcenter.domain.enums import DeliveryStatus, Direction, Role
from contactcenter.settings import Settings
from tests.conftest import create_staff
from tests.integration.test_telegram import BOT_TOKEN, SECRET, BotApiRecorder
from tests.servers import ROOT, free_port, wait_healthy


class HangingBotApi(BotApiRecorder):
    """The Bot API stand-in, except that sendMessage never answers until released: the reply is in flight."""

    def __init__(self) -> None:
        super().__init__()
        self.sending = asyncio.Event()
        self.release = asyncio.Event()

    async def call(self, request: web.Request) -> web.Response:
        if request.match_info["method"] == "sendMessage":
            params = await request.json() if request.content_type == "application/json" else dict(await request.post())
            self.calls.append(("sendMessage", params))
            self.sending.set()
            await self.release.wait()
            return web.json_response({"ok": False, "error_code": 500, "description": "released"}, status=500)
        return await super().call(request)


def update(n: int) -> dict[str, object]:
    return {"update_id": 7000 + n, "message": {
        "message_id": n, "date": 1763900000 + n, "text": f"message {n}",
        "from": {"id": 4242, "is_bot": False, "first_name": "Sara"},
        "chat": {"id": 4242, "type": "private", "first_name": "Sara"}}}


@contextmanager
def server(env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen([sys.executable, "-m", "contactcenter", "serve"], env=env, cwd=ROOT)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


@pytest.mark.slow
async def test_kill_9_mid_send_loses_no_message_and_never_sends_twice(
        settings: Settings, tmp_path: Path, aiohttp_server: Callable[..., Awaitable[TestServer]]) -> None:
    bot = HangingBotApi()
    bot_server = await aiohttp_server(bot.app)
    ctx = build_context(settings)
    agent = await create_staff(ctx, Role.AGENT)
    port = free_port()
    env = {**os.environ, "CC_SERVER__PORT": str(port), "CC_SERVER__DATA_DIR": str(tmp_path),
           "CC_SERVER__SECRET_KEY": settings.server.secret_key, "CC_SERVER__LOG_LEVEL": "ERROR",
           "CC_EMAIL__ENABLED": "false", "CC_KB__EMBEDDINGS": "off", "CC_RELAY__CLAIM_TIMEOUT": "1",
           "CC_TELEGRAM__WEBHOOK_SECRET": SECRET, "CC_TELEGRAM__BOT_TOKEN": BOT_TOKEN,
           "CC_TELEGRAM__API_BASE_URL": str(bot_server.make_url("")).rstrip("/")}
    if settings.database.url:
        env["CC_DATABASE__URL"] = settings.database.url
    url = f"http://127.0.0.1:{port}"
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    auth = {"Authorization": f"Bearer {agent.token}"}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        with server(env) as first:
            await wait_healthy(http, [url])
            for n in range(5):
                async with http.post(url + "/webhooks/telegram", json=update(n), headers=headers) as response:
                    assert response.status == 200
            async with http.get(url + "/api/v1/tickets", params={"channel": "telegram"}, headers=auth) as response:
                [ticket] = (await response.json())["items"]
            async with http.post(f"{url}/api/v1/tickets/{ticket['id']}/replies", json={"text": "On it."},
                                 headers=auth) as response:
                assert response.status == 201
                reply_id = (await response.json())["id"]
            await asyncio.wait_for(bot.sending.wait(), timeout=60)
            first.send_signal(signal.SIGKILL)  # the provider has the reply; its answer will never be read
            first.wait()
        bot.release.set()
        with server(env):
            await wait_healthy(http, [url])
            async with http.post(url + "/webhooks/telegram", json=update(0), headers=headers) as response:
                assert response.status == 200  # a redelivery of what was stored before the kill
            for _ in range(600):  # the restarted relay hands the reply's event to the delivery worker again
                async with ctx.db.read() as session:
                    reply = await session.get(Message, reply_id)
                assert reply is not None
                if reply.delivery_status == DeliveryStatus.FAILED:
                    break
                await asyncio.sleep(0.1)
    async with ctx.db.read() as session:
        inbound = int(await session.scalar(select(func.count()).select_from(Message).where(
            Message.direction == Direction.INBOUND, Message.channel == "telegram")) or 0)
    await ctx.db.dispose()
    assert inbound == 5
    assert reply is not None and reply.delivery_status == DeliveryStatus.FAILED
    assert "interrupted" in (reply.delivery_error or "")
    assert len(bot.sent()) == 1  # sent once, never again
