"""The contact form: GET shows it, POST stores a valid submission and redirects to the ticket's portal page."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from aiohttp import hdrs, web

from channels.webform.bodies import FormProblem, read_form
from channels.webform.csrf import CSRF_FIELD, csrf_cookie, csrf_for_page, csrf_ok, set_csrf_cookie
from channels.webform.limits import address_keys, blocked, client_ip, count
from channels.webform.pages import (
    error_map,
    forbidden_page,
    html_errors,
    message_page,
    render,
    too_many_page,
    upload_limits,
)
from channels.webform.parse import (
    HONEYPOT_FIELD,
    ContactForm,
    FieldError,
    is_honeypot_filled,
    parse_contact,
)
from contactcenter.context import CTX


def _contact_page(request: web.Request, *, values: dict[str, str] | None = None,
                  errors: Sequence[FieldError] = (), submission_id: str | None = None,
                  status: int = 200) -> web.Response:
    settings = request.app[CTX].settings.webform
    value, token = csrf_for_page(request)
    blank = dict.fromkeys(("name", "email", "phone", "subject", "message", "topic"), "")
    response = render(
        request, "webform_contact.html", status=status, noindex=False,
        values={**blank, **(values or {})}, errors=error_map(errors), error_list=list(errors),
        csrf_token=token, submission_id=submission_id or str(uuid.uuid4()), topics=settings.topics,
        honeypot_field=HONEYPOT_FIELD, **upload_limits(settings))
    set_csrf_cookie(request, response, value)
    return response


@html_errors
async def contact_form(request: web.Request) -> web.StreamResponse:
    return _contact_page(request)


@html_errors
async def submit_contact(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CTX]
    if csrf_cookie(request) is None:
        return forbidden_page(request, "/contact")
    ip = client_ip(request)
    if ctx.limits.webform_ip.blocked(ip):
        return too_many_page(request, ctx.limits.webform_ip.retry_after(ip))
    try:
        form_data = await read_form(request, ctx.settings)
    except FormProblem as exc:
        if not csrf_ok(request, exc.fields.get(CSRF_FIELD)):
            return message_page(request, exc.status, "The form could not be read", exc.message)
        return _contact_page(request, values=ContactForm.from_fields(exc.fields).values(),
                             errors=[FieldError("attachments", exc.message)],
                             submission_id=exc.fields.get("submission_id"), status=exc.status)
    fields = form_data.fields
    if not csrf_ok(request, fields.get(CSRF_FIELD)):
        return forbidden_page(request, "/contact")
    form = ContactForm.from_fields(fields)
    if is_honeypot_filled(form):
        ctx.limits.webform_ip.hit(ip)
        return message_page(request, 400, "Submission rejected",
                            "This submission was rejected. If you are a person, please reload the form and "
                            "send it again.", link="/contact", link_text="Back to the form")
    submission_id = fields.get("submission_id") or str(uuid.uuid4())
    parsed = parse_contact(form, form_data.uploads, ctx.settings.webform, submission_id=submission_id,
                           now=datetime.now(UTC), form_name="contact")
    if isinstance(parsed, list):
        return _contact_page(request, values=form.values(), errors=parsed, submission_id=submission_id,
                             status=422)
    keys = address_keys(parsed)
    wait = blocked(ctx.limits.webform_address, keys)
    if wait:
        return too_many_page(request, wait)
    result = await ctx.intake.submit(parsed)
    if not result.duplicate:
        count(ctx, ip, keys)
    if result.portal_token:
        return web.Response(status=303, headers={hdrs.LOCATION: f"/t/{result.portal_token}"})
    return render(request, "webform_received.html", ticket_number=result.ticket_id)
