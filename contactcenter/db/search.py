"""Full-text search over tickets: SQLite FTS5 or PostgreSQL tsvector, both over kb.normalize'd text."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, FromClause, Integer, TextClause, column, exists, literal, select, table, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, Session

from kb.normalize import search_key

MAX_INDEXED_CHARS = 20_000


def document(*parts: str) -> str:
    """The normalized text indexed for a ticket."""
    return search_key(" ".join(p for p in parts if p))[:MAX_INDEXED_CHARS]


# (insert a new ticket's text, add to an indexed ticket's text) per dialect, built once
_INDEX = {
    "sqlite": (text("INSERT INTO ticket_search (rowid, body) VALUES (:id, :body)"),
               text("UPDATE ticket_search SET body = substr(body || ' ' || :body, 1, :cap) WHERE rowid = :id")),
    "postgresql": (
        text("INSERT INTO ticket_search (ticket_id, document) VALUES (:id, to_tsvector('simple', :body))"),
        text("UPDATE ticket_search SET document = document || to_tsvector('simple', :body) WHERE ticket_id = :id")),
}


def index_many(session: Session, rows: list[tuple[int, str, bool]]) -> None:
    """Index several texts at once: (ticket id, text, whether the ticket is new) each."""
    new = [{"id": i, "body": document(t) or " "} for i, t, is_new in rows if is_new]
    more = [{"id": i, "body": document(t), "cap": MAX_INDEXED_CHARS} for i, t, is_new in rows if not is_new]
    more = [row for row in more if row["body"]]
    connection = session.connection()
    insert, append = _INDEX[connection.dialect.name]
    if new:
        connection.execute(insert, new)
    if more:
        connection.execute(append, more)


def _fts_query(words: list[str]) -> str:
    """An FTS5 query that needs every word, each as a quoted string (no operators from the input)."""
    return " ".join('"' + w.replace('"', '""') + '"' for w in words)


@dataclass(frozen=True)
class Hits:
    """The search table restricted to the documents that contain every word of a query, to join tickets to.

    ``ticket_id`` is its ticket id column: order and page by it (not by ``Ticket.id``), so that SQLite walks the
    FTS5 index itself newest (or oldest) first and stops after one page, checking the other filters per hit,
    instead of collecting every match of a common word and sorting them. PostgreSQL treats both columns as one
    and picks the side to walk from its statistics.

    ``contains(Ticket.id)`` is the other way round, a check per ticket; on SQLite (``plan_follows_query``: no
    statistics, the plan follows the order column) it suits a filter that leaves few tickets, such as one
    customer's, where walking the matches of a common word to find them would be slow.
    """

    table: FromClause
    ticket_id: ColumnElement[int]
    condition: TextClause
    plan_follows_query: bool

    def contains(self, ticket_id: ColumnElement[int] | InstrumentedAttribute[int]) -> ColumnElement[bool]:
        return exists(select(literal(1)).select_from(self.table).where(self.ticket_id == ticket_id, self.condition))


def hits(session: AsyncSession, query: str) -> Hits | None:
    """The tickets whose text contains every word of ``query``, as a join (see Hits); None for no words."""
    words = document(query).split()
    if not words:
        return None
    if session.get_bind().dialect.name == "sqlite":
        fts = table("ticket_search", column("rowid", Integer))
        return Hits(fts, fts.c.rowid, text("ticket_search MATCH :q").bindparams(q=_fts_query(words)), True)
    ts = table("ticket_search", column("ticket_id", Integer))
    return Hits(ts, ts.c.ticket_id, text("ticket_search.document @@ plainto_tsquery('simple', :q)")
                .bindparams(q=" ".join(words)), False)


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
