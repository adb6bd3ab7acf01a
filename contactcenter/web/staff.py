"""The browser pages of the staff and the customers' "my tickets": agent console, wallboard, reports, the
knowledge base's administration, /my.

Each page is a small server-rendered shell (language, direction, the CSRF token of a signed-in session)
that loads plain ES modules from ``/static/app/``; the modules talk to the JSON API and the agents'
WebSocket. No inline script or style anywhere (the Content-Security-Policy forbids them).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from channels.webform.pages import TEMPLATES, html_errors, render
from contactcenter.api.framework import principal_of
from contactcenter.domain.enums import Role
from contactcenter.web import setup_static
from contactcenter.web.i18n import LANG_COOKIE, choose_language, direction

SHELL = "app_shell.html"
PAGES = {"console": Role.AGENT, "wallboard": Role.SUPERVISOR, "reports": Role.SUPERVISOR, "knowledge": Role.ADMIN}


def _page(request: web.Request, template: str, **values: Any) -> web.Response:
    lang = choose_language(request)
    response = render(request, template, lang=lang, dir=direction(lang), **values)
    if request.query.get("lang") == lang:  # an explicit choice is remembered
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="Lax", path="/", httponly=True)
    return response


def staff_page(name: str) -> Any:
    role = PAGES[name]

    @html_errors
    async def handler(request: web.Request) -> web.StreamResponse:
        try:
            principal = await principal_of(request)
        except web.HTTPUnauthorized:  # a bad bearer token: the page shows the sign-in form
            principal = None
        signed_in = principal is not None and principal.via == "session"
        allowed = signed_in and principal is not None and Role(principal.user.role).at_least(role)
        user = principal.user if principal is not None and allowed else None
        return _page(request, SHELL, page=name, csrf=principal.csrf_token if allowed and principal else "",
                     user=user, signed_in=signed_in, allowed=allowed, needed=role.value)
    handler.__name__ = f"{name}_page"
    return handler


@html_errors
async def my_page(request: web.Request) -> web.StreamResponse:
    """``/my`` and ``/my/tickets/{id}``: the customer's tickets (magic-link sign-in; data from the portal API)."""
    return _page(request, SHELL, page="my", csrf="", user=None, signed_in=False, allowed=True, needed="")


def setup_staff_pages(app: web.Application) -> None:
    if TEMPLATES not in app:
        raise RuntimeError("setup_webform must run first: it owns the template environment")
    setup_static(app)
    for name in PAGES:
        app.router.add_get(f"/{name}", staff_page(name))
    app.router.add_get("/my", my_page)
    app.router.add_get("/my/tickets/{id}", my_page)  # one ticket: my.js reads the id from the path
