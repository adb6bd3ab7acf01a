"""The web-form channel over HTTP: the contact form, its JSON twin for embedding, and the customer portal.

HTML routes (set up by ``setup_webform``):
    GET  /, /contact                     the contact form
    POST /contact                        submit it (multipart/form-data) -> 303 to the ticket's portal page
    GET  /t/{token}                      the portal: a ticket's public conversation and a reply form
    POST /t/{token}/reply                reply through the portal -> 303 back
    GET  /t/{token}/attachments/{id}     download an attachment of a public message of that ticket

JSON routes (declared on ``api``, listed in API_MODULES, described in /api/v1/openapi.json):
    POST /api/v1/webform                 JSON or multipart; 201 {ticket_number, portal_url, duplicate}
    GET  /api/v1/portal/{token}          the ticket and its public messages
    POST /api/v1/portal/{token}/messages reply through the portal

Rate limits (ctx.limits.webform_ip keyed by the client IP, ctx.limits.webform_address keyed by each
e-mail/phone given, or by the ticket contact's address for portal replies): a request is refused with
429 + Retry-After when a key is already at its limit, and a hit is counted only for a submission that
was stored as a new message (a repeat of one already stored counts nothing). Invalid submissions are
not counted, so a customer correcting a typo is never locked out; they store nothing and their size is
bounded. The one exception is a filled honeypot: it is a bot, and it is counted against its IP. The
check and the count are not atomic, so concurrent requests can pass a limit by a few; the limit is a
brake on abuse, not an exact quota. Client IPs are used only as in-memory keys and never stored.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import hmac
import json
import logging
import re
import secrets
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote

import jinja2
from aiohttp import BodyPartReader, hdrs, web
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from channels.base import InboundMessage
from channels.webform.parse import (
    HONEYPOT_FIELD,
    ContactForm,
    FieldError,
    Upload,
    is_honeypot_filled,
    parse_contact,
    parse_reply,
    size_label,
)
from contactcenter.api.framework import PREFIX, Api, ApiRequest, error_response, json_response, loggable_path
from contactcenter.api.schemas import Strict
from contactcenter.api.tickets import attachment_response
from contactcenter.context import CTX, Context
from contactcenter.db.models import Attachment, Message, Ticket, User
from contactcenter.domain.enums import AuthorKind, DeliveryStatus, TicketStatus
from contactcenter.errors import NotFound, Unavailable
from contactcenter.intake import IntakeResult, token_hash
from contactcenter.ratelimit import RateLimiter
from contactcenter.settings import Settings
from contactcenter.web import make_environment, setup_static

log = logging.getLogger(__name__)

TEMPLATES = web.AppKey("webform_templates", jinja2.Environment)
CSRF_COOKIE = "cc_form_csrf"
CSRF_FIELD = "csrf_token"
CSRF_COOKIE_MAX_AGE = 7 * 24 * 3600
FILE_FIELDS = frozenset({"attachments", "attachments[]"})
MAX_FIELD_BYTES = 256 * 1024  # one text field; the message (50,000 characters) fits in UTF-8 with room
MAX_PARTS = 64
MAX_JSON_BYTES = 1024 * 1024
CHUNK = 64 * 1024
TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{20,100}$")
_CSRF_VALUE = re.compile(r"^[A-Za-z0-9_-]{32,64}$")
HIDDEN_STATUSES = (DeliveryStatus.QUEUED, DeliveryStatus.INTERNAL)  # not (yet) for the customer's eyes
STATUS_LABELS = {
    TicketStatus.NEW: "Received", TicketStatus.OPEN: "In progress",
    TicketStatus.PENDING: "Waiting for your reply", TicketStatus.ON_HOLD: "In progress",
    TicketStatus.SOLVED: "Solved", TicketStatus.CLOSED: "Closed",
}
RETRY_AFTER_UNAVAILABLE = "5"


# --- reading request bodies with bounded buffers -------------------------------------------------

class FormProblem(Exception):
    """The request body cannot be read as a form; answered with ``status``."""

    def __init__(self, status: int, message: str, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.fields = fields or {}  # what was read before the problem, to show the form again


@dataclass
class FormData:
    fields: dict[str, str] = field(default_factory=dict)
    uploads: list[Upload] = field(default_factory=list)


async def _read_limited(request: web.Request, limit: int, what: str) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise FormProblem(413, f"{what} is larger than {size_label(limit)}")
    buffer = bytearray()
    async for chunk in request.content.iter_chunked(CHUNK):
        buffer += chunk
        if len(buffer) > limit:
            raise FormProblem(413, f"{what} is larger than {size_label(limit)}")
    return bytes(buffer)


async def _read_part(part: BodyPartReader, limit: int) -> bytes | None:
    """The part's bytes, or None as soon as it grows past ``limit`` (the rest is not read)."""
    buffer = bytearray()
    while chunk := await part.read_chunk(CHUNK):
        buffer += chunk
        if len(buffer) > limit:
            return None
    return bytes(buffer)


