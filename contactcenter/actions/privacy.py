"""Erasing a contact on request: their tickets, messages, files, search terms and identities go, then their key.

What happens to each table is listed in docs/privacy.md ("Erasure, table by table");
tests/integration/test_privacy_coverage.py checks it for every table that can hold a contact's data.
"""

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
    CustomerSession,
    MagicLink,
    Message,
    RawInbound,
    Survey,
    Ticket,
)
from contactcenter.db.types import utcnow
from contactcenter.errors import Conflict, NotFound
from contactcenter.events import ContactErased, emit
from contactcenter.privacy.auditlock import audit_unlocked
from contactcenter.privacy.purge import (
    blank_messages,
    chunks,
    forget_errors_mentioning,
    provider_refs,
    purge_tickets,
    reindex,
    scrub_audit,
    scrub_audit_mentioning,
    scrub_audit_of,
)
from contactcenter.privacy.traces import (
    Addresses,
    approved_phrasings,
    channel_event_ids,
    raw_inbound_ids,
    remove_phrasings,
)

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
    channel_events: int = 0
    articles: int = 0  # KB articles that lost an approved question of the contact
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


def contact_calls(session: Session, ids: list[int], ticket_ids: list[int], phones: set[str]) -> list[int]:
    """The contact's calls: theirs, on their tickets, or from or to one of their numbers."""
    found = set(session.scalars(select(Call.id).where(Call.contact_id.in_(ids))).all())
    for part in chunks(ticket_ids):
        found.update(session.scalars(select(Call.id).where(Call.ticket_id.in_(part))).all())
    if phones:
        found.update(session.scalars(select(Call.id).where(or_(Call.from_number.in_(phones),
                                                                Call.to_number.in_(phones)))).all())
    return sorted(found)


def do_erase_contact(session: Session, contact_id: int, *, actor: Actor) -> Erasure:
    """Erase a contact (with the contacts merged into it) in the caller's transaction.

    Their tickets are deleted with every row on them; their messages on other people's tickets stay as
    empty tombstones; identities, calls, sign-in links and sessions, surveys, merge records, channel events
    and kept raw payloads about them are deleted; their approved questions leave the KB articles; audit rows
    about them (or naming one of their addresses) keep who-did-what but lose the recorded values; the
    contact row stays as an anonymous tombstone (``erased_at``) and their data key is destroyed last.
    """
    contact = session.get(Contact, contact_id, with_for_update=True)  # writers about the contact wait (mailer)
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
        who = Addresses.of(session, ids)
        ticket_ids = list(session.scalars(select(Ticket.id).where(Ticket.contact_id.in_(ids))).all())
        provider_ids: dict[str, set[str]] = {}
        for condition in [Message.contact_id.in_(ids), *(Message.ticket_id.in_(p) for p in chunks(ticket_ids))]:
            for channel, refs in provider_refs(session, condition).items():
                provider_ids.setdefault(channel, set()).update(refs)
        call_ids = contact_calls(session, ids, ticket_ids, who.phones)
        phrasings = approved_phrasings(session, ticket_ids)
        with audit_unlocked(session, "erasure"):
            result.tickets = len(ticket_ids)
            result.messages, result.files = purge_tickets(session, ticket_ids, delete_rows=True)
            elsewhere = session.execute(select(Message.id, Message.ticket_id).where(
                Message.contact_id.in_(ids))).all()
            result.files += blank_messages(session, [m.id for m in elsewhere], forget_ids=True)
            result.messages += len(elsewhere)
            reindex(session, {m.ticket_id for m in elsewhere})
            scrub_audit(session, or_(
                (AuditEvent.object_type == "contact") & AuditEvent.object_id.in_(ids),
                (AuditEvent.actor_kind == "contact") & AuditEvent.actor_id.in_(ids)))
            scrub_audit_of(session, "call", call_ids)
            events = channel_event_ids(session, provider_ids, who)
            scrub_audit_of(session, "channel_event", events)
            raws = raw_inbound_ids(session, who)
            scrub_audit_of(session, "raw_inbound", raws)
            result.articles = remove_phrasings(session, phrasings)
            scrub_audit_mentioning(session, who.distinctive)  # opt-outs, refused mail, delivery errors...
            forget_errors_mentioning(session, who.distinctive)
        sids: list[str] = []
        for part in chunks(call_ids):
            sids += session.scalars(select(Call.call_sid).where(Call.id.in_(part))).all()
        for some in chunks(sids):
            session.execute(delete(CallEvent).where(CallEvent.call_sid.in_(some)))
        for part in chunks(call_ids):
            session.execute(delete(Call).where(Call.id.in_(part)))
        result.calls = len(call_ids)
        for part in chunks(events):
            session.execute(delete(ChannelEvent).where(ChannelEvent.id.in_(part)))
        result.channel_events = len(events)
        for part in chunks(raws):
            session.execute(delete(RawInbound).where(RawInbound.id.in_(part)))
        result.raw_payloads = len(raws)
        session.execute(delete(Survey).where(Survey.contact_id.in_(ids)))
        session.execute(delete(CustomerSession).where(CustomerSession.contact_id.in_(ids)))
        session.execute(delete(MagicLink).where(or_(MagicLink.contact_id.in_(ids),
                                                    MagicLink.email.in_(sorted(who.emails)))))
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
            "files": len(result.files), "raw_payloads": result.raw_payloads,
            "channel_events": result.channel_events, "articles": result.articles})
    emit(session, ContactErased(contact_id=contact_id, contact_ids=tuple(sorted(ids)),
                                ticket_ids=tuple(sorted(ticket_ids))))
    session.expire_all()
    return result
