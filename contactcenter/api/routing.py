"""Routing endpoints: my offers (accept or reject), transfers, requirement overrides, the explanation."""

from __future__ import annotations

from sqlalchemy import select

from contactcenter.actions import routing as actions
from contactcenter.actions.tickets import get_ticket
from contactcenter.api.framework import Api, ApiRequest
from contactcenter.api.schemas.routing import (
    OfferOut,
    OfferQuery,
    RejectIn,
    RequirementsIn,
    RoutingOut,
    TransferIn,
)
from contactcenter.api.schemas.tickets import TicketOut
from contactcenter.api.tickets import one_ticket_out
from contactcenter.db.models import Offer
from contactcenter.domain.enums import Role
from routing.store import TicketFacts, need_at

api = Api()


def offer_out(offer: Offer) -> OfferOut:
    return OfferOut.model_validate(offer, from_attributes=True)


@api.route("GET", "/offers", summary="Offers made to me (or, for supervisors, to another agent)", tag="routing",
           query=OfferQuery, response=OfferOut, list_response=True)
async def list_offers(req: ApiRequest) -> list[OfferOut]:
    query: OfferQuery = req.query
    user_id = query.user_id or req.user.id
    if user_id != req.user.id:
        req.require(Role.SUPERVISOR)
    statement = select(Offer).where(Offer.user_id == user_id).order_by(Offer.id.desc()).limit(100)
    if query.status is not None:
        statement = statement.where(Offer.status == query.status)
    async with req.ctx.db.read() as session:
        return [offer_out(o) for o in (await session.scalars(statement)).all()]


@api.route("POST", "/offers/{id}/accept", summary="Accept an offer: the ticket is assigned to me", tag="routing",
           response=OfferOut, responses={409: "the offer was already answered, expired, or the ticket was taken"})
async def accept_offer(req: ApiRequest) -> OfferOut:
    async with req.ctx.db.write() as session:
        return offer_out(await actions.do_accept_offer(session, req.path_id(), actor=req.actor))


@api.route("POST", "/offers/{id}/reject", summary="Reject an offer: the ticket goes to the next best agent",
           tag="routing", body=RejectIn, response=OfferOut, responses={409: "already answered or expired"})
async def reject_offer(req: ApiRequest) -> OfferOut:
    body: RejectIn = req.body
    async with req.ctx.db.write() as session:
        return offer_out(await actions.do_reject_offer(session, req.path_id(), body.reason, actor=req.actor))


@api.route("POST", "/tickets/{id}/transfer", summary="Transfer a ticket to an agent or a skill group, with a note",
           tag="routing", body=TransferIn, response=TicketOut)
async def transfer(req: ApiRequest) -> TicketOut:
    body: TransferIn = req.body
    async with req.ctx.db.write() as session:
        ticket = await actions.do_transfer(session, req.path_id(), to_user_id=body.to_user_id,
                                           to_skill=body.to_skill, note=body.note, actor=req.actor)
        return await one_ticket_out(session, ticket.id)


@api.route("PUT", "/tickets/{id}/requirements", summary="Override what a ticket needs (supervisors)",
           tag="routing", role=Role.SUPERVISOR, body=RequirementsIn, response=TicketOut)
async def override_requirements(req: ApiRequest) -> TicketOut:
    body: RequirementsIn = req.body
    async with req.ctx.db.write() as session:
        ticket = await actions.do_override_requirements(session, req.path_id(), dict(body.skills), body.language,
                                                        actor=req.actor)
        return await one_ticket_out(session, ticket.id)


@api.route("GET", "/tickets/{id}/routing", summary="Why a ticket is where it is: needs, ring, every offer",
           tag="routing", response=RoutingOut)
async def explain(req: ApiRequest) -> RoutingOut:
    settings = req.ctx.settings.routing
    async with req.ctx.db.read() as session:
        ticket = await get_ticket(session, req.path_id())
        offers = (await session.scalars(select(Offer).where(Offer.ticket_id == ticket.id).order_by(Offer.id))).all()
        facts = TicketFacts(ticket.id, ticket.status, ticket.priority, ticket.type, ticket.channel, ticket.language,
                            ticket.queue, ticket.requirements, ticket.assignee_id, ticket.merged_into_id,
                            ticket.created_at, ticket.waiting_since, ticket.ring, ticket.next_ring_at,
                            ticket.sla_due_at)
        need = need_at(facts, settings, ticket.ring)
        return RoutingOut(ticket_id=ticket.id, requirements=ticket.requirements,
                          need_now={"skills": dict(need.skills), "language": need.language,
                                    "channel_class": need.channel_class},
                          waiting_since=ticket.waiting_since, ring=ticket.ring, next_ring_at=ticket.next_ring_at,
                          assignee_id=ticket.assignee_id, offers=[offer_out(o) for o in offers])