async def _read_multipart(request: web.Request, settings: Settings) -> FormData:
    """Stream the parts: text fields and files are each capped, files are counted, reading stops early.

    At most ``max_attachments + 1`` files are read, so the parser can say "too many" without the
    server reading every extra file.
    """
    webform, max_body = settings.webform, settings.server.max_body_bytes
    reader = await request.multipart()
    form = FormData()
    total = parts = 0
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise FormProblem(400, "nested multipart bodies are not accepted", form.fields)
        parts += 1
        if parts > MAX_PARTS:
            raise FormProblem(413, f"the form has more than {MAX_PARTS} parts", form.fields)
        name = part.name or ""
        if part.filename is not None:
            if name not in FILE_FIELDS:
                raise FormProblem(400, f"unexpected file field {name!r}; send files as 'attachments'",
                                  form.fields)
            data = await _read_part(part, webform.max_attachment_bytes)
            if data is None:
                raise FormProblem(413, f"The file {part.filename} is larger than "
                                       f"{size_label(webform.max_attachment_bytes)}; nothing was sent. "
                                       "Attach a smaller file.", form.fields)
            if not part.filename and not data:
                continue  # a file input left empty
            # Browsers send UTF-8 names escaping only '"' and line breaks as %XX; many HTTP clients
            # percent-encode the whole name. Decoding serves both.
            form.uploads.append(Upload(unquote(part.filename), part.headers.get(hdrs.CONTENT_TYPE, ""), data))
            if len(form.uploads) > webform.max_attachments:
                break
        else:
            data = await _read_part(part, MAX_FIELD_BYTES)
            if data is None:
                raise FormProblem(413, f"The field {name!r} is too long", form.fields)
            try:
                value = data.decode(part.get_charset("utf-8"), "replace")
            except LookupError:
                value = data.decode("utf-8", "replace")
            form.fields.setdefault(name, value)
        total += len(data)
        if total > max_body:
            raise FormProblem(413, f"The submission is larger than {size_label(max_body)}", form.fields)
    return form


async def read_form(request: web.Request, settings: Settings) -> FormData:
    """A multipart (with files) or URL-encoded (without) form body."""
    if request.content_length is not None and request.content_length > settings.server.max_body_bytes:
        raise FormProblem(413, f"The submission is larger than {size_label(settings.server.max_body_bytes)}")
    if request.content_type == "multipart/form-data":
        return await _read_multipart(request, settings)
    if request.content_type == "application/x-www-form-urlencoded":
        body = await _read_limited(request, MAX_FIELD_BYTES * 2, "The submission")
        try:
            pairs = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True,
                              max_num_fields=MAX_PARTS)
        except ValueError:
            raise FormProblem(413, f"the form has more than {MAX_PARTS} fields") from None
        form = FormData()
        for key, value in pairs:
            form.fields.setdefault(key, value)
        return form
    raise FormProblem(415, "send the form as multipart/form-data")


async def read_api_body(request: web.Request, settings: Settings) -> tuple[Any, list[Upload]]:
    """A JSON body (no files), or multipart form fields with files under 'attachments'."""
    if request.content_type == "multipart/form-data":
        form = await read_form(request, settings)
        return form.fields, form.uploads
    if not request.can_read_body:
        return {}, []
    raw = await _read_limited(request, MAX_JSON_BYTES, "The JSON body")
    if not raw.strip():
        return {}, []
    try:
        return json.loads(raw), []
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FormProblem(400, f"request body is not valid JSON: {exc}") from None


