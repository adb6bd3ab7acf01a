"""Which web sites may open the chat WebSocket (the widget runs on other sites)."""

from __future__ import annotations

from aiohttp import hdrs, web

from contactcenter.context import CTX


def same_origin(request: web.Request, origin: str) -> bool:
    return origin.rstrip("/") in (f"{request.scheme}://{request.host}", request.app[CTX].settings.base_url)


def origin_allowed(request: web.Request) -> bool:
    """A handshake without Origin is not from a browser; a browser's Origin must be ours or a configured one."""
    origin = request.headers.get(hdrs.ORIGIN)
    if origin is None:
        return True
    allowed = request.app[CTX].settings.chat.allowed_origins
    return same_origin(request, origin) or origin in allowed or "*" in allowed
