"""The agent console's own endpoints: canned responses (with variables) and my @mentions."""

from __future__ import annotations

from sqlalchemy import or_, select

from contactcenter.actions import canned as actions
from contactcenter.actions.mentions import do_mark_mentions_read
from contactcenter.api.framework import Api, ApiRequest
from contactcenter.api.schemas.console import (
    CannedIn,
    CannedOut,
    CannedPatch,
    CannedQuery,
    MentionOut,
    MentionQuery,
    MentionsReadIn,
    RenderIn,
    RenderOut,
)
from contactcenter.db.models import CannedResponse, Mention, Message, User
from contactcenter.domain.canned import VARIABLES

api = Api()
EXCERPT = 200


def canned_out(response: CannedResponse, req: ApiRequest) -> CannedOut:
    return CannedOut(id=response.id, title=response.title, shortcut=response.shortcut, body=response.body,
                     language=response.language, shared=response.owner_id is None,
                     editable=actions.may_edit(response, req.actor), updated_at=response.updated_at)


@api.route("GET", "/canned-responses", summary="Canned responses I may use: the shared ones and my own",
           tag="console", query=CannedQuery, response=CannedOut, list_response=True)
async def list_canned(req: ApiRequest) -> list[CannedOut]:
    query: CannedQuery = req.query
    statement = select(CannedResponse).where(or_(CannedResponse.owner_id.is_(None),
                                                 CannedResponse.owner_id == req.user.id))
    if query.language is not None:
        statement = statement.where(or_(CannedResponse.language.is_(None), CannedResponse.language == query.language))
    async with req.ctx.db.read() as session:
        rows = (await session.scalars(statement.order_by(CannedResponse.shortcut, CannedResponse.id).limit(500))).all()
    return [canned_out(r, req) for r in rows]


@api.route("POST", "/canned-responses", summary="Add a canned response (shared ones need a supervisor)",
           tag="console", body=CannedIn, response=CannedOut, status=201, responses={409: "shortcut taken"})
async def create_canned(req: ApiRequest) -> CannedOut:
    body: CannedIn = req.body
    async with req.ctx.db.write() as session:
        response = await actions.do_create_canned(session, title=body.title, shortcut=body.shortcut, body=body.body,
                                                  language=body.language, shared=body.shared, actor=req.actor)
    return canned_out(response, req)


@api.route("PATCH", "/canned-responses/{id}", summary="Change a canned response (mine, or shared as supervisor)",
           tag="console", body=CannedPatch, response=CannedOut, responses={409: "shortcut taken"})
async def update_canned(req: ApiRequest) -> CannedOut:
    body: CannedPatch = req.body
    async with req.ctx.db.write() as session:
        response = await actions.do_update_canned(session, req.path_id(), body.model_dump(exclude_unset=True),
                                                  actor=req.actor)
    return canned_out(response, req)


@api.route("DELETE", "/canned-responses/{id}", summary="Delete a canned response", tag="console")
async def delete_canned(req: ApiRequest) -> dict[str, bool]:
    async with req.ctx.db.write() as session:
        await actions.do_delete_canned(session, req.path_id(), actor=req.actor)
    return {"ok": True}


@api.route("POST", "/canned-responses/{id}/render", summary="A canned response filled in for a ticket "
           "({{customer.name}}, {{ticket.number}}, {{agent.name}}...)", tag="console", body=RenderIn,
           response=RenderOut)
async def render_canned(req: ApiRequest) -> RenderOut:
    body: RenderIn = req.body
    async with req.ctx.db.read() as session:
        response = await actions.get_canned(session, req.path_id(), req.actor)
        text, unknown = await actions.render_canned(session, response, body.ticket_id, req.user)
    return RenderOut(text=text, unknown_variables=unknown, variables=list(VARIABLES))


@api.route("GET", "/me/mentions", summary="Internal notes that mention me, newest first", tag="console",
           query=MentionQuery, response=MentionOut, list_response=True)
async def my_mentions(req: ApiRequest) -> list[MentionOut]:
    query: MentionQuery = req.query
    statement = (select(Mention, Message.text, User.name).join(Message, Message.id == Mention.message_id)
                 .outerjoin(User, User.id == Mention.author_id).where(Mention.user_id == req.user.id))
    if query.unread:
        statement = statement.where(Mention.read_at.is_(None))
    async with req.ctx.db.read() as session:
        rows = (await session.execute(statement.order_by(Mention.id.desc()).limit(query.limit))).all()
    return [MentionOut(id=m.id, ticket_id=m.ticket_id, message_id=m.message_id, author_id=m.author_id,
                       author_name=name or "", excerpt=text[:EXCERPT], read=m.read_at is not None,
                       created_at=m.created_at) for m, text, name in rows]


@api.route("POST", "/me/mentions/read", summary="Mark my mentions read up to an id", tag="console",
           body=MentionsReadIn)
async def read_mentions(req: ApiRequest) -> dict[str, int]:
    body: MentionsReadIn = req.body
    async with req.ctx.db.write() as session:
        changed = await do_mark_mentions_read(session, req.user.id, body.up_to_id)
    return {"marked": changed}
