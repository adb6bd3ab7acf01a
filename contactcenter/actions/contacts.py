"""Contacts and their identities: resolve on intake, edit, merge and undo a merge."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from contactcenter.actions.audit import Actor, record
from contactcenter.db.models import Contact, ContactIdentity, ContactMerge, Organization, Ticket
from contactcenter.db.types import utcnow
from contactcenter.domain.enums import IdentityKind, LinkMethod
from contactcenter.domain.identities import Address
from contactcenter.errors import Conflict, NotFound
from contactcenter.events import ContactsMerged, emit


async def _organization_for(session: AsyncSession, addresses: Sequence[Address]) -> int | None:
    domains = [a.value.rsplit("@", 1)[1] for a in addresses if a.kind == IdentityKind.EMAIL]
    if not domains:
        return None
    # Organization.domains is a short JSON list; organizations are few, so this is read in Python.
    for org_id, org_domains in (await session.execute(select(Organization.id, Organization.domains))).all():
        if any(d in (org_domains or []) for d in domains):
            return int(org_id)
    return None


async def resolve_contact(session: AsyncSession, addresses: Sequence[Address], name: str,
                          language: str | None) -> Contact:
    """The contact owning the first known address, else a new one; unknown addresses are linked as claimed."""
    keys = list(dict.fromkeys((a.kind.value, a.value) for a in addresses))
    rows = (await session.execute(select(ContactIdentity.kind, ContactIdentity.value, ContactIdentity.contact_id)
                                  .where(tuple_(ContactIdentity.kind, ContactIdentity.value).in_(keys)))).all()
    owners = {(kind, value): contact_id for kind, value, contact_id in rows}
    contact: Contact | None = None
    for key in keys:
        if key in owners:
            contact = await session.get(Contact, owners[key])
            break
    if contact is None:
        contact = Contact(name=name, language=language,
                          organization_id=await _organization_for(session, addresses))
        session.add(contact)
        await session.flush()
        record(session, Actor.contact(contact.id), "contact.created", "contact", contact.id, {"name": name})
    elif name and not contact.name:
        contact.name = name
    for kind, value in keys:
        if (kind, value) not in owners:
            session.add(ContactIdentity(contact_id=contact.id, kind=kind, value=value,
                                        method=LinkMethod.CLAIMED))
    return contact


async def _live_contact(session: AsyncSession, contact_id: int) -> Contact:
    contact = await session.get(Contact, contact_id)
    if contact is None or contact.merged_into_id is not None:
        raise NotFound(f"contact {contact_id} not found" + (" (merged)" if contact else ""))
    return contact


async def do_merge_contacts(session: AsyncSession, source_id: int, target_id: int, *, actor: Actor) -> ContactMerge:
    """Move every identity and ticket of ``source`` to ``target``; recorded so it can be undone."""
    if source_id == target_id:
        raise Conflict("cannot merge a contact into itself")
    source = await _live_contact(session, source_id)
    target = await _live_contact(session, target_id)
    identity_ids = list((await session.scalars(
        select(ContactIdentity.id).where(ContactIdentity.contact_id == source.id))).all())
    ticket_ids = list((await session.scalars(select(Ticket.id).where(Ticket.contact_id == source.id))).all())
    await session.execute(update(ContactIdentity).where(ContactIdentity.id.in_(identity_ids))
                          .values(contact_id=target.id))
    await session.execute(update(Ticket).where(Ticket.id.in_(ticket_ids)).values(contact_id=target.id))
    source.merged_into_id = target.id
    if target.organization_id is None:
        target.organization_id = source.organization_id
    merge = ContactMerge(source_id=source.id, target_id=target.id, identity_ids=identity_ids,
                         ticket_ids=ticket_ids, actor_id=actor.id if actor.kind == "user" else None)
    session.add(merge)
    await session.flush()
    record(session, actor, "contact.merged", "contact", target.id,
           {"source_id": source.id, "merge_id": merge.id, "identities": identity_ids, "tickets": ticket_ids})
    emit(session, ContactsMerged(merge_id=merge.id, source_id=source.id, target_id=target.id))
    return merge


async def do_undo_contact_merge(session: AsyncSession, merge_id: int, *, actor: Actor) -> ContactMerge:
    """Give the source contact back exactly the identities and tickets the merge moved."""
    merge = await session.get(ContactMerge, merge_id)
    if merge is None:
        raise NotFound(f"contact merge {merge_id} not found")
    if merge.undone_at is not None:
        raise Conflict(f"contact merge {merge_id} was already undone")
    source = await session.get(Contact, merge.source_id)
    assert source is not None
    if source.merged_into_id != merge.target_id:
        raise Conflict("the source contact was changed after this merge")
    await session.execute(update(ContactIdentity).where(ContactIdentity.id.in_(merge.identity_ids))
                          .values(contact_id=merge.source_id))
    await session.execute(update(Ticket).where(Ticket.id.in_(merge.ticket_ids)).values(contact_id=merge.source_id))
    source.merged_into_id = None
    merge.undone_at = utcnow()
    record(session, actor, "contact.merge_undone", "contact", merge.source_id,
           {"merge_id": merge.id, "target_id": merge.target_id})
    emit(session, ContactsMerged(merge_id=merge.id, source_id=merge.source_id, target_id=merge.target_id,
                                 undone=True))
    return merge


async def do_update_contact(session: AsyncSession, contact_id: int, changes: dict[str, object], *,
                            actor: Actor) -> Contact:
    """Change name, organization, language or notes."""
    contact = await _live_contact(session, contact_id)
    if "organization_id" in changes and changes["organization_id"] is not None and \
            await session.get(Organization, changes["organization_id"]) is None:
        raise NotFound(f"organization {changes['organization_id']} not found")
    diff = {k: [getattr(contact, k), v] for k, v in changes.items() if getattr(contact, k) != v}
    for key, value in changes.items():
        setattr(contact, key, value)
    if diff:
        record(session, actor, "contact.updated", "contact", contact.id, diff)
    return contact


async def do_add_identity(session: AsyncSession, contact_id: int, address: Address, *, actor: Actor) -> ContactIdentity:
    """Link another address to a contact (by an agent). An address belongs to one contact only."""
    await _live_contact(session, contact_id)
    owner = await session.scalar(select(ContactIdentity.contact_id).where(
        ContactIdentity.kind == address.kind, ContactIdentity.value == address.value))
    if owner is not None:
        raise Conflict(f"{address.kind} {address.value} already belongs to contact {owner}; merge the contacts instead")
    identity = ContactIdentity(contact_id=contact_id, kind=address.kind, value=address.value, method=LinkMethod.AGENT)
    session.add(identity)
    await session.flush()
    record(session, actor, "contact.identity_added", "contact", contact_id,
           {"kind": address.kind.value, "value": address.value})
    return identity


async def count_tickets(session: AsyncSession, contact_id: int) -> int:
    return int(await session.scalar(select(func.count()).where(Ticket.contact_id == contact_id)) or 0)
