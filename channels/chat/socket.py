"""The visitor's WebSocket: hello (identity, pre-chat, last seen message), messages, typing.

Protocol (JSON text frames; see docs/chat.md):
    client -> server: hello (first), message, typing, ping
    server -> client: welcome, message, ack, typing, notice, error, pong
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from typing import Any
from weakref import WeakSet

from aiohttp import WSMsgType, web

from channels.chat.history import (
    ALL_CHATS,
    latest_ticket,
    missed_messages,
    ticket_topic,
    visitor_topic,
)
from channels.chat.notices import LIVE, availability, notice
from channels.chat.origins import origin_allowed
from channels.chat.parse import (
    CHANNEL,
    ChatText,
    FrameError,
    Hello,
    Ping,
    Prechat,
    Typing,
    VerifiedIdentity,
    chat_message,
    new_visitor_id,
    read_frame,
    read_identity,
    read_visitor,
    sign_visitor,
    verified_visitor_id,
)
from channels.webform.limits import client_ip
from contactcenter.api.framework import error_response
from contactcenter.context import CTX, Context
from contactcenter.errors import ActionError, Unavailable
from contactcenter.hub import Frame
from routing.availability import agents_available

log = logging.getLogger(__name__)
COOKIE = "cc_chat_visitor"
HELLO_TIMEOUT = 30.0
SOCKETS = web.AppKey("chat_sockets", WeakSet[web.WebSocketResponse])
CLOSE_POLICY = 4403  # our close code: the hello was refused


class Connection:
    """One open socket as a hub subscriber. Sends are serialized, and a message id is sent at most once
    per connection, so a reply pushed during the reconnect replay is not shown twice."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.sent: set[int] = set()
        self.lock = asyncio.Lock()

    async def deliver(self, frame: Frame) -> bool:
        async with self.lock:
            return await self.send(frame)

    async def send(self, frame: Frame) -> bool:
        """Send now (the caller holds the lock or owns the connection)."""
        if self.ws.closed:
            return False
        if frame.get("type") == "message":
            if frame["id"] in self.sent:
                return False
            self.sent.add(frame["id"])
        try:
            await self.ws.send_json(dict(frame))
        except (ConnectionError, RuntimeError):
            return False
        return True

    async def error(self, code: str, message: str, **extra: Any) -> None:
        await self.deliver({"type": "error", "code": code, "message": message, **extra})


