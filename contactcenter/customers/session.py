"""The customer's sign-in cookie ``cc_customer``: set after a magic link, read by the "my tickets" API."""

from __future__ import annotations

from aiohttp import web

from contactcenter.actions.customer_signin import customer_of
from contactcenter.context import CTX
from contactcenter.db.types import utcnow

COOKIE = "cc_customer"


def set_cookie(response: web.StreamResponse, request: web.Request, value: str, hours: float) -> None:
    secure = request.app[CTX].settings.base_url.startswith("https://") or request.secure
    response.set_cookie(COOKIE, value, max_age=int(hours * 3600), path="/", httponly=True, samesite="Lax",
                        secure=secure)


def clear_cookie(response: web.StreamResponse) -> None:
    response.del_cookie(COOKIE, path="/")


async def signed_in_contact(request: web.Request) -> int | None:
    cookie = request.cookies.get(COOKIE, "")
    if not cookie:
        return None
    async with request.app[CTX].db.read() as session:
        return await customer_of(session, cookie, utcnow())
