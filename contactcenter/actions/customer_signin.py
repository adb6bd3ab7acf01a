"""Customers' sign-in to "my tickets" by a link e-mailed to them: single use, expiring, stored hashed.

Writers take the caller's session and never commit.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from contactcenter.actions.audit import SYSTEM, Actor, record
from contactcenter.auth import hash_secret
from contactcenter.db.models import Contact, ContactIdentity, CustomerSession, MagicLink
from contactcenter.domain.enums import IdentityKind
from contactcenter.events import MagicLinkRequested, emit
from contactcenter.link_tokens import link_token, looks_like_token, new_nonce, token_hash

PURPOSE = "signin"


def signin_url(base_url: str, secret: bytes, link: MagicLink) -> str:
    return f"{base_url}/my/signin?token={link_token(secret, PURPOSE, link.nonce)}"


async def do_request_magic_link(session: AsyncSession, email: str, secret: bytes, minutes: float,
                                now: datetime) -> MagicLink | None:
    """A link for the contact owning this e-mail address (None, and nothing written, when nobody does); the
    e-mail leaves after commit (``portal.magic_link``)."""
    contact_id = await session.scalar(
        select(ContactIdentity.contact_id).join(Contact, Contact.id == ContactIdentity.contact_id)
        .where(ContactIdentity.kind == IdentityKind.EMAIL, ContactIdentity.value == email,
               Contact.merged_into_id.is_(None)))
    if contact_id is None:
        return None
    nonce = new_nonce()
    link = MagicLink(email=email, contact_id=contact_id, nonce=nonce, token_hash=token_hash(secret, PURPOSE, nonce),
                     created_at=now, expires_at=now + timedelta(minutes=minutes))
    session.add(link)
    await session.flush()
    record(session, SYSTEM, "portal.magic_link", "contact", contact_id, {"link_id": link.id})
    emit(session, MagicLinkRequested(link_id=link.id))
    return link


async def do_redeem_magic_link(session: AsyncSession, token: str, hours: float,
                               now: datetime) -> tuple[int, str] | None:
    """Use the link once: (contact id, new session cookie value), or None when it is unknown, used or expired.
    The conditional UPDATE (``used_at IS NULL``) is what makes it single-use, also under concurrency."""
    if not looks_like_token(token):
        return None
    row = (await session.execute(
        update(MagicLink).where(MagicLink.token_hash == hash_secret(token), MagicLink.used_at.is_(None),
                                MagicLink.expires_at > now)
        .values(used_at=now).returning(MagicLink.id, MagicLink.contact_id)
        .execution_options(synchronize_session=False))).first()
    if row is None:
        return None
    cookie = secrets.token_urlsafe(32)
    session.add(CustomerSession(token_hash=hash_secret(cookie), contact_id=row.contact_id, created_at=now,
                                expires_at=now + timedelta(hours=hours)))
    record(session, Actor.contact(row.contact_id), "portal.signed_in", "contact", row.contact_id, {"link_id": row.id})
    return row.contact_id, cookie


async def customer_of(session: AsyncSession, cookie: str, now: datetime) -> int | None:
    """The contact signed in with this cookie value, if its session has not expired."""
    if not cookie or len(cookie) > 100:
        return None
    return await session.scalar(select(CustomerSession.contact_id).where(
        CustomerSession.token_hash == hash_secret(cookie), CustomerSession.expires_at > now))


async def do_end_customer_session(session: AsyncSession, cookie: str) -> None:
    if cookie and len(cookie) <= 100:
        await session.execute(delete(CustomerSession).where(CustomerSession.token_hash == hash_secret(cookie)))
