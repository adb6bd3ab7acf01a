"""Agent-recorded contacts (in person, letters, fax) and the contact's timeline across channels."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from channels.base import InboundMessage, ThreadHints
from contactcenter.api.framework import Api, ApiRequest, json_response
from contactcenter.api.schemas.messaging import (
    RecordedContactIn,
    RecordedContactOut,
    TimelineItemOut,
    TimelineOut,
    TimelineQuery,
)
from contactcenter.api.tickets import decode_cursor, encode_cursor
from contactcenter.db.models import Contact, ContactIdentity, Message, Ticket
from contactcenter.db.types import utcnow
from contactcenter.domain.enums import IdentityKind
from contactcenter.domain.identities import Address, AddressError, normalize_email, normalize_phone
from contactcenter.errors import Invalid, NotFound

api = Api()
TEXT_IN_TIMELINE = 1000


async def _contact_address(req: ApiRequest, contact_id: int) -> Address:
    """The contact's first identity (followed through merges): intake finds the contact by it."""
    async with req.ctx.db.read() as session:
        contact = await session.get(Contact, contact_id)
        seen: set[int] = set()
        while contact is not None and contact.merged_into_id is not None and contact.id not in seen:
            seen.add(contact.id)
            contact = await session.get(Contact, contact.merged_into_id)
        if contact is None:
            raise NotFound(f"contact {contact_id} not found")
        identity = await session.scalar(select(ContactIdentity).where(ContactIdentity.contact_id == contact.id)
                                        .order_by(ContactIdentity.id).limit(1))
    if identity is None:
        raise Invalid(f"contact {contact.id} has no e-mail, phone or chat id; give an email or phone")
    return Address(IdentityKind(identity.kind), identity.value)


@api.route("POST", "/recorded-contacts", tag="tickets", body=RecordedContactIn, response=RecordedContactOut,
           status=201, summary="Record a contact made in person, by post or by fax as the customer's message "
           "(new or existing ticket; routed and timed like any other)")
async def record_contact(req: ApiRequest) -> object:
    body: RecordedContactIn = req.body
    region = req.ctx.settings.webform.default_region
    given: list[Address] = []
    try:
        if body.email:
            given.append(Address(IdentityKind.EMAIL, normalize_email(body.email)))
        if body.phone:
            given.append(Address(IdentityKind.PHONE, normalize_phone(body.phone, region)))
    except AddressError as exc:
        raise Invalid(str(exc)) from None
    if given:
        sender = given[0]
    elif body.contact_id is not None:
        sender = await _contact_address(req, body.contact_id)
    elif body.ticket_id is not None:
        async with req.ctx.db.read() as session:
            ticket = await session.get(Ticket, body.ticket_id)
        if ticket is None:
            raise NotFound(f"ticket {body.ticket_id} not found")
        sender = await _contact_address(req, ticket.contact_id)
    else:
        raise Invalid("name the customer: contact_id, email or phone (or ticket_id for the ticket's contact)")
    if body.ticket_id is not None:
        async with req.ctx.db.read() as session:
            if await session.get(Ticket, body.ticket_id) is None:
                raise NotFound(f"ticket {body.ticket_id} not found")
    key = body.idempotency_key or uuid.uuid4().hex
    msg = InboundMessage(
        channel=body.channel, external_id=f"{req.user.id}:{key}", sender=sender,
        other_addresses=tuple(given[1:]), sender_name=body.name or "", received_at=body.occurred_at or utcnow(),
        subject=body.subject or "", text=body.text, hints=ThreadHints(ticket_number=body.ticket_id),
        metadata={"recorded_by": str(req.user.id)})
    result = await req.ctx.intake.submit(msg)
    out = RecordedContactOut(ticket_id=result.ticket_id, message_id=result.message_id, contact_id=result.contact_id,
                             created_ticket=result.created_ticket, duplicate=result.duplicate,
                             thread_reason=result.thread_reason)
    return json_response(out, status=200 if result.duplicate else 201)


@api.route("GET", "/contacts/{id}/timeline", tag="contacts", query=TimelineQuery, response=TimelineOut,
           summary="Every message of the contact on every channel (tickets of merged contacts included), "
           "newest first")
async def contact_timeline(req: ApiRequest) -> TimelineOut:
    q: TimelineQuery = req.query
    contact_id = req.path_id()
    async with req.ctx.db.read() as session:
        if await session.get(Contact, contact_id) is None:
            raise NotFound(f"contact {contact_id} not found")
        tickets = select(Ticket.id).where(Ticket.contact_id == contact_id)
        query = select(Message).where(Message.ticket_id.in_(tickets))
        if q.cursor:
            query = query.where(Message.id < decode_cursor(q.cursor))
        rows = (await session.scalars(query.order_by(Message.id.desc()).limit(q.limit + 1))).all()
        channels = (await session.scalars(select(Ticket.channel).where(Ticket.contact_id == contact_id)
                                          .distinct().order_by(Ticket.channel))).all()
    items = [TimelineItemOut(message_id=m.id, ticket_id=m.ticket_id, channel=m.channel,
                             direction="in" if m.direction == "in" else "out", author_kind=m.author_kind,
                             internal=m.internal, subject=m.subject, text=m.text[:TEXT_IN_TIMELINE],
                             delivery_status=m.delivery_status, created_at=m.created_at) for m in rows[: q.limit]]
    more = len(rows) > q.limit
    return TimelineOut(contact_id=contact_id, channels=list(channels), items=items,
                       next_cursor=encode_cursor(items[-1].message_id) if more else None)
