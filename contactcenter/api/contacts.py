"""Contact endpoints: search, the customer 360 view, edits, identities, merge and undo."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import ColumnElement, Select, func, or_, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from contactcenter.actions import contacts as actions
from contactcenter.api.directory import contract_out, organization_out
from contactcenter.api.framework import Api, ApiRequest
from contactcenter.api.schemas.calls import CallOut
from contactcenter.api.schemas.contacts import (
    Contact360,
    ContactMergeOut,
    ContactOut,
    ContactPage,
    ContactPatch,
    ContactSearch,
    IdentityIn,
    IdentityOut,
)
from contactcenter.api.schemas.tickets import MergeIn
from contactcenter.api.tickets import decode_cursor, encode_cursor, tickets_out
from contactcenter.db.keys import key_in
from contactcenter.db.models import (
    Call,
    Contact,
    ContactIdentity,
    ContactMerge,
    Organization,
    ServiceContract,
    Ticket,
)
from contactcenter.domain.enums import IdentityKind
from contactcenter.domain.identities import Address, AddressError, normalize_email, normalize_phone
from contactcenter.errors import Conflict, Invalid, NotFound

api = Api()
TICKETS_IN_360 = 100
CALLS_IN_360 = 50


def identity_out(identity: ContactIdentity) -> IdentityOut:
    return IdentityOut(id=identity.id, kind=identity.kind, value=identity.value, method=identity.method,
                       created_at=identity.created_at)


def merge_out(merge: ContactMerge) -> ContactMergeOut:
    return ContactMergeOut(id=merge.id, source_id=merge.source_id, target_id=merge.target_id,
                           identity_ids=list(merge.identity_ids), ticket_ids=list(merge.ticket_ids),
                           actor_id=merge.actor_id, created_at=merge.created_at, undone_at=merge.undone_at)


async def contacts_out(session: AsyncSession, contacts: Sequence[Contact]) -> list[ContactOut]:
    """Shape contacts with their identities (one query for all of them)."""
    identities: dict[int, list[IdentityOut]] = {c.id: [] for c in contacts}
    if contacts:
        for identity in (await session.scalars(select(ContactIdentity).where(
                ContactIdentity.contact_id.in_(list(identities))).order_by(ContactIdentity.id))).all():
            identities[identity.contact_id].append(identity_out(identity))
    return [ContactOut(id=c.id, name=c.name, organization_id=c.organization_id, language=c.language,
                       notes=c.notes, merged_into_id=c.merged_into_id, created_at=c.created_at,
                       identities=identities[c.id])
            for c in contacts]


def identity_keys(q: str, region: str) -> list[tuple[str, str]]:
    """The identity values a search text could be: an e-mail, a phone number (any common writing,
    Persian digits too) or a Telegram / chat id as given."""
    keys = [(IdentityKind.TELEGRAM.value, q), (IdentityKind.CHAT.value, q)]
    if "@" in q:
        keys.append((IdentityKind.EMAIL.value, q.lower()))
    if any(c.isdigit() for c in q):
        with contextlib.suppress(AddressError):
            keys.append((IdentityKind.PHONE.value, normalize_phone(q, region)))
    return keys


def search_condition(q: str, region: str) -> ColumnElement[bool]:
    """Contacts whose name contains ``q`` (case-insensitive) or who own an identity equal to it."""
    text = q.strip()
    if not text:
        return true()
    owners = select(ContactIdentity.contact_id).where(
        key_in((ContactIdentity.kind, ContactIdentity.value), identity_keys(text, region)))
    return or_(Contact.name.icontains(text, autoescape=True), Contact.id.in_(owners))


@api.route("GET", "/contacts", tag="contacts",
           summary="Find contacts by name, e-mail, phone or chat id (merged ones excluded)",
           query=ContactSearch, response=ContactPage)
async def list_contacts(req: ApiRequest) -> ContactPage:
    q: ContactSearch = req.query
    query = select(Contact).where(Contact.merged_into_id.is_(None))
    if q.q:
        query = query.where(search_condition(q.q, req.ctx.settings.webform.default_region))
    if q.organization_id is not None:
        query = query.where(Contact.organization_id == q.organization_id)
    if q.cursor:
        query = query.where(Contact.id < decode_cursor(q.cursor))
    async with req.ctx.db.read() as session:
        contacts = (await session.scalars(query.order_by(Contact.id.desc()).limit(q.limit + 1))).all()
        items = await contacts_out(session, contacts[: q.limit])
    more = len(contacts) > q.limit
    return ContactPage(items=items, next_cursor=encode_cursor(items[-1].id) if more else None)


async def contact_360(session: AsyncSession, contact_id: int) -> Contact360:
    contact = await session.get(Contact, contact_id)
    if contact is None:
        raise NotFound(f"contact {contact_id} not found")
    base = (await contacts_out(session, [contact]))[0]
    org = await session.get(Organization, contact.organization_id) if contact.organization_id else None
    contracts = [] if org is None else (await session.scalars(
        select(ServiceContract).where(ServiceContract.organization_id == org.id)
        .order_by(ServiceContract.starts_on.desc(), ServiceContract.id.desc()))).all()
    query = select(Ticket, Contact.name).join(Contact, Contact.id == Ticket.contact_id) \
        .where(Ticket.contact_id == contact.id).order_by(Ticket.id.desc()).limit(TICKETS_IN_360)
    tickets = await tickets_out(session, cast("Select[Any]", query))
    ticket_count = await session.scalar(select(func.count()).select_from(Ticket)
                                        .where(Ticket.contact_id == contact.id))
    merges = (await session.scalars(select(ContactMerge).where(
        or_(ContactMerge.source_id == contact.id, ContactMerge.target_id == contact.id))
        .order_by(ContactMerge.id.desc()))).all()
    calls = (await session.scalars(select(Call).where(Call.contact_id == contact.id)
                                   .order_by(Call.id.desc()).limit(CALLS_IN_360))).all()
    return Contact360(**base.model_dump(), organization=organization_out(org) if org else None,
                      contracts=[contract_out(c) for c in contracts], tickets=tickets,
                      ticket_count=int(ticket_count or 0),
                      merges=[merge_out(m) for m in merges], calls=[CallOut.model_validate(c) for c in calls])


@api.route("GET", "/contacts/{id}", tag="contacts", response=Contact360,
           summary="The customer 360: identities, organization, contracts, every ticket, merges. "
           "A merged contact answers with merged_into_id set.")
async def get_contact(req: ApiRequest) -> Contact360:
    async with req.ctx.db.read() as session:
        return await contact_360(session, req.path_id())


@api.route("PATCH", "/contacts/{id}", summary="Change a contact's name, organization, language or notes",
           tag="contacts", body=ContactPatch, response=ContactOut, responses={409: "the contact was merged"})
async def update_contact(req: ApiRequest) -> ContactOut:
    body: ContactPatch = req.body
    changes = body.model_dump(exclude_unset=True)
    async with req.ctx.db.write() as session:
        contact = await actions.do_update_contact(session, req.path_id(), changes, actor=req.actor)
        await session.flush()
        return (await contacts_out(session, [contact]))[0]


def parse_address(body: IdentityIn, region: str) -> Address:
    """Normalize an identity the way intake does, so the same address always matches the same contact."""
    kind = IdentityKind(body.kind)
    try:
        if kind == IdentityKind.EMAIL:
            return Address(kind, normalize_email(body.value))
        if kind == IdentityKind.PHONE:
            return Address(kind, normalize_phone(body.value, region))
    except AddressError as exc:
        raise Invalid(str(exc)) from None
    value = body.value.strip()
    if not value or any(c.isspace() for c in value):
        raise Invalid(f"a {kind.value} id must be one word without spaces")
    return Address(kind, value)


@api.route("POST", "/contacts/{id}/identities", summary="Link another e-mail, phone, Telegram or chat id",
           tag="contacts", body=IdentityIn, response=IdentityOut, status=201,
           responses={409: "the address belongs to another contact, or this contact was merged"})
async def add_identity(req: ApiRequest) -> IdentityOut:
    address = parse_address(req.body, req.ctx.settings.webform.default_region)
    try:
        async with req.ctx.db.write() as session:
            contact = await actions.editable_contact(session, req.path_id())
            identity = await actions.do_add_identity(session, contact.id, address, actor=req.actor)
            return identity_out(identity)
    except IntegrityError:  # linked concurrently by someone else: UNIQUE(kind, value) decided
        raise Conflict(f"{address.kind.value} {address.value} already belongs to a contact") from None


@api.route("POST", "/contacts/{id}/merge", tag="contacts",
           summary="Merge this contact into another (identities and tickets move; undoable)",
           body=MergeIn, response=ContactMergeOut, status=201,
           responses={409: "same contact, or one of them was merged already"})
async def merge_contact(req: ApiRequest) -> ContactMergeOut:
    body: MergeIn = req.body
    async with req.ctx.db.write() as session:
        source_id = req.path_id()
        # Lock both rows in id order: two opposite merges (A into B, B into A) must not both succeed.
        for contact_id in sorted({source_id, body.into}):
            await session.get(Contact, contact_id, with_for_update=True)
        source = await actions.editable_contact(session, source_id)
        target = await session.get(Contact, body.into)
        if target is None:
            raise Invalid(f"into: contact {body.into} does not exist")
        if target.merged_into_id is not None:
            raise Conflict(f"contact {target.id} was itself merged into contact {target.merged_into_id}; "
                           "merge into that one")
        merge = await actions.do_merge_contacts(session, source.id, target.id, actor=req.actor)
        return merge_out(merge)


@api.route("POST", "/contact-merges/{id}/undo", tag="contacts",
           summary="Undo a contact merge: give back exactly what it moved",
           response=ContactMergeOut, responses={409: "already undone, or changed since"})
async def undo_contact_merge(req: ApiRequest) -> ContactMergeOut:
    async with req.ctx.db.write() as session:
        merge_id = req.path_id()
        # Lock the merge row: a concurrent undo waits, then sees it undone.
        await session.get(ContactMerge, merge_id, with_for_update=True)
        merge = await actions.do_undo_contact_merge(session, merge_id, actor=req.actor)
        await session.flush()
        return merge_out(merge)
