"""Passwords (argon2id), browser sessions and API tokens. Secrets are stored only as hashes."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import CursorResult, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from contactcenter.actions.audit import Actor, record
from contactcenter.db.models import ApiToken, Session, User
from contactcenter.db.types import utcnow
from contactcenter.domain.enums import Role
from contactcenter.domain.identities import normalize_email
from contactcenter.errors import Conflict, Invalid

_hasher = PasswordHasher()
# Verifying against this keeps unknown e-mails as slow as wrong passwords (no user enumeration by timing).
_DUMMY_HASH = _hasher.hash("not-a-password")
TOKEN_PREFIX = "cc_"  # noqa: S105 (a prefix, not a secret)
MIN_PASSWORD = 10
LAST_USED_PRECISION = timedelta(minutes=5)


def hash_secret(value: str) -> str:
    """sha256 hex of a high-entropy random secret (tokens, session ids); passwords use argon2 instead."""
    return hashlib.sha256(value.encode()).hexdigest()


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise Invalid(f"password must be at least {MIN_PASSWORD} characters")
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


async def do_create_user(session: AsyncSession, *, email: str, name: str, role: Role, password: str | None,
                         actor: Actor, languages: list[str] | None = None) -> User:
    email = normalize_email(email)
    if await session.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict(f"a user with e-mail {email} exists")
    user = User(email=email, name=name, role=role, password_hash=hash_password(password) if password else None,
                languages=languages or ["en"], capacity={}, presence="offline",
                password_changed_at=utcnow() if password else None)
    session.add(user)
    await session.flush()
    record(session, actor, "user.created", "user", user.id, {"email": email, "role": role.value})
    return user


async def do_set_password(session: AsyncSession, user: User, password: str, *, actor: Actor) -> None:
    """Change a password and end every session of that user."""
    user.password_hash = hash_password(password)
    user.password_changed_at = utcnow()
    await session.execute(delete(Session).where(Session.user_id == user.id))
    record(session, actor, "user.password_changed", "user", user.id, {})


async def authenticate(session: AsyncSession, email: str, password: str) -> User | None:
    """The active user with these credentials, or None. Rehashes outdated argon2 parameters."""
    user = await session.scalar(select(User).where(User.email == email.strip().lower()))
    if not verify_password(user.password_hash if user else None, password) or user is None or not user.is_active:
        return None
    assert user.password_hash is not None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    return user


@dataclass(frozen=True, slots=True)
class NewSession:
    cookie: str
    csrf_token: str


async def do_start_session(session: AsyncSession, user: User, hours: int, *,
                           replaces: str | None = None) -> NewSession:
    """A new session id (never one the browser sent: ``replaces``, the cookie it had, is ended)."""
    cookie, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    now = utcnow()
    if replaces:
        await session.execute(delete(Session).where(Session.token_hash == hash_secret(replaces)))
    session.add(Session(token_hash=hash_secret(cookie), user_id=user.id, csrf_token=csrf, created_at=now,
                        expires_at=now + timedelta(hours=hours)))
    await session.execute(delete(Session).where(Session.user_id == user.id, Session.expires_at < now))
    record(session, Actor.user(user.id, Role(user.role)), "user.login", "user", user.id, {})
    return NewSession(cookie, csrf)


async def do_end_session(session: AsyncSession, cookie: str) -> None:
    await session.execute(delete(Session).where(Session.token_hash == hash_secret(cookie)))


async def do_create_token(session: AsyncSession, user: User, name: str, *, actor: Actor,
                          days: int | None = None) -> tuple[ApiToken, str]:
    """A new API token; the plain value is returned once and only its hash is kept. ``days``: its lifetime
    (None or 0: until revoked)."""
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user_id=user.id, name=name, token_hash=hash_secret(plain),
                     expires_at=utcnow() + timedelta(days=days) if days else None)
    session.add(token)
    await session.flush()
    record(session, actor, "token.created", "user", user.id, {"token_id": token.id, "name": name})
    return token, plain


async def do_revoke_token(session: AsyncSession, token_id: int, user_id: int, *, actor: Actor) -> bool:
    active = (ApiToken.id == token_id, ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
    result = cast(CursorResult[Any], await session.execute(update(ApiToken).where(*active).values(revoked_at=utcnow())))
    if result.rowcount:
        record(session, actor, "token.revoked", "user", user_id, {"token_id": token_id})
    return bool(result.rowcount)


@dataclass(frozen=True, slots=True)
class Principal:
    user: User
    via: str  # "token" or "session"
    csrf_token: str | None = None
    token_id: int | None = None  # set when the token's last_used_at is due for an update


async def principal_from_token(session: AsyncSession, plain: str) -> Principal | None:
    if not plain.startswith(TOKEN_PREFIX):
        return None
    row = (await session.execute(select(User, ApiToken.id, ApiToken.last_used_at).join(
        ApiToken, ApiToken.user_id == User.id).where(
        ApiToken.token_hash == hash_secret(plain), ApiToken.revoked_at.is_(None), User.is_active,
        or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > utcnow())))).first()
    if row is None:
        return None
    user, token_id, last_used = row
    stale = last_used is None or utcnow() - last_used > LAST_USED_PRECISION
    return Principal(user, "token", token_id=token_id if stale else None)


async def do_mark_token_used(session: AsyncSession, token_id: int) -> None:
    """Record when a token was last used (to the nearest few minutes: one write per token per interval)."""
    await session.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=utcnow()))


async def principal_from_cookie(session: AsyncSession, cookie: str) -> Principal | None:
    row = (await session.execute(select(User, Session.csrf_token).join(Session, Session.user_id == User.id).where(
        Session.token_hash == hash_secret(cookie), Session.expires_at > utcnow(), User.is_active))).first()
    return Principal(row[0], "session", row[1]) if row else None
