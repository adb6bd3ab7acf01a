"""Sign-in hardening: session rotation, backoff, cookie flags, invites, token expiry, send rate limits."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from conftest import Staff, create_staff
from mailtools import Recorder
from sqlalchemy import select, update

from contactcenter.app import create_app
from contactcenter.context import CTX
from contactcenter.db.models import ApiToken, Invite
from contactcenter.db.types import utcnow
from contactcenter.domain.enums import Role
from contactcenter.settings import Settings

Client = TestClient[Any, Any]
MakeClient = Callable[[dict[str, Any]], Awaitable[Client]]
V1 = "/api/v1"
PASSWORD = "correct horse battery"


@pytest.fixture
async def recorder() -> AsyncIterator[Recorder]:
    server = Recorder()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def make_client(aiohttp_client: Callable[..., Awaitable[Client]], settings: Settings) -> MakeClient:
    async def make(overrides: dict[str, Any]) -> Client:
        return await aiohttp_client(create_app(settings.with_overrides(overrides)))
    return make


async def sign_in(client: Client, email: str, password: str = PASSWORD) -> tuple[str, str]:
    response = await client.post(V1 + "/auth/login", json={"email": email, "password": password})
    assert response.status == 200, await response.text()
    return response.cookies["cc_session"].value, (await response.json())["csrf_token"]


async def me_with(client: Client, cookie: str) -> int:
    client.session.cookie_jar.clear()
    return (await client.get(V1 + "/me", headers={"Cookie": f"cc_session={cookie}"})).status


async def test_signing_in_again_rotates_the_session_id(client: Client, agent: Staff) -> None:
    first, _ = await sign_in(client, agent.email)
    second, _ = await sign_in(client, agent.email)  # the browser still sends the first cookie
    assert first != second
    assert await me_with(client, first) == 401
    assert await me_with(client, second) == 200


async def test_a_role_change_ends_the_users_browser_sessions(client: Client, admin: Staff) -> None:
    staff = await create_staff(client.app[CTX], Role.AGENT, "promoted@test.example")
    cookie, _ = await sign_in(client, staff.email)
    client.session.cookie_jar.clear()
    changed = await client.patch(f"{V1}/agents/{staff.user_id}", json={"role": "supervisor"}, headers=admin.headers)
    assert changed.status == 200
    assert await me_with(client, cookie) == 401
    assert (await client.get(V1 + "/me", headers=staff.headers)).status == 200  # API tokens stay


async def test_cookie_flags_with_secure_cookies_on(make_client: MakeClient) -> None:
    client = await make_client({"auth": {"cookie_secure": True}})
    staff = await create_staff(client.app[CTX], Role.AGENT)
    response = await client.post(V1 + "/auth/login", json={"email": staff.email, "password": PASSWORD})
    cookie = response.headers["Set-Cookie"]
    for flag in ("HttpOnly", "Secure", "SameSite=Lax", "Path=/", "Max-Age="):
        assert flag in cookie


async def test_failed_sign_ins_back_off_exponentially(make_client: MakeClient) -> None:
    client = await make_client({"auth": {"login_attempts": 100, "backoff_free_attempts": 2,
                                         "backoff_base_seconds": 60}})
    staff = await create_staff(client.app[CTX], Role.AGENT)
    for _ in range(2):  # free attempts: answered 401 at once
        wrong = await client.post(V1 + "/auth/login", json={"email": staff.email, "password": "not it at all"})
        assert wrong.status == 401
    third = await client.post(V1 + "/auth/login", json={"email": staff.email, "password": "not it at all"})
    assert third.status == 401
    blocked = await client.post(V1 + "/auth/login", json={"email": staff.email, "password": PASSWORD})
    assert blocked.status == 429 and 55 <= int(blocked.headers["Retry-After"]) <= 60
    other = await create_staff(client.app[CTX], Role.AGENT, "other@test.example")
    assert (await client.post(V1 + "/auth/login", json={"email": other.email, "password": PASSWORD})).status == 200


async def test_invite_link_sets_the_password_once(make_client: MakeClient, recorder: Recorder) -> None:
    client = await make_client({"email": {"port": 0, "smtp_port": recorder.port},
                                "server": {"public_url": "https://desk.example.com"}})
    ctx = client.app[CTX]
    admin = await create_staff(ctx, Role.ADMIN)
    agent = await create_staff(ctx, Role.SUPERVISOR)
    body = {"email": "New.Person@Example.com", "name": "New Person", "role": "agent"}
    assert (await client.post(V1 + "/invites", json=body, headers=agent.headers)).status == 403
    created = await client.post(V1 + "/invites", json=body, headers=admin.headers)
    assert created.status == 201, await created.text()
    invite = await created.json()
    url: str = invite["invite_url"]
    assert url.startswith("https://desk.example.com/invite#inv_") and invite["email_sent"] is True
    token = url.split("#", 1)[1]
    [(_, rcpts, _)] = recorder.received
    [mail] = recorder.messages()
    assert rcpts == ["new.person@example.com"] and token.encode() in mail.get_payload(decode=True)
    async with ctx.db.read() as session:
        stored = (await session.scalars(select(Invite))).all()
    assert len(stored) == 1 and token not in stored[0].token_hash and len(stored[0].token_hash) == 64
    # No password yet: nobody can sign in as the invited user.
    nobody = await client.post(V1 + "/auth/login", json={"email": "new.person@example.com", "password": PASSWORD})
    assert nobody.status == 401
    accepted = await client.post(V1 + "/invites/accept", json={"token": token, "password": "my own password 1"})
    assert accepted.status == 200 and (await accepted.json())["email"] == "new.person@example.com"
    again = await client.post(V1 + "/invites/accept", json={"token": token, "password": "someone else's 22"})
    assert again.status == 404
    await sign_in(client, "new.person@example.com", "my own password 1")
    taken = await client.post(V1 + "/invites", json=body, headers=admin.headers)
    assert taken.status == 409  # has signed in: no more invitations for that e-mail


async def test_invites_expire_and_a_new_one_replaces_the_old(client: Client, admin: Staff) -> None:
    body = {"email": "late@example.com", "name": "Late", "send_email": False}
    first = (await (await client.post(V1 + "/invites", json=body, headers=admin.headers)).json())["invite_url"]
    second = (await (await client.post(V1 + "/invites", json=body, headers=admin.headers)).json())["invite_url"]
    old, new = first.split("#")[1], second.split("#")[1]
    assert (await client.post(V1 + "/invites/accept", json={"token": old, "password": "x" * 12})).status == 404
    async with client.app[CTX].db.write() as session:
        await session.execute(update(Invite).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert (await client.post(V1 + "/invites/accept", json={"token": new, "password": "x" * 12})).status == 404
    assert (await client.post(V1 + "/invites/accept", json={"token": "garbage-token", "password": "x" * 12})
            ).status == 404


async def test_invites_are_rate_limited_per_admin(make_client: MakeClient) -> None:
    client = await make_client({"limits": {"invites_per_hour": 1}})
    admin = await create_staff(client.app[CTX], Role.ADMIN)
    ok = await client.post(V1 + "/invites", json={"email": "a@example.com", "name": "A", "send_email": False},
                           headers=admin.headers)
    assert ok.status == 201
    limited = await client.post(V1 + "/invites", json={"email": "b@example.com", "name": "B", "send_email": False},
                                headers=admin.headers)
    assert limited.status == 429 and int(limited.headers["Retry-After"]) > 0


async def test_tokens_expire_and_record_their_last_use_sparingly(client: Client, agent: Staff) -> None:
    created = await client.post(V1 + "/me/tokens", json={"name": "short", "expires_in_days": 1},
                                headers=agent.headers)
    token = await created.json()
    assert token["expires_at"] is not None
    headers = {"Authorization": f"Bearer {token['token']}"}
    assert (await client.get(V1 + "/me", headers=headers)).status == 200
    ctx = client.app[CTX]
    async with ctx.db.read() as session:
        first_use = await session.scalar(select(ApiToken.last_used_at).where(ApiToken.id == token["id"]))
    assert first_use is not None
    assert (await client.get(V1 + "/me", headers=headers)).status == 200
    async with ctx.db.read() as session:  # not written again within a few minutes
        assert await session.scalar(select(ApiToken.last_used_at).where(ApiToken.id == token["id"])) == first_use
    async with ctx.db.write() as session:
        await session.execute(update(ApiToken).where(ApiToken.id == token["id"])
                              .values(expires_at=utcnow() - timedelta(seconds=1)))
    assert (await client.get(V1 + "/me", headers=headers)).status == 401
    forever = await (await client.post(V1 + "/me/tokens", json={"name": "long"}, headers=agent.headers)).json()
    assert forever["expires_at"] is None  # the default [auth] token_days = 0


async def test_replies_that_send_are_rate_limited_per_agent(make_client: MakeClient) -> None:
    client = await make_client({"limits": {"agent_sends_per_minute": 2, "send_channels": ["webform"]}})
    staff = await create_staff(client.app[CTX], Role.AGENT)
    created = await client.post(V1 + "/webform", json={"email": "c@example.com", "message": "Help me"})
    number = (await created.json())["ticket_number"]
    for n in range(2):
        sent = await client.post(f"{V1}/tickets/{number}/replies", json={"text": f"answer {n}"}, headers=staff.headers)
        assert sent.status == 201
    limited = await client.post(f"{V1}/tickets/{number}/replies", json={"text": "one more"}, headers=staff.headers)
    assert limited.status == 429 and int(limited.headers["Retry-After"]) > 0
    detail = await (await client.get(f"{V1}/tickets/{number}", headers=staff.headers)).json()
    texts = [e.get("text") for e in detail["timeline"] if e["kind"] == "message"]
    assert "one more" not in texts  # the refused reply was not queued
    note = await client.post(f"{V1}/tickets/{number}/notes", json={"text": "notes send nothing"},
                             headers=staff.headers)
    assert note.status == 201