# --- CSRF: a random cookie value and its HMAC in the form (double submit, signed) ----------------

def _csrf_sign(secret: bytes, value: str) -> str:
    return hmac.new(secret, b"webform-csrf:" + value.encode(), hashlib.sha256).hexdigest()


def _csrf_cookie(request: web.Request) -> str | None:
    value = request.cookies.get(CSRF_COOKIE, "")
    return value if _CSRF_VALUE.match(value) else None


def csrf_ok(request: web.Request, submitted: str | None) -> bool:
    """Both the cookie and the form token present, and the token is the cookie's signature."""
    value = _csrf_cookie(request)
    if value is None or not submitted:
        return False
    return hmac.compare_digest(_csrf_sign(request.app[CTX].secret, value), submitted)


def _csrf_for_page(request: web.Request) -> tuple[str, str]:
    """(cookie value, form token): the browser's current value when it has one, so several tabs work."""
    value = _csrf_cookie(request) or secrets.token_urlsafe(32)
    return value, _csrf_sign(request.app[CTX].secret, value)


def _set_csrf_cookie(request: web.Request, response: web.StreamResponse, value: str) -> None:
    response.set_cookie(CSRF_COOKIE, value, httponly=True, samesite="Strict", path="/",
                        secure=request.app[CTX].settings.auth.cookie_secure, max_age=CSRF_COOKIE_MAX_AGE)


# --- HTML helpers -------------------------------------------------------------------------------

def _html(request: web.Request, template: str, *, status: int = 200, headers: dict[str, str] | None = None,
          noindex: bool = True, **values: Any) -> web.Response:
    body = request.app[TEMPLATES].get_template(template).render(noindex=noindex, **values)
    response = web.Response(text=body, status=status, content_type="text/html", charset="utf-8",
                            headers=headers)
    response.headers["Cache-Control"] = "no-store"
    if noindex:
        response.headers["X-Robots-Tag"] = "noindex"
    return response


def _message_page(request: web.Request, status: int, title: str, text: str, *,
                  headers: dict[str, str] | None = None, link: str | None = None,
                  link_text: str = "") -> web.Response:
    return _html(request, "webform_message.html", status=status, headers=headers, title=title, text=text,
                 link=link, link_text=link_text)


def _forbidden(request: web.Request, page: str) -> web.Response:
    return _message_page(request, 403, "This form has expired",
                         "We could not verify that this form came from this site (its security token "
                         "is missing or out of date, or cookies are blocked). Nothing was sent. Please "
                         "reload the page, fill in the form again and send it.",
                         link=page, link_text="Reload the form")


