"""@mentions: an internal note that names agents records one row per agent and tells their console."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from contactcenter.actions.audit import Actor, record
from contactcenter.db.models import Mention, Message, User
from contactcenter.db.types import utcnow
from contactcenter.domain.mentions import handle_of, mention_handles
from contactcenter.events import MentionMade, emit

MAX_MENTIONS = 20  # per note: more is a mistake or spam


async def do_record_mentions(session: AsyncSession, message: Message, *, actor: Actor) -> list[Mention]:
    """Record the active agents a note names (``@`` + the part of their e-mail before ``@``); not the author."""
    handles = mention_handles(message.text)[:MAX_MENTIONS]
    if not handles or not message.internal:
        return []
    # Staff lists are short: match the handles in Python rather than per-dialect string SQL.
    staff = (await session.execute(select(User.id, User.email).where(User.is_active.is_(True))
                                   .order_by(User.id))).all()
    wanted = set(handles)
    mentions: list[Mention] = []
    for user_id, email in staff:
        if handle_of(email) not in wanted or user_id == actor.id:
            continue
        mention = Mention(message_id=message.id, ticket_id=message.ticket_id, user_id=user_id, author_id=actor.id,
                          created_at=utcnow())
        session.add(mention)
        mentions.append(mention)
    if not mentions:
        return []
    await session.flush()
    for mention in mentions:
        record(session, actor, "message.mentioned", "message", message.id, {"user_id": mention.user_id},
               ticket_id=message.ticket_id)
        emit(session, MentionMade(mention_id=mention.id, ticket_id=mention.ticket_id, message_id=message.id,
                                  user_id=mention.user_id))
    return mentions


async def do_mark_mentions_read(session: AsyncSession, user_id: int, up_to_id: int) -> int:
    """Mark my mentions up to ``up_to_id`` read; returns how many changed (no audit: a personal view state)."""
    result = await session.execute(update(Mention).where(
        Mention.user_id == user_id, Mention.id <= up_to_id, Mention.read_at.is_(None)).values(read_at=utcnow()))
    return int(getattr(result, "rowcount", 0) or 0)
