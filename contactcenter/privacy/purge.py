"""Removing personal data from tickets and messages: shared by contact erasure and retention.

Every function runs in the caller's (synchronous) transaction and returns the attachment files to delete
once it has committed (a file is deleted after its row, never before, so a rollback loses nothing).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any, TypeVar

from sqlalchemy import delete, select, text, update
from sqlalchemy.orm import Session

from contactcenter.db import search
from contactcenter.db.models import (
    Attachment,
    AuditEvent,
    Call,
    KbLearnedPhrasing,
    Message,
    Offer,
    SlaTicket,
    SlaTimer,
    Ticket,
    TicketTag,
)

CHUNK = 500  # ids per IN list
T = TypeVar("T")


def chunks(ids: Sequence[T]) -> list[list[T]]:
    return [list(ids[i:i + CHUNK]) for i in range(0, len(ids), CHUNK)]


def drop_attachments(session: Session, message_ids: Sequence[int]) -> list[str]:
    """Delete the attachment rows of these messages; return their files."""
    files: list[str] = []
    for part in chunks(message_ids):
        files += session.scalars(select(Attachment.sha256).where(Attachment.message_id.in_(part))).all()
        session.execute(delete(Attachment).where(Attachment.message_id.in_(part)))
    return files


def drop_search(session: Session, ticket_ids: Sequence[int]) -> None:
    column = "rowid" if session.get_bind().dialect.name == "sqlite" else "ticket_id"
    for part in chunks(ticket_ids):
        session.execute(text(f"DELETE FROM ticket_search WHERE {column} = :id"),  # noqa: S608 (a fixed name)
                        [{"id": i} for i in part])


def reindex(session: Session, ticket_ids: Collection[int]) -> None:
    """Rebuild the search documents of these tickets from what they still hold."""
    ids = sorted(ticket_ids)
    drop_search(session, ids)
    rows: list[tuple[int, str, bool]] = []
    for part in chunks(ids):
        subjects = dict(session.execute(select(Ticket.id, Ticket.subject).where(Ticket.id.in_(part))).all())
        texts: dict[int, list[str]] = {i: [subjects.get(i, "")] for i in part}
        for ticket_id, body in session.execute(select(Message.ticket_id, Message.text)
                                               .where(Message.ticket_id.in_(part)).order_by(Message.id)).all():
            texts[ticket_id].append(body)
        rows += [(i, " ".join(t), True) for i, t in texts.items() if i in subjects]
    search.index_many(session, rows)


def scrub_audit(session: Session, condition: Any) -> int:
    """Replace the recorded changes of matching audit rows (they may quote personal data) by nothing.

    Needs ``audit_unlocked``: the table refuses updates otherwise.
    """
    result = session.execute(update(AuditEvent).where(condition, AuditEvent.changes != {})
                             .values(changes={"scrubbed": True}).execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)


def blank_messages(session: Session, message_ids: Sequence[int]) -> list[str]:
    """Keep the messages as tombstones (who, when, which channel) without any content."""
    files = drop_attachments(session, message_ids)
    for part in chunks(message_ids):
        session.execute(update(Message).where(Message.id.in_(part)).values(
            text="", html=None, raw=None, subject="", meta={}, key_id=None, delivery_error=None)
            .execution_options(synchronize_session=False))
    return files


def purge_tickets(session: Session, ticket_ids: Sequence[int], *, delete_rows: bool) -> tuple[int, list[str]]:
    """Delete the tickets with everything on them, or anonymize them (rows kept for the figures, content
    removed). Returns the number of messages concerned and the files to delete after commit."""
    if not ticket_ids:
        return 0, []
    message_ids: list[int] = []
    for part in chunks(ticket_ids):
        message_ids += session.scalars(select(Message.id).where(Message.ticket_id.in_(part))).all()
    drop_search(session, ticket_ids)
    for part in chunks(ticket_ids):
        session.execute(delete(KbLearnedPhrasing).where(KbLearnedPhrasing.ticket_id.in_(part)))
        scrub_audit(session, AuditEvent.ticket_id.in_(part))
    if not delete_rows:
        files = blank_messages(session, message_ids)
        for part in chunks(ticket_ids):
            session.execute(update(Ticket).where(Ticket.id.in_(part)).values(
                subject="", conversation_key=None, portal_token_hash=None)
                .execution_options(synchronize_session=False))
        return len(message_ids), files
    files = drop_attachments(session, message_ids)
    for part in chunks(message_ids):
        session.execute(delete(Message).where(Message.id.in_(part)))
    for part in chunks(ticket_ids):
        for model in (Offer, SlaTimer, SlaTicket, TicketTag):
            session.execute(delete(model).where(model.ticket_id.in_(part)))
        session.execute(update(Ticket).where(Ticket.follow_up_of_id.in_(part))
                        .values(follow_up_of_id=None).execution_options(synchronize_session=False))
        session.execute(update(Ticket).where(Ticket.merged_into_id.in_(part))
                        .values(merged_into_id=None).execution_options(synchronize_session=False))
    for part in chunks(ticket_ids):
        session.execute(update(Call).where(Call.ticket_id.in_(part)).values(ticket_id=None)  # the call log stays
                        .execution_options(synchronize_session=False))
        session.execute(delete(Ticket).where(Ticket.id.in_(part)))
    return len(message_ids), files
