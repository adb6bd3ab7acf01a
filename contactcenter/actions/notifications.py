"""Per-user notifications: write them (exactly once per key), mark them read.

``do_notify`` inserts one row per recipient with ``ON CONFLICT (user_id, key) DO NOTHING``: the unique constraint,
not a check before the write, decides, so two processes (or a redelivered event) writing the same notification
leave one row and one ``NotificationCreated`` event. Nothing here commits.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from contactcenter.actions.audit import Actor, record
from contactcenter.db.models import Notification, User
from contactcenter.db.types import utcnow
from contactcenter.domain.enums import Role
from contactcenter.errors import NotFound
from contactcenter.events import NotificationCreated, emit

MAX_TEXT = 2000
SUPERVISOR_ROLES = (Role.SUPERVISOR.value, Role.ADMIN.value)


async def supervisors(session: AsyncSession) -> list[int]:
    """Active supervisors and admins: the recipients of what "the supervisor" must hear."""
    return list((await session.scalars(select(User.id).where(
        User.role.in_(SUPERVISOR_ROLES), User.is_active.is_(True)).order_by(User.id))).all())


async def do_notify(session: AsyncSession, user_ids: Iterable[int], *, kind: str, text: str,
                    ticket_id: int | None = None, key: str | None = None, actor: Actor) -> list[int]:
    """Notify each user once per ``key`` (no key: always a new one); return the ids of the rows written now.

    Writes an audit row per notification written and a ``NotificationCreated`` event (pushed after commit)."""
    recipients = sorted(set(user_ids))
    if not recipients:
        return []
    now = utcnow()
    rows: list[dict[str, Any]] = [{"user_id": user_id, "kind": kind, "ticket_id": ticket_id, "text": text[:MAX_TEXT],
                                   "key": key, "created_at": now} for user_id in recipients]
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(Notification).values(rows)
    if key is not None:
        statement = statement.on_conflict_do_nothing(index_elements=["user_id", "key"])
    written = (await session.execute(statement.returning(Notification.id, Notification.user_id))).all()
    for notification_id, user_id in sorted(written):
        record(session, actor, "notification.created", "notification", notification_id,
               {"user_id": user_id, "kind": kind, "key": key}, ticket_id=ticket_id)
        emit(session, NotificationCreated(notification_id=notification_id, user_id=user_id))
    return [notification_id for notification_id, _ in sorted(written)]


async def do_read_notification(session: AsyncSession, notification_id: int, *, user_id: int) -> Notification:
    """Mark one of the user's notifications read (again: no change). Another user's is "not found"."""
    notification = await session.get(Notification, notification_id)
    if notification is None or notification.user_id != user_id:
        raise NotFound(f"notification {notification_id} not found")
    if notification.read_at is None:
        notification.read_at = utcnow()
    return notification


async def do_read_all_notifications(session: AsyncSession, *, user_id: int) -> int:
    """Mark every unread notification of the user read; return how many."""
    result = await session.execute(
        update(Notification).where(Notification.user_id == user_id, Notification.read_at.is_(None))
        .values(read_at=utcnow()).returning(Notification.id).execution_options(synchronize_session=False))
    return len(result.all())
