"""Admin endpoints of data protection: a contact's export and erasure, and the audit log."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import select

from contactcenter.api.framework import MAX_ID, Api, ApiRequest
from contactcenter.api.schemas.privacy import AuditEventOut, AuditPage, AuditQuery, EraseIn, ErasureOut, ExportQuery
from contactcenter.api.tickets import decode_cursor, encode_cursor
from contactcenter.db.models import AuditEvent
from contactcenter.domain.enums import Role
from contactcenter.errors import Invalid
from contactcenter.privacy.service import erase_contact, export_contact

api = Api()


@api.route("GET", "/contacts/{id}/export", tag="privacy", role=Role.ADMIN, query=ExportQuery,
           summary="Everything stored about a contact as a ZIP (contact.json, attachments, raw payloads)",
           responses={200: "application/zip"})
async def export(req: ApiRequest) -> web.StreamResponse:
    q: ExportQuery = req.query
    contact_id = req.path_id()
    archive = await export_contact(req.ctx.db, req.ctx.store, contact_id, actor=req.actor, internal=q.internal)
    return web.Response(body=archive, headers={
        "Content-Type": "application/zip",
        "Content-Disposition": f'attachment; filename="contact-{contact_id}.zip"',
        "Cache-Control": "no-store",
    })


@api.route("POST", "/contacts/{id}/erase", tag="privacy", role=Role.ADMIN, body=EraseIn, response=ErasureOut,
           summary="Erase a contact for good: tickets, messages, files, identities, search terms, then the key",
           responses={409: "erased already, or merged into another contact"})
async def erase(req: ApiRequest) -> ErasureOut:
    body: EraseIn = req.body
    contact_id = req.path_id()
    if body.confirm != contact_id:
        raise Invalid("confirm must repeat the contact's id")
    done = await erase_contact(req.ctx.db, req.ctx.store, contact_id, actor=req.actor)
    return ErasureOut(contact_id=contact_id, contacts=len(done.contact_ids), tickets=done.tickets,
                      messages=done.messages, calls=done.calls, files=len(set(done.files)),
                      raw_payloads=done.raw_payloads)


def _id(value: str, name: str) -> int:
    if not 1 <= int(value) <= MAX_ID:
        raise Invalid(f"{name}: no such id")
    return int(value)


@api.route("GET", "/audit", tag="privacy", role=Role.ADMIN, query=AuditQuery, response=AuditPage,
           summary="The audit log, newest first: who changed what, when (filter by actor, object, time)")
async def audit_log(req: ApiRequest) -> AuditPage:
    q: AuditQuery = req.query
    query = select(AuditEvent)
    if q.actor == "system":
        query = query.where(AuditEvent.actor_kind == "system")
    elif q.actor:
        kind, _, ident = q.actor.rpartition(":")
        query = query.where(AuditEvent.actor_kind == (kind or "user"), AuditEvent.actor_id == _id(ident, "actor"))
    if q.object:
        kind, _, ident = q.object.partition(":")
        query = query.where(AuditEvent.object_type == kind)
        if ident:
            query = query.where(AuditEvent.object_id == _id(ident, "object"))
    if q.since is not None:
        if q.since.tzinfo is None:
            raise Invalid("since needs a time zone (e.g. 2026-01-01T00:00:00Z)")
        query = query.where(AuditEvent.created_at >= q.since)
    if q.action:
        query = query.where(AuditEvent.action == q.action)
    if q.cursor:
        query = query.where(AuditEvent.id < decode_cursor(q.cursor))
    async with req.ctx.db.read() as session:
        rows = (await session.scalars(query.order_by(AuditEvent.id.desc()).limit(q.limit + 1))).all()
    items = [AuditEventOut(id=e.id, created_at=e.created_at, actor_kind=e.actor_kind, actor_id=e.actor_id,
                           action=e.action, object_type=e.object_type, object_id=e.object_id,
                           ticket_id=e.ticket_id, changes=dict(e.changes)) for e in rows[: q.limit]]
    return AuditPage(items=items, next_cursor=encode_cursor(items[-1].id) if len(rows) > q.limit else None)
