"""HTML pages of the web form: the Jinja2 environment's key, rendering, message and error pages, ``html_errors``."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import jinja2
from aiohttp import web

from channels.webform.parse import FieldError, size_label
from contactcenter.api.framework import loggable_path
from contactcenter.errors import Unavailable
from contactcenter.settings import WebformSettings

log = logging.getLogger(__name__)

TEMPLATES = web.AppKey("webform_templates", jinja2.Environment)
RETRY_AFTER_UNAVAILABLE = "5"


def render(request: web.Request, template: str, *, status: int = 200, headers: dict[str, str] | None = None,
           noindex: bool = True, **values: Any) -> web.Response:
    body = request.app[TEMPLATES].get_template(template).render(noindex=noindex, **values)
    response = web.Response(text=body, status=status, content_type="text/html", charset="utf-8",
                            headers=headers)
    response.headers["Cache-Control"] = "no-store"
    if noindex:
        response.headers["X-Robots-Tag"] = "noindex"
    return response


def message_page(request: web.Request, status: int, title: str, text: str, *,
                 headers: dict[str, str] | None = None, link: str | None = None,
                 link_text: str = "") -> web.Response:
    return render(request, "webform_message.html", status=status, headers=headers, title=title, text=text,
                  link=link, link_text=link_text)


def forbidden_page(request: web.Request, page: str) -> web.Response:
    return message_page(request, 403, "This form has expired",
                        "We could not verify that this form came from this site (its security token "
                        "is missing or out of date, or cookies are blocked). Nothing was sent. Please "
                        "reload the page, fill in the form again and send it.",
                        link=page, link_text="Reload the form")


def too_many_page(request: web.Request, retry_after: int) -> web.Response:
    minutes = max(1, (retry_after + 59) // 60)
    return message_page(request, 429, "Too many messages",
                        f"We received many messages from you in a short time. Nothing was sent. Please try "
                        f"again in about {minutes} minute{'s' if minutes != 1 else ''}.",
                        headers={"Retry-After": str(retry_after)})


HtmlHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def html_errors(handler: HtmlHandler) -> HtmlHandler:
    """HTML routes answer an unavailable database with a 503 page and unexpected errors with a 500 page."""
    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except Unavailable as exc:
            log.warning("storage unavailable for %s %s: %r", request.method, loggable_path(request), exc)
            return message_page(request, 503, "Please try again in a moment",
                                "We cannot take your request right now, and nothing was stored. Please go "
                                "back and try again in a few seconds.",
                                headers={"Retry-After": RETRY_AFTER_UNAVAILABLE})
        except web.HTTPException:
            raise
        except Exception:
            log.exception("unhandled error in %s %s", request.method, loggable_path(request))
            return message_page(request, 500, "Something went wrong",
                                "An internal error occurred and has been logged. Please try again later.")
    return wrapped


def upload_limits(settings: WebformSettings) -> dict[str, Any]:
    """What a form page tells the browser and the customer about attachments."""
    return {"max_attachments": settings.max_attachments,
            "max_attachment_size": size_label(settings.max_attachment_bytes),
            "accept": ",".join(settings.allowed_attachment_types)}


def error_map(errors: Sequence[FieldError]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for error in errors:
        found.setdefault(error.field, []).append(error.message)
    return found