def _too_many(request: web.Request, retry_after: int) -> web.Response:
    minutes = max(1, (retry_after + 59) // 60)
    return _message_page(request, 429, "Too many messages",
                         f"We received many messages from you in a short time. Nothing was sent. Please try "
                         f"again in about {minutes} minute{'s' if minutes != 1 else ''}.",
                         headers={"Retry-After": str(retry_after)})


def _portal_not_found(request: web.Request) -> web.Response:
    return _message_page(request, 404, "Link not found",
                         "This ticket link is not valid. Check that you copied the whole link from the page "
                         "or message where you found it.", link="/contact", link_text="Write to us")


HtmlHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def html_errors(handler: HtmlHandler) -> HtmlHandler:
    """HTML routes answer an unavailable database with a 503 page and unexpected errors with a 500 page."""
    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except Unavailable as exc:
            log.warning("storage unavailable for %s %s: %r", request.method, loggable_path(request), exc)
            return _message_page(request, 503, "Please try again in a moment",
                                 "We cannot take your request right now, and nothing was stored. Please go "
                                 "back and try again in a few seconds.",
                                 headers={"Retry-After": RETRY_AFTER_UNAVAILABLE})
        except web.HTTPException:
            raise
        except Exception:
            log.exception("unhandled error in %s %s", request.method, loggable_path(request))
            return _message_page(request, 500, "Something went wrong",
                                 "An internal error occurred and has been logged. Please try again later.")
    return wrapped


def _client_ip(request: web.Request) -> str:
    return request.remote or "unknown"


def _address_keys(message: InboundMessage) -> list[str]:
    addresses = (message.sender, *message.other_addresses) if message.sender else message.other_addresses
    return [f"{a.kind}:{a.value}" for a in addresses]


def _blocked(limiter: RateLimiter, keys: Sequence[str]) -> int:
    """Seconds to wait when any key is at its limit, else 0."""
    return max((limiter.retry_after(k) for k in keys if limiter.blocked(k)), default=0)


def _count(ctx: Context, ip: str, keys: Sequence[str]) -> None:
    ctx.limits.webform_ip.hit(ip)
    for key in keys:
        ctx.limits.webform_address.hit(key)


def _now() -> datetime:
    return datetime.now(UTC)


def _error_map(errors: Sequence[FieldError]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for error in errors:
        found.setdefault(error.field, []).append(error.message)
    return found


# --- the contact form ---------------------------------------------------------------------------

def _contact_page(request: web.Request, *, values: dict[str, str] | None = None,
                  errors: Sequence[FieldError] = (), submission_id: str | None = None,
                  status: int = 200) -> web.Response:
    settings = request.app[CTX].settings.webform
    value, token = _csrf_for_page(request)
    blank = dict.fromkeys(("name", "email", "phone", "subject", "message", "topic"), "")
    response = _html(
        request, "webform_contact.html", status=status, noindex=False,
        values={**blank, **(values or {})}, errors=_error_map(errors), error_list=list(errors),
        csrf_token=token, submission_id=submission_id or str(uuid.uuid4()), topics=settings.topics,
        honeypot_field=HONEYPOT_FIELD, max_attachments=settings.max_attachments,
        max_attachment_size=size_label(settings.max_attachment_bytes),
        accept=",".join(settings.allowed_attachment_types))
    _set_csrf_cookie(request, response, value)
    return response


@html_errors
async def contact_form(request: web.Request) -> web.StreamResponse:
    return _contact_page(request)


@html_errors
async def submit_contact(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CTX]
    if _csrf_cookie(request) is None:
        return _forbidden(request, "/contact")
    ip = _client_ip(request)
    if ctx.limits.webform_ip.blocked(ip):
        return _too_many(request, ctx.limits.webform_ip.retry_after(ip))
    try:
        form_data = await read_form(request, ctx.settings)
    except FormProblem as exc:
        if not csrf_ok(request, exc.fields.get(CSRF_FIELD)):
            return _message_page(request, exc.status, "The form could not be read", exc.message)
        return _contact_page(request, values=ContactForm.from_fields(exc.fields).values(),
                             errors=[FieldError("attachments", exc.message)],
                             submission_id=exc.fields.get("submission_id"), status=exc.status)
    fields = form_data.fields
    if not csrf_ok(request, fields.get(CSRF_FIELD)):
        return _forbidden(request, "/contact")
    form = ContactForm.from_fields(fields)
    if is_honeypot_filled(form):
        ctx.limits.webform_ip.hit(ip)
        return _message_page(request, 400, "Submission rejected",
                             "This submission was rejected. If you are a person, please reload the form and "
                             "send it again.", link="/contact", link_text="Back to the form")
    submission_id = fields.get("submission_id") or str(uuid.uuid4())
    parsed = parse_contact(form, form_data.uploads, ctx.settings.webform, submission_id=submission_id,
                           now=_now(), form_name="contact")
    if isinstance(parsed, list):
        return _contact_page(request, values=form.values(), errors=parsed, submission_id=submission_id,
                             status=422)
    keys = _address_keys(parsed)
    wait = _blocked(ctx.limits.webform_address, keys)
    if wait:
        return _too_many(request, wait)
    result = await ctx.intake.submit(parsed)
    if not result.duplicate:
        _count(ctx, ip, keys)
    if result.portal_token:
        return web.Response(status=303, headers={hdrs.LOCATION: f"/t/{result.portal_token}"})
    return _html(request, "webform_received.html", ticket_number=result.ticket_id)


# --- the portal ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class PortalFile:
    id: int
    filename: str
    content_type: str
    size: int

    @property
    def size_label(self) -> str:
        return size_label(self.size)


@dataclass(frozen=True)
class PortalMessage:
    id: int
    author: Literal["you", "agent", "system"]
    author_name: str
    text: str
    created_at: datetime
    attachments: tuple[PortalFile, ...]


@dataclass(frozen=True)
class PortalView:
    ticket: Ticket  # the ticket the link was made for
    live: Ticket  # the ticket that holds the conversation now (after merges)
    messages: tuple[PortalMessage, ...]

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(TicketStatus(self.live.status), self.live.status)

    @property
    def merged_from(self) -> int | None:
        return self.ticket.id if self.ticket.id != self.live.id else None


async def _ticket_for_token(session: AsyncSession, token: str) -> Ticket | None:
    """The ticket of a portal link; looked up by the token's hash, so only a valid link finds anything."""
    if not TOKEN_SHAPE.match(token):
        return None
    ticket: Ticket | None = await session.scalar(
        select(Ticket).where(Ticket.portal_token_hash == token_hash(token)))
    return ticket


async def _follow_merges(session: AsyncSession, ticket: Ticket) -> Ticket:
    seen: set[int] = set()
    while ticket.merged_into_id is not None and ticket.id not in seen:
        seen.add(ticket.id)
        target = await session.get(Ticket, ticket.merged_into_id)
        if target is None:
            break
        ticket = target
    return ticket


def _public(query: Any) -> Any:
    return query.where(Message.internal.is_(False), Message.delivery_status.not_in(HIDDEN_STATUSES))


async def portal_view(session: AsyncSession, token: str) -> PortalView | None:
    """What the holder of ``token`` may see: the (merge-followed) ticket and its public messages only."""
    ticket = await _ticket_for_token(session, token)
    if ticket is None:
        return None
    live = await _follow_merges(session, ticket)
    rows = (await session.execute(_public(
        select(Message, User.name).outerjoin(User, User.id == Message.user_id)
        .where(Message.ticket_id == live.id)).order_by(Message.id))).all()
    files: dict[int, list[PortalFile]] = {}
    if rows:
        for a in (await session.scalars(select(Attachment).where(
                Attachment.message_id.in_([m.id for m, _ in rows])).order_by(Attachment.id))).all():
            files.setdefault(a.message_id, []).append(PortalFile(a.id, a.filename, a.content_type, a.size))
    messages = []
    for message, user_name in rows:
        author: Literal["you", "agent", "system"]
        if message.author_kind == AuthorKind.CONTACT:
            author, name = "you", "You"
        elif message.author_kind == AuthorKind.AGENT:
            author, name = "agent", user_name or "Support"
        else:
            author, name = "system", "Support"
        messages.append(PortalMessage(message.id, author, name, message.text, message.created_at,
                                      tuple(files.get(message.id, ()))))
    return PortalView(ticket, live, tuple(messages))


def _portal_page(request: web.Request, token: str, view: PortalView, *, errors: Sequence[FieldError] = (),
                 reply_text: str = "", submission_id: str | None = None, status: int = 200) -> web.Response:
    settings = request.app[CTX].settings.webform
    value, csrf = _csrf_for_page(request)
    response = _html(
        request, "webform_portal.html", status=status, number=view.live.id, subject=view.live.subject,
        status_value=view.live.status, status_label=view.status_label, merged_from=view.merged_from,
        closed=view.live.status == TicketStatus.CLOSED, messages=view.messages, base_path=f"/t/{token}",
        errors=_error_map(errors), error_list=list(errors), reply_text=reply_text, csrf_token=csrf,
        submission_id=submission_id or str(uuid.uuid4()), max_attachments=settings.max_attachments,
        max_attachment_size=size_label(settings.max_attachment_bytes),
        accept=",".join(settings.allowed_attachment_types))
    _set_csrf_cookie(request, response, value)
    return response


@html_errors
async def portal_page(request: web.Request) -> web.StreamResponse:
    token = request.match_info["token"]
    async with request.app[CTX].db.read() as session:
        view = await portal_view(session, token)
    if view is None:
        return _portal_not_found(request)
    return _portal_page(request, token, view)


async def _portal_reply(ctx: Context, token: str, text: str, uploads: Sequence[Upload], submission_id: str,
                        ip: str, form_name: str) -> IntakeResult | list[FieldError] | int | None:
    """Store a portal reply: the result, field errors, seconds to wait (rate limited) or None (no ticket)."""
    parsed = parse_reply(text, uploads, ctx.settings.webform, portal_token=token, submission_id=submission_id,
                         now=_now(), form_name=form_name)
    if isinstance(parsed, list):
        return parsed
    keys = [f"portal:{token_hash(token)}"]  # the link stands for its contact, who is known only to intake
    wait = _blocked(ctx.limits.webform_address, keys)
    if wait:
        return wait
    try:
        result = await ctx.intake.submit(parsed)  # the link identifies the customer: no sender needed
    except NotFound:
        return None
    if not result.duplicate:
        _count(ctx, ip, keys)
    return result


@html_errors
async def portal_reply(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CTX]
    token = request.match_info["token"]
    if _csrf_cookie(request) is None:
        return _forbidden(request, f"/t/{token}")
    ip = _client_ip(request)
    if ctx.limits.webform_ip.blocked(ip):
        return _too_many(request, ctx.limits.webform_ip.retry_after(ip))
    if not TOKEN_SHAPE.match(token):
        return _portal_not_found(request)
    problem: FormProblem | None = None
    try:
        form_data = await read_form(request, ctx.settings)
    except FormProblem as exc:
        problem, form_data = exc, FormData(fields=exc.fields)
    fields = form_data.fields
    if not csrf_ok(request, fields.get(CSRF_FIELD)):
        return _forbidden(request, f"/t/{token}") if problem is None else _message_page(
            request, problem.status, "The form could not be read", problem.message)
    submission_id = fields.get("submission_id") or str(uuid.uuid4())
    if problem is None:
        outcome = await _portal_reply(ctx, token, fields.get("message", ""), form_data.uploads, submission_id,
                                      ip, "portal")
        if outcome is None:
            return _portal_not_found(request)
        if isinstance(outcome, int):
            return _too_many(request, outcome)
        if isinstance(outcome, IntakeResult):
            return web.Response(status=303, headers={hdrs.LOCATION: f"/t/{outcome.portal_token or token}"})
        errors, status = outcome, 422
    else:
        errors, status = [FieldError("attachments", problem.message)], problem.status
    async with ctx.db.read() as session:
        view = await portal_view(session, token)
    if view is None:
        return _portal_not_found(request)
    return _portal_page(request, token, view, errors=errors, reply_text=fields.get("message", ""),
                        submission_id=submission_id, status=status)


@html_errors
async def portal_attachment(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CTX]
    raw_id = request.match_info["id"]
    attachment: Attachment | None = None
    if raw_id.isdigit() and len(raw_id) < 18:
        async with ctx.db.read() as session:
            ticket = await _ticket_for_token(session, request.match_info["token"])
            if ticket is not None:
                live = await _follow_merges(session, ticket)
                attachment = await session.scalar(_public(
                    select(Attachment).join(Message, Message.id == Attachment.message_id)
                    .where(Attachment.id == int(raw_id), Message.ticket_id == live.id)))
    if attachment is None:
        return _message_page(request, 404, "File not found", "This file is not part of this ticket.")
    response = await attachment_response(ctx.store.path(attachment.sha256), attachment)
    response.headers["Cache-Control"] = "no-store"
    return response


# --- the JSON API -------------------------------------------------------------------------------

class WebformIn(Strict):
    """A contact-form submission. Also accepted as multipart/form-data with files under 'attachments'."""

    name: str | None = Field(None, max_length=200)
    email: str | None = Field(None, max_length=320, description="an e-mail address, a phone number or both")
    phone: str | None = Field(None, max_length=40, description="without a country code it is read in the "
                                                               "configured default region")
    subject: str | None = Field(None, max_length=500)
    message: str = Field(min_length=1, max_length=50_000)
    topic: str | None = Field(None, max_length=80, description="one of the configured topic ids")
    submission_id: str | None = Field(None, max_length=128, description="dedupe key; the Idempotency-Key "
                                                                        "header takes precedence")
    website: str | None = Field(None, max_length=1000, description="honeypot: leave empty or leave out")


class WebformOut(BaseModel):
    """201 for a new submission; a repeat with the same Idempotency-Key or submission_id (from the same
    e-mail/phone) answers 200 with duplicate=true and the ticket number of the first."""

    ticket_number: int
    portal_url: str | None = Field(description="the private page of the ticket; null for a repeated "
                                               "submission (the link is shown only once)")
    duplicate: bool


class PortalAttachmentOut(BaseModel):
    id: int
    filename: str
    content_type: str
    size: int
    url: str


class PortalMessageOut(BaseModel):
    id: int
    author: Literal["you", "agent", "system"]
    author_name: str
    text: str
    created_at: datetime
    attachments: list[PortalAttachmentOut]


class PortalTicketOut(BaseModel):
    number: int
    subject: str
    status: TicketStatus
    status_label: str
    merged_from: int | None = Field(description="the ticket this link was made for, when it was merged here")
    messages: list[PortalMessageOut]


class PortalReplyIn(Strict):
    text: str = Field(min_length=1, max_length=50_000)
    submission_id: str | None = Field(None, max_length=128, description="dedupe key; the Idempotency-Key "
                                                                        "header takes precedence")


class PortalReplyOut(BaseModel):
    ticket_number: int
    message_id: int
    duplicate: bool
    portal_url: str = Field(description="where the conversation continues (a new link when a closed ticket "
                                        "got a follow-up)")


class BodyParsingApi(Api):
    """Operations documented with their pydantic body but reading the body themselves (JSON or multipart)."""

    def setup(self, app: web.Application) -> None:
        runtime = Api()
        runtime.operations = [dataclasses.replace(op, body=None) for op in self.operations]
        runtime.setup(app)


api = BodyParsingApi()


def _problem_response(problem: FormProblem) -> web.Response:
    code = {413: "too_large", 415: "unsupported_media_type"}.get(problem.status, "bad_request")
    return error_response(problem.status, code, problem.message)


def _rate_limited(retry_after: int) -> web.Response:
    return error_response(429, "too_many_requests", "too many submissions; try again later",
                          headers={"Retry-After": str(retry_after)})


def _invalid(errors: Sequence[FieldError]) -> web.Response:
    return error_response(422, "invalid", "the submission has errors",
                          [{"field": e.field, "message": e.message} for e in errors])


def _submission_id(request: web.Request, field_value: str | None) -> str:
    return request.headers.get("Idempotency-Key", "").strip() or field_value or str(uuid.uuid4())


@api.route("POST", "/webform", summary="Submit the contact form (JSON, or multipart with attachments)",
           tag="webform", role=None, body=WebformIn, response=WebformOut, status=201,
           responses={413: "an attachment or the body is too large", 429: "too many submissions",
                      503: "the database is unavailable; retry"})
async def submit_webform(req: ApiRequest) -> web.StreamResponse:
    ctx, request = req.ctx, req.request
    ip = _client_ip(request)
    if ctx.limits.webform_ip.blocked(ip):
        return _rate_limited(ctx.limits.webform_ip.retry_after(ip))
    try:
        data, uploads = await read_api_body(request, ctx.settings)
    except FormProblem as exc:
        return _problem_response(exc)
    body = WebformIn.model_validate(data)
    form = ContactForm(name=body.name or "", email=body.email or "", phone=body.phone or "",
                       subject=body.subject or "", message=body.message, topic=body.topic or "",
                       honeypot=body.website or "")
    if is_honeypot_filled(form):
        ctx.limits.webform_ip.hit(ip)
        return error_response(400, "rejected", "submission rejected")
    parsed = parse_contact(form, uploads, ctx.settings.webform, now=_now(), form_name="api",
                           submission_id=_submission_id(request, body.submission_id))
    if isinstance(parsed, list):
        return _invalid(parsed)
    keys = _address_keys(parsed)
    wait = _blocked(ctx.limits.webform_address, keys)
    if wait:
        return _rate_limited(wait)
    result = await ctx.intake.submit(parsed)
    if not result.duplicate:
        _count(ctx, ip, keys)
    portal_url = f"{ctx.settings.base_url}/t/{result.portal_token}" if result.portal_token else None
    out = WebformOut(ticket_number=result.ticket_id, duplicate=result.duplicate, portal_url=portal_url)
    return json_response(out, status=200 if result.duplicate else 201)


def _portal_out(token: str, view: PortalView) -> PortalTicketOut:
    return PortalTicketOut(
        number=view.live.id, subject=view.live.subject, status=TicketStatus(view.live.status),
        status_label=view.status_label, merged_from=view.merged_from,
        messages=[PortalMessageOut(
            id=m.id, author=m.author, author_name=m.author_name, text=m.text, created_at=m.created_at,
            attachments=[PortalAttachmentOut(id=a.id, filename=a.filename, content_type=a.content_type,
                                             size=a.size, url=f"/t/{token}/attachments/{a.id}")
                         for a in m.attachments]) for m in view.messages])


@api.route("GET", "/portal/{token}", summary="A ticket's public conversation, by its private portal token",
           tag="webform", role=None, response=PortalTicketOut, responses={503: "the database is unavailable"})
async def get_portal(req: ApiRequest) -> PortalTicketOut:
    token = req.request.match_info["token"]
    async with req.ctx.db.read() as session:
        view = await portal_view(session, token)
    if view is None:
        raise NotFound("no ticket has this link")
    return _portal_out(token, view)


@api.route("POST", "/portal/{token}/messages", summary="Reply on a ticket through its private portal token",
           tag="webform", role=None, body=PortalReplyIn, response=PortalReplyOut, status=201,
           responses={413: "an attachment or the body is too large", 429: "too many messages",
                      503: "the database is unavailable; retry"})
async def post_portal_message(req: ApiRequest) -> web.StreamResponse:
    ctx, request = req.ctx, req.request
    token = request.match_info["token"]
    ip = _client_ip(request)
    if ctx.limits.webform_ip.blocked(ip):
        return _rate_limited(ctx.limits.webform_ip.retry_after(ip))
    if not TOKEN_SHAPE.match(token):
        raise NotFound("no ticket has this link")
    try:
        data, uploads = await read_api_body(request, ctx.settings)
    except FormProblem as exc:
        return _problem_response(exc)
    body = PortalReplyIn.model_validate(data)
    outcome = await _portal_reply(ctx, token, body.text, uploads, _submission_id(request, body.submission_id),
                                  ip, "portal-api")
    if outcome is None:
        raise NotFound("no ticket has this link")
    if isinstance(outcome, int):
        return _rate_limited(outcome)
    if isinstance(outcome, list):
        return _invalid(outcome)
    out = PortalReplyOut(ticket_number=outcome.ticket_id, message_id=outcome.message_id,
                         duplicate=outcome.duplicate,
                         portal_url=f"{ctx.settings.base_url}/t/{outcome.portal_token or token}")
    return json_response(out, status=200 if outcome.duplicate else 201)


# --- CORS for the JSON endpoints ----------------------------------------------------------------

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


async def _cors_headers(request: web.Request, response: web.StreamResponse) -> None:
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


# --- wiring -------------------------------------------------------------------------------------

def setup_webform(app: web.Application) -> None:
    """The contact form, the portal pages, /static/, and CORS preflight for the JSON endpoints.

    The JSON operations themselves are registered by ``setup_api`` from ``api`` (see API_MODULES).
    """
    app[TEMPLATES] = make_environment()
    setup_static(app)
    app.router.add_get("/", contact_form)
    app.router.add_get("/contact", contact_form)
    app.router.add_post("/contact", submit_contact)
    app.router.add_get("/t/{token}", portal_page)
    app.router.add_post("/t/{token}/reply", portal_reply)
    app.router.add_get("/t/{token}/attachments/{id}", portal_attachment)
    for path in ("/webform", "/portal/{token}", "/portal/{token}/messages"):
        app.router.add_route("OPTIONS", PREFIX + path, cors_preflight)
    app.on_response_prepare.append(_cors_headers)
