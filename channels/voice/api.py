"""JSON routes of the phone channel (declared on ``api``, listed in API_MODULES):

    POST /api/v1/calls                  an agent calls a customer back through Twilio; logged like any call
    GET  /api/v1/contacts/{id}/calls    the contact's call log, newest first
    GET  /api/v1/tickets/{id}/calls     the calls logged on a ticket
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from channels.voice.client import place_call
from channels.voice.routes import webhook_url
from contactcenter.actions import calls
from contactcenter.api.framework import Api, ApiRequest
from contactcenter.api.schemas.calls import CallbackIn, CallOut
from contactcenter.db.models import Call, Contact, ContactIdentity, Ticket
from contactcenter.domain.enums import IdentityKind
from contactcenter.domain.identities import Address, AddressError, normalize_phone
from contactcenter.errors import Conflict, Invalid, NotFound

api = Api()


def call_out(call: Call) -> CallOut:
    return CallOut.model_validate(call)


@api.route("POST", "/calls", summary="Call a customer back through the phone provider (logged as a call)",
           tag="calls", body=CallbackIn, response=CallOut, status=201,
           responses={409: "the phone channel is not configured", 502: "the phone provider refused or is down"})
async def start_callback(req: ApiRequest) -> CallOut:
    body: CallbackIn = req.body
    ctx = req.ctx
    voice = ctx.settings.voice
    if not (voice.account_sid and voice.auth_token and voice.caller_id):
        raise Conflict("the phone channel is not configured (voice.account_sid, auth_token, caller_id)")
    if body.ticket_id is None and not body.to:
        raise Invalid("give a ticket_id or a number to call")
    number: str | None = None
    async with ctx.db.read() as session:
        if body.ticket_id is not None:
            ticket = await session.get(Ticket, body.ticket_id)
            if ticket is None:
                raise NotFound(f"ticket {body.ticket_id} not found")
            if not body.to:
                number = await session.scalar(select(ContactIdentity.value).where(
                    ContactIdentity.contact_id == ticket.contact_id, ContactIdentity.kind == IdentityKind.PHONE.value)
                    .order_by(ContactIdentity.id).limit(1))
                if number is None:
                    raise Invalid(f"the contact of ticket {ticket.id} has no phone number; give one in 'to'")
    if body.to:
        try:
            number = normalize_phone(body.to, ctx.settings.webform.default_region)
        except AddressError as exc:
            raise Invalid(str(exc)) from None
    assert number is not None
    call_sid = await place_call(voice, to=number, url=webhook_url(ctx, f"connect?agent={req.user.id}"),
                                status_callback=webhook_url(ctx, "status"))
    user_id, ticket_id, actor, to = req.user.id, body.ticket_id, req.actor, number

    def log(s: Session) -> None:
        calls.open_call(s, call_sid=call_sid, direction="outbound", from_number=voice.caller_id, to_number=to,
                        address=Address(IdentityKind.PHONE, to), stage="dialing", status="queued", user_id=user_id,
                        ticket_id=ticket_id, actor=actor)
        # Twilio's first status callback may have logged the call already: add who started it and why.
        calls.update_call(s, call_sid, user_id=user_id, ticket_id=ticket_id)

    try:
        await ctx.db.run_write(log)
    except IntegrityError:  # that callback committed the same call meanwhile
        await ctx.db.run_write(log)
    async with ctx.db.read() as session:
        call = await session.scalar(select(Call).where(Call.call_sid == call_sid))
    assert call is not None
    return call_out(call)


@api.route("GET", "/contacts/{id}/calls", summary="A contact's calls (inbound and call-backs), newest first",
           tag="calls", response=CallOut, list_response=True)
async def contact_calls(req: ApiRequest) -> list[CallOut]:
    async with req.ctx.db.read() as session:
        contact_id = req.path_id()
        if await session.get(Contact, contact_id) is None:
            raise NotFound(f"contact {contact_id} not found")
        rows = (await session.scalars(select(Call).where(Call.contact_id == contact_id)
                                      .order_by(Call.id.desc()).limit(200))).all()
    return [call_out(c) for c in rows]


@api.route("GET", "/tickets/{id}/calls", summary="The calls logged on a ticket, newest first", tag="calls",
           response=CallOut, list_response=True)
async def ticket_calls(req: ApiRequest) -> list[CallOut]:
    async with req.ctx.db.read() as session:
        ticket_id = req.path_id()
        if await session.get(Ticket, ticket_id) is None:
            raise NotFound(f"ticket {ticket_id} not found")
        rows = (await session.scalars(select(Call).where(Call.ticket_id == ticket_id)
                                      .order_by(Call.id.desc()).limit(200))).all()
    return [call_out(c) for c in rows]
