"""Twilio Voice webhooks. Each checks X-Twilio-Signature first (403 when it does not match, nothing
stored), then answers TwiML (application/xml) or 204.

    POST /webhooks/twilio/voice/incoming         a call comes in: the menu, or voicemail when nobody can answer
    POST /webhooks/twilio/voice/menu             the digit pressed -> topic -> the topic's queue
    POST /webhooks/twilio/voice/queue-result     how the caller left the queue (bridged, hangup, leave...)
    POST /webhooks/twilio/voice/recorded         the voicemail (Record action) -> a ticket
    POST /webhooks/twilio/voice/transcription    the voicemail's transcript -> added to that ticket
    POST /webhooks/twilio/voice/status           call status callbacks -> the call log; missed -> call-back ticket
    POST /webhooks/twilio/voice/connect          an agent's call-back was answered: dial the agent
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

from aiohttp import web
from multidict import MultiDict, MultiDictProxy
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from channels.voice import twiml
from channels.voice.parse import (
    CHANNEL,
    ParamError,
    StatusUpdate,
    callback_message,
    caller,
    final_outcome,
    menu_choice,
    needs_callback,
    sid,
    status_update,
    transcription_message,
    voicemail_message,
)
from channels.voice.signature import signature_valid
from contactcenter.actions import calls
from contactcenter.api.framework import error_response
from contactcenter.context import CTX, Context
from contactcenter.db.models import Call
from contactcenter.errors import Unavailable
from contactcenter.settings import Topic
from routing.availability import agents_available

log = logging.getLogger(__name__)
BASE = "/webhooks/twilio/voice"
Params = MultiDictProxy[str]
T = TypeVar("T")
Handler = Callable[[web.Request, Context, Params], Awaitable[web.Response]]


def webhook_url(ctx: Context, path: str) -> str:
    return f"{ctx.settings.base_url}{BASE}/{path}"


async def _write(ctx: Context, work: Callable[[Session], T]) -> T:
    """One call-log transaction. Twilio may deliver the same callback twice at once: the loser of the race
    on a unique constraint (call_sid, or call_sid + sequence) retries once and then sees the winner's row."""
    try:
        return await ctx.db.run_write(work)
    except IntegrityError:
        return await ctx.db.run_write(work)


def _xml(document: str) -> web.Response:
    return web.Response(text=document, content_type="application/xml")


def _menu_topics(ctx: Context) -> list[Topic]:
    found = [ctx.settings.webform.topic(t) for t in ctx.settings.voice.menu_topics]
    return [t for t in found if t is not None]


