"""The live chat through real WebSocket clients against the running app: pre-chat, messages, live agent
replies, typing both ways, reconnect with exactly the missed messages, no duplicates, isolation."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from channels.chat.parse import sign_identity
from contactcenter.app import create_app
from contactcenter.context import CTX
from contactcenter.db.engine import Database
from contactcenter.db.models import ContactIdentity, Message
from contactcenter.settings import Settings
from tests.conftest import Staff, handled_reply
from tests.ports import free_port

Client = TestClient[Any, Any]
WS = aiohttp.ClientWebSocketResponse
PRECHAT = {"name": "Sara", "email": "sara@example.com", "topic": "billing"}


async def receive(ws: WS) -> dict[str, Any]:
    frame: dict[str, Any] = await ws.receive_json(timeout=10)
    return frame


async def receive_type(ws: WS, kind: str) -> dict[str, Any]:
    """The next frame of this type (typing and presence frames in between are skipped)."""
    while True:
        frame = await receive(ws)
        if frame["type"] == kind:
            return frame
        assert frame["type"] in ("typing", "visitor", "notice"), frame


async def connect(client: Client, **hello: Any) -> tuple[WS, dict[str, Any]]:
    ws = await client.ws_connect("/chat/ws")
    await ws.send_json({"type": "hello", "last_seen": 0, "prechat": PRECHAT, **hello})
    welcome = await receive(ws)
    assert welcome["type"] == "welcome", welcome
    return ws, welcome


async def nothing_more(ws: WS) -> None:
    """A ping is answered after every frame already queued for this socket: nothing else came before it."""
    await ws.send_json({"type": "ping"})
    frame = await receive(ws)
    assert frame == {"type": "pong"}


async def available(client: Client, staff: Staff) -> None:
    response = await client.put("/api/v1/agents/me/presence", json={"presence": "available"}, headers=staff.headers)
    assert response.status == 200


async def agent_reply(client: Client, staff: Staff, ticket: int, text: str) -> int:
    response = await client.post(f"/api/v1/tickets/{ticket}/replies", json={"text": text}, headers=staff.headers)
    assert response.status == 201, await response.text()
    return int((await response.json())["id"])


async def test_a_whole_chat_with_reconnect(client: Client, agent: Staff) -> None:
    await available(client, agent)
    ws, welcome = await connect(client)
    assert welcome["mode"] == "live" and welcome["notice"] is None and welcome["ticket"] is None
    token = welcome["token"]

    await ws.send_json({"type": "message", "client_id": "c1", "text": "سلام، سفارشم نرسیده"})
    ack = await receive_type(ws, "ack")
    assert ack["client_id"] == "c1" and ack["duplicate"] is False
    ticket, first_id = ack["ticket"], ack["id"]

    # The agent watches the chat: sees the visitor online and typing, and types back.
    agent_ws = await client.ws_connect("/chat/agent/ws", headers=agent.headers)
    assert (await agent_ws.receive_json(timeout=5))["type"] == "offers"  # the console's pending offers first
    await agent_ws.send_json({"type": "watch", "ticket": ticket})
    assert await receive(agent_ws) == {"type": "watching", "ticket": ticket, "visitor_online": True}
    await ws.send_json({"type": "typing", "typing": True})
    assert await receive(agent_ws) == {"type": "typing", "from": "visitor", "ticket": ticket, "typing": True}
    await agent_ws.send_json({"type": "typing", "ticket": ticket, "typing": True})
    assert await receive(ws) == {"type": "typing", "from": "agent", "typing": True}

    # A reply is pushed live to the visitor and to the watching agent; an internal note never reaches the visitor.
    note = await client.post(f"/api/v1/tickets/{ticket}/notes", json={"text": "internal: VIP"}, headers=agent.headers)
    assert note.status == 201
    reply_id = await agent_reply(client, agent, ticket, "Hello Sara, let me check.")
    pushed = await receive_type(ws, "message")
    assert pushed["id"] == reply_id and pushed["author"] == "agent" and pushed["text"] == "Hello Sara, let me check."
    assert pushed["author_name"] == "Agent"
    assert (await receive_type(agent_ws, "message"))["id"] == reply_id
    assert (await handled_reply(client.app[CTX], reply_id)).delivery_status == "delivered"
    await nothing_more(ws)

    # The visitor goes away; the agent answers twice meanwhile (stored, not delivered live).
    await ws.close()
    assert await receive(agent_ws) == {"type": "visitor", "ticket": ticket, "online": False}
    missed = [await agent_reply(client, agent, ticket, f"while you were away {n}") for n in (1, 2)]
    assert [(await handled_reply(client.app[CTX], m)).delivery_status for m in missed] == ["sent", "sent"]

    # Reconnect: exactly the two missed messages, in order, nothing else.
    ws, welcome = await connect(client, token=token, last_seen=reply_id)
    assert welcome["token"] == token and welcome["ticket"] == ticket
    frames = [await receive(ws), await receive(ws)]
    assert [(f["type"], f["id"], f["text"]) for f in frames] == [
        ("message", missed[0], "while you were away 1"), ("message", missed[1], "while you were away 2")]
    await nothing_more(ws)

    # The client never saw its ack of c1 and sends it again: stored once, answered with the first id.
    await ws.send_json({"type": "message", "client_id": "c1", "text": "سلام، سفارشم نرسیده"})
    again = await receive_type(ws, "ack")
    assert again == {"type": "ack", "client_id": "c1", "id": first_id, "ticket": ticket, "duplicate": True}
    async with client.app[CTX].db.read() as session:
        inbound = await session.scalar(select(func.count()).select_from(Message).where(
            Message.ticket_id == ticket, Message.direction == "in"))
    assert inbound == 1

    # A full replay from the start shows the transcript without the internal note.
    ws2, _ = await connect(client, token=token, last_seen=0)
    texts = [(await receive(ws2))["text"] for _ in range(4)]
    assert "internal: VIP" not in texts and texts[0] == "سلام، سفارشم نرسیده"
    await nothing_more(ws2)
    await ws2.close()
    await ws.close()
    await agent_ws.close()


async def test_another_visitor_cannot_read_this_chat(client: Client, agent: Staff) -> None:
    await available(client, agent)
    ws_a, welcome_a = await connect(client)
    await ws_a.send_json({"type": "message", "client_id": "a1", "text": "my account number is 1234"})
    ticket = (await receive_type(ws_a, "ack"))["ticket"]

    client.session.cookie_jar.clear()  # another browser: no visitor cookie
    ws_b, welcome_b = await connect(client, prechat={"name": "Mallory"})
    assert welcome_b["token"] != welcome_a["token"] and welcome_b["ticket"] is None
    await nothing_more(ws_b)  # no replay of A's messages

    reply_id = await agent_reply(client, agent, ticket, "only for A")
    assert (await receive_type(ws_a, "message"))["id"] == reply_id
    await nothing_more(ws_b)  # the push went to A's topic only

    # A forged token (A's id with a made-up signature) is refused and the socket closed.
    visitor_a = welcome_a["token"].split(".")[0]
    ws_c = await client.ws_connect("/chat/ws")
    await ws_c.send_json({"type": "hello", "token": f"{visitor_a}.{'0' * 32}", "last_seen": 0})
    error = await receive(ws_c)
    assert error["type"] == "error" and error["code"] == "bad_token"
    closing = await ws_c.receive(timeout=10)
    assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    assert ws_c.close_code == 4403
    for ws in (ws_a, ws_b):
        await ws.close()


async def test_nobody_available_the_chat_becomes_a_ticket(client: Client) -> None:
    ws, welcome = await connect(client, language="fa")
    assert welcome["mode"] == "offline" and welcome["reason"] == "no_agent"
    assert "تیکت" in welcome["notice"]
    await ws.send_json({"type": "message", "client_id": "x1", "text": "کسی هست؟"})
    ack = await receive_type(ws, "ack")
    notice = await receive_type(ws, "notice")
    assert notice["ticket"] == ack["ticket"] and notice["portal_url"].startswith("http://127.0.0.1:8080/t/")
    page = await client.get(notice["portal_url"].removeprefix("http://127.0.0.1:8080"))
    assert page.status == 200 and "کسی هست؟" in await page.text()
    await ws.close()


async def make_client(aiohttp_client: Callable[..., Awaitable[Client]], settings: Settings,
                      overrides: dict[str, Any]) -> Client:
    return await aiohttp_client(create_app(settings.with_overrides(overrides)))


async def test_outside_business_hours(aiohttp_client: Callable[..., Awaitable[Client]], settings: Settings) -> None:
    client = await make_client(aiohttp_client, settings, {"hours": {"open": "00:00", "close": "00:00"}})
    ws, welcome = await connect(client)
    assert welcome["mode"] == "offline" and welcome["reason"] == "closed" and "closed" in welcome["notice"]
    await ws.close()


async def test_bad_frames_get_error_frames_not_a_crash(client: Client) -> None:
    ws = await client.ws_connect("/chat/ws")
    await ws.send_json({"type": "message", "client_id": "m1", "text": "before hello"})
    assert (await receive(ws))["code"] == "hello_required"
    await ws.receive(timeout=10)
    assert ws.closed

    ws = await client.ws_connect("/chat/ws")
    await ws.send_json({"type": "hello", "last_seen": 0})
    assert (await receive(ws))["prechat_required"] is True
    await ws.send_json({"type": "message", "client_id": "m1", "text": "no pre-chat yet"})
    assert (await receive(ws))["code"] == "prechat_required"
    for bad in ("not json", "[1, 2]", '{"type": "nope"}', '{"type": "message", "client_id": "bad id!", "text": "x"}',
                '{"type": "message", "client_id": "m2", "text": "   "}', '{"type": "hello"}',
                '{"type": "message", "client_id": "m3", "text": "' + "x" * 6000 + '"}'):
        await ws.send_str(bad)
        frame = await receive(ws)
        assert frame["type"] == "error" and frame["code"] in ("bad_frame", "too_long"), (bad, frame)
    await ws.send_bytes(b"\x00\x01")
    assert (await receive(ws))["code"] == "bad_frame"
    await nothing_more(ws)
    await ws.close()

    ws = await client.ws_connect("/chat/ws")
    await ws.send_json({"type": "hello", "last_seen": 0, "prechat": {"name": "A", "email": "not an address"}})
    assert (await receive(ws))["code"] == "bad_prechat"
    await ws.close()


async def test_messages_are_rate_limited_per_visitor(aiohttp_client: Callable[..., Awaitable[Client]],
                                                     settings: Settings) -> None:
    client = await make_client(aiohttp_client, settings, {"chat": {"rate_per_visitor": 2}})
    ws, _ = await connect(client)
    for n in (1, 2):
        await ws.send_json({"type": "message", "client_id": f"r{n}", "text": f"message {n}"})
        assert (await receive_type(ws, "ack"))["duplicate"] is False
    await ws.send_json({"type": "message", "client_id": "r3", "text": "one too many"})
    error = await receive_type(ws, "error")
    assert error["code"] == "rate_limited" and error["client_id"] == "r3" and error["retry_after"] >= 1
    async with client.app[CTX].db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Message)) == 2
    await ws.close()


async def test_verified_identity_links_the_host_sites_user(aiohttp_client: Callable[..., Awaitable[Client]],
                                                           settings: Settings) -> None:
    secret = "host-site-shared-secret"
    client = await make_client(aiohttp_client, settings, {"chat": {"identity_secret": secret}})
    expires = int(time.time()) + 600
    identity = {"user_id": "42", "email": "Reza@Example.com", "name": "Reza", "expires": expires,
                "signature": sign_identity(secret, "42", "Reza@Example.com", "Reza", expires)}
    ws, welcome = await connect(client, identity=identity, prechat=None)
    assert welcome["prechat_required"] is False
    await ws.send_json({"type": "message", "client_id": "v1", "text": "hello"})
    ack = await receive_type(ws, "ack")
    async with client.app[CTX].db.read() as session:
        message = await session.get(Message, ack["id"])
        assert message is not None and message.meta["verified_user_id"] == "42"
        kinds = {k for (k,) in (await session.execute(select(ContactIdentity.kind).where(
            ContactIdentity.contact_id == message.contact_id))).all()}
    assert kinds == {"chat", "email"}
    await ws.close()
    # The same user on another device continues the same conversation.
    ws, again = await connect(client, identity=identity, prechat=None)
    assert again["ticket"] == ack["ticket"]
    await ws.close()
    forged = {**identity, "name": "Someone else"}
    ws = await client.ws_connect("/chat/ws")
    await ws.send_json({"type": "hello", "last_seen": 0, "identity": forged})
    assert (await receive(ws))["code"] == "bad_identity"
    await ws.close()


async def test_origins_and_agent_authentication(aiohttp_client: Callable[..., Awaitable[Client]],
                                                settings: Settings) -> None:
    client = await make_client(aiohttp_client, settings, {"chat": {"allowed_origins": ["https://shop.example"]}})
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await client.ws_connect("/chat/ws", headers={"Origin": "https://evil.example"})
    assert refused.value.status == 403
    ws = await client.ws_connect("/chat/ws", headers={"Origin": "https://shop.example"})
    await ws.close()
    with pytest.raises(aiohttp.WSServerHandshakeError) as anonymous:
        await client.ws_connect("/chat/agent/ws")
    assert anonymous.value.status == 401
    config = await client.get("/chat/config", headers={"Origin": "https://shop.example"})
    assert config.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    assert [t["id"] for t in (await config.json())["topics"]] == ["general", "billing", "technical", "complaint"]
    widget = await client.get("/static/chat-widget.js")
    assert widget.status == 200 and "textContent" in await widget.text()


async def test_the_cookie_keeps_the_visitor_and_plain_http_is_a_clear_400(client: Client) -> None:
    ws, first = await connect(client)
    await ws.send_json({"type": "message", "client_id": "k1", "text": "first visit"})
    ticket = (await receive_type(ws, "ack"))["ticket"]
    await ws.close()
    # Same browser, no token stored (e.g. localStorage cleared): the cookie identifies the visitor,
    # who is known by now and need not fill in the pre-chat form again.
    ws, again = await connect(client, prechat=None)
    assert again["token"] == first["token"] and again["ticket"] == ticket and again["prechat_required"] is False
    assert (await receive(ws))["text"] == "first visit"
    await ws.close()
    plain = await client.get("/chat/ws")
    assert plain.status == 400 and (await plain.json())["error"]["code"] == "bad_request"


async def test_database_down_gives_an_error_frame_and_the_resend_is_stored_once(client: Client) -> None:
    ws, _ = await connect(client)
    ctx = client.app[CTX]
    working = ctx.db
    down = Database(f"postgresql+asyncpg://cc@127.0.0.1:{free_port()}/cc")
    ctx.db = ctx.intake.db = down
    try:
        await ws.send_json({"type": "message", "client_id": "d1", "text": "are you there?"})
        error = await receive(ws)
        assert (error["code"], error["client_id"], error["retry_after"]) == ("unavailable", "d1", 5)
    finally:
        ctx.db = ctx.intake.db = working
        await down.dispose()
    await ws.send_json({"type": "message", "client_id": "d1", "text": "are you there?"})
    assert (await receive_type(ws, "ack"))["duplicate"] is False
    assert (await receive(ws))["type"] == "notice"  # nobody is available: told how it will be answered
    await nothing_more(ws)
    async with ctx.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Message)) == 1
    await ws.close()


async def test_agent_socket_watches_all_chats_and_refuses_bad_frames(client: Client, agent: Staff) -> None:
    agent_ws = await client.ws_connect("/chat/agent/ws", headers=agent.headers)
    assert (await agent_ws.receive_json(timeout=5))["type"] == "offers"  # the console's pending offers first
    await agent_ws.send_json({"type": "watch", "ticket": "all"})
    assert await receive(agent_ws) == {"type": "watching", "ticket": "all"}
    ws, _ = await connect(client)
    await ws.send_json({"type": "message", "client_id": "w1", "text": "new chat"})
    ack = await receive_type(ws, "ack")
    seen = await receive(agent_ws)
    assert (seen["type"], seen["id"], seen["new_ticket"], seen["author_name"]) == ("message", ack["id"], True, "Sara")
    for bad, code in (("nope", "bad_frame"), ('{"type": "watch", "ticket": 999}', "not_found"),
                      ('{"type": "typing", "ticket": 5, "typing": true}', "not_watching"),
                      ('{"type": "watch", "ticket": true}', "bad_frame")):
        await agent_ws.send_str(bad)
        assert (await receive(agent_ws))["code"] == code, bad
    await agent_ws.send_json({"type": "watch", "ticket": ack["ticket"]})
    assert (await receive(agent_ws))["visitor_online"] is True
    await agent_ws.send_json({"type": "unwatch", "ticket": ack["ticket"]})
    await agent_ws.send_json({"type": "ping"})
    assert await receive(agent_ws) == {"type": "pong"}
    await ws.close()
    await agent_ws.close()
    with pytest.raises(aiohttp.WSServerHandshakeError) as bad_token:
        await client.ws_connect("/chat/agent/ws", headers={"Authorization": "Bearer cc_wrong"})
    assert bad_token.value.status == 401


async def test_an_agent_without_free_chat_capacity_does_not_count(client: Client, agent: Staff,
                                                                  supervisor: Staff) -> None:
    await available(client, agent)
    full = await client.patch(f"/api/v1/agents/{agent.user_id}", json={"capacity": {"chat": 0}},
                              headers=supervisor.headers)
    assert full.status == 200, await full.text()
    ws, welcome = await connect(client)
    assert (welcome["mode"], welcome["reason"]) == ("offline", "no_agent")
    await ws.close()
