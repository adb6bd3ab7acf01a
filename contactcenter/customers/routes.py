"""``GET /my/signin?token=...``: redeem a sign-in link, set the ``cc_customer`` cookie, go to ``/my``."""

from __future__ import annotations

from aiohttp import hdrs, web

from channels.webform.pages import html_errors, render
from contactcenter.actions.customer_signin import do_redeem_magic_link
from contactcenter.context import CTX
from contactcenter.customers.session import set_cookie
from contactcenter.db.types import utcnow


@html_errors
async def signin(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CTX]
    hours = ctx.settings.portal.session_hours
    async with ctx.db.write() as session:
        redeemed = await do_redeem_magic_link(session, request.query.get("token", ""), hours, utcnow())
    if redeemed is None:
        return render(request, "webform_message.html", status=410, title="This sign-in link no longer works",
                      text="Sign-in links work once and for a short time. Ask for a new one.", link="/my",
                      link_text="My requests")
    response = web.Response(status=303, headers={hdrs.LOCATION: "/my", "Cache-Control": "no-store"})
    set_cookie(response, request, redeemed[1], hours)
    return response


def setup_customer_routes(app: web.Application) -> None:
    app.router.add_get("/my/signin", signin)
