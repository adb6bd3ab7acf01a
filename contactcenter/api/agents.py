"""Agent endpoints: the staff list with routing profiles, user administration, presence, and skills.

Everyone signed in reads and sets their own presence; supervisors edit skills, languages and capacity
and set anyone's presence; admins create users, change roles, (de)activate users and manage skills.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from contactcenter.actions import agents as actions
from contactcenter.api.framework import Api, ApiRequest
from contactcenter.api.schemas.agents import (
    AgentIn,
    AgentOut,
    AgentPatch,
    AgentQuery,
    PresenceIn,
    SkillIn,
    SkillOut,
    SkillPatch,
)
from contactcenter.db.models import Skill, User
from contactcenter.domain.enums import Presence, Role
from contactcenter.errors import NotFound

api = Api()


async def agents_out(session: AsyncSession, users: Sequence[User]) -> list[AgentOut]:
    """Shape users with their skills (one query for all of them)."""
    levels = await actions.skill_levels(session, [u.id for u in users])
    return [AgentOut(id=u.id, email=u.email, name=u.name, role=Role(u.role), is_active=u.is_active,
                     languages=list(u.languages or []), capacity=dict(u.capacity or {}),
                     presence=Presence(u.presence), presence_changed_at=u.presence_changed_at,
                     skills=levels[u.id]) for u in users]


async def agent_out(session: AsyncSession, user_id: int) -> AgentOut:
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound(f"user {user_id} not found")
    return (await agents_out(session, [user]))[0]


def skill_out(skill: Skill) -> SkillOut:
    return SkillOut(id=skill.id, name=skill.name, description=skill.description)


# --- agents (the /me routes come first: /agents/{id} would not match "me" anyway) ----------------

@api.route("GET", "/agents", summary="Staff users with their skills, languages, capacity and presence",
           tag="agents", query=AgentQuery, response=AgentOut, list_response=True)
async def list_agents(req: ApiRequest) -> list[AgentOut]:
    q: AgentQuery = req.query
    query = select(User).order_by(User.name, User.id)
    if q.role is not None:
        query = query.where(User.role == q.role.value)
    if q.active is not None:
        query = query.where(User.is_active.is_(q.active))
    async with req.ctx.db.read() as session:
        return await agents_out(session, (await session.scalars(query)).all())


@api.route("GET", "/agents/me", summary="My own agent profile", tag="agents", response=AgentOut)
async def get_me(req: ApiRequest) -> AgentOut:
    async with req.ctx.db.read() as session:
        return await agent_out(session, req.user.id)


@api.route("PUT", "/agents/me/presence", summary="Set my presence (available, busy, away, offline)",
           tag="agents", body=PresenceIn, response=AgentOut, responses={409: "user deactivated"})
async def set_my_presence(req: ApiRequest) -> AgentOut:
    return await _set_presence(req, req.user.id)


@api.route("GET", "/agents/{id}", summary="One staff user", tag="agents", response=AgentOut)
async def get_agent(req: ApiRequest) -> AgentOut:
    async with req.ctx.db.read() as session:
        return await agent_out(session, req.path_id())


@api.route("POST", "/agents", summary="Create a staff user (admins)", tag="agents", role=Role.ADMIN,
           body=AgentIn, response=AgentOut, status=201, responses={409: "e-mail already taken"})
async def create_agent(req: ApiRequest) -> AgentOut:
    body: AgentIn = req.body
    async with req.ctx.db.write() as session:
        user = await actions.do_create_agent(
            session, email=body.email, name=body.name, role=body.role, password=body.password,
            languages=body.languages, capacity=body.capacity, skills=body.skills, actor=req.actor)
        return await agent_out(session, user.id)


@api.route("PATCH", "/agents/{id}", tag="agents", role=Role.SUPERVISOR, body=AgentPatch, response=AgentOut,
           summary="Change name, languages, capacity or skills (skills replace all); "
           "role and is_active: admins only",
           responses={409: "you cannot demote or deactivate yourself"})
async def update_agent(req: ApiRequest) -> AgentOut:
    body: AgentPatch = req.body
    async with req.ctx.db.write() as session:
        user = await actions.do_update_agent(session, req.path_id(), body.model_dump(exclude_unset=True),
                                             actor=req.actor)
        return await agent_out(session, user.id)


@api.route("PUT", "/agents/{id}/presence", tag="agents",
           summary="Set a user's presence (your own, or anyone's as supervisor)",
           body=PresenceIn, response=AgentOut, responses={409: "user deactivated"})
async def set_presence(req: ApiRequest) -> AgentOut:
    return await _set_presence(req, req.path_id())


async def _set_presence(req: ApiRequest, user_id: int) -> AgentOut:
    body: PresenceIn = req.body
    async with req.ctx.db.write() as session:
        user = await actions.do_set_presence(session, user_id, body.presence, actor=req.actor)
        return await agent_out(session, user.id)


# --- skills --------------------------------------------------------------------------------------

@api.route("GET", "/skills", summary="The skill catalogue", tag="agents", response=SkillOut,
           list_response=True)
async def list_skills(req: ApiRequest) -> list[SkillOut]:
    async with req.ctx.db.read() as session:
        skills = (await session.scalars(select(Skill).order_by(Skill.name))).all()
    return [skill_out(s) for s in skills]


@api.route("POST", "/skills", summary="Add a skill (admins)", tag="agents", role=Role.ADMIN, body=SkillIn,
           response=SkillOut, status=201, responses={409: "skill exists"})
async def create_skill(req: ApiRequest) -> SkillOut:
    body: SkillIn = req.body
    async with req.ctx.db.write() as session:
        return skill_out(await actions.do_create_skill(session, name=body.name, description=body.description,
                                                       actor=req.actor))


@api.route("PATCH", "/skills/{id}", summary="Change a skill's description (admins)", tag="agents",
           role=Role.ADMIN, body=SkillPatch, response=SkillOut)
async def update_skill(req: ApiRequest) -> SkillOut:
    body: SkillPatch = req.body
    async with req.ctx.db.write() as session:
        skill = await actions.do_update_skill(session, req.path_id(), body.model_dump(exclude_unset=True),
                                              actor=req.actor)
        return skill_out(skill)
