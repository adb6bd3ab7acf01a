"""CSRF for the HTML forms: a random cookie value and its HMAC in the form (double submit, signed)."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from aiohttp import web

from contactcenter.context import CTX

CSRF_COOKIE = "cc_form_csrf"
CSRF_FIELD = "csrf_token"
CSRF_COOKIE_MAX_AGE = 7 * 24 * 3600
_CSRF_VALUE = re.compile(r"^[A-Za-z0-9_-]{32,64}$")


def _csrf_sign(secret: bytes, value: str) -> str:
    return hmac.new(secret, b"webform-csrf:" + value.encode(), hashlib.sha256).hexdigest()


def csrf_cookie(request: web.Request) -> str | None:
    value = request.cookies.get(CSRF_COOKIE, "")
    return value if _CSRF_VALUE.match(value) else None


def csrf_ok(request: web.Request, submitted: str | None) -> bool:
    """Both the cookie and the form token present, and the token is the cookie's signature."""
    value = csrf_cookie(request)
    if value is None or not submitted:
        return False
    return hmac.compare_digest(_csrf_sign(request.app[CTX].secret, value), submitted)


def csrf_for_page(request: web.Request) -> tuple[str, str]:
    """(cookie value, form token): the browser's current value when it has one, so several tabs work."""
    value = csrf_cookie(request) or secrets.token_urlsafe(32)
    return value, _csrf_sign(request.app[CTX].secret, value)


def set_csrf_cookie(request: web.Request, response: web.StreamResponse, value: str) -> None:
    response.set_cookie(CSRF_COOKIE, value, httponly=True, samesite="Strict", path="/",
                        secure=request.app[CTX].settings.auth.cookie_secure, max_age=CSRF_COOKIE_MAX_AGE)
