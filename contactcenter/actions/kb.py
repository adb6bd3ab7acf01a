"""Knowledge-base writers: articles (with version history) and learned phrasings.

Every writer records an audit row and never commits. Each change to an article's content stores the
new content as the next row of ``kb_article_versions``; learned phrasings are deduplicated by the
unique (article, search key) pair, not by a check before the write.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from contactcenter.actions.audit import SYSTEM, Actor, record
from contactcenter.actions.tickets import do_update_ticket, get_ticket, ticket_tags
from contactcenter.db.models import (
    KbArticle,
    KbArticleVersion,
    KbAutoAnswer,
    KbDeflection,
    KbLearnedPhrasing,
    Message,
    Ticket,
)
from contactcenter.db.types import utcnow
from contactcenter.domain.enums import TicketStatus
from contactcenter.errors import Conflict, Invalid, NotFound
from kb.normalize import search_key

STATUSES = ("draft", "internal", "published")
CONTENT = ("title", "body", "language", "category", "tags", "status", "phrasings", "related")


def dedupe(phrasings: Sequence[str]) -> list[str]:
    """Phrasings without blanks and without repeats (compared by their search key), in order."""
    seen: set[str] = set()
    kept: list[str] = []
    for text in phrasings:
        key = search_key(text)
        if key and key not in seen:
            seen.add(key)
            kept.append(" ".join(text.split()))
    return kept


async def get_article(session: AsyncSession, article_id: int, *, lock: bool = False) -> KbArticle:
    article = await session.get(KbArticle, article_id, with_for_update=lock)
    if article is None:
        raise NotFound(f"article {article_id} not found")
    return article


async def _check_related(session: AsyncSession, related: Sequence[int], own_id: int | None) -> list[int]:
    ids = list(dict.fromkeys(related))
    if own_id is not None and own_id in ids:
        raise Invalid("related: an article cannot be related to itself")
    if ids:
        found = set((await session.scalars(select(KbArticle.id).where(KbArticle.id.in_(ids)))).all())
        missing = [i for i in ids if i not in found]
        if missing:
            raise Invalid(f"related: article {missing[0]} does not exist")
    return ids


def _snapshot(article: KbArticle, actor: Actor) -> KbArticleVersion:
    return KbArticleVersion(article_id=article.id, version=article.version, title=article.title, body=article.body,
                            language=article.language, category=article.category, tags=list(article.tags),
                            status=article.status, phrasings=list(article.phrasings),
                            related=list(article.related), actor_id=actor.id if actor.kind == "user" else None)


async def do_create_article(session: AsyncSession, *, title: str, body: str, language: str, category: str = "",
                            tags: Sequence[str] = (), status: str = "draft", phrasings: Sequence[str] = (),
                            related: Sequence[int] = (), actor: Actor) -> KbArticle:
    """Create an article (version 1)."""
    if status not in STATUSES:
        raise Invalid(f"status: must be one of {', '.join(STATUSES)}")
    article = KbArticle(title=title, body=body, language=language, category=category, tags=list(tags),
                        status=status, phrasings=dedupe(phrasings),
                        related=await _check_related(session, related, None), version=1)
    session.add(article)
    await session.flush()
    session.add(_snapshot(article, actor))
    record(session, actor, "kb_article.create", "kb_article", article.id,
           {"title": title, "status": status, "language": language})
    return article


async def do_update_article(session: AsyncSession, article_id: int, changes: Mapping[str, Any], *,
                            actor: Actor) -> KbArticle:
    """Change an article's content; a real change makes the next version."""
    article = await get_article(session, article_id, lock=True)
    values = dict(changes)
    if "status" in values and values["status"] not in STATUSES:
        raise Invalid(f"status: must be one of {', '.join(STATUSES)}")
    if "phrasings" in values:
        values["phrasings"] = dedupe(values["phrasings"])
    if "related" in values:
        values["related"] = await _check_related(session, values["related"], article.id)
    if "tags" in values:
        values["tags"] = list(values["tags"])
    diff = {k: [getattr(article, k), v] for k, v in values.items() if k in CONTENT and getattr(article, k) != v}
    if not diff:
        return article
    for key in diff:
        setattr(article, key, values[key])
    article.version += 1
    session.add(_snapshot(article, actor))
    record(session, actor, "kb_article.update", "kb_article", article.id,
           {k: v for k, v in diff.items() if k != "body"} | ({"body": "changed"} if "body" in diff else {}))
    await session.flush()
    return article


