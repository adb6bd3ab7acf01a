"""Declaring API operations once: routing, role checks, input validation, JSON output and OpenAPI."""

from __future__ import annotations

import json
import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ValidationError

from contactcenter.actions.audit import Actor
from contactcenter.auth import Principal, do_mark_token_used, principal_from_cookie, principal_from_token
from contactcenter.context import CTX, Context
from contactcenter.db.models import User
from contactcenter.domain.enums import Role
from contactcenter.errors import ActionError, Forbidden, NotFound, Unavailable

log = logging.getLogger(__name__)
SESSION_COOKIE = "cc_session"
PREFIX = "/api/v1"
MAX_ID = 2**31 - 1  # ids are 32-bit integers in the database; larger ones cannot exist


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    body = data.model_dump_json() if isinstance(data, BaseModel) else json.dumps(data, default=_default,
                                                                                  ensure_ascii=False)
    return web.Response(text=body, status=status, content_type="application/json", headers=headers)


def error_response(status: int, code: str, message: str, details: Any = None,
                   headers: dict[str, str] | None = None) -> web.Response:
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return json_response({"error": error}, status=status, headers=headers)


@dataclass
class ApiRequest:
    """What a handler receives: the raw request, the caller, validated input and the app context."""

    request: web.Request
    ctx: Context
    principal: Principal | None
    body: Any = None
    query: Any = None

    @property
    def user(self) -> User:
        if self.principal is None:
            raise Forbidden("sign-in required")
        return self.principal.user

    @property
    def role(self) -> Role:
        return Role(self.user.role)

    @property
    def actor(self) -> Actor:
        return Actor.user(self.user.id, self.role)

    def path_id(self, name: str = "id") -> int:
        """An id from the URL; anything no row can have (not a number, beyond 32 bits) is a 404."""
        raw = self.request.match_info[name]
        if not raw.isdecimal() or len(raw) > 10 or not 1 <= int(raw) <= MAX_ID:
            raise NotFound(f"{name} {raw[:20]!r} not found")
        return int(raw)

    def require(self, role: Role) -> None:
        if not self.role.at_least(role):
            raise Forbidden(f"this needs the {role.value} role")


Handler = Callable[[ApiRequest], Awaitable[Any]]


@dataclass
class Operation:
    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    role: Role | None
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    response: type[BaseModel] | None
    status: int
    list_response: bool = False
    extra_responses: dict[int, str] = field(default_factory=dict)


class Api:
    """A registry of operations; ``setup`` adds them to an aiohttp app, ``openapi`` describes them."""

    def __init__(self) -> None:
        self.operations: list[Operation] = []

    def route(self, method: str, path: str, *, summary: str, tag: str, role: Role | None = Role.AGENT,
              body: type[BaseModel] | None = None, query: type[BaseModel] | None = None,
              response: type[BaseModel] | None = None, status: int = 200, list_response: bool = False,
              responses: dict[int, str] | None = None) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.operations.append(Operation(method, path, handler, summary, tag, role, body, query, response,
                                             status, list_response, responses or {}))
            return handler
        return register

    def setup(self, app: web.Application) -> None:
        for op in self.operations:
            app.router.add_route(op.method, PREFIX + op.path, _wrap(op))

    def openapi(self) -> dict[str, Any]:
        from contactcenter.api.openapi import build
        return build(self.operations, PREFIX)


async def _principal(request: web.Request, ctx: Context) -> Principal | None:
    """The caller: by API token (Authorization: Bearer), else by session cookie, else anonymous."""
    auth = request.headers.get("Authorization", "")
    cookie = request.cookies.get(SESSION_COOKIE)
    if auth.lower().startswith("bearer "):
        async with ctx.db.read() as session:
            principal = await principal_from_token(session, auth[7:].strip())
        if principal is None:
            raise web.HTTPUnauthorized(text="invalid or revoked API token")
        if principal.token_id is not None:  # last_used_at is due for an update
            async with ctx.db.write() as session:
                await do_mark_token_used(session, principal.token_id)
        return principal
    if cookie:
        async with ctx.db.read() as session:
            return await principal_from_cookie(session, cookie)
    return None  # anonymous: no database round trip


async def principal_of(request: web.Request) -> Principal | None:
    """The caller of a route that is not an API operation (e.g. a WebSocket), found as for the API:
    API token, else session cookie, else None. A bad token raises HTTPUnauthorized."""
    return await _principal(request, request.app[CTX])


async def _read_json(request: web.Request) -> Any:
    if not request.can_read_body:
        return {}
    try:
        return json.loads(await request.read())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise web.HTTPBadRequest(text=f"request body is not valid JSON: {exc}") from None


def _query_values(request: web.Request) -> dict[str, str]:
    return {k: request.query.getone(k) for k in request.query}


def _wrap(op: Operation) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        ctx = request.app[CTX]
        principal = await _principal(request, ctx)
        if op.role is not None:
            if principal is None:
                raise web.HTTPUnauthorized(text="sign in or send an API token")
            if not Role(principal.user.role).at_least(op.role):
                raise Forbidden(f"this needs the {op.role.value} role")
            if principal.via == "session" and request.method not in ("GET", "HEAD", "OPTIONS"):
                sent = request.headers.get("X-CSRF-Token", "")
                if not principal.csrf_token or not secrets.compare_digest(sent, principal.csrf_token):
                    raise Forbidden("missing or wrong X-CSRF-Token header")
        api_request = ApiRequest(request, ctx, principal)
        if op.query is not None:
            api_request.query = op.query.model_validate(_query_values(request))
        if op.body is not None:
            api_request.body = op.body.model_validate(await _read_json(request))
        result = await op.handler(api_request)
        if isinstance(result, web.StreamResponse):
            return result
        return json_response(result, status=op.status)
    handle.__name__ = op.handler.__name__
    return handle


def _validation_details(exc: ValidationError) -> list[dict[str, Any]]:
    return [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()]


_SECRET_IN_PATH = re.compile(r"(/t/|/portal/|/survey/|/surveys/)[^/]+")


def loggable_path(request: web.Request) -> str:
    """The request path with portal and survey link tokens blanked out: a token is a customer's credential."""
    return _SECRET_IN_PATH.sub(r"\1…", request.path)


@web.middleware
async def error_middleware(request: web.Request,
                           handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    """Every failure becomes a 4xx/503 JSON answer that says what is wrong; never a traceback."""
    is_api = request.path.startswith(PREFIX)
    try:
        return await handler(request)
    except ValidationError as exc:
        return error_response(422, "invalid", "the request does not match the expected shape",
                              _validation_details(exc))
    except ActionError as exc:
        return error_response(exc.status, exc.code, str(exc))
    except OverflowError:  # a number no column can hold slipped past a model's bounds
        log.warning("number out of range in %s %s", request.method, loggable_path(request))
        return error_response(422, "invalid", "a number in the request is out of range")
    except Unavailable as exc:
        log.warning("storage unavailable for %s %s: %s", request.method, loggable_path(request), exc)
        return error_response(503, "unavailable", "storage is not available now; nothing was stored, retry later",
                              headers={"Retry-After": "5"})
    except web.HTTPException as exc:
        if not is_api or exc.status < 400:
            raise
        code = exc.reason.lower().replace(" ", "_")
        message = exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else exc.reason
        return error_response(exc.status, code, message, headers={
            k: v for k, v in exc.headers.items() if k in ("Allow", "Retry-After", "WWW-Authenticate")})
    except Exception:
        log.exception("unhandled error in %s %s", request.method, loggable_path(request))
        return error_response(500, "internal", "internal error; it has been logged")