class VisitorChat:
    """The state of one visitor connection after its hello."""

    def __init__(self, ctx: Context, conn: Connection, visitor_id: str, hello: Hello,
                 identity: VerifiedIdentity | None, ip: str) -> None:
        self.ctx = ctx
        self.conn = conn
        self.visitor_id = visitor_id
        self.prechat: Prechat | None = hello.prechat
        self.identity = identity
        self.language = hello.language
        self.ip = ip
        self.ticket_id: int | None = None
        self.mode = LIVE
        self.reason: str | None = None
        self.returning = False  # has a chat ticket already: we know who this is

    @property
    def needs_prechat(self) -> bool:
        return (self.ctx.settings.chat.prechat_required and self.prechat is None and self.identity is None
                and not self.returning)

    @property
    def topic(self) -> str:
        return visitor_topic(self.visitor_id)

    async def start(self, last_seen: int) -> None:
        """Subscribe first, then resend what was missed: nothing committed in between is lost."""
        ctx = self.ctx
        ctx.hub.subscribe(self.topic, self.conn)
        async with self.conn.lock:  # pushes wait until the replay is out, then skip what it sent
            async with ctx.db.read() as session:
                ticket = await latest_ticket(session, self.visitor_id)
                now = datetime.now(UTC)
                agents = await agents_available(session, ctx.settings.routing, CHANNEL, now)
                missed = await missed_messages(session, self.visitor_id, last_seen, ctx.settings.chat.history_limit)
            state = availability(ctx.settings.hours.schedule().is_open(now), agents)
            self.mode, self.reason = state.mode, state.reason
            self.returning = ticket is not None
            await self.conn.send({
                "type": "welcome", "token": sign_visitor(ctx.secret, self.visitor_id),
                "mode": self.mode, "reason": self.reason, "ticket": ticket.id if ticket else None,
                "notice": notice(self.language, self.reason) if self.reason else None,
                "prechat_required": self.needs_prechat})
            for frame in missed:
                await self.conn.send(frame)
        if ticket is not None:
            self.ticket_id = ticket.id
            await ctx.hub.publish(ticket_topic(ticket.id), {"type": "visitor", "ticket": ticket.id, "online": True})

    async def stop(self) -> None:
        self.ctx.hub.unsubscribe(self.topic, self.conn)
        if self.ticket_id is not None and not self.ctx.hub.listeners(self.topic):
            await self.ctx.hub.publish(ticket_topic(self.ticket_id),
                                       {"type": "visitor", "ticket": self.ticket_id, "online": False})

    async def on_typing(self, typing: Typing) -> None:
        if self.ticket_id is not None:
            await self.ctx.hub.publish(ticket_topic(self.ticket_id), {
                "type": "typing", "from": "visitor", "ticket": self.ticket_id, "typing": typing.typing})

    async def on_message(self, text: ChatText) -> None:
        ctx, limits = self.ctx, self.ctx.limits
        if self.needs_prechat:
            await self.conn.error("prechat_required", "fill in the pre-chat form first", client_id=text.client_id)
            return
        for limiter, key in ((limits.chat_ip, self.ip), (limits.chat_visitor, self.visitor_id)):
            if limiter.blocked(key):
                await self.conn.error("rate_limited", "too many messages; wait a little",
                                      client_id=text.client_id, retry_after=limiter.retry_after(key))
                return
        msg = chat_message(self.visitor_id, text, self.prechat, self.identity, self.language,
                           datetime.now(UTC), {"chat_mode": self.mode})
        try:
            result = await ctx.intake.submit(msg)
        except Unavailable:
            await self.conn.error("unavailable", "the message was not stored; send it again in a moment",
                                  client_id=text.client_id, retry_after=5)
            return
        except ActionError as exc:
            await self.conn.error(exc.code, str(exc), client_id=text.client_id)
            return
        if not result.duplicate:
            limits.chat_ip.hit(self.ip)
            limits.chat_visitor.hit(self.visitor_id)
        frame = {"type": "message", "id": result.message_id, "ticket": result.ticket_id, "direction": "in",
                 "author": "you", "author_name": msg.sender_name, "text": msg.text, "client_id": text.client_id,
                 "at": msg.received_at.isoformat()}  # as stored: no read back needed
        async with self.conn.lock:
            self.conn.sent.add(result.message_id)  # the sender shows it already, with its client id
            await self.conn.send({"type": "ack", "client_id": text.client_id, "id": result.message_id,
                                  "ticket": result.ticket_id, "duplicate": result.duplicate})
        if result.ticket_id != self.ticket_id:
            self.ticket_id = result.ticket_id
        if not result.duplicate:
            await ctx.hub.publish(self.topic, frame)  # the visitor's other tabs
            await ctx.hub.publish(ticket_topic(result.ticket_id), frame)
            await ctx.hub.publish(ALL_CHATS, {**frame, "new_ticket": result.created_ticket})
        if result.created_ticket and self.mode != LIVE and result.portal_token:
            link = f"{ctx.settings.base_url}/t/{result.portal_token}"
            await self.conn.deliver({"type": "notice", "ticket": result.ticket_id, "portal_url": link,
                                     "text": notice(self.language, "ticket", number=result.ticket_id, link=link)})


def _cookie_visitor(request: web.Request, secret: bytes) -> str | None:
    raw = request.cookies.get(COOKIE)
    return read_visitor(secret, raw) if raw else None


async def _hello(ctx: Context, conn: Connection, ws: web.WebSocketResponse) -> Hello | None:
    try:
        first = await ws.receive(timeout=HELLO_TIMEOUT)
    except TimeoutError:
        await conn.error("hello_required", "send a hello frame first")
        return None
    if first.type != WSMsgType.TEXT:
        if first.type in (WSMsgType.BINARY,):
            await conn.error("bad_frame", "frames are JSON text")
        return None
    try:
        frame = read_frame(first.data, ctx.settings.chat, ctx.settings.webform)
    except FrameError as exc:
        await conn.error(exc.code, str(exc))
        return None
    if not isinstance(frame, Hello):
        await conn.error("hello_required", "the first frame must be a hello")
        return None
    return frame


