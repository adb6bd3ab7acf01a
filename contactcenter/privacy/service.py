"""Privacy operations over a database and the attachment folder: erase, export, retention, key rotation,
sealing rows written before encryption. The API, the CLI and the scheduled job call these."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from contactcenter.actions.audit import SYSTEM, Actor, record
from contactcenter.actions.privacy import Erasure, do_erase_contact
from contactcenter.db.engine import Database
from contactcenter.db.models import Attachment, ContactKey, Message, Ticket
from contactcenter.db.types import utcnow
from contactcenter.domain.enums import TicketStatus
from contactcenter.ops.repeat import Repeater
from contactcenter.privacy.auditlock import audit_unlocked
from contactcenter.privacy.export import export_zip
from contactcenter.privacy.purge import purge_tickets
from contactcenter.privacy.sealing import Sealer
from contactcenter.settings import PrivacySettings
from contactcenter.storage import AttachmentStore, encrypt_file

log = logging.getLogger(__name__)
RETENTION_LOCK = 0x63637265  # PostgreSQL advisory lock id of the retention job ("ccre")


async def erase_contact(db: Database, store: AttachmentStore, contact_id: int, *, actor: Actor) -> Erasure:
    """Erase in one transaction, then delete the files and leave no trace in a SQLite file."""
    result = await db.run_write(lambda session: do_erase_contact(session, contact_id, actor=actor))
    await asyncio.to_thread(_remove_files, store, result.files)
    if db.is_sqlite:
        await asyncio.to_thread(compact_sqlite, db.url)
    return result


def _remove_files(store: AttachmentStore, names: list[str]) -> None:
    for name in set(names):
        try:
            store.remove(name)
        except (OSError, ValueError):
            log.warning("could not delete an erased attachment file", exc_info=True)


def compact_sqlite(url: str) -> None:
    """Rewrite the search index without deleted entries, zero freed pages and empty the write-ahead log,
    so that deleted text is gone from the files, not only unreachable."""
    path = make_url(url).database
    if not path:
        return
    connection = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        connection.execute("PRAGMA busy_timeout = 30000")
        connection.execute("PRAGMA secure_delete = ON")
        connection.execute("INSERT INTO ticket_search(ticket_search) VALUES ('optimize')")
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()


async def export_contact(db: Database, store: AttachmentStore, contact_id: int, *, actor: Actor,
                         internal: bool = False) -> bytes:
    """The contact's ZIP export; the export itself is audited."""
    async with db.read() as session:
        archive = await export_zip(session, store, contact_id, internal=internal)
    async with db.write() as session:
        record(session, actor, "contact.exported", "contact", contact_id, {"internal": internal,
                                                                            "bytes": len(archive)})
    return archive


@dataclass(frozen=True)
class RetentionRun:
    tickets: int = 0
    messages: int = 0
    batches: int = 0


