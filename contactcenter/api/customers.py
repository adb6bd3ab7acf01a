"""The customer's "my tickets": ask for a sign-in link, list and read one's tickets, sign out.

Customers are not staff: these routes take no staff role. The ``cc_customer`` cookie (HttpOnly, SameSite=Lax)
identifies a signed-in customer; see docs/webform.md#my-tickets-magic-link-sign-in.
"""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import select

from channels.webform.limits import client_ip
from contactcenter.actions.customer_signin import do_end_customer_session, do_request_magic_link
from contactcenter.api.framework import Api, ApiRequest, error_response
from contactcenter.api.schemas.customers import (
    AcceptedOut,
    MagicLinkIn,
    MyMessageOut,
    MyTicketDetailOut,
    MyTicketOut,
)
from contactcenter.customers.session import COOKIE, clear_cookie, signed_in_contact
from contactcenter.db.models import Message, Ticket
from contactcenter.db.types import utcnow
from contactcenter.domain.enums import AuthorKind
from contactcenter.errors import NotFound

api = Api()
LIST_LIMIT = 200


@api.route("POST", "/portal/magic-link", summary="E-mail me a sign-in link for my tickets (always 202)",
           tag="customers", role=None, body=MagicLinkIn, response=AcceptedOut, status=202,
           responses={429: "too many requests from this address"})
async def request_link(req: ApiRequest) -> AcceptedOut | web.Response:
    body: MagicLinkIn = req.body
    limits, ip = req.ctx.limits, client_ip(req.request)
    if limits.magic_link_ip.blocked(ip):
        return error_response(429, "too_many_requests", "too many sign-in requests; try again later",
                              headers={"Retry-After": str(limits.magic_link_ip.retry_after(ip))})
    limits.magic_link_ip.hit(ip)
    if not limits.magic_link_email.blocked(body.email):  # over the limit: the same answer, nothing sent
        limits.magic_link_email.hit(body.email)
        async with req.ctx.db.write() as session:
            await do_request_magic_link(session, body.email, req.ctx.secret, req.ctx.settings.portal.magic_link_minutes,
                                        utcnow())
    return AcceptedOut(status="accepted")


async def _contact(req: ApiRequest) -> int:
    contact_id = await signed_in_contact(req.request)
    if contact_id is None:
        raise web.HTTPUnauthorized(text="sign in with the link we e-mail you (POST /api/v1/portal/magic-link)")
    return contact_id


def _ticket_out(ticket: Ticket) -> dict[str, object]:
    return {"id": ticket.id, "number": ticket.id, "subject": ticket.subject, "status": ticket.status,
            "channel": ticket.channel, "created_at": ticket.created_at, "last_message_at": ticket.last_message_at,
            "portal_url": f"/my/tickets/{ticket.id}"}


@api.route("GET", "/portal/me/tickets", summary="My tickets, newest first (signed-in customer)", tag="customers",
           role=None, response=MyTicketOut, list_response=True, responses={401: "not signed in"})
async def my_tickets(req: ApiRequest) -> list[MyTicketOut]:
    contact_id = await _contact(req)
    async with req.ctx.db.read() as session:
        tickets = (await session.scalars(select(Ticket).where(
            Ticket.contact_id == contact_id, Ticket.merged_into_id.is_(None))
            .order_by(Ticket.id.desc()).limit(LIST_LIMIT))).all()
    return [MyTicketOut.model_validate(_ticket_out(t)) for t in tickets]


@api.route("GET", "/portal/me/tickets/{id}", summary="One of my tickets with its public messages", tag="customers",
           role=None, response=MyTicketDetailOut, responses={401: "not signed in", 404: "not one of my tickets"})
async def my_ticket(req: ApiRequest) -> MyTicketDetailOut:
    contact_id = await _contact(req)
    ticket_id = req.path_id()
    async with req.ctx.db.read() as session:
        ticket = await session.get(Ticket, ticket_id)
        if ticket is None or ticket.contact_id != contact_id or ticket.merged_into_id is not None:
            raise NotFound(f"ticket {ticket_id} not found")
        messages = (await session.scalars(select(Message).where(
            Message.ticket_id == ticket_id, Message.internal.is_(False)).order_by(Message.id))).all()
    return MyTicketDetailOut.model_validate({**_ticket_out(ticket), "messages": [
        MyMessageOut(id=m.id, direction=m.direction, channel=m.channel, text=m.text, created_at=m.created_at,
                     author="you" if m.author_kind == AuthorKind.CONTACT else m.author_kind)
        for m in messages]})


@api.route("POST", "/portal/signout", summary="Sign out of my tickets", tag="customers", role=None, status=204)
async def signout(req: ApiRequest) -> web.Response:
    cookie = req.request.cookies.get(COOKIE, "")
    if cookie:
        async with req.ctx.db.write() as session:
            await do_end_customer_session(session, cookie)
    response = web.Response(status=204)
    clear_cookie(response)
    return response