def _visitor_of(ctx: Context, hello: Hello, cookie_visitor: str) -> tuple[str, VerifiedIdentity | None]:
    """Who this is: a host-verified user, else the token's visitor, else the cookie's (or a new) one."""
    if hello.identity is not None:
        identity = read_identity(hello.identity, ctx.settings.chat.identity_secret, datetime.now(UTC))
        return verified_visitor_id(ctx.secret, identity.user_id), identity
    if hello.token is not None:
        visitor_id = read_visitor(ctx.secret, hello.token)
        if visitor_id is None:
            raise FrameError("bad_token", "this visitor token is not valid")
        return visitor_id, None
    return cookie_visitor, None


async def visitor_socket(request: web.Request) -> web.StreamResponse:
    """GET /chat/ws: the widget's WebSocket."""
    ctx = request.app[CTX]
    if not origin_allowed(request):
        return error_response(403, "forbidden", "this site may not embed the chat")
    ws = web.WebSocketResponse(heartbeat=30.0, max_msg_size=ctx.settings.chat.max_frame_bytes)
    if not ws.can_prepare(request).ok:
        return error_response(400, "bad_request", "this is a WebSocket endpoint")
    cookie_visitor = _cookie_visitor(request, ctx.secret)
    if cookie_visitor is None:
        cookie_visitor = new_visitor_id()
        secure = ctx.settings.auth.cookie_secure
        ws.set_cookie(COOKIE, sign_visitor(ctx.secret, cookie_visitor), httponly=True, secure=secure,
                      samesite="None" if secure else "Lax", path="/chat",
                      max_age=ctx.settings.chat.visitor_cookie_days * 86400)
    await ws.prepare(request)
    request.app[SOCKETS].add(ws)
    conn = Connection(ws)
    chat: VisitorChat | None = None
    try:
        hello = await _hello(ctx, conn, ws)
        if hello is None:
            await ws.close(code=CLOSE_POLICY, message=b"hello required")
            return ws
        try:
            visitor_id, identity = _visitor_of(ctx, hello, cookie_visitor)
        except FrameError as exc:
            await conn.error(exc.code, str(exc))
            await ws.close(code=CLOSE_POLICY, message=exc.code.encode())
            return ws
        chat = VisitorChat(ctx, conn, visitor_id, hello, identity, client_ip(request))
        await chat.start(hello.last_seen)
        await _serve(ctx, chat, ws)
    except Unavailable:
        await conn.error("unavailable", "the chat is not available now; try again in a moment", retry_after=5)
    except Exception:
        log.exception("chat connection failed")
        await conn.error("internal", "internal error; it has been logged")
    finally:
        if chat is not None:
            with contextlib.suppress(Exception):
                await chat.stop()
        if not ws.closed:
            await ws.close()
    return ws


async def _serve(ctx: Context, chat: VisitorChat, ws: web.WebSocketResponse) -> None:
    async for raw in ws:
        if raw.type != WSMsgType.TEXT:
            if raw.type == WSMsgType.BINARY:
                await chat.conn.error("bad_frame", "frames are JSON text")
                continue
            break
        try:
            frame = read_frame(raw.data, ctx.settings.chat, ctx.settings.webform)
        except FrameError as exc:
            await chat.conn.error(exc.code, str(exc))
            continue
        if isinstance(frame, ChatText):
            await chat.on_message(frame)
        elif isinstance(frame, Typing):
            await chat.on_typing(frame)
        elif isinstance(frame, Ping):
            await chat.conn.deliver({"type": "pong"})
        else:
            await chat.conn.error("bad_frame", "hello was already sent")


async def close_sockets(app: web.Application) -> None:
    """On shutdown: close open chat sockets so the server stops promptly."""
    sockets: WeakSet[web.WebSocketResponse] = app[SOCKETS]
    for ws in list(sockets):
        with contextlib.suppress(Exception):
            await ws.close(code=1001, message=b"server shutdown")
