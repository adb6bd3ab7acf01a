"""Staff users as the router sees them (skills, languages, capacity, presence) and the skill catalogue.

Every writer records an audit row, emits AgentChanged when an agent changed, and never commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from contactcenter.actions.audit import Actor, record
from contactcenter.auth import do_create_user
from contactcenter.db.models import AgentSkill, ApiToken, Session, Skill, User
from contactcenter.db.types import utcnow
from contactcenter.domain.enums import Presence, Role
from contactcenter.domain.identities import AddressError, normalize_email
from contactcenter.errors import Conflict, Forbidden, Invalid, NotFound
from contactcenter.events import AgentChanged, emit

ADMIN_ONLY = frozenset({"role", "is_active"})
EDITABLE = frozenset({"name", "role", "is_active", "languages", "capacity", "skills"})


async def skill_levels(session: AsyncSession, user_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """``{user_id: {skill name: level}}`` for the given users (every id present, possibly empty)."""
    ids = list(user_ids)
    levels: dict[int, dict[str, int]] = {user_id: {} for user_id in ids}
    if ids:
        rows = await session.execute(select(AgentSkill.user_id, Skill.name, AgentSkill.level)
                                     .join(Skill, Skill.id == AgentSkill.skill_id)
                                     .where(AgentSkill.user_id.in_(ids)).order_by(Skill.name))
        for user_id, name, level in rows.all():
            levels[user_id][name] = level
    return levels


async def _replace_skills(session: AsyncSession, user_id: int, wanted: Mapping[str, int]) -> None:
    rows = await session.execute(select(Skill.name, Skill.id).where(Skill.name.in_(list(wanted))))
    found: dict[str, int] = {name: skill_id for name, skill_id in rows.all()}
    unknown = sorted(set(wanted) - set(found))
    if unknown:
        raise Invalid(f"unknown skill(s): {', '.join(unknown)}; create them first (POST /skills)")
    bad = {name: level for name, level in wanted.items() if not 1 <= level <= 5}
    if bad:
        raise Invalid(f"skill levels must be 1..5: {bad}")
    await session.execute(delete(AgentSkill).where(AgentSkill.user_id == user_id))
    session.add_all([AgentSkill(user_id=user_id, skill_id=found[name], level=level)
                     for name, level in wanted.items()])
    await session.flush()


def _check_capacity(capacity: Mapping[str, int]) -> dict[str, int]:
    if any(not isinstance(v, int) or isinstance(v, bool) or v < 0 for v in capacity.values()):
        raise Invalid("capacity values must be non-negative integers")
    return dict(capacity)


async def _user(session: AsyncSession, user_id: int, *, lock: bool = False) -> User:
    user = await session.get(User, user_id, with_for_update=lock)
    if user is None:
        raise NotFound(f"user {user_id} not found")
    return user


async def do_create_agent(session: AsyncSession, *, email: str, name: str, role: Role, password: str | None,
                          languages: list[str] | None = None, capacity: Mapping[str, int] | None = None,
                          skills: Mapping[str, int] | None = None, actor: Actor) -> User:
    """Create a staff user (admins only) with their routing profile."""
    if actor.kind == "user" and actor.role != Role.ADMIN:
        raise Forbidden("only admins create users")
    try:
        email = normalize_email(email)
    except AddressError as exc:
        raise Invalid(str(exc)) from None
    try:
        user = await do_create_user(session, email=email, name=name, role=role, password=password,
                                    actor=actor, languages=list(dict.fromkeys(languages or ["en"])))
    except IntegrityError:  # a concurrent request created the same e-mail first
        raise Conflict(f"a user with e-mail {email} exists") from None
    user.capacity = _check_capacity(capacity or {})
    if skills:
        await _replace_skills(session, user.id, skills)
    if capacity or skills:
        record(session, actor, "user.updated", "user", user.id,
               {"capacity": [{}, user.capacity], "skills": [{}, dict(skills or {})]})
    emit(session, AgentChanged(user_id=user.id, fields=("created",)))
    return user


async def _end_access(session: AsyncSession, user_id: int) -> dict[str, int]:
    """Sign a user out everywhere: delete their sessions and revoke their API tokens."""
    sessions = cast("CursorResult[Any]", await session.execute(
        delete(Session).where(Session.user_id == user_id)))
    tokens = cast("CursorResult[Any]", await session.execute(
        update(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())))
    return {"sessions_ended": sessions.rowcount, "tokens_revoked": tokens.rowcount}


async def do_update_agent(session: AsyncSession, user_id: int, changes: Mapping[str, Any], *,
                          actor: Actor) -> User:
    """Change name, languages, capacity or skills (supervisors and admins), role or is_active (admins).

    ``skills`` replaces every skill of the user. Nobody can demote or deactivate themselves, so an
    organization always keeps the admin who is acting. Deactivating ends all sessions and API tokens.
    """
    unknown = sorted(set(changes) - EDITABLE)
    if unknown:
        raise Invalid(f"cannot change {', '.join(unknown)}")
    if actor.kind == "user":
        if actor.role is None or not actor.role.at_least(Role.SUPERVISOR):
            raise Forbidden("changing agents needs the supervisor role")
        if ADMIN_ONLY & set(changes) and actor.role != Role.ADMIN:
            raise Forbidden(f"only admins change {' or '.join(sorted(ADMIN_ONLY & set(changes)))}")
    user = await _user(session, user_id, lock=True)
    if actor.kind == "user" and actor.id == user.id:
        if "role" in changes and Role(changes["role"]) != Role(user.role):
            raise Conflict("you cannot change your own role; ask another admin")
        if changes.get("is_active") is False and user.is_active:
            raise Conflict("you cannot deactivate yourself; ask another admin")
    diff: dict[str, list[Any]] = {}
    for key in ("name", "role", "is_active", "languages", "capacity"):
        if key not in changes:
            continue
        value = changes[key]
        if key == "role":
            value = Role(value).value
        elif key == "languages":
            value = list(dict.fromkeys(value))
        elif key == "capacity":
            value = _check_capacity(value)
        if getattr(user, key) != value:
            diff[key] = [getattr(user, key), value]
            setattr(user, key, value)
    if "skills" in changes:
        before = (await skill_levels(session, [user.id]))[user.id]
        wanted = dict(changes["skills"])
        if before != wanted:
            await _replace_skills(session, user.id, wanted)
            diff["skills"] = [before, wanted]
    if not diff:
        return user
    deactivated = diff.get("is_active") == [True, False]
    if deactivated and user.presence != Presence.OFFLINE:
        diff["presence"] = [user.presence, Presence.OFFLINE.value]
        user.presence = Presence.OFFLINE
        user.presence_changed_at = utcnow()
    record(session, actor, "user.updated", "user", user.id, diff)
    if deactivated:
        record(session, actor, "user.deactivated", "user", user.id, await _end_access(session, user.id))
    elif "role" in diff:  # new privileges start with a new session id: the browser signs in again
        await session.execute(delete(Session).where(Session.user_id == user.id))
    await session.flush()
    emit(session, AgentChanged(user_id=user.id, fields=tuple(sorted(diff))))
    return user


async def do_set_presence(session: AsyncSession, user_id: int, presence: Presence, *, actor: Actor) -> User:
    """Set a user's presence: their own, or anyone's for supervisors and admins. Repeating it is a no-op."""
    if actor.kind == "user" and actor.id != user_id and (actor.role is None or
                                                         not actor.role.at_least(Role.SUPERVISOR)):
        raise Forbidden("only supervisors set another user's presence")
    user = await _user(session, user_id, lock=True)
    if not user.is_active:
        raise Conflict(f"user {user_id} is deactivated")
    presence = Presence(presence)
    if user.presence == presence:
        return user
    record(session, actor, "user.presence_changed", "user", user.id,
           {"presence": [user.presence, presence.value]})
    user.presence = presence
    user.presence_changed_at = utcnow()
    await session.flush()
    emit(session, AgentChanged(user_id=user.id, fields=("presence",)))
    return user


# --- skills --------------------------------------------------------------------------------------

async def do_create_skill(session: AsyncSession, *, name: str, description: str = "", actor: Actor) -> Skill:
    if await session.scalar(select(Skill.id).where(Skill.name == name)) is not None:
        raise Conflict(f"skill {name!r} exists")
    skill = Skill(name=name, description=description)
    session.add(skill)
    try:
        await session.flush()
    except IntegrityError:
        raise Conflict(f"skill {name!r} exists") from None
    record(session, actor, "skill.created", "skill", skill.id, {"name": name})
    return skill


async def do_update_skill(session: AsyncSession, skill_id: int, changes: Mapping[str, Any], *,
                          actor: Actor) -> Skill:
    """Change a skill's description. Names are not changed: tickets and queues refer to them."""
    if set(changes) - {"description"}:
        raise Invalid("only the description of a skill can change")
    skill = await session.get(Skill, skill_id, with_for_update=True)
    if skill is None:
        raise NotFound(f"skill {skill_id} not found")
    if "description" in changes and changes["description"] != skill.description:
        record(session, actor, "skill.updated", "skill", skill.id,
               {"description": [skill.description, changes["description"]]})
        skill.description = changes["description"]
    return skill
