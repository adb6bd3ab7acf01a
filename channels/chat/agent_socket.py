"""The agents' WebSocket: watch chat tickets live (messages, visitor typing and presence) and type back.

Replies are not sent here: they go through POST /api/v1/tickets/{id}/replies like on every channel,
and the chat sender pushes them to the visitor and to the agents watching the ticket.

    client -> server: {"type": "watch", "ticket": 12} | {"type": "watch", "ticket": "all"} (every new chat
                      message) | {"type": "unwatch", "ticket": 12} | {"type": "typing", "ticket": 12,
                      "typing": true} | {"type": "ping"}
    server -> client: watching, message, typing (from the visitor), visitor (online true/false), error, pong;
                      and for routing (routing/push.py): offers (the pending ones on connect), offer, offer.decided

The agent console (contactcenter/web/) adds:

    client -> server: {"type": "console"} (ticket.updated frames for every ticket, contactcenter/web/live.py) |
                      {"type": "view", "ticket": 12} | {"type": "leave", "ticket": 12} (collision detection, any
                      channel; "typing" on a viewed ticket is shown to the other agents viewing it)
    server -> client: console, viewers {ticket, viewers: [{id, name, typing}]}, ticket.updated, mention

It is the agent console's live connection: when an agent's last one closes while they are available,
they are set away.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from aiohttp import WSMsgType, hdrs, web

from channels.chat.history import ALL_CHATS, ticket_topic, visitor_topic
from channels.chat.origins import same_origin
from channels.chat.parse import CHANNEL
from channels.chat.socket import SOCKETS, Connection
from contactcenter.api.framework import error_response, principal_of
from contactcenter.context import CTX, Context
from contactcenter.db.models import Ticket
from contactcenter.errors import Unavailable
from contactcenter.web.live import DESK
from contactcenter.web.viewers import MAX_VIEWED, desk_ticket_topic
from routing.push import agent_topic, console_closed, pending_offers

log = logging.getLogger(__name__)
MAX_FRAME = 4096


class AgentChat:
    def __init__(self, ctx: Context, conn: Connection, user_id: int = 0, name: str = "") -> None:
        self.ctx = ctx
        self.conn = conn
        self.user_id, self.name = user_id, name
        self.keys: dict[int, str] = {}  # watched chat ticket -> its visitor
        self.all = False
        self.console = False
        self.viewing: set[int] = set()  # tickets open in this console (any channel)

    async def handle(self, data: Any) -> None:
        if not isinstance(data, dict):
            await self.conn.error("bad_frame", "frames are JSON objects")
            return
        kind, ticket = data.get("type"), data.get("ticket")
        if kind == "ping":
            await self.conn.deliver({"type": "pong"})
        elif kind == "watch" and ticket == "all":
            self.all = True
            self.ctx.hub.subscribe(ALL_CHATS, self.conn)
            await self.conn.deliver({"type": "watching", "ticket": "all"})
        elif kind == "console":
            if not self.console:
                self.console = True
                self.ctx.hub.subscribe(DESK, self.conn)
            await self.conn.deliver({"type": "console", "user_id": self.user_id})
        elif kind in ("watch", "unwatch", "typing", "view", "leave") and isinstance(ticket, int) \
                and not isinstance(ticket, bool):
            await getattr(self, f"on_{kind}")(ticket, data)
        else:
            await self.conn.error("bad_frame", "expected watch, unwatch, view, leave, typing (with a ticket number), "
                                               "console or ping")

    async def on_view(self, ticket_id: int, _: dict[str, Any]) -> None:
        """Collision detection: this agent has the ticket open; everyone viewing it gets the new list."""
        if ticket_id in self.viewing:
            await self.conn.deliver(self.ctx.viewers.frame(ticket_id))
            return
        if not 1 <= ticket_id < 2**31:
            await self.conn.error("not_found", "no such ticket", ticket=ticket_id)
            return
        if len(self.viewing) >= MAX_VIEWED:
            await self.conn.error("too_many", f"leave a ticket first (at most {MAX_VIEWED} at once)", ticket=ticket_id)
            return
        async with self.ctx.db.read() as session:
            exists = await session.get(Ticket, ticket_id) is not None
        if not exists:
            await self.conn.error("not_found", "no such ticket", ticket=ticket_id)
            return
        self.viewing.add(ticket_id)
        self.ctx.viewers.view(ticket_id, self.conn, self.user_id, self.name)
        self.ctx.hub.subscribe(desk_ticket_topic(ticket_id), self.conn)
        await self.ctx.viewers.changed(self.ctx.hub, ticket_id)

    async def on_leave(self, ticket_id: int, _: dict[str, Any]) -> None:
        if ticket_id in self.viewing:
            self.viewing.discard(ticket_id)
            await self._forget(ticket_id)

    async def _forget(self, ticket_id: int) -> None:
        self.ctx.hub.unsubscribe(desk_ticket_topic(ticket_id), self.conn)
        if self.ctx.viewers.leave(ticket_id, self.conn):
            await self.ctx.viewers.changed(self.ctx.hub, ticket_id)

    async def on_watch(self, ticket_id: int, _: dict[str, Any]) -> None:
        if not 1 <= ticket_id < 2**31:
            await self.conn.error("not_found", "no such chat ticket")
            return
        async with self.ctx.db.read() as session:
            ticket = await session.get(Ticket, ticket_id)
        if ticket is None or ticket.channel != CHANNEL or not ticket.conversation_key:
            await self.conn.error("not_found", "no such chat ticket", ticket=ticket_id)
            return
        self.keys[ticket_id] = ticket.conversation_key
        self.ctx.hub.subscribe(ticket_topic(ticket_id), self.conn)
        online = self.ctx.hub.listeners(visitor_topic(ticket.conversation_key)) > 0
        await self.conn.deliver({"type": "watching", "ticket": ticket_id, "visitor_online": online})

    async def on_unwatch(self, ticket_id: int, _: dict[str, Any]) -> None:
        if self.keys.pop(ticket_id, None) is not None:
            self.ctx.hub.unsubscribe(ticket_topic(ticket_id), self.conn)

    async def on_typing(self, ticket_id: int, data: dict[str, Any]) -> None:
        key = self.keys.get(ticket_id)
        typing = data.get("typing") is True
        viewed = ticket_id in self.viewing
        if key is None and not viewed:
            await self.conn.error("not_watching", "watch or view the ticket first", ticket=ticket_id)
            return
        if viewed and self.ctx.viewers.set_typing(ticket_id, self.conn, typing):
            await self.ctx.viewers.changed(self.ctx.hub, ticket_id)
        if key is not None:
            await self.ctx.hub.publish(visitor_topic(key), {"type": "typing", "from": "agent", "typing": typing})

    def stop(self) -> None:
        for ticket_id in self.keys:
            self.ctx.hub.unsubscribe(ticket_topic(ticket_id), self.conn)
        if self.all:
            self.ctx.hub.unsubscribe(ALL_CHATS, self.conn)
        if self.console:
            self.ctx.hub.unsubscribe(DESK, self.conn)

    async def stop_viewing(self) -> None:
        """The connection closed: the other viewers learn that this agent left."""
        viewing, self.viewing = self.viewing, set()
        for ticket_id in viewing:
            await self._forget(ticket_id)


async def _closed(ctx: Context, chat: AgentChat, user_id: int) -> None:
    await console_closed(ctx.db, ctx.hub, user_id)
    try:
        await chat.stop_viewing()
    except Exception:  # a broken peer must not hide the others' update
        log.exception("telling the other viewers that an agent left failed")


async def agent_socket(request: web.Request) -> web.StreamResponse:
    """GET /chat/agent/ws: signed-in staff (session cookie or API token)."""
    ctx = request.app[CTX]
    origin = request.headers.get(hdrs.ORIGIN)
    if origin is not None and not same_origin(request, origin):  # no cross-site use of a staff cookie
        return error_response(403, "forbidden", "the agent socket is for this server's own pages")
    try:
        principal = await principal_of(request)
    except web.HTTPUnauthorized:
        principal = None
    except Unavailable:
        return error_response(503, "unavailable", "storage is not available now", headers={"Retry-After": "5"})
    if principal is None:
        return error_response(401, "unauthorized", "sign in or send an API token")
    ws = web.WebSocketResponse(heartbeat=30.0, max_msg_size=MAX_FRAME)
    if not ws.can_prepare(request).ok:
        return error_response(400, "bad_request", "this is a WebSocket endpoint")
    await ws.prepare(request)
    request.app[SOCKETS].add(ws)
    user_id = principal.user.id
    chat = AgentChat(ctx, Connection(ws), user_id, principal.user.name)
    ctx.hub.subscribe(agent_topic(user_id), chat.conn)
    try:
        await chat.conn.deliver({"type": "offers", "offers": await pending_offers(ctx.db, user_id)})
        async for raw in ws:
            if raw.type != WSMsgType.TEXT:
                if raw.type == WSMsgType.BINARY:
                    await chat.conn.error("bad_frame", "frames are JSON text")
                    continue
                break
            try:
                data = json.loads(raw.data)
            except (json.JSONDecodeError, RecursionError):
                await chat.conn.error("bad_frame", "frames are JSON objects")
                continue
            await chat.handle(data)
    except Unavailable:
        await chat.conn.error("unavailable", "storage is not available now", retry_after=5)
    except Exception:
        log.exception("agent chat connection failed")
        await chat.conn.error("internal", "internal error; it has been logged")
    finally:
        chat.stop()
        ctx.hub.unsubscribe(agent_topic(user_id), chat.conn)
        if not ws.closed:
            with contextlib.suppress(Exception):
                await ws.close()
        # The handler may be cancelled now that the peer is gone: the presence change and the viewers' update
        # must still happen, so both run in one shielded task.
        await asyncio.shield(_closed(ctx, chat, user_id))
    return ws