async def do_delete_article(session: AsyncSession, article_id: int, *, actor: Actor) -> None:
    """Delete an article with its history and learned phrasings; other articles stop relating to it."""
    article = await get_article(session, article_id, lock=True)
    await session.execute(delete(KbArticleVersion).where(KbArticleVersion.article_id == article_id))
    await session.execute(delete(KbLearnedPhrasing).where(KbLearnedPhrasing.article_id == article_id))
    await session.execute(update(KbDeflection).where(KbDeflection.article_id == article_id).values(article_id=None))
    others = (await session.scalars(select(KbArticle).where(KbArticle.id != article_id))).all()
    for other in others:
        if article_id in (other.related or []):
            other.related = [i for i in other.related if i != article_id]
            other.version += 1
            session.add(_snapshot(other, actor))
    record(session, actor, "kb_article.delete", "kb_article", article_id, {"title": article.title})
    await session.delete(article)
    await session.flush()


async def do_learn_phrasing(session: AsyncSession, article_id: int, text: str, *, ticket_id: int | None,
                            max_chars: int, actor: Actor) -> KbLearnedPhrasing | None:
    """Keep a customer's question as a phrasing of ``article_id`` awaiting review.

    Returns the new row, or None when the question is empty or already known (as an approved phrasing,
    the title, or a learned one in any state).
    """
    article = await get_article(session, article_id)
    clean = " ".join(text.split())[:max_chars].strip()
    key = search_key(clean)[:400]
    if not key or key in {search_key(p) for p in [article.title, *article.phrasings]}:
        return None
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (insert(KbLearnedPhrasing)
                 .values(article_id=article_id, text=clean, key=key, ticket_id=ticket_id, status="pending")
                 .on_conflict_do_nothing(index_elements=["article_id", "key"])
                 .returning(KbLearnedPhrasing.id))
    new_id = await session.scalar(statement)
    if new_id is None:
        return None
    record(session, actor, "kb_phrasing.learn", "kb_article", article_id, {"phrasing_id": new_id},
           ticket_id=ticket_id)
    return await session.get(KbLearnedPhrasing, new_id)


async def do_review_phrasing(session: AsyncSession, phrasing_id: int, *, approve: bool,
                             actor: Actor) -> KbLearnedPhrasing:
    """Approve (the text joins the article's phrasings, a new version) or reject a learned phrasing."""
    row = await session.get(KbLearnedPhrasing, phrasing_id, with_for_update=True)
    if row is None:
        raise NotFound(f"phrasing {phrasing_id} not found")
    if row.status != "pending":
        raise Conflict(f"phrasing {phrasing_id} was already {row.status}")
    row.status = "approved" if approve else "rejected"
    if approve:
        article = await get_article(session, row.article_id)
        await do_update_article(session, article.id, {"phrasings": [*article.phrasings, row.text]}, actor=actor)
    record(session, actor, "kb_phrasing.approve" if approve else "kb_phrasing.reject", "kb_article", row.article_id,
           {"phrasing_id": row.id})
    await session.flush()
    return row


async def customer_question(session: AsyncSession, ticket_id: int) -> tuple[Ticket, str]:
    """The ticket and its customer's question: the latest inbound message's text, else the subject."""
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None:
        raise NotFound(f"ticket {ticket_id} not found")
    text = await session.scalar(select(Message.text).where(Message.ticket_id == ticket_id, Message.direction == "in")
                                .order_by(Message.id.desc()).limit(1))
    return ticket, (text or "").strip() or ticket.subject


async def do_learn_from_answer(session: AsyncSession, ticket_id: int, article_id: int, *, max_chars: int,
                               actor: Actor) -> KbLearnedPhrasing | None:
    """An agent answered ``ticket_id`` with ``article_id``: keep the customer's question for review."""
    if await session.get(KbArticle, article_id) is None:
        raise Invalid(f"article_id: article {article_id} does not exist")
    ticket, question = await customer_question(session, ticket_id)
    return await do_learn_phrasing(session, article_id, question, ticket_id=ticket.id, max_chars=max_chars,
                                   actor=actor)


