"""Invitations: an admin invites someone by e-mail; the link sets their password once, then is spent.

The link's token is shown once; only its sha256 is stored. Accepting marks the invite used with a
conditional UPDATE, so two clicks at once cannot both set a password.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from contactcenter.actions.agents import do_create_agent
from contactcenter.actions.audit import Actor, record
from contactcenter.auth import do_set_password, hash_secret
from contactcenter.db.models import Invite, User
from contactcenter.db.types import utcnow
from contactcenter.domain.enums import Role
from contactcenter.domain.identities import AddressError, normalize_email
from contactcenter.errors import Conflict, Invalid, NotFound

INVITE_PREFIX = "inv_"


async def do_invite_user(session: AsyncSession, *, email: str, name: str, role: Role, languages: list[str],
                         hours: int, actor: Actor) -> tuple[User, Invite, str]:
    """Create the user without a password (or re-invite one who never set theirs) and a fresh invite.
    Earlier unused invites of that user stop working. Returns the plain token once."""
    try:
        email = normalize_email(email)
    except AddressError as exc:
        raise Invalid(str(exc)) from None
    user = await session.scalar(select(User).where(User.email == email))
    if user is None:
        user = await do_create_agent(session, email=email, name=name, role=role, password=None,
                                     languages=languages, actor=actor)
    elif user.password_hash is not None or not user.is_active:
        raise Conflict(f"a user with e-mail {email} exists and has signed in before")
    await session.execute(delete(Invite).where(Invite.user_id == user.id, Invite.used_at.is_(None)))
    plain = INVITE_PREFIX + secrets.token_urlsafe(32)
    invite = Invite(token_hash=hash_secret(plain), user_id=user.id, created_by=actor.id,
                    expires_at=utcnow() + timedelta(hours=hours))
    session.add(invite)
    await session.flush()
    record(session, actor, "user.invited", "user", user.id, {"invite_id": invite.id, "role": user.role,
                                                             "expires_at": invite.expires_at.isoformat()})
    return user, invite, plain


async def do_accept_invite(session: AsyncSession, token: str, password: str) -> User:
    """Set the invited user's password with a valid, unused, unexpired link (404 otherwise, whatever the reason)."""
    refused = NotFound("this invitation link is not valid: it is unknown, used or expired")
    if not token.startswith(INVITE_PREFIX):
        raise refused
    now = utcnow()
    result = cast(CursorResult[Any], await session.execute(
        update(Invite).where(Invite.token_hash == hash_secret(token), Invite.used_at.is_(None),
                             Invite.expires_at > now).values(used_at=now).returning(Invite.user_id)))
    user_id = result.scalar_one_or_none()
    user = await session.get(User, user_id) if user_id is not None else None
    if user is None or not user.is_active:
        raise refused
    await do_set_password(session, user, password, actor=Actor.user(user.id, Role(user.role)))
    record(session, Actor.user(user.id, Role(user.role)), "user.invite_accepted", "user", user.id, {})
    return user
