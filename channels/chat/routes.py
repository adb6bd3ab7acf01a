"""The chat channel over HTTP: the widget's WebSocket, the agents' WebSocket, the widget's settings, a page.

    GET /chat/ws          the visitor's WebSocket (channels/chat/socket.py)
    GET /chat/agent/ws    the agents' WebSocket (channels/chat/agent_socket.py)
    GET /chat/config      the topics of the pre-chat form (JSON; readable by the allowed origins)
    GET /chat             a page of ours with the widget on it
The widget itself is /static/chat-widget.js and /static/chat-widget.css.
"""

from __future__ import annotations

from weakref import WeakSet

from aiohttp import hdrs, web

from channels.chat.agent_socket import agent_socket
from channels.chat.origins import origin_allowed
from channels.chat.socket import SOCKETS, close_sockets, visitor_socket
from contactcenter.api.framework import json_response
from contactcenter.context import CTX
from contactcenter.web import setup_static

PAGE = """<!doctype html>
<html lang="{lang}" dir="{dir}"><head><meta charset="utf-8"><title>Chat</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><script src="/static/chat-widget.js" data-lang="{lang}"></script></body></html>
"""


async def chat_config(request: web.Request) -> web.Response:
    settings = request.app[CTX].settings
    topics = [{"id": t.id, "label": t.label, "label_fa": t.label_fa} for t in settings.webform.topics]
    response = json_response({"topics": topics, "prechat_required": settings.chat.prechat_required})
    origin = request.headers.get(hdrs.ORIGIN)
    if origin and origin_allowed(request):
        response.headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = origin
    response.headers[hdrs.VARY] = "Origin"
    return response


async def chat_page(request: web.Request) -> web.Response:
    lang = "fa" if request.query.get("lang") == "fa" else "en"
    return web.Response(text=PAGE.format(lang=lang, dir="rtl" if lang == "fa" else "ltr"), content_type="text/html")


def setup_chat(app: web.Application) -> None:
    app[SOCKETS] = WeakSet()
    setup_static(app)
    app.router.add_get("/chat", chat_page)
    app.router.add_get("/chat/config", chat_config)
    app.router.add_get("/chat/ws", visitor_socket)
    app.router.add_get("/chat/agent/ws", agent_socket)
    app.on_shutdown.append(close_sockets)
