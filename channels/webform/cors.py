"""CORS for the JSON endpoints of the web form and the portal, so that other sites may embed the form."""

from __future__ import annotations

from aiohttp import hdrs, web

from contactcenter.api.framework import PREFIX, error_response
from contactcenter.context import CTX

CORS_METHODS = "GET, POST, OPTIONS"
CORS_HEADERS = "Content-Type, Idempotency-Key"


def _is_cors_path(path: str) -> bool:
    return path == f"{PREFIX}/webform" or path.startswith(f"{PREFIX}/portal/")


def _allowed_origin(request: web.Request) -> str | None:
    origin = request.headers.get(hdrs.ORIGIN, "")
    allowed = request.app[CTX].settings.webform.cors_origins
    if origin and (origin in allowed or "*" in allowed):
        return origin
    return None


async def cors_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Let the configured origins read the answers of the embedding endpoints (errors included)."""
    if not _is_cors_path(request.path):
        return
    vary = response.headers.get(hdrs.VARY)
    if not vary or "origin" not in vary.lower():
        response.headers[hdrs.VARY] = f"{vary}, Origin" if vary else "Origin"
    origin = _allowed_origin(request)
    if origin is not None:
        response.headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = origin
        response.headers[hdrs.ACCESS_CONTROL_EXPOSE_HEADERS] = "Retry-After"


async def cors_preflight(request: web.Request) -> web.StreamResponse:
    if _allowed_origin(request) is None:
        return error_response(403, "forbidden", "this origin may not use this endpoint")
    return web.Response(status=204, headers={
        hdrs.ACCESS_CONTROL_ALLOW_METHODS: CORS_METHODS,
        hdrs.ACCESS_CONTROL_ALLOW_HEADERS: CORS_HEADERS,
        hdrs.ACCESS_CONTROL_MAX_AGE: "600",
    })
