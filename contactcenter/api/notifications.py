"""My notifications: list them (unread only on request), mark one or all read. Every user sees only their own."""

from __future__ import annotations

from sqlalchemy import func, select

from contactcenter.actions.notifications import do_read_all_notifications, do_read_notification
from contactcenter.api.framework import Api, ApiRequest
from contactcenter.api.schemas.notifications import NotificationOut, NotificationPage, NotificationQuery, ReadAllOut
from contactcenter.api.tickets import decode_cursor, encode_cursor
from contactcenter.db.models import Notification

api = Api()


def notification_out(notification: Notification) -> NotificationOut:
    return NotificationOut(id=notification.id, kind=notification.kind, ticket_id=notification.ticket_id,
                           text=notification.text, created_at=notification.created_at, read_at=notification.read_at)


@api.route("GET", "/me/notifications", summary="My notifications, newest first (unread=1: only unread ones)",
           tag="notifications", query=NotificationQuery, response=NotificationPage)
async def list_notifications(req: ApiRequest) -> NotificationPage:
    q: NotificationQuery = req.query
    mine = Notification.user_id == req.user.id
    query = select(Notification).where(mine)
    if q.unread:
        query = query.where(Notification.read_at.is_(None))
    if q.cursor:
        query = query.where(Notification.id < decode_cursor(q.cursor))
    async with req.ctx.db.read() as session:
        rows = list((await session.scalars(query.order_by(Notification.id.desc()).limit(q.limit + 1))).all())
        unread = await session.scalar(select(func.count()).select_from(Notification)
                                      .where(mine, Notification.read_at.is_(None)))
    more = len(rows) > q.limit
    rows = rows[:q.limit]
    return NotificationPage(items=[notification_out(n) for n in rows],
                            next_cursor=encode_cursor(rows[-1].id) if more else None, unread=int(unread or 0))


@api.route("POST", "/me/notifications/{id}/read", summary="Mark one of my notifications read",
           tag="notifications", response=NotificationOut, responses={404: "no such notification of mine"})
async def read_notification(req: ApiRequest) -> NotificationOut:
    async with req.ctx.db.write() as session:
        notification = await do_read_notification(session, req.path_id(), user_id=req.user.id)
        return notification_out(notification)


@api.route("POST", "/me/notifications/read-all", summary="Mark all my notifications read", tag="notifications",
           response=ReadAllOut)
async def read_all_notifications(req: ApiRequest) -> ReadAllOut:
    async with req.ctx.db.write() as session:
        marked = await do_read_all_notifications(session, user_id=req.user.id)
    return ReadAllOut(marked=marked)