async def do_record_deflection(session: AsyncSession, article_id: int, channel: str, helpful: bool) -> KbDeflection:
    """A customer said whether the article self-service offered helped (helpful: no ticket was needed)."""
    if await session.get(KbArticle, article_id) is None:
        raise Invalid(f"article_id: article {article_id} does not exist")
    row = KbDeflection(article_id=article_id, channel=channel, helpful=helpful)
    session.add(row)
    await session.flush()
    return row


# --- automatic answers: the customer's "did this help?" and the routing hold ------------------------

HELPFUL, NOT_HELPFUL, TIMED_OUT = "helpful", "not-helpful", "timed-out"


async def do_auto_answer_feedback(session: AsyncSession, ticket_id: int, article_id: int, helpful: bool, *,
                                  actor: Actor) -> bool:
    """The customer answered "did this help?" for the article the ticket was answered with automatically.

    Helpful: the ticket is solved and tagged ``deflected``. Not helpful: a ticket still held (pending) is
    opened, so the router offers it to an agent now. Either way one deflection row is recorded. The first
    answer counts; later ones change nothing (False). Raises NotFound when the ticket was not answered
    with that article.
    """
    answer = await session.scalar(select(KbAutoAnswer).where(KbAutoAnswer.ticket_id == ticket_id)
                                  .with_for_update())
    if answer is None or answer.article_id != article_id:
        raise NotFound(f"ticket {ticket_id} was not answered automatically with article {article_id}")
    if answer.outcome in (HELPFUL, NOT_HELPFUL):
        return False
    was_held = answer.outcome is None and answer.hold_until is not None
    answer.outcome, answer.decided_at = (HELPFUL if helpful else NOT_HELPFUL), utcnow()
    await do_record_deflection(session, article_id, answer.channel, helpful)
    ticket = await get_ticket(session, ticket_id, for_update=True)
    if ticket.merged_into_id is None:
        if helpful and ticket.status not in (TicketStatus.SOLVED, TicketStatus.CLOSED):
            tags = (await ticket_tags(session, [ticket_id]))[ticket_id]
            await do_update_ticket(session, ticket_id, {"status": TicketStatus.SOLVED.value,
                                                        "tags": [*tags, "deflected"]}, actor=actor)
        elif not helpful and was_held and ticket.status == TicketStatus.PENDING:
            await do_update_ticket(session, ticket_id, {"status": TicketStatus.OPEN.value}, actor=actor)
    record(session, actor, "kb.answer_feedback", "ticket", ticket_id,
           {"article_id": article_id, "helpful": helpful}, ticket_id=ticket_id)
    return True


async def do_release_held_answers(session: AsyncSession, now: datetime,
                                  limit: int = 100) -> tuple[int, list[int]]:
    """End the wait of automatically answered tickets whose ``hold_until`` passed: a ticket still pending
    with nothing after the answer is opened (the router offers it). Returns how many waits ended (at most
    ``limit``) and the ids of the tickets opened."""
    query = (select(KbAutoAnswer).where(KbAutoAnswer.outcome.is_(None), KbAutoAnswer.hold_until.is_not(None),
                                        KbAutoAnswer.hold_until <= now)
             .order_by(KbAutoAnswer.hold_until).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)  # several server processes share the work
    opened: list[int] = []
    due = (await session.scalars(query)).all()
    for answer in due:
        answer.outcome, answer.decided_at = TIMED_OUT, now
        ticket = await get_ticket(session, answer.ticket_id, for_update=True)
        last = await session.scalar(select(func.max(Message.id)).where(Message.ticket_id == ticket.id))
        if ticket.status == TicketStatus.PENDING and ticket.merged_into_id is None and last == answer.message_id:
            await do_update_ticket(session, ticket.id, {"status": TicketStatus.OPEN.value}, actor=SYSTEM)
            opened.append(ticket.id)
        record(session, SYSTEM, "kb.answer_timed_out", "ticket", ticket.id, {"routed": ticket.id in opened},
               ticket_id=ticket.id)
    return len(due), opened
