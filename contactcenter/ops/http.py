"""The request middleware (request id, metrics, optional access log) and the /healthz, /readyz, /metrics routes."""

from __future__ import annotations

import ipaddress
import itertools
import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from functools import cache

from aiohttp import web
from aiohttp.typedefs import Middleware
from alembic.script import ScriptDirectory
from sqlalchemy import text

from contactcenter.context import CTX
from contactcenter.db.migrate import alembic_config
from contactcenter.ops.logs import REQUEST_ID
from contactcenter.ops.metrics import CONTENT_TYPE, Metrics, now
from contactcenter.settings import MetricsSettings

log = logging.getLogger("contactcenter.access")
METRICS = web.AppKey("metrics", Metrics)
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def route_of(request: web.Request) -> str:
    """The route template (``/api/v1/tickets/{id}``), never the concrete path: bounded label values and no
    customer link tokens in metrics or logs."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


_ID_PREFIX = secrets.token_hex(4)  # this process's; with a counter, ids are unique without a syscall each
_ID_COUNTER = itertools.count(1)


def request_middleware(metrics: Metrics | None, access_log: bool) -> Middleware:
    """Outermost middleware: takes ``X-Request-Id`` (or makes one), echoes it, counts and times the request."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        sent = request.headers.get("X-Request-Id", "")
        request_id = sent if _REQUEST_ID.fullmatch(sent) else f"{_ID_PREFIX}{next(_ID_COUNTER):08x}"
        token = REQUEST_ID.set(request_id)
        started = now()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            if not response.prepared:
                response.headers["X-Request-Id"] = request_id
            return response
        except web.HTTPException as exc:
            status = exc.status
            exc.headers["X-Request-Id"] = request_id
            raise
        finally:
            elapsed = now() - started
            route = route_of(request)
            if metrics is not None:
                metrics.observe_request(route, request.method, status, elapsed)
            if access_log:
                log.info("%s %s %s %.1fms", request.method, route, status, elapsed * 1000,
                         extra={"method": request.method, "route": route, "status": status,
                                "duration_ms": round(elapsed * 1000, 2)})
            REQUEST_ID.reset(token)

    return middleware


@cache
def migration_head() -> str | None:
    """The newest migration revision this code knows."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _json(status: int, body: dict[str, object]) -> web.Response:
    return web.json_response(body, status=status, headers={"Cache-Control": "no-store"})


async def healthz(_: web.Request) -> web.Response:
    """The process is alive and its event loop answers."""
    return _json(200, {"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready for traffic: the database answers and its schema is at this code's newest migration."""
    try:
        async with request.app[CTX].db.read() as session:
            current = await session.scalar(text("SELECT version_num FROM alembic_version"))
    except Exception as exc:  # any failure to reach the database means "not ready"
        log.warning("readiness check: database does not answer: %s", type(exc).__name__)
        return _json(503, {"status": "unavailable", "database": "down"})
    head = migration_head()
    if current != head:
        return _json(503, {"status": "unavailable", "database": "up", "migration": current, "expected": head})
    return _json(200, {"status": "ok", "database": "up", "migration": current})


def _allowed(request: web.Request, settings: MetricsSettings) -> bool:
    if settings.token:
        sent = request.headers.get("Authorization", "")
        return secrets.compare_digest(sent.encode(), f"Bearer {settings.token}".encode())
    try:
        address = ipaddress.ip_address((request.remote or "").split("%")[0])
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(net, strict=False) for net in settings.allow)


async def metrics(request: web.Request) -> web.Response:
    settings = request.app[CTX].settings.metrics
    if not _allowed(request, settings):
        return _json(403, {"error": {"code": "forbidden", "message": "metrics are not readable from here"}})
    body = await request.app[METRICS].render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE, "Cache-Control": "no-store"})


def setup_ops(app: web.Application, metrics_: Metrics | None) -> None:
    """Add the probes, and /metrics when metrics are on."""
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    if metrics_ is not None:
        app[METRICS] = metrics_
        app.router.add_get("/metrics", metrics)
