"""Telegram through the real app: every corpus update via the webhook route, replays, the secret, edits,
button presses, verified phone links, and replies through python-telegram-bot's Bot to a local recorder."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from channels.base import OutboundMessage
from channels.telegram.sender import TelegramSender
from contactcenter.actions.tickets import ticket_tags
from contactcenter.app import create_app
from contactcenter.context import CTX
from contactcenter.db.models import ChannelEvent, Contact, ContactIdentity, KbDeflection, Message, OutboxEvent, Ticket
from contactcenter.domain.enums import IdentityKind, Role
from contactcenter.domain.identities import Address
from contactcenter.intake import intake
from contactcenter.settings import Settings
from kb.autoanswer import button_data, parse_button_data
from tests.conftest import create_staff, handled_reply

Client = TestClient[Any, Any]
SECRET = "webhook-secret-for-tests_0123456789"
BOT_TOKEN = "123456:TEST-token"
CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpora" / "webhooks"
# What each corpus file becomes: a stored message, a kept channel event (kind), or nothing (ignored).
EXPECTED = {
    "callback_query_object_inline.json": "unparsed",
    "message_object_photo_caption_entities_url.json": "unparsed",
    "message_private_text_link_preview.json": "message",
    "message_reaction_emoji.json": "ignored",
    "my_chat_member_bot_blocked.json": "ignored",
    "supergroup_reply_bot_command_thread.json": "ignored",
    "unknown_update_kind.json": "ignored",
    "callback_query_with_message.json": "callback",
}


class BotApiRecorder:
    """A local stand-in for api.telegram.org: records every Bot API call and answers like Telegram."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.refuse = False
        self.updates: list[list[dict[str, Any]]] = []  # batches getUpdates hands out, then empty ones
        self.drained = asyncio.Event()
        self.app = web.Application()
        self.app.router.add_post("/bot{token}/{method}", self.call)

    async def call(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.content_type == "application/json":
            params = await request.json()
        else:
            params = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        self.calls.append((method, params))
        if request.match_info["token"] != BOT_TOKEN:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        if method == "getMe":
            return web.json_response({"ok": True, "result": {"id": 1, "is_bot": True, "first_name": "Help",
                                                             "username": "help_bot"}})
        if method == "sendMessage":
            if self.refuse:
                return web.json_response({"ok": False, "error_code": 403,
                                          "description": "Forbidden: bot was blocked by the user"}, status=403)
            return web.json_response({"ok": True, "result": {
                "message_id": 500 + len(self.calls), "date": 1700000000, "text": params.get("text"),
                "chat": {"id": int(params["chat_id"]), "type": "private"}}})
        if method == "getUpdates":
            if not self.updates:
                self.drained.set()
            return web.json_response({"ok": True, "result": self.updates.pop(0) if self.updates else []})
        return web.json_response({"ok": True, "result": True})

    def sent(self) -> list[dict[str, Any]]:
        return [params for method, params in self.calls if method == "sendMessage"]


@pytest.fixture
async def bot_api(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> tuple[BotApiRecorder, str]:
    recorder = BotApiRecorder()
    server = await aiohttp_server(recorder.app)
    return recorder, str(server.make_url("")).rstrip("/")


def telegram_settings(settings: Settings, base: str, **extra: Any) -> Settings:
    return settings.with_overrides({"telegram": {"webhook_secret": SECRET, "bot_token": BOT_TOKEN,
                                                 "api_base_url": base, **extra}})


@pytest.fixture
async def tg(aiohttp_client: Callable[..., Awaitable[Client]], settings: Settings,
             bot_api: tuple[BotApiRecorder, str]) -> Client:
    return await aiohttp_client(create_app(telegram_settings(settings, bot_api[1])))


def corpus() -> list[Path]:
    files = sorted(CORPUS.glob("telegram_*/*.json"))
    if not files:
        pytest.skip(f"no Telegram corpus under {CORPUS}")
    return files


async def post(client: Client, body: bytes | dict[str, Any], secret: str | None = SECRET) -> Any:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    return await client.post("/webhooks/telegram", data=data, headers=headers)


async def counts(client: Client) -> dict[str, int]:
    async with client.app[CTX].db.read() as session:
        found = {"message": int(await session.scalar(select(func.count()).select_from(Message)) or 0)}
        for kind, n in (await session.execute(select(ChannelEvent.kind, func.count())
                                              .group_by(ChannelEvent.kind))).all():
            found[kind] = int(n)
    return found


async def test_every_corpus_update_through_the_webhook_and_replays_are_no_ops(tg: Client) -> None:
    for path in corpus():
        before = await counts(tg)
        response = await post(tg, path.read_bytes())
        assert response.status == 200, (path.name, await response.text())
        after = await counts(tg)
        expected = EXPECTED[path.name]
        changed = {k: after.get(k, 0) - before.get(k, 0) for k in after.keys() | before.keys()}
        if expected == "ignored":
            assert not any(changed.values()), (path.name, changed)
        else:
            assert changed == {**{k: 0 for k in changed}, expected: 1}, (path.name, changed)
        if expected == "callback":
            assert (await response.json()) == {"method": "answerCallbackQuery", "callback_query_id": "query-id"}
        replay = await post(tg, path.read_bytes())
        assert replay.status == 200
        assert await counts(tg) == after, f"replaying {path.name} changed something"


async def test_unknown_updates_can_be_kept(aiohttp_client: Callable[..., Awaitable[Client]], settings: Settings,
                                           bot_api: tuple[BotApiRecorder, str]) -> None:
    client = await aiohttp_client(create_app(telegram_settings(settings, bot_api[1], keep_unknown_updates=True)))
    path = next(p for p in corpus() if p.name == "unknown_update_kind.json")
    for _ in range(2):
        assert (await post(client, path.read_bytes())).status == 200
    assert (await counts(client)).get("unknown") == 1


@pytest.mark.parametrize("secret", [None, "", "wrong", SECRET + "x"])
async def test_a_wrong_or_missing_secret_is_403_and_stores_nothing(tg: Client, secret: str | None) -> None:
    update = {"update_id": 1, "message": {"message_id": 1, "date": 1700000000, "text": "hi",
                                          "chat": {"id": 5, "type": "private"}, "from": {"id": 5, "is_bot": False,
                                                                                         "first_name": "A"}}}
    response = await post(tg, update, secret)
    assert response.status == 403
    assert await counts(tg) == {"message": 0}


async def test_without_a_secret_configured_the_webhook_is_closed(client: Client) -> None:
    assert (await post(client, {"update_id": 1}, "")).status == 403


def private(update_id: int, message: dict[str, Any], kind: str = "message", user: int = 42) -> dict[str, Any]:
    base = {"message_id": update_id, "date": 1700000000 + update_id,
            "chat": {"id": user, "type": "private", "first_name": "Ann"},
            "from": {"id": user, "is_bot": False, "first_name": "Ann", "last_name": "Lee"}}
    return {"update_id": update_id, kind: {**base, **message}}


async def stored(client: Client) -> list[Message]:
    async with client.app[CTX].db.read() as session:
        return list((await session.scalars(select(Message).order_by(Message.id))).all())


async def test_messages_edits_and_files_go_on_one_ticket(tg: Client) -> None:
    assert (await post(tg, private(1, {"text": "/start order-77"}))).status == 200
    assert (await post(tg, private(2, {"caption": "my receipt", "photo": [
        {"file_id": "P-small", "file_unique_id": "a", "width": 90, "height": 90},
        {"file_id": "P-big", "file_unique_id": "b", "width": 800, "height": 800}]}))).status == 200
    edit = private(1, {"text": "/start order-78", "edit_date": 1700000500}, kind="edited_message")
    edit["update_id"] = 3
    assert (await post(tg, edit)).status == 200
    assert (await post(tg, bytes(json.dumps(edit), "utf-8"))).status == 200  # replayed edit
    start, photo, edited = await stored(tg)
    assert start.meta["start_payload"] == "order-77" and start.external_id == "42:1"
    assert photo.meta["photo_file_id"] == "P-big" and photo.text == "my receipt"
    assert edited.meta["edit_of"] == "42:1" and edited.text == "/start order-78"
    assert start.ticket_id == photo.ticket_id == edited.ticket_id


async def test_shared_own_contact_links_the_chat_to_the_contact_with_that_phone(tg: Client) -> None:
    ctx = tg.app[CTX]
    from channels.base import InboundMessage, ThreadHints
    from contactcenter.db.types import utcnow
    phone = Address(IdentityKind.PHONE, "+989121234567")
    by_sms = await intake(ctx.db, ctx.store, ctx.settings, InboundMessage(
        channel="sms", external_id="SM1", sender=phone, received_at=utcnow(), text="hello by SMS",
        hints=ThreadHints(conversation_key=phone.value)))
    await post(tg, private(1, {"text": "hello by Telegram"}))
    tg_contact = (await stored(tg))[-1].contact_id
    assert tg_contact != by_sms.contact_id
    share = private(2, {"contact": {"phone_number": "989121234567", "first_name": "Ann", "user_id": 42}})
    for _ in range(2):  # a redelivery changes nothing more
        assert (await post(tg, share)).status == 200
    async with ctx.db.read() as session:
        identities = {(i.kind, i.value): (i.contact_id, i.method) for i in
                      (await session.scalars(select(ContactIdentity))).all()}
        merged = await session.get(Contact, tg_contact)
    assert identities[("telegram", "42")] == (by_sms.contact_id, "verified")
    assert identities[("phone", phone.value)] == (by_sms.contact_id, "verified")
    assert merged is not None and merged.merged_into_id == by_sms.contact_id
    agent = await create_staff(ctx, Role.AGENT)
    response = await tg.get(f"/api/v1/contacts/{by_sms.contact_id}/timeline", headers=agent.headers)
    assert response.status == 200
    timeline = await response.json()
    assert timeline["channels"] == ["sms", "telegram"]
    assert {item["channel"] for item in timeline["items"]} == {"sms", "telegram"}
    assert len(timeline["items"]) == 3


async def test_someone_elses_contact_card_links_nothing(tg: Client) -> None:
    await post(tg, private(1, {"contact": {"phone_number": "+989121234567", "first_name": "Bob", "user_id": 7}}))
    async with tg.app[CTX].db.read() as session:
        kinds = (await session.scalars(select(ContactIdentity.kind))).all()
    assert list(kinds) == ["telegram"]


async def test_button_presses_are_recorded_as_events(tg: Client) -> None:
    press = {"update_id": 9, "callback_query": {"id": "cb-1", "chat_instance": "ci", "data": "csat:5",
                                                "from": {"id": 42, "is_bot": False, "first_name": "Ann"},
                                                "message": {"message_id": 501, "date": 1700000000,
                                                            "chat": {"id": 42, "type": "private"}}}}
    for _ in range(2):
        assert (await post(tg, press)).status == 200
    async with tg.app[CTX].db.read() as session:
        [event] = (await session.scalars(select(ChannelEvent))).all()
        topics = (await session.scalars(select(OutboxEvent.topic).where(OutboxEvent.topic == "channel.event"))).all()
    assert (event.kind, event.key, event.ref, event.value) == ("callback", "cb-1", "42:501", "csat:5")
    assert len(topics) == 1


async def test_bad_json_with_the_right_secret_is_kept_raw(tg: Client) -> None:
    assert (await post(tg, b"{not json")).status == 200
    assert (await counts(tg)).get("unparsed") == 1


async def test_a_reply_goes_out_through_the_bot(tg: Client, bot_api: tuple[BotApiRecorder, str]) -> None:
    agent = await create_staff(tg.app[CTX], Role.AGENT)
    await post(tg, private(1, {"text": "where is my parcel?"}))
    [inbound] = await stored(tg)
    response = await tg.post(f"/api/v1/tickets/{inbound.ticket_id}/replies", json={"text": "On its way."},
                             headers=agent.headers)
    reply = await handled_reply(tg.app[CTX], int((await response.json())["id"]))
    assert reply.delivery_status == "sent" and reply.provider_id is not None
    [sent] = bot_api[0].sent()
    assert str(sent["chat_id"]) == "42" and sent["text"] == "On its way."
    bot_api[0].refuse = True
    response = await tg.post(f"/api/v1/tickets/{inbound.ticket_id}/replies", json={"text": "Hello?"},
                             headers=agent.headers)
    refused = await handled_reply(tg.app[CTX], int((await response.json())["id"]))
    assert refused.delivery_status == "failed" and "blocked" in (refused.delivery_error or "")


async def test_the_sender_offers_inline_buttons(settings: Settings, bot_api: tuple[BotApiRecorder, str]) -> None:
    sender = TelegramSender(telegram_settings(settings, bot_api[1]))
    try:
        receipt = await sender.send(OutboundMessage(
            message_id=1, ticket_id=1, channel="telegram", to=(), subject="", text="Did this answer help?",
            conversation_key="42", buttons=(("Yes", "helpful:1"), ("No", "helpful:0"))))
    finally:
        await sender.close()
    assert receipt.status == "sent"
    [sent] = bot_api[0].sent()
    markup = sent["reply_markup"]
    markup = json.loads(markup) if isinstance(markup, str) else markup
    assert markup == {"inline_keyboard": [[{"text": "Yes", "callback_data": "helpful:1"}],
                                          [{"text": "No", "callback_data": "helpful:0"}]]}


async def test_polling_mode_stores_updates_like_the_webhook(ctx: Any, bot_api: tuple[BotApiRecorder, str]) -> None:
    from channels.telegram.polling import poll
    from channels.telegram.sender import make_bot
    from contactcenter.db.migrate import upgrade
    recorder, base = bot_api
    recorder.updates = [[private(7, {"text": "hi from polling"})]]
    await upgrade(ctx.db.engine)
    settings = telegram_settings(ctx.settings, base)
    bot = make_bot(settings)
    await bot.initialize()
    try:
        await asyncio.wait_for(poll(ctx, bot, recorder.drained, long_poll=0), timeout=30)
    finally:
        await bot.shutdown()
    async with ctx.db.read() as session:
        texts = (await session.scalars(select(Message.text))).all()
    assert list(texts) == ["hi from polling"]
    assert [m for m, _ in recorder.calls][:2] == ["getMe", "deleteWebhook"]


async def test_set_webhook_registers_our_route_with_a_generated_secret(
        settings: Settings, bot_api: tuple[BotApiRecorder, str]) -> None:
    from channels.telegram.routes import secret_path, webhook_secret
    from contactcenter.cli import _telegram_set_webhook
    configured = telegram_settings(settings, bot_api[1], webhook_secret="").with_overrides(
        {"server": {"public_url": "https://cc.example.test"}})
    assert await _telegram_set_webhook(configured, None, new_secret=False) == 0
    secret = webhook_secret(configured)
    assert len(secret) >= 32 and secret_path(configured).stat().st_mode & 0o077 == 0
    [(_, params)] = [c for c in bot_api[0].calls if c[0] == "setWebhook"]
    assert params["url"] == "https://cc.example.test/webhooks/telegram" and params["secret_token"] == secret
    assert await _telegram_set_webhook(configured, None, new_secret=False) == 0  # keeps the secret
    assert webhook_secret(configured) == secret


def press(update_id: int, data: str, chat: int = 42) -> dict[str, Any]:
    return {"update_id": update_id, "callback_query": {
        "id": f"cb-{update_id}", "chat_instance": "ci", "data": data,
        "from": {"id": chat, "is_bot": False, "first_name": "Ann"},
        "message": {"message_id": 900 + update_id, "date": 1700000000, "chat": {"id": chat, "type": "private"}}}}


async def _until(probe: Callable[[], Awaitable[Any]]) -> Any:
    for _ in range(200):
        if value := await probe():
            return value
        await asyncio.sleep(0.05)
    raise AssertionError("the relay did not get there")


async def test_a_knowledge_base_answer_asks_with_signed_buttons(tg: Client,
                                                                bot_api: tuple[BotApiRecorder, str]) -> None:
    ctx = tg.app[CTX]
    admin = await create_staff(ctx, Role.ADMIN)
    article = await tg.post("/api/v1/kb/articles", headers=admin.headers, json={
        "title": "When will my card arrive?", "language": "en", "status": "published",
        "body": "Cards arrive within 5 working days.", "phrasings": ["I am still waiting on my card"]})
    article_id = int((await article.json())["id"])
    await post(tg, private(1, {"text": "I am still waiting on my card"}))
    [inbound] = await stored(tg)
    ticket_id = inbound.ticket_id
    async def sent_messages() -> list[dict[str, Any]]:
        await ctx.relay.drain()
        return bot_api[0].sent()

    sent = await _until(sent_messages)
    markup = sent[0]["reply_markup"]
    markup = json.loads(markup) if isinstance(markup, str) else markup
    [[yes], [no]] = markup["inline_keyboard"]
    assert yes["text"] == "Yes, it helped" and no["text"] == "No, I need an agent"
    assert yes["callback_data"] == button_data(ctx.secret, ticket_id, article_id, True)
    assert len(yes["callback_data"].encode()) <= 64 and "/helped/" not in sent[0]["text"]

    async def ticket() -> Ticket:
        async with ctx.db.read() as session:
            found = await session.get(Ticket, ticket_id)
            assert found is not None
            return found

    assert (await ticket()).status == "pending"
    # Forged data (wrong signature, another ticket's, someone else's chat) changes nothing.
    forged = yes["callback_data"][:-4] + "0000"
    other = button_data(ctx.secret, ticket_id + 1, article_id, True)
    for n, (data, chat) in enumerate(((forged, 42), (other, 42), (yes["callback_data"], 77)), start=10):
        response = await post(tg, press(n, data, chat))
        assert response.status == 200 and (await response.json())["method"] == "answerCallbackQuery"
    await ctx.relay.drain()
    assert (await ticket()).status == "pending"
    # The customer's own "yes" solves the ticket as deflected; pressing again (or "no") changes nothing.
    for n, data in ((20, yes["callback_data"]), (21, yes["callback_data"]), (22, no["callback_data"])):
        assert (await post(tg, press(n, data))).status == 200
    await ctx.relay.drain()
    solved = await ticket()
    assert solved.status == "solved"
    async with ctx.db.read() as session:
        tags = (await ticket_tags(session, [ticket_id]))[ticket_id]
        deflections = (await session.scalars(select(KbDeflection))).all()
    assert "deflected" in tags
    assert [(d.channel, d.helpful) for d in deflections] == [("telegram", True)]


def test_button_data_is_signed() -> None:
    secret = b"k" * 32
    data = button_data(secret, 12, 3, False)
    assert parse_button_data(secret, data) == (12, 3, False)
    assert parse_button_data(b"other", data) is None
    assert parse_button_data(secret, data.replace(":12:", ":13:")) is None
    assert parse_button_data(secret, "csat:5") is None
