"""The customer portal: what a ticket link may see (``portal_view``), its HTML pages, replies and downloads."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from aiohttp import hdrs, web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from channels.webform.bodies import FormData, FormProblem, read_form
from channels.webform.csrf import CSRF_FIELD, csrf_cookie, csrf_for_page, csrf_ok, set_csrf_cookie
from channels.webform.limits import blocked, client_ip, count
from channels.webform.pages import (
    error_map,
    forbidden_page,
    html_errors,
    message_page,
    render,
    too_many_page,
    upload_limits,
)
from channels.webform.parse import FieldError, Upload, parse_reply, size_label
from contactcenter.api.tickets import attachment_response
from contactcenter.context import CTX, Context
from contactcenter.db.models import Attachment, Message, Ticket, User
from contactcenter.domain.enums import AuthorKind, DeliveryStatus, TicketStatus
from contactcenter.errors import NotFound
from contactcenter.intake import IntakeResult, token_hash

TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{20,100}$")
# not (yet) for the customer's eyes
HIDDEN_STATUSES = (DeliveryStatus.QUEUED, DeliveryStatus.SENDING, DeliveryStatus.INTERNAL)
STATUS_LABELS = {
    TicketStatus.NEW: "Received", TicketStatus.OPEN: "In progress",
    TicketStatus.PENDING: "Waiting for your reply", TicketStatus.ON_HOLD: "In progress",
    TicketStatus.SOLVED: "Solved", TicketStatus.CLOSED: "Closed",
}


def _portal_not_found(request: web.Request) -> web.Response:
    return message_page(request, 404, "Link not found",
                        "This ticket link is not valid. Check that you copied the whole link from the page "
                        "or message where you found it.", link="/contact", link_text="Write to us")


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
    value, csrf = csrf_for_page(request)
    response = render(
        request, "webform_portal.html", status=status, number=view.live.id, subject=view.live.subject,
        status_value=view.live.status, status_label=view.status_label, merged_from=view.merged_from,
        closed=view.live.status == TicketStatus.CLOSED, messages=view.messages, base_path=f"/t/{token}",
        errors=error_map(errors), error_list=list(errors), reply_text=reply_text, csrf_token=csrf,
        submission_id=submission_id or str(uuid.uuid4()), **upload_limits(settings))
    set_csrf_cookie(request, response, value)
    return response


@html_errors
async def portal_page(request: web.Request) -> web.StreamResponse:
    token = request.match_info["token"]
    async with request.app[CTX].db.read() as session:
        view = await portal_view(session, token)
    if view is None:
        return _portal_not_found(request)
    return _portal_page(request, token, view)


async def store_reply(ctx: Context, token: str, text: str, uploads: Sequence[Upload], submission_id: str,
                      ip: str, form_name: str) -> IntakeResult | list[FieldError] | int | None:
    """Store a portal reply: the result, field errors, seconds to wait (rate limited) or None (no ticket)."""
    parsed = parse_reply(text, uploads, ctx.settings.webform, portal_token=token, submission_id=submission_id,
                         now=datetime.now(UTC), form_name=form_name)
    if isinstance(parsed, list):
        return parsed
    keys = [f"portal:{token_hash(token)}"]  # the link stands for its contact, who is known only to intake
    wait = blocked(ctx.limits.webform_address, keys)
    if wait:
        return wait
    try:
        result = await ctx.intake.submit(parsed)  # the link identifies the customer: no sender needed
    except NotFound:
        return None
    if not result.duplicate:
        count(ctx, ip, keys)
    return result


@html_errors
async def portal_reply(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CTX]
    token = request.match_info["token"]
    if csrf_cookie(request) is None:
        return forbidden_page(request, f"/t/{token}")
    ip = client_ip(request)
    if ctx.limits.webform_ip.blocked(ip):
        return too_many_page(request, ctx.limits.webform_ip.retry_after(ip))
    if not TOKEN_SHAPE.match(token):
        return _portal_not_found(request)
    problem: FormProblem | None = None
    try:
        form_data = await read_form(request, ctx.settings)
    except FormProblem as exc:
        problem, form_data = exc, FormData(fields=exc.fields)
    fields = form_data.fields
    if not csrf_ok(request, fields.get(CSRF_FIELD)):
        return forbidden_page(request, f"/t/{token}") if problem is None else message_page(
            request, problem.status, "The form could not be read", problem.message)
    submission_id = fields.get("submission_id") or str(uuid.uuid4())
    if problem is None:
        outcome = await store_reply(ctx, token, fields.get("message", ""), form_data.uploads, submission_id,
                                    ip, "portal")
        if outcome is None:
            return _portal_not_found(request)
        if isinstance(outcome, int):
            return too_many_page(request, outcome)
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
    if raw_id.isdecimal() and len(raw_id) < 18:
        async with ctx.db.read() as session:
            ticket = await _ticket_for_token(session, request.match_info["token"])
            if ticket is not None:
                live = await _follow_merges(session, ticket)
                attachment = await session.scalar(_public(
                    select(Attachment).join(Message, Message.id == Attachment.message_id)
                    .where(Attachment.id == int(raw_id), Message.ticket_id == live.id)))
    if attachment is None:
        return message_page(request, 404, "File not found", "This file is not part of this ticket.")
    response = await attachment_response(ctx.store, attachment)
    response.headers["Cache-Control"] = "no-store"
    return response