def verified(handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Check the signature before anything else; bad input is a 400, an outage a 503 (Twilio retries)."""
    async def handle(request: web.Request) -> web.StreamResponse:
        ctx = request.app[CTX]
        try:
            form = await request.post()
        except ValueError:
            return error_response(400, "bad_request", "the body is not a form")
        params: Params = MultiDictProxy(MultiDict((k, v) for k, v in form.items() if isinstance(v, str)))
        url = ctx.settings.base_url + request.raw_path  # path and query exactly as Twilio requested them
        if not signature_valid(ctx.settings.voice.auth_token, url, params,
                               request.headers.get("X-Twilio-Signature", "")):
            return error_response(403, "forbidden", "X-Twilio-Signature is missing or does not match")
        # Signed by Twilio, but PostgreSQL text cannot hold NUL: drop it after the check.
        params = MultiDictProxy(MultiDict((k, v.replace("\x00", "")) for k, v in params.items()))
        try:
            return await handler(request, ctx, params)
        except ParamError as exc:
            return error_response(400, "bad_request", str(exc))
        except Unavailable:
            return error_response(503, "unavailable", "storage is not available now; retry",
                                  headers={"Retry-After": "5"})
    handle.__name__ = handler.__name__
    return handle


async def _live(ctx: Context) -> str | None:
    """None when an agent can answer now, else why not (closed, no_agent)."""
    now = datetime.now(UTC)
    if not ctx.settings.hours.schedule().is_open(now):
        return "closed"
    async with ctx.db.read() as session:
        return None if await agents_available(session, ctx.settings.routing, CHANNEL, now) else "no_agent"


def _voicemail(ctx: Context, reason: str) -> str:
    return twiml.voicemail(ctx.settings.voice, reason, webhook_url(ctx, "recorded"), webhook_url(ctx, "transcription"))


@verified
async def incoming(request: web.Request, ctx: Context, params: Params) -> web.Response:
    call_sid = sid(params)
    reason = await _live(ctx)
    stage = "voicemail" if reason else "menu"
    address = caller(params.get("From", ""), ctx.settings.webform.default_region)
    await _write(ctx, lambda s: calls.open_call(
        s, call_sid=call_sid, direction="inbound", from_number=params.get("From", ""),
        to_number=params.get("To", ""), address=address, stage=stage, status=params.get("CallStatus", "ringing")))
    if reason:
        return _xml(_voicemail(ctx, reason))
    return _xml(twiml.menu(ctx.settings.voice, _menu_topics(ctx), webhook_url(ctx, "menu?attempt=1"), welcome=True))


@verified
async def menu(request: web.Request, ctx: Context, params: Params) -> web.Response:
    call_sid = sid(params)
    topics = _menu_topics(ctx)
    topic_id = menu_choice(params.get("Digits", ""), tuple(t.id for t in topics))
    attempt_raw = request.query.get("attempt", "1")
    attempt = int(attempt_raw) if attempt_raw.isdecimal() and len(attempt_raw) < 3 else 1
    if topic_id is None and attempt < ctx.settings.voice.menu_attempts and topics:
        again = webhook_url(ctx, f"menu?attempt={attempt + 1}")
        return _xml(twiml.menu(ctx.settings.voice, topics, again, welcome=False))
    topic = ctx.settings.webform.topic(topic_id) if topic_id else (topics[0] if topics else None)
    await _write(ctx, lambda s: calls.update_call(s, call_sid, stage="queue",
                                                       topic=topic.id if topic else None))
    queue = ctx.settings.voice.queue_prefix + ((topic.skill or topic.id) if topic else "general")
    return _xml(twiml.enqueue(ctx.settings.voice, queue, webhook_url(ctx, "queue-result")))


@verified
async def queue_result(request: web.Request, ctx: Context, params: Params) -> web.Response:
    call_sid = sid(params)
    result = params.get("QueueResult", "")
    if result in ("bridged", "bridging-in-process"):
        await _write(ctx, lambda s: calls.update_call(s, call_sid, stage="connect", outcome="answered"))
        return _xml(twiml.empty())
    if result == "hangup":
        await _write(ctx, lambda s: calls.update_call(s, call_sid, outcome="abandoned"))
        return _xml(twiml.empty())
    # leave, queue-full, error, system-error, redirected...: nobody took it -> voicemail
    await _write(ctx, lambda s: calls.update_call(s, call_sid, stage="voicemail"))
    return _xml(_voicemail(ctx, "no_agent"))


async def _call(ctx: Context, call_sid: str) -> Call | None:
    async with ctx.db.read() as session:
        return await session.scalar(select(Call).where(Call.call_sid == call_sid))


@verified
async def recorded(request: web.Request, ctx: Context, params: Params) -> web.Response:
    call_sid = sid(params)
    call = await _call(ctx, call_sid)
    number = params.get("From", "") or (call.from_number if call else "")
    address = caller(number, ctx.settings.webform.default_region)
    msg = voicemail_message(call_sid, params, address, call.topic if call else None,
                            datetime.now(UTC)) if address else None
    if msg is None:
        return _xml(twiml.goodbye(ctx.settings.voice, "nothing"))
    result = await ctx.intake.submit(msg)
    await _write(ctx, lambda s: calls.update_call(
        s, call_sid, outcome="voicemail", ticket_id=result.ticket_id,
        recording_url=msg.metadata.get("recording_url")))
    return _xml(twiml.goodbye(ctx.settings.voice, "thanks"))


@verified
async def transcription(request: web.Request, ctx: Context, params: Params) -> web.Response:
    call_sid = sid(params)
    call = await _call(ctx, call_sid)
    address = caller(params.get("From", "") or (call.from_number if call else ""),
                     ctx.settings.webform.default_region)
    msg = transcription_message(call_sid, params, address, datetime.now(UTC)) if address else None
    if msg is not None:
        await ctx.intake.submit(msg)
    return web.Response(status=204)


@verified
async def status(request: web.Request, ctx: Context, params: Params) -> web.Response:
    update: StatusUpdate = status_update(params)
    address = caller(update.from_number if update.direction == "inbound" else update.to_number,
                     ctx.settings.webform.default_region)
    payload = {k: params[k] for k in ("CallStatus", "CallDuration", "SequenceNumber", "Timestamp",
                                      "Direction", "AnsweredBy") if k in params}

    def outcome_of(call: Call) -> str:
        return final_outcome(call.direction, update.status, call.stage, call.outcome)

    result = await _write(ctx, lambda s: calls.record_status(
        s, call_sid=update.call_sid, sequence=update.sequence, rank=update.rank, status=update.status,
        duration=update.duration, final=update.final, outcome_of=outcome_of, payload=payload,
        direction=update.direction, from_number=update.from_number, to_number=update.to_number, address=address))
    call = result.call
    # Also on a redelivery: a crash after the status was stored must not lose the call-back ticket.
    if call.ended and needs_callback(call.direction, call.outcome, call.ticket_id):
        back = caller(call.from_number, ctx.settings.webform.default_region)
        if back is not None and call.outcome is not None:
            ticket = await ctx.intake.submit(callback_message(
                call.call_sid, back.value, back, call.outcome, call.topic, call.duration, datetime.now(UTC)))
            await _write(ctx, lambda s: calls.update_call(s, call.call_sid, ticket_id=ticket.ticket_id))
    return web.Response(status=204)


@verified
async def connect(request: web.Request, ctx: Context, params: Params) -> web.Response:
    agent = request.query.get("agent", "")
    if not agent.isdecimal() or len(agent) > 10:
        raise ParamError("agent must be a user id")
    await _write(ctx, lambda s: calls.update_call(s, sid(params), stage="connect"))
    return _xml(twiml.connect_agent(ctx.settings.voice, f"{ctx.settings.voice.agent_client_prefix}{agent}"))


def setup_voice(app: web.Application) -> None:
    """The Twilio Voice webhooks (outside /api/v1: Twilio posts forms and reads TwiML)."""
    for path, handler in (("incoming", incoming), ("menu", menu), ("queue-result", queue_result),
                          ("recorded", recorded), ("transcription", transcription), ("status", status),
                          ("connect", connect)):
        app.router.add_post(f"{BASE}/{path}", handler)
