"""The interface language of a page: English or Persian (right to left).

Chosen by ``?lang=`` (then remembered in the ``cc_lang`` cookie), else that cookie, else the browser's
``Accept-Language``. The strings themselves live in ``static/app/i18n.js`` (the pages are built in the
browser); dates are shown there with ``Intl.DateTimeFormat`` (Jalali calendar for Persian).
"""

from __future__ import annotations

from aiohttp import web

LANGUAGES = ("en", "fa")
RTL = frozenset({"fa"})
LANG_COOKIE = "cc_lang"


def choose_language(request: web.Request) -> str:
    for candidate in (request.query.get("lang"), request.cookies.get(LANG_COOKIE)):
        if candidate in LANGUAGES:
            return candidate
    return from_accept_language(request.headers.get("Accept-Language", ""))


def from_accept_language(header: str) -> str:
    """The first supported language in an Accept-Language header, by quality; English if none."""
    best, best_q = "en", -1.0
    for position, part in enumerate(header.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        if primary in LANGUAGES and q - position * 1e-6 > best_q:
            best, best_q = primary, q - position * 1e-6
    return best


def direction(lang: str) -> str:
    return "rtl" if lang in RTL else "ltr"
