"""Twilio SMS webhooks over HTTP.

    POST /webhooks/twilio/sms          an inbound SMS/MMS: verify, parse, intake, answer empty TwiML
    POST /webhooks/twilio/sms/status   a delivery report of a reply we sent (StatusCallback)

Both check X-Twilio-Signature with twilio's RequestValidator against ``server.public_url`` + the path
and query as received; a missing or wrong signature answers 403 and stores nothing.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from aiohttp import web
from multidict import MultiDictProxy
from twilio.request_validator import RequestValidator

from channels.sms.parse import CHANNEL, SmsParseError, SmsPolicy, keyword_action, parse_inbound, parse_status
from contactcenter.actions.channel_events import (
    NewChannelEvent,
    do_apply_delivery_status,
    do_opt_in,
    do_opt_out,
    do_record_channel_event,
)
from contactcenter.api.framework import error_response
from contactcenter.context import CTX
from contactcenter.db.types import utcnow
from contactcenter.settings import Settings

INBOUND_PATH = "/webhooks/twilio/sms"
STATUS_PATH = "/webhooks/twilio/sms/status"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
FORM = "application/x-www-form-urlencoded"


def setup_sms(app: web.Application) -> None:
    app.router.add_post(INBOUND_PATH, inbound_sms)
    app.router.add_post(STATUS_PATH, sms_status)


def sms_policy(settings: Settings) -> SmsPolicy:
    sms = settings.sms
    gap = timedelta(hours=sms.conversation_gap_hours) if sms.conversation_gap_hours > 0 else None
    return SmsPolicy(region=sms.default_region, idle_gap=gap, reopen_solved=sms.reopen_solved,
                     stop_keywords=sms.stop_keywords, start_keywords=sms.start_keywords)


def twiml(body: str = EMPTY_TWIML) -> web.Response:
    return web.Response(text=body, content_type="text/xml")


async def verified_form(request: web.Request) -> MultiDictProxy[str] | web.Response:
    """The posted fields when X-Twilio-Signature proves Twilio sent them; else the 4xx answer to give."""
    settings = request.app[CTX].settings
    if not settings.sms.auth_token:
        return error_response(403, "forbidden", "SMS webhooks are not configured (sms.auth_token)")
    if request.content_type != FORM:
        return error_response(415, "unsupported_media_type", f"expected {FORM}")
    signature = request.headers.get("X-Twilio-Signature", "")
    try:
        form = await request.post()
    except (UnicodeDecodeError, ValueError):
        return error_response(400, "bad_request", "the form body cannot be decoded")
    fields = MultiDictProxy(form)  # urlencoded: every value is a str
    url = settings.base_url + request.path_qs
    if not signature or not RequestValidator(settings.sms.auth_token).validate(url, fields, signature):
        return error_response(403, "forbidden", "missing or wrong X-Twilio-Signature")
    return fields  # type: ignore[return-value]


async def inbound_sms(request: web.Request) -> web.StreamResponse:
    """Store the message, then acknowledge with empty TwiML (a redelivery is acknowledged the same way)."""
    fields = await verified_form(request)
    if isinstance(fields, web.Response):
        return fields
    ctx = request.app[CTX]
    raw = await request.read()
    policy = sms_policy(ctx.settings)
    try:
        msg = parse_inbound(fields, policy, utcnow(), raw)
    except SmsParseError as exc:
        key = fields.get("MessageSid") or hashlib.sha256(raw).hexdigest()
        async with ctx.db.write() as session:
            await do_record_channel_event(session, NewChannelEvent(CHANNEL, "unparsed", key, payload={
                "error": str(exc)}, raw=raw))
        return twiml()
    await ctx.intake.submit(msg)
    action = keyword_action(msg.text, policy)
    if action is not None and msg.sender is not None:  # idempotent, so a redelivery may do it again
        async with ctx.db.write() as session:
            if action[0] == "stop":
                await do_opt_out(session, CHANNEL, msg.sender.value, action[1])
            else:
                await do_opt_in(session, CHANNEL, msg.sender.value, action[1])
    return twiml()


async def sms_status(request: web.Request) -> web.StreamResponse:
    """Record a delivery report once per (MessageSid, status) and move the message's status forward."""
    fields = await verified_form(request)
    if isinstance(fields, web.Response):
        return fields
    report = parse_status(fields)
    if report is None:
        return twiml()
    ctx = request.app[CTX]
    async with ctx.db.write() as session:
        event_id = await do_record_channel_event(session, NewChannelEvent(
            CHANNEL, "status", f"{report.sid}:{report.provider_status}", ref=report.sid, value=report.status.value,
            payload={"status": report.provider_status, "error": report.error}))
        if event_id is not None:
            await do_apply_delivery_status(session, CHANNEL, report.sid, report.status.value, report.error)
    return twiml()
