"""The JSON twin of the contact form and the portal, for embedding them in other sites.

JSON routes (declared on ``api``, listed in API_MODULES, described in /api/v1/openapi.json):
    POST /api/v1/webform                 JSON or multipart; 201 {ticket_number, portal_url, duplicate}
    GET  /api/v1/portal/{token}          the ticket and its public messages
    POST /api/v1/portal/{token}/messages reply through the portal
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Literal

from aiohttp import web
from pydantic import BaseModel, Field

from channels.webform.bodies import FormProblem, read_api_body
from channels.webform.limits import address_keys, blocked, client_ip, count
from channels.webform.parse import ContactForm, FieldError, is_honeypot_filled, parse_contact
from channels.webform.portal import TOKEN_SHAPE, PortalView, portal_view, store_reply
from contactcenter.api.framework import Api, ApiRequest, error_response, json_response
from contactcenter.api.schemas.base import Strict
from contactcenter.domain.enums import TicketStatus
from contactcenter.errors import NotFound


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
    ip = client_ip(request)
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
    parsed = parse_contact(form, uploads, ctx.settings.webform, now=datetime.now(UTC), form_name="api",
                           submission_id=_submission_id(request, body.submission_id))
    if isinstance(parsed, list):
        return _invalid(parsed)
    keys = address_keys(parsed)
    wait = blocked(ctx.limits.webform_address, keys)
    if wait:
        return _rate_limited(wait)
    result = await ctx.intake.submit(parsed)
    if not result.duplicate:
        count(ctx, ip, keys)
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
    ip = client_ip(request)
    if ctx.limits.webform_ip.blocked(ip):
        return _rate_limited(ctx.limits.webform_ip.retry_after(ip))
    if not TOKEN_SHAPE.match(token):
        raise NotFound("no ticket has this link")
    try:
        data, uploads = await read_api_body(request, ctx.settings)
    except FormProblem as exc:
        return _problem_response(exc)
    body = PortalReplyIn.model_validate(data)
    outcome = await store_reply(ctx, token, body.text, uploads, _submission_id(request, body.submission_id),
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
