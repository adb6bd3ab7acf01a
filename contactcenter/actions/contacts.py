"""Contacts and their identities: resolve on intake, edit, merge and undo a merge."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from contactcenter.actions.audit import Actor, audit_row, record
from contactcenter.db.ids import insert_rows
from contactcenter.db.keys import KeyedSelect
from contactcenter.db.models import AuditEvent, Contact, ContactIdentity, ContactMerge, Organization, Ticket
from contactcenter.db.types import utcnow
from contactcenter.domain.enums import IdentityKind, LinkMethod
from contactcenter.domain.identities import Address
from contactcenter.errors import Conflict, Invalid, NotFound
from contactcenter.events import ContactsMerged, emit


@dataclass(frozen=True, slots=True)
class ContactRequest:
    """Who wrote: every address they gave (the sender's first), their name and language."""

    addresses: tuple[Address, ...]
    name: str
    language: str | None


# What intake runs for every batch, built once (docs/architecture.md, "Statements on hot paths").
_IDENTITIES, _CONTACTS, _ORGS = (cast(Table, model.__table__) for model in (ContactIdentity, Contact, Organization))
_OWNERS = KeyedSelect(select(_IDENTITIES.c.kind, _IDENTITIES.c.value, _IDENTITIES.c.contact_id),
                      (_IDENTITIES.c.kind, _IDENTITIES.c.value))
_NAMED = KeyedSelect(select(_CONTACTS.c.id, _CONTACTS.c.name, _CONTACTS.c.organization_id), (_CONTACTS.c.id,))
_ORGANIZATION_DOMAINS = select(_ORGS.c.id, _ORGS.c.domains).order_by(_ORGS.c.id)
_RENAME = update(_CONTACTS).where(_CONTACTS.c.id == bindparam("cid")).values(name=bindparam("cname"))


class _Organizations:
    """Organization lookup by e-mail domain, read at most once per batch (organizations are few)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.by_domain: dict[str, int] | None = None

    def for_addresses(self, addresses: Sequence[Address]) -> int | None:
        domains = [a.value.rsplit("@", 1)[1] for a in addresses if a.kind == IdentityKind.EMAIL]
        if not domains:
            return None
        if self.by_domain is None:
            self.by_domain = {}
            for org_id, org_domains in self.session.connection().execute(_ORGANIZATION_DOMAINS).all():
                for domain in org_domains or []:
                    self.by_domain.setdefault(str(domain).lower(), int(org_id))
        return next((self.by_domain[d] for d in domains if d in self.by_domain), None)


@dataclass(frozen=True, slots=True)
class ResolvedContact:
    id: int
    organization_id: int | None


def resolve_contacts(session: Session, requests: Sequence[ContactRequest]) -> list[ResolvedContact]:
    """One contact per request: the owner of its first known address, else one created for it.

    Unknown addresses are linked to that contact as claimed. Requests in one batch that share an
    unknown address share the contact created for it. A handful of statements however many requests.
    """
    keys_per = [list(dict.fromkeys((a.kind.value, a.value) for a in r.addresses)) for r in requests]
    all_keys = list(dict.fromkeys(k for keys in keys_per for k in keys))
    connection = session.connection()
    owners = {(kind, value): contact_id for kind, value, contact_id in _OWNERS.rows(connection, all_keys)}
    existing = {cid: (name, org) for cid, name, org in _NAMED.rows(connection, {(c,) for c in owners.values()})}
    organizations = _Organizations(session)
    Ref = tuple[str, int]  # ("old", contact id) or ("new", index into `new`)
    claimed: dict[tuple[str, str], Ref] = {}  # unknown address -> the contact it is linked to
    new: list[dict[str, Any]] = []
    plan: list[Ref] = []
    names: dict[int, str] = {}
    for request, keys in zip(requests, keys_per, strict=True):
        owner = next((owners[k] for k in keys if k in owners), None)
        ref: Ref
        if owner is not None:
            ref = ("old", owner)
            if request.name and not existing[owner][0]:
                names[owner] = request.name
        else:
            ref = next((claimed[k] for k in keys if k in claimed), ("new", len(new)))
            if ref == ("new", len(new)):
                new.append({"name": request.name, "language": request.language, "notes": "",
                            "organization_id": organizations.for_addresses(request.addresses),
                            "created_at": utcnow(), "updated_at": utcnow()})
        plan.append(ref)
        for key in keys:
            if key not in owners:
                claimed.setdefault(key, ref)
    new_ids = insert_rows(session, Contact, new)

    def resolved(ref: Ref) -> ResolvedContact:
        kind, value = ref
        if kind == "old":
            return ResolvedContact(value, existing[value][1])
        return ResolvedContact(new_ids[value], new[value]["organization_id"])

    if names:  # a Core executemany: the ORM form wants primary keys in every row
        connection.execute(_RENAME, [{"cid": cid, "cname": name} for cid, name in names.items()])
    insert_rows(session, ContactIdentity, [
        {"contact_id": resolved(ref).id, "kind": kind, "value": value, "method": LinkMethod.CLAIMED.value,
         "created_at": utcnow()} for (kind, value), ref in claimed.items()])
    insert_rows(session, AuditEvent, [
        audit_row(Actor.contact(cid), "contact.created", "contact", cid, {"name": row["name"]})
        for cid, row in zip(new_ids, new, strict=True)])
    return [resolved(ref) for ref in plan]


async def editable_contact(session: AsyncSession, contact_id: int) -> Contact:
    """The contact, locked for the transaction: 404 if missing, 409 if merged away (edit its target)."""
    contact = await session.get(Contact, contact_id, with_for_update=True)
    if contact is None:
        raise NotFound(f"contact {contact_id} not found")
    if contact.merged_into_id is not None:
        raise Conflict(f"contact {contact_id} was merged into contact {contact.merged_into_id}; "
                       "change that one (or undo the merge)")
    return contact


async def do_merge_contacts(session: AsyncSession, source_id: int, target_id: int, *, actor: Actor) -> ContactMerge:
    """Move every identity and ticket of ``source`` to ``target``; recorded so it can be undone."""
    if source_id == target_id:
        raise Conflict("cannot merge a contact into itself")
    source = await editable_contact(session, source_id)
    target = await editable_contact(session, target_id)
    identity_ids = list((await session.scalars(
        select(ContactIdentity.id).where(ContactIdentity.contact_id == source.id))).all())
    ticket_ids = list((await session.scalars(select(Ticket.id).where(Ticket.contact_id == source.id))).all())
    await session.execute(update(ContactIdentity).where(ContactIdentity.id.in_(identity_ids))
                          .values(contact_id=target.id))
    await session.execute(update(Ticket).where(Ticket.id.in_(ticket_ids)).values(contact_id=target.id))
    source.merged_into_id = target.id
    organization_copied = target.organization_id is None and source.organization_id is not None
    if organization_copied:
        target.organization_id = source.organization_id
    merge = ContactMerge(source_id=source.id, target_id=target.id, identity_ids=identity_ids,
                         ticket_ids=ticket_ids, organization_copied=organization_copied,
                         actor_id=actor.id if actor.kind == "user" else None)
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
    target = await session.get(Contact, merge.target_id)
    if target is None or target.merged_into_id is not None:
        raise Conflict(f"contact {merge.target_id} was merged into another contact since; undo that merge first")
    await session.execute(update(ContactIdentity).where(ContactIdentity.id.in_(merge.identity_ids))
                          .values(contact_id=merge.source_id))
    await session.execute(update(Ticket).where(Ticket.id.in_(merge.ticket_ids)).values(contact_id=merge.source_id))
    source.merged_into_id = None
    if merge.organization_copied and target.organization_id == source.organization_id:
        target.organization_id = None
    merge.undone_at = utcnow()
    record(session, actor, "contact.merge_undone", "contact", merge.source_id,
           {"merge_id": merge.id, "target_id": merge.target_id})
    emit(session, ContactsMerged(merge_id=merge.id, source_id=merge.source_id, target_id=merge.target_id,
                                 undone=True))
    return merge


async def do_update_contact(session: AsyncSession, contact_id: int, changes: dict[str, object], *,
                            actor: Actor) -> Contact:
    """Change name, organization, language or notes (an unknown organization is invalid input)."""
    contact = await editable_contact(session, contact_id)
    org_id = changes.get("organization_id")
    if org_id is not None and await session.get(Organization, org_id) is None:
        raise Invalid(f"organization_id: organization {org_id} does not exist")
    diff = {k: [getattr(contact, k), v] for k, v in changes.items() if getattr(contact, k) != v}
    for key, value in changes.items():
        setattr(contact, key, value)
    if diff:
        record(session, actor, "contact.updated", "contact", contact.id, diff)
    return contact


async def do_add_identity(session: AsyncSession, contact_id: int, address: Address, *, actor: Actor) -> ContactIdentity:
    """Link another address to a contact (by an agent). An address belongs to one contact only."""
    await editable_contact(session, contact_id)
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
