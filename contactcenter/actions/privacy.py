"""Erasing a contact on request: their tickets, messages, files, search terms and identities go, then their key."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from contactcenter.actions.audit import Actor, record
from contactcenter.db.models import (
    AuditEvent,
    Call,
    CallEvent,
    ChannelEvent,
    Contact,
    ContactIdentity,
    ContactKey,
    ContactMerge,
    Message,
    RawInbound,
    Ticket,
)
from contactcenter.db.types import utcnow
from contactcenter.errors import Conflict, NotFound
from contactcenter.privacy.auditlock import audit_unlocked
from contactcenter.privacy.purge import blank_messages, chunks, purge_tickets, reindex, scrub_audit

CONFIRMATION = "ERASE"


@dataclass
class Erasure:
    """What an erasure removed; ``files`` are deleted from the data folder after commit."""

    contact_id: int
    contact_ids: list[int]
    tickets: int = 0
    messages: int = 0
    calls: int = 0
    raw_payloads: int = 0
    files: list[str] = field(default_factory=list)


def contact_family(session: Session, contact_id: int) -> list[int]:
    """The contact and every contact merged into it (their data is the person's too)."""
    family, frontier = [contact_id], [contact_id]
    while frontier:
        frontier = list(session.scalars(select(Contact.id).where(Contact.merged_into_id.in_(frontier),
                                                                 Contact.id.not_in(family))).all())
        family += frontier
    return family


def _secure_delete(session: Session, on: bool) -> None:
    """SQLite overwrites freed content with zeros while this is on (so the file holds no trace)."""
    if session.get_bind().dialect.name == "sqlite":
        session.connection().exec_driver_sql(f"PRAGMA secure_delete = {'ON' if on else 'OFF'}")


def do_erase_contact(session: Session, contact_id: int, *, actor: Actor) -> Erasure:
    """Erase a contact (with the contacts merged into it) in the caller's transaction.

    Their tickets are deleted with every message on them; their messages on other people's tickets stay as
    empty tombstones; identities, calls, merge records and kept raw payloads from their addresses are
    deleted; audit rows about them keep who-did-what but lose the recorded values; the contact row stays
    as an anonymous tombstone (``erased_at``) and their data key is destroyed last.
    """
    contact = session.get(Contact, contact_id)
    if contact is None:
        raise NotFound(f"contact {contact_id} not found")
    if contact.erased_at is not None:
        raise Conflict(f"contact {contact_id} was erased already")
    if contact.merged_into_id is not None:
        raise Conflict(f"contact {contact_id} was merged into {contact.merged_into_id}; erase that one")
    ids = contact_family(session, contact_id)
    result = Erasure(contact_id, ids)
    _secure_delete(session, True)
    try:
        addresses = set(session.scalars(select(ContactIdentity.value).where(
            ContactIdentity.contact_id.in_(ids))).all())
        ticket_ids = list(session.scalars(select(Ticket.id).where(Ticket.contact_id.in_(ids))).all())
        provider_ids = [p for p in session.scalars(select(Message.provider_id).where(
            or_(Message.contact_id.in_(ids), Message.ticket_id.in_(ticket_ids)),
            Message.provider_id.is_not(None))).all() if p]
        with audit_unlocked(session, "erasure"):
            result.tickets = len(ticket_ids)
            result.messages, result.files = purge_tickets(session, ticket_ids, delete_rows=True)
            elsewhere = session.execute(select(Message.id, Message.ticket_id).where(
                Message.contact_id.in_(ids))).all()
            result.files += blank_messages(session, [m.id for m in elsewhere])
            result.messages += len(elsewhere)
            reindex(session, {m.ticket_id for m in elsewhere})
            scrub_audit(session, or_(
                (AuditEvent.object_type == "contact") & AuditEvent.object_id.in_(ids),
                (AuditEvent.actor_kind == "contact") & AuditEvent.actor_id.in_(ids)))
        call_sids = list(session.scalars(select(Call.call_sid).where(Call.contact_id.in_(ids))).all())
        for part in chunks(call_sids):
            session.execute(delete(CallEvent).where(CallEvent.call_sid.in_(part)))
            session.execute(delete(Call).where(Call.call_sid.in_(part)))
        result.calls = len(call_sids)
        for part in chunks(provider_ids):
            session.execute(delete(ChannelEvent).where(ChannelEvent.ref.in_(part)))
        result.raw_payloads = _drop_raw_payloads(session, addresses)
        session.execute(delete(ContactMerge).where(or_(ContactMerge.source_id.in_(ids),
                                                       ContactMerge.target_id.in_(ids))))
        session.execute(delete(ContactIdentity).where(ContactIdentity.contact_id.in_(ids)))
        now = utcnow()
        session.execute(update(Contact).where(Contact.id.in_(ids)).values(
            name="", notes="", language=None, organization_id=None, erased_at=now, updated_at=now)
            .execution_options(synchronize_session=False))
        session.execute(delete(ContactKey).where(ContactKey.contact_id.in_(ids)))  # crypto-erasure
    finally:
        _secure_delete(session, False)
    record(session, actor, "contact.erased", "contact", contact_id,
           {"contacts": len(ids), "tickets": result.tickets, "messages": result.messages, "calls": result.calls,
            "files": len(result.files), "raw_payloads": result.raw_payloads})
    session.expire_all()
    return result


def _drop_raw_payloads(session: Session, addresses: set[str]) -> int:
    """Kept inbound payloads (unparsable or refused mail) whose envelope sender is one of the addresses."""
    if not addresses:
        return 0
    wanted = {a.lower() for a in addresses}
    doomed = [row.id for row in session.execute(select(RawInbound.id, RawInbound.envelope)).all()
              if str((row.envelope or {}).get("mail_from") or "").lower() in wanted]
    for part in chunks(doomed):
        session.execute(delete(RawInbound).where(RawInbound.id.in_(part)))
    return len(doomed)
