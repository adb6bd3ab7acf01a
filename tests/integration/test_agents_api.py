"""Agents, skills and presence over the API: roles, replacement of skills, deactivation, audit and events."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from conftest import Staff, create_staff
from sqlalchemy import select

from contactcenter.context import CTX
from contactcenter.db.models import ApiToken, AuditEvent, OutboxEvent, Session
from contactcenter.domain.enums import Role

Client = TestClient[Any, Any]
V1 = "/api/v1"


async def call(client: Client, staff: Staff | None, method: str, path: str, body: Any = None,
               status: int = 200) -> Any:
    response = await client.request(method, V1 + path, json=body, headers=staff.headers if staff else {})
    assert response.status == status, (method, path, await response.text())
    return await response.json()


async def agent_events(client: Client, user_id: int) -> list[tuple[str, ...]]:
    async with client.app[CTX].db.read() as session:
        payloads = (await session.scalars(select(OutboxEvent.payload).where(OutboxEvent.topic == "agent.changed")
                                          .order_by(OutboxEvent.id))).all()
    return [tuple(p["fields"]) for p in payloads if p["user_id"] == user_id]


async def user_audit(client: Client, user_id: int) -> list[tuple[str, int | None]]:
    async with client.app[CTX].db.read() as session:
        rows = await session.execute(select(AuditEvent.action, AuditEvent.actor_id).where(
            AuditEvent.object_type == "user", AuditEvent.object_id == user_id).order_by(AuditEvent.id))
        return [(action, actor_id) for action, actor_id in rows.all()]


async def make_skills(client: Client, admin: Staff, *names: str) -> None:
    for name in names:
        await call(client, admin, "POST", "/skills", {"name": name, "description": f"{name} questions"}, 201)


async def test_skills_catalogue(client: Client, agent: Staff, admin: Staff) -> None:
    await make_skills(client, admin, "billing", "technical")
    await call(client, admin, "POST", "/skills", {"name": "billing"}, 409)
    await call(client, admin, "POST", "/skills", {"name": "two words"}, 422)
    await call(client, agent, "POST", "/skills", {"name": "mine"}, 403)
    skills = await call(client, agent, "GET", "/skills")
    assert [s["name"] for s in skills] == ["billing", "technical"]
    changed = await call(client, admin, "PATCH", f"/skills/{skills[0]['id']}", {"description": "Money"})
    assert changed == {**skills[0], "description": "Money"}
    await call(client, admin, "PATCH", f"/skills/{skills[0]['id']}", {"name": "renamed"}, 422)
    await call(client, admin, "PATCH", "/skills/999999", {"description": "x"}, 404)


async def test_admin_creates_agent_and_supervisor_replaces_skills(client: Client, agent: Staff, supervisor: Staff,
                                                                 admin: Staff) -> None:
    await make_skills(client, admin, "billing", "technical", "complaints")
    created = await call(client, admin, "POST", "/agents", {
        "email": " Nima@Example.COM ", "name": "Nima", "password": "a long password!", "languages": ["fa", "en"],
        "capacity": {"email": 5, "chat": 2}, "skills": {"billing": 3}}, 201)
    assert (created["email"], created["role"], created["is_active"], created["presence"]) == \
        ("nima@example.com", "agent", True, "offline")
    assert created["skills"] == {"billing": 3} and created["capacity"] == {"email": 5, "chat": 2}
    uid = created["id"]
    await call(client, admin, "POST", "/agents", {"email": "nima@example.com", "name": "Twin"}, 409)
    await call(client, admin, "POST", "/agents", {"email": "not-an-email", "name": "X"}, 422)
    await call(client, admin, "POST", "/agents", {"email": "x@example.com", "name": "X", "password": "short"}, 422)
    await call(client, admin, "POST", "/agents", {"email": "y@example.com", "name": "Y", "skills": {"cooking": 2}},
               422)
    await call(client, supervisor, "POST", "/agents", {"email": "z@example.com", "name": "Z"}, 403)

    replaced = await call(client, supervisor, "PATCH", f"/agents/{uid}",
                          {"skills": {"technical": 5, "complaints": 1}, "capacity": {"email": 8},
                           "languages": ["en"]})
    assert replaced["skills"] == {"complaints": 1, "technical": 5}  # billing is gone: skills replace
    assert replaced["capacity"] == {"email": 8} and replaced["languages"] == ["en"]
    for bad in ({"skills": {"technical": 6}}, {"skills": {"technical": 0}}, {"skills": {"unknown": 2}},
                {"capacity": {"email": -1}}, {"capacity": {"email": "many"}}, {"skills": None},
                {"presence": "available"}, {"languages": ["english please"]}):
        error = (await call(client, supervisor, "PATCH", f"/agents/{uid}", bad, 422))["error"]
        assert error["code"] == "invalid", bad
    unknown = await call(client, supervisor, "PATCH", f"/agents/{uid}", {"skills": {"cooking": 2}}, 422)
    assert "cooking" in unknown["error"]["message"]
    assert (await call(client, agent, "GET", f"/agents/{uid}"))["skills"] == {"complaints": 1, "technical": 5}
    await call(client, agent, "PATCH", f"/agents/{uid}", {"name": "Hacker"}, 403)
    await call(client, supervisor, "PATCH", "/agents/999999", {"name": "Ghost"}, 404)

    listed = await call(client, agent, "GET", "/agents")
    assert {a["email"] for a in listed} == {"agent@test.example", "supervisor@test.example", "admin@test.example",
                                            "nima@example.com"}
    assert [a["id"] for a in await call(client, agent, "GET", "/agents?role=admin")] == [admin.user_id]
    assert await user_audit(client, uid) == [("user.created", admin.user_id), ("user.updated", admin.user_id),
                                             ("user.updated", supervisor.user_id)]
    assert await agent_events(client, uid) == [("created",), ("capacity", "languages", "skills")]


async def test_only_admins_change_roles_and_nobody_demotes_themselves(client: Client, agent: Staff,
                                                                      supervisor: Staff, admin: Staff) -> None:
    denied = await call(client, supervisor, "PATCH", f"/agents/{agent.user_id}", {"role": "supervisor"}, 403)
    assert "admin" in denied["error"]["message"]
    await call(client, agent, "PATCH", f"/agents/{agent.user_id}", {"role": "admin"}, 403)
    await call(client, supervisor, "PATCH", f"/agents/{agent.user_id}", {"is_active": False}, 403)
    promoted = await call(client, admin, "PATCH", f"/agents/{agent.user_id}", {"role": "supervisor"})
    assert promoted["role"] == "supervisor"
    await call(client, admin, "PATCH", f"/agents/{admin.user_id}", {"role": "agent"}, 409)
    await call(client, admin, "PATCH", f"/agents/{admin.user_id}", {"is_active": False}, 409)
    same = await call(client, admin, "PATCH", f"/agents/{admin.user_id}", {"role": "admin", "name": "Boss"})
    assert same["role"] == "admin" and same["name"] == "Boss"
    await call(client, admin, "PATCH", f"/agents/{agent.user_id}", {"role": "owner"}, 422)


async def test_presence_by_self_and_by_supervisor(client: Client, agent: Staff, supervisor: Staff) -> None:
    other = await create_staff(client.app[CTX], Role.AGENT, "other@test.example")
    mine = await call(client, agent, "PUT", "/agents/me/presence", {"presence": "available"})
    assert mine["presence"] == "available" and mine["presence_changed_at"] and mine["id"] == agent.user_id
    busy = await call(client, agent, "PUT", f"/agents/{agent.user_id}/presence", {"presence": "busy"})
    assert busy["presence"] == "busy"
    await call(client, agent, "PUT", f"/agents/{other.user_id}/presence", {"presence": "available"}, 403)
    set_by_supervisor = await call(client, supervisor, "PUT", f"/agents/{other.user_id}/presence",
                                   {"presence": "away"})
    assert set_by_supervisor["presence"] == "away"
    for bad in ({"presence": "sleeping"}, {}, {"presence": "away", "why": "lunch"}):
        await call(client, agent, "PUT", "/agents/me/presence", bad, 422)
    await call(client, supervisor, "PUT", "/agents/999999/presence", {"presence": "away"}, 404)
    await call(client, None, "PUT", "/agents/me/presence", {"presence": "away"}, 401)
    again = await call(client, agent, "PUT", "/agents/me/presence", {"presence": "busy"})  # no change: no event
    assert again["presence_changed_at"] == busy["presence_changed_at"]
    assert (await call(client, agent, "GET", "/agents/me"))["presence"] == "busy"
    assert await agent_events(client, agent.user_id) == [("presence",), ("presence",)]
    assert await user_audit(client, other.user_id) == [("user.created", None), ("token.created", None),
                                                       ("user.presence_changed", supervisor.user_id)]


async def test_deactivation_revokes_tokens_and_ends_sessions(client: Client, admin: Staff) -> None:
    ctx = client.app[CTX]
    leaving = await create_staff(ctx, Role.AGENT, "leaving@test.example")
    assert (await client.get(V1 + "/contacts", headers=leaving.headers)).status == 200
    login = await client.post(V1 + "/auth/login", json={"email": leaving.email,
                                                        "password": "correct horse battery"})
    assert login.status == 200
    await call(client, leaving, "PUT", "/agents/me/presence", {"presence": "available"})

    deactivated = await call(client, admin, "PATCH", f"/agents/{leaving.user_id}", {"is_active": False})
    assert deactivated["is_active"] is False and deactivated["presence"] == "offline"
    refused = await client.get(V1 + "/contacts", headers=leaving.headers)
    assert refused.status == 401
    async with ctx.db.read() as session:
        tokens = (await session.scalars(select(ApiToken).where(ApiToken.user_id == leaving.user_id))).all()
        sessions = (await session.scalars(select(Session).where(Session.user_id == leaving.user_id))).all()
        audit = (await session.scalars(select(AuditEvent).where(AuditEvent.action == "user.deactivated"))).all()
    assert tokens and all(t.revoked_at is not None for t in tokens)
    assert sessions == []
    assert [(a.object_id, a.actor_id, a.changes) for a in audit] == [
        (leaving.user_id, admin.user_id, {"sessions_ended": 1, "tokens_revoked": 1})]
    assert ("is_active", "presence") in await agent_events(client, leaving.user_id)
    # The cookie session died with it.
    assert (await client.get(V1 + "/me")).status == 401
    await call(client, admin, "PUT", f"/agents/{leaving.user_id}/presence", {"presence": "available"}, 409)
    reactivated = await call(client, admin, "PATCH", f"/agents/{leaving.user_id}", {"is_active": True})
    assert reactivated["is_active"] is True
    assert (await client.get(V1 + "/contacts", headers=leaving.headers)).status == 401  # the old token stays dead
    inactive = await call(client, admin, "GET", "/agents?active=false")
    assert inactive == []


async def test_agents_need_sign_in(client: Client) -> None:
    for method, path in (("GET", "/agents"), ("GET", "/agents/1"), ("POST", "/agents"), ("PATCH", "/agents/1"),
                         ("GET", "/skills"), ("POST", "/skills")):
        response = await client.request(method, V1 + path, json={})
        assert response.status == 401, (method, path)
