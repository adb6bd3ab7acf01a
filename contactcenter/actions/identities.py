"""Verified links between identities: one customer, many channels."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from contactcenter.actions.audit import Actor, record
from contactcenter.actions.contacts import do_merge_contacts
from contactcenter.db.keys import key_in
from contactcenter.db.models import ContactIdentity
from contactcenter.domain.enums import LinkMethod
from contactcenter.domain.identities import Address


async def do_link_verified(session: AsyncSession, address: Address, proven: Address, *, actor: Actor) -> int | None:
    """``address`` proved that it owns ``proven`` (e.g. Telegram vouches that a chat's user has this phone number).

    Afterwards both identities belong to one contact and are marked verified: when ``proven`` belongs to
    another contact, the contact of ``address`` is merged into it (a recorded, undoable contact merge), so
    the timeline of that contact shows every channel. Idempotent. Returns the contact id, or None when
    ``address`` is unknown.
    """
    keys = [(address.kind.value, address.value), (proven.kind.value, proven.value)]
    rows = {(i.kind, i.value): i for i in (await session.scalars(
        select(ContactIdentity).where(key_in((ContactIdentity.kind, ContactIdentity.value), keys))
        .with_for_update())).all()}
    own = rows.get(keys[0])
    if own is None:
        return None
    other = rows.get(keys[1])
    if other is None:
        other = ContactIdentity(contact_id=own.contact_id, kind=proven.kind.value, value=proven.value,
                                method=LinkMethod.VERIFIED.value)
        session.add(other)
        await session.flush()
        record(session, actor, "contact.identity_added", "contact", own.contact_id,
               {"kind": proven.kind.value, "value": proven.value, "method": LinkMethod.VERIFIED.value})
    elif other.contact_id != own.contact_id:
        await do_merge_contacts(session, own.contact_id, other.contact_id, actor=actor)
        await session.refresh(own)
    for identity in (own, other):
        if identity.method != LinkMethod.VERIFIED:
            record(session, actor, "contact.identity_verified", "contact", identity.contact_id,
                   {"kind": identity.kind, "value": identity.value, "was": identity.method})
            identity.method = LinkMethod.VERIFIED.value
    return other.contact_id