def retention_batch(session: Session, settings: PrivacySettings, now: datetime) -> tuple[int, int, list[str]]:
    """One batch of closed tickets past retention: anonymized or deleted. Returns (tickets, messages, files).

    On PostgreSQL a transaction-level advisory lock keeps two processes from working at once (the other
    one skips this round); on SQLite the writer's lock already does.
    """
    if session.get_bind().dialect.name == "postgresql" and not session.execute(
            text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": RETENTION_LOCK}).scalar():
        return 0, 0, []
    cutoff = now - timedelta(days=settings.retention_days)
    query = (select(Ticket.id).where(Ticket.status == TicketStatus.CLOSED, Ticket.closed_at < cutoff)
             .order_by(Ticket.id).limit(settings.retention_batch_size))
    delete_rows = settings.retention_mode == "delete"
    if not delete_rows:
        query = query.where(Ticket.anonymized_at.is_(None))
    ticket_ids = list(session.scalars(query).all())
    if not ticket_ids:
        return 0, 0, []
    with audit_unlocked(session, "retention"):
        messages, files = purge_tickets(session, ticket_ids, delete_rows=delete_rows)
    if not delete_rows:
        session.execute(update(Ticket).where(Ticket.id.in_(ticket_ids)).values(anonymized_at=now)
                        .execution_options(synchronize_session=False))
    record(session, SYSTEM, "retention.deleted" if delete_rows else "retention.anonymized", "ticket",
           ticket_ids[0], {"tickets": ticket_ids, "messages": messages, "older_than_days": settings.retention_days})
    return len(ticket_ids), messages, files


async def run_retention(db: Database, store: AttachmentStore, settings: PrivacySettings,
                        now: datetime | None = None) -> RetentionRun:
    """Work through every ticket past retention, one batch per transaction."""
    if settings.retention_days <= 0:
        return RetentionRun()
    moment = now or utcnow()
    tickets = messages = batches = 0
    while True:
        count, more, files = await db.run_write(lambda s: retention_batch(s, settings, moment))
        if not count:
            break
        await asyncio.to_thread(_remove_files, store, files)
        tickets, messages, batches = tickets + count, messages + more, batches + 1
        if count < settings.retention_batch_size:
            break
    if tickets:
        log.info("retention: %d tickets %s (%d messages)", tickets,
                 "deleted" if settings.retention_mode == "delete" else "anonymized", messages)
        if db.is_sqlite:
            await asyncio.to_thread(compact_sqlite, db.url)
    return RetentionRun(tickets, messages, batches)


class RetentionJob:
    """Runs retention every ``retention_interval_seconds`` while the server runs (safe in several processes)."""

    def __init__(self, db: Database, store: AttachmentStore, settings: PrivacySettings) -> None:
        self.db, self.store, self.settings = db, store, settings
        self._timer = Repeater("retention", lambda: run_retention(db, store, settings),
                               settings.retention_interval_seconds, log=log,
                               failure="retention run failed; trying again at the next interval",
                               first_delay=min(60.0, settings.retention_interval_seconds))

    def start(self) -> None:
        if self.settings.retention_days > 0:
            self._timer.start()

    async def stop(self) -> None:
        await self._timer.stop()


async def rotate_master_key(db: Database, batch: int = 500) -> int:
    """Re-wrap every data key with the newest master key; returns how many were re-wrapped."""
    keyring = db.keyring
    if keyring is None:
        raise RuntimeError("the database was opened without a keyring")
    prefix = f"k{keyring.newest}."

    def work(session: Session) -> int:
        rows = session.execute(select(ContactKey.id, ContactKey.wrapped).where(
            ~ContactKey.wrapped.startswith(prefix)).order_by(ContactKey.id).limit(batch)).all()
        for row in rows:
            session.execute(update(ContactKey).where(ContactKey.id == row.id)
                            .values(wrapped=keyring.rewrap(row.wrapped)))
        return len(rows)

    total = 0
    while count := await db.run_write(work):
        total += count
    return total


def _seal_messages(session: Session, batch: int) -> int:
    rows = session.execute(
        select(Message.id, Message.text, Message.html, Message.raw, Message.direction, Message.contact_id,
               Ticket.contact_id.label("owner"))
        .join(Ticket, Ticket.id == Message.ticket_id)
        .where(Message.key_id.is_(None), func.length(Message.text) + func.coalesce(func.length(Message.html), 0)
               + func.coalesce(func.length(Message.raw), 0) > 0)
        .order_by(Message.id).limit(batch)).all()
    if not rows:
        return 0
    seal = Sealer.for_contacts(session, {r.contact_id or r.owner for r in rows})
    for r in rows:
        contact = r.contact_id if r.direction == "in" and r.contact_id else r.owner
        session.execute(update(Message).where(Message.id == r.id).values(
            text=seal.text(contact, r.text), html=seal.optional_text(contact, r.html),
            raw=seal.raw(contact, r.raw), key_id=seal.key_id(contact)))
    return len(rows)


def _seal_attachments(session: Session, store: AttachmentStore, batch: int) -> tuple[int, list[str]]:
    rows = session.execute(
        select(Attachment.id, Attachment.sha256, Message.contact_id, Message.direction,
               Ticket.contact_id.label("owner"))
        .join(Message, Message.id == Attachment.message_id).join(Ticket, Ticket.id == Message.ticket_id)
        .where(Attachment.file_key.is_(None)).order_by(Attachment.id).limit(batch)).all()
    if not rows:
        return 0, []
    seal = Sealer.for_contacts(session, {r.contact_id or r.owner for r in rows})
    old: list[str] = []
    for r in rows:
        contact = r.contact_id if r.direction == "in" and r.contact_id else r.owner
        blob, key = encrypt_file(store.path(r.sha256).read_bytes())
        name = store.write_blob(blob)
        session.execute(update(Attachment).where(Attachment.id == r.id).values(
            sha256=name, file_key=seal.text(contact, key), key_id=seal.key_id(contact)))
        old.append(r.sha256)
    return len(rows), old


async def seal_existing(db: Database, store: AttachmentStore, batch: int = 200) -> dict[str, int]:
    """Encrypt message bodies, raw payloads and attachment files stored before encryption (upgrades)."""
    if db.keyring is None:
        raise RuntimeError("the database was opened without a keyring")
    messages = attachments = 0
    while count := await db.run_write(lambda s: _seal_messages(s, batch)):
        messages += count
    while True:
        count, old = await db.run_write(lambda s: _seal_attachments(s, store, batch))
        if not count:
            break
        attachments += count

        def still_used(session: Session, names: list[str] = old) -> set[str]:
            return set(session.scalars(select(Attachment.sha256).where(Attachment.sha256.in_(names))).all())

        used = await db.run_write(still_used)
        await asyncio.to_thread(_remove_files, store, [n for n in old if n not in used])
    return {"messages": messages, "attachments": attachments}


