"""Full-text search over tickets: SQLite FTS5 or PostgreSQL tsvector, both over kb.normalize'd text."""

from __future__ import annotations

from sqlalchemy import ColumnElement, text
from sqlalchemy.ext.asyncio import AsyncSession

from contactcenter.db.models import Ticket
from kb.normalize import search_key

MAX_INDEXED_CHARS = 20_000


def document(*parts: str) -> str:
    """The normalized text indexed for a ticket."""
    return search_key(" ".join(p for p in parts if p))[:MAX_INDEXED_CHARS]


async def index_ticket(session: AsyncSession, ticket_id: int, *parts: str, new: bool) -> None:
    """Add text to a ticket's search document (``new``: the ticket has none yet)."""
    body = document(*parts)
    if not body:
        if not new:
            return
        body = " "
    if session.get_bind().dialect.name == "sqlite":
        sql = ("INSERT INTO ticket_search (rowid, body) VALUES (:id, :body)" if new else
               "UPDATE ticket_search SET body = substr(body || ' ' || :body, 1, :cap) WHERE rowid = :id")
    else:
        sql = ("INSERT INTO ticket_search (ticket_id, document) VALUES (:id, to_tsvector('simple', :body)) "
               "ON CONFLICT (ticket_id) DO UPDATE SET document = ticket_search.document || excluded.document")
    await session.execute(text(sql), {"id": ticket_id, "body": body, "cap": MAX_INDEXED_CHARS})


async def index_many(session: AsyncSession, rows: list[tuple[int, str, bool]]) -> None:
    """Index several texts at once: (ticket id, text, whether the ticket is new) each."""
    new = [{"id": i, "body": document(t) or " "} for i, t, is_new in rows if is_new]
    more = [{"id": i, "body": document(t), "cap": MAX_INDEXED_CHARS} for i, t, is_new in rows if not is_new]
    more = [row for row in more if row["body"]]
    sqlite = session.get_bind().dialect.name == "sqlite"
    if new:
        await session.execute(text(
            "INSERT INTO ticket_search (rowid, body) VALUES (:id, :body)" if sqlite else
            "INSERT INTO ticket_search (ticket_id, document) VALUES (:id, to_tsvector('simple', :body))"), new)
    if more:
        await session.execute(text(
            "UPDATE ticket_search SET body = substr(body || ' ' || :body, 1, :cap) WHERE rowid = :id" if sqlite else
            "UPDATE ticket_search SET document = document || to_tsvector('simple', :body) WHERE ticket_id = :id"),
            more)


def matching(session: AsyncSession, query: str) -> ColumnElement[bool] | None:
    """A filter on Ticket for tickets whose text contains every word of ``query``; None for no words."""
    words = document(query).split()
    if not words:
        return None
    if session.get_bind().dialect.name == "sqlite":
        fts_query = " ".join('"' + w.replace('"', '""') + '"' for w in words)
        return Ticket.id.in_(text("SELECT rowid FROM ticket_search WHERE ticket_search MATCH :q")
                             .bindparams(q=fts_query))
    return Ticket.id.in_(text("SELECT ticket_id FROM ticket_search WHERE document @@ plainto_tsquery('simple', :q)")
                         .bindparams(q=" ".join(words)))


async def move_document(session: AsyncSession, source_id: int, target_id: int) -> None:
    """Append the source ticket's document to the target's (ticket merge)."""
    if session.get_bind().dialect.name == "sqlite":
        row = (await session.execute(text("SELECT body FROM ticket_search WHERE rowid = :id"),
                                     {"id": source_id})).first()
        if row and row[0].strip():
            await session.execute(
                text("UPDATE ticket_search SET body = substr(body || ' ' || :body, 1, :cap) WHERE rowid = :id"),
                {"id": target_id, "body": row[0], "cap": MAX_INDEXED_CHARS})
    else:
        await session.execute(text(
            "UPDATE ticket_search SET document = ticket_search.document || s.document "
            "FROM ticket_search s WHERE s.ticket_id = :src AND ticket_search.ticket_id = :dst"),
            {"src": source_id, "dst": target_id})
