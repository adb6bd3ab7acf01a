"""Ticket endpoints: queue lists, detail with timeline, reply, note, changes, merge, attachments."""

from __future__ import annotations

import base64

from aiohttp import web
from sqlalchemy import ColumnElement, Select, UnaryExpression, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from contactcenter.actions import kb as kb_actions
from contactcenter.actions import tickets as actions
from contactcenter.actions.mentions import do_record_mentions
from contactcenter.api.framework import MAX_ID, Api, ApiRequest, error_response
from contactcenter.api.schemas.tickets import (
    AttachmentOut,
    ContactRef,
    MergeIn,
    MessageOut,
    NoteIn,
    ReplyIn,
    TicketDetail,
    TicketOut,
    TicketPage,
    TicketPatch,
    TicketQuery,
    TimelineEntry,
)
from contactcenter.db import search
from contactcenter.db.models import Attachment, AuditEvent, Contact, Message, SlaTicket, Ticket, TicketTag, User
from contactcenter.domain.enums import TicketStatus
from contactcenter.errors import Invalid, NotFound
from contactcenter.storage import AttachmentStore

api = Api()


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(str(last_id).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        value = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if value.isdecimal() and len(value) <= 10 and int(value) <= MAX_ID:
            return int(value)
    except (ValueError, UnicodeDecodeError):
        pass
    raise Invalid("cursor is not one this API gave out")


def ticket_out(ticket: Ticket, contact_name: str, tags: list[str]) -> TicketOut:
    return TicketOut(
        id=ticket.id, number=ticket.id, subject=ticket.subject, status=TicketStatus(ticket.status),
        priority=ticket.priority, type=ticket.type, channel=ticket.channel, language=ticket.language,
        queue=ticket.queue, contact=ContactRef(id=ticket.contact_id, name=contact_name),
        organization_id=ticket.organization_id, assignee_id=ticket.assignee_id, tags=tags,
        requirements=ticket.requirements, follow_up_of_id=ticket.follow_up_of_id,
        merged_into_id=ticket.merged_into_id, created_at=ticket.created_at, updated_at=ticket.updated_at,
        last_message_at=ticket.last_message_at, solved_at=ticket.solved_at, closed_at=ticket.closed_at)


TicketRows = Select[Ticket, str]
IdColumn = ColumnElement[int] | InstrumentedAttribute[int]


async def tickets_out(session: AsyncSession, query: TicketRows) -> list[TicketOut]:
    """Run a ``select(Ticket, Contact.name)`` and shape its rows, tags included."""
    rows = (await session.execute(query)).all()
    tags = await actions.ticket_tags(session, [t.id for t, _ in rows]) if rows else {}
    return [ticket_out(t, name, tags[t.id]) for t, name in rows]


async def one_ticket_out(session: AsyncSession, ticket_id: int) -> TicketOut:
    """One ticket as the list shows it (after a change)."""
    items = await tickets_out(session, select(Ticket, Contact.name).join(Contact, Contact.id == Ticket.contact_id)
                              .where(Ticket.id == ticket_id))
    return items[0]


def _statuses(q: TicketQuery) -> list[TicketStatus]:
    if not q.status:
        return []
    try:
        statuses = [TicketStatus(s.strip()) for s in q.status.split(",") if s.strip()]
    except ValueError:
        raise Invalid(f"status must be among {', '.join(TicketStatus)}") from None
    return list(dict.fromkeys(statuses))


def _filters(req: ApiRequest, q: TicketQuery) -> list[ColumnElement[bool]]:
    """Every filter but status and text."""
    filters: list[ColumnElement[bool]] = []
    if q.assignee:
        if q.assignee == "me":
            filters.append(Ticket.assignee_id == req.user.id)
        elif q.assignee == "none":
            filters.append(Ticket.assignee_id.is_(None))
        elif q.assignee.isdecimal() and len(q.assignee) < 18:
            filters.append(Ticket.assignee_id == int(q.assignee))
        else:
            raise Invalid("assignee must be 'me', 'none' or a user id")
    for column, value in ((Ticket.queue, q.queue), (Ticket.channel, q.channel), (Ticket.priority, q.priority),
                          (Ticket.type, q.type), (Ticket.contact_id, q.contact_id)):
        if value is not None:
            filters.append(column == value)
    if q.tag:
        filters.append(Ticket.id.in_(select(TicketTag.ticket_id).where(TicketTag.tag == q.tag.lower())))
    return filters


def _page_query(req: ApiRequest, session: AsyncSession, q: TicketQuery) -> TicketRows:
    """One page of the filtered list in id order from the cursor, one row more than asked (is there more?).

    The plans read about a page of index entries however many tickets match, and need no planner statistics
    (SQLite has none unless ANALYZE runs):
    - several statuses: each status is its own ordered index range ((status, queue, id), (assignee_id, status,
      id), (status, id)); a page is taken from each and the pages are merged, instead of collecting every ticket
      in those statuses and sorting them all;
    - words to search: the search index is joined and the page is ordered by its ticket id column, so SQLite walks
      FTS5 newest (or oldest) first and checks each hit against all other filters, statuses included, stopping
      after a page (see search.Hits). For one customer's tickets (contact_id) SQLite goes the other way round:
      that customer's tickets in order, each checked against the search index.
    """
    statuses, filters = _statuses(q), _filters(req, q)
    newest = q.order == "newest"
    size = q.limit + 1
    last = decode_cursor(q.cursor) if q.cursor else None

    def after(column: IdColumn) -> list[ColumnElement[bool]]:
        return [] if last is None else [column < last if newest else column > last]

    def in_order(column: IdColumn) -> UnaryExpression[int]:
        return column.desc() if newest else column.asc()

    found = search.hits(session, q.q) if q.q else None
    if found is None and len(statuses) > 1:
        pages = [select(Ticket.id).where(Ticket.status == status, *filters, *after(Ticket.id))
                 .order_by(in_order(Ticket.id)).limit(size).subquery() for status in statuses]
        return select(Ticket, Contact.name).join(Contact, Contact.id == Ticket.contact_id) \
            .where(Ticket.id.in_(union_all(*(select(p.c.id) for p in pages)))) \
            .order_by(in_order(Ticket.id)).limit(size)
    query = select(Ticket, Contact.name)
    key: IdColumn = Ticket.id
    if found is not None and found.plan_follows_query and q.contact_id is not None:
        query = query.where(found.contains(Ticket.id))
    elif found is not None:
        key = found.ticket_id
        query = query.select_from(found.table).join(Ticket, Ticket.id == key).where(found.condition)
    if statuses:
        query = query.where(Ticket.status.in_(statuses))
    return query.join(Contact, Contact.id == Ticket.contact_id).where(*filters, *after(key)) \
        .order_by(in_order(key)).limit(size)


@api.route("GET", "/tickets", summary="List tickets with filters, newest first, keyset-paginated",
           tag="tickets", query=TicketQuery, response=TicketPage)
async def list_tickets(req: ApiRequest) -> TicketPage:
    q: TicketQuery = req.query
    async with req.ctx.db.read() as session:
        items = await tickets_out(session, _page_query(req, session, q))
    more = len(items) > q.limit
    items = items[: q.limit]
    return TicketPage(items=items, next_cursor=encode_cursor(items[-1].id) if more else None)


def _attachment_out(a: Attachment) -> AttachmentOut:
    return AttachmentOut(id=a.id, filename=a.filename, content_type=a.content_type, size=a.size, sha256=a.sha256,
                         url=f"/api/v1/attachments/{a.id}")


async def ticket_detail(session: AsyncSession, ticket_id: int) -> TicketDetail:
    row = (await session.execute(select(Ticket, Contact.name).join(Contact, Contact.id == Ticket.contact_id)
                                 .where(Ticket.id == ticket_id))).first()
    if row is None:
        raise NotFound(f"ticket {ticket_id} not found")
    ticket, contact_name = row
    tags = (await actions.ticket_tags(session, [ticket.id]))[ticket.id]
    messages = (await session.execute(
        select(Message, Contact.name, User.name).outerjoin(Contact, Contact.id == Message.contact_id)
        .outerjoin(User, User.id == Message.user_id).where(Message.ticket_id == ticket.id)
        .order_by(Message.id))).all()
    attachments: dict[int, list[AttachmentOut]] = {}
    if messages:
        for a in (await session.scalars(select(Attachment).where(
                Attachment.message_id.in_([m.id for m, _, _ in messages])).order_by(Attachment.id))).all():
            attachments.setdefault(a.message_id, []).append(_attachment_out(a))
    timeline = [TimelineEntry(
        kind="message", at=m.created_at, id=m.id, direction=m.direction, author_kind=m.author_kind,
        author_id=m.contact_id if m.author_kind == "contact" else m.user_id,
        author_name=cname if m.author_kind == "contact" else uname, channel=m.channel, internal=m.internal,
        text=m.text, html=m.html, delivery_status=m.delivery_status, thread_reason=m.thread_reason,
        attachments=attachments.get(m.id, [])) for m, cname, uname in messages]
    events = (await session.scalars(select(AuditEvent).where(AuditEvent.ticket_id == ticket.id)
                                    .order_by(AuditEvent.id))).all()
    timeline += [TimelineEntry(kind="event", at=e.created_at, id=e.id, action=e.action, actor_kind=e.actor_kind,
                               actor_id=e.actor_id, changes=e.changes) for e in events]
    timeline.sort(key=lambda entry: (entry.at, entry.kind != "message", entry.id))
    flags = await session.scalar(select(SlaTicket.flags).where(SlaTicket.ticket_id == ticket.id))
    return TicketDetail(**ticket_out(ticket, contact_name, tags).model_dump(), timeline=timeline,
                        sla_flags=[str(f) for f in flags or []])


@api.route("GET", "/tickets/{id}", summary="A ticket with its whole timeline (messages, notes, changes)",
           tag="tickets", response=TicketDetail)
async def get_ticket(req: ApiRequest) -> TicketDetail:
    async with req.ctx.db.read() as session:
        return await ticket_detail(session, req.path_id())


def _message_out(m: Message) -> MessageOut:
    return MessageOut(id=m.id, ticket_id=m.ticket_id, internal=m.internal, delivery_status=m.delivery_status,
                      created_at=m.created_at)


@api.route("POST", "/tickets/{id}/replies", summary="Reply to the customer on the ticket's channel",
           tag="tickets", body=ReplyIn, response=MessageOut, status=201,
           responses={409: "ticket closed or merged", 429: "too many e-mail or SMS replies (Retry-After)"})
async def reply(req: ApiRequest) -> MessageOut | web.StreamResponse:
    body: ReplyIn = req.body
    limit, key = req.ctx.limits.agent_sends, str(req.user.id)
    try:
        async with req.ctx.db.write() as session:
            if body.article_id is not None and req.ctx.settings.kb.learn_phrasings:
                # Before the reply, so that the question learned is the customer's and not changed by it.
                await kb_actions.do_learn_from_answer(session, req.path_id(), body.article_id,
                                                      max_chars=req.ctx.settings.kb.max_phrasing_chars,
                                                      actor=req.actor)
            message = await actions.do_reply(session, req.path_id(), body.text, body.html, actor=req.actor,
                                             status=body.status)
            if message.channel in req.ctx.settings.limits.send_channels:
                if limit.blocked(key):  # rolls the reply back: nothing is queued
                    raise _Throttled(limit.retry_after(key))
                limit.hit(key)
    except _Throttled as exc:
        return error_response(429, "too_many_requests", f"too many {message.channel} replies from you; "
                              "try again later", headers={"Retry-After": str(exc.retry_after)})
    return _message_out(message)


class _Throttled(Exception):
    """An agent sent more mail or SMS replies than ``[limits] agent_sends_per_minute``."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


@api.route("POST", "/tickets/{id}/notes", summary="Add an internal note (never shown to the customer)",
           tag="tickets", body=NoteIn, response=MessageOut, status=201)
async def add_note(req: ApiRequest) -> MessageOut:
    body: NoteIn = req.body
    async with req.ctx.db.write() as session:
        message = await actions.do_add_note(session, req.path_id(), body.text, actor=req.actor)
        await do_record_mentions(session, message, actor=req.actor)  # "@sara": her console is told
    return _message_out(message)


@api.route("PATCH", "/tickets/{id}", summary="Change status, priority, type, tags, assignee, queue or subject",
           tag="tickets", body=TicketPatch, response=TicketOut, responses={409: "status change not allowed"})
async def update_ticket(req: ApiRequest) -> TicketOut:
    body: TicketPatch = req.body
    changes = body.model_dump(exclude_unset=True)
    async with req.ctx.db.write() as session:
        ticket_id = req.path_id()
        await actions.do_update_ticket(session, ticket_id, changes, actor=req.actor)
        return await one_ticket_out(session, ticket_id)


@api.route("POST", "/tickets/{id}/merge", summary="Merge this ticket into another; this one is closed",
           tag="tickets", body=MergeIn, response=TicketOut, responses={409: "cannot merge these tickets"})
async def merge_ticket(req: ApiRequest) -> TicketOut:
    body: MergeIn = req.body
    async with req.ctx.db.write() as session:
        target = await actions.do_merge_tickets(session, req.path_id(), body.into, actor=req.actor)
        return await one_ticket_out(session, target.id)


@api.route("GET", "/attachments/{id}", summary="Download an attachment", tag="tickets")
async def download_attachment(req: ApiRequest) -> web.StreamResponse:
    async with req.ctx.db.read() as session:
        attachment = await session.get(Attachment, req.path_id())
    if attachment is None:
        raise NotFound("attachment not found")
    return await attachment_response(req.ctx.store, attachment)


async def attachment_response(store: AttachmentStore, attachment: Attachment) -> web.StreamResponse:
    """Serve a stored file (decrypted) as a download, never rendered inline."""
    headers = {
        "Content-Type": "application/octet-stream",
        "Content-Disposition": _disposition(attachment.filename),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
    }
    if attachment.file_key is None:
        return web.FileResponse(store.path(attachment.sha256), headers=headers)
    return web.Response(body=await store.read(attachment.sha256, attachment.file_key), headers=headers)


def _disposition(filename: str) -> str:
    from urllib.parse import quote
    ascii_name = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in filename)
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"
