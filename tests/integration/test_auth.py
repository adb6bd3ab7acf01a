"""Sign-in over HTTP: argon2 passwords, session cookies with CSRF, lockout, tokens, password change."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from conftest import Staff, create_staff
from sqlalchemy import select

from contactcenter.context import CTX
from contactcenter.db.models import ApiToken, Session, User
from contactcenter.domain.enums import Role

Client = TestClient[Any, Any]
V1 = "/api/v1"
PASSWORD = "correct horse battery"


async def login(client: Client, email: str, password: str = PASSWORD) -> tuple[int, dict[str, Any]]:
    response = await client.post(V1 + "/auth/login", json={"email": email, "password": password})
    return response.status, await response.json()


async def test_passwords_are_argon2_and_tokens_are_hashed(client: Client, agent: Staff) -> None:
    async with client.app[CTX].db.read() as session:
        user = await session.get(User, agent.user_id)
        token = await session.scalar(select(ApiToken).where(ApiToken.user_id == agent.user_id))
    assert user is not None and user.password_hash is not None and user.password_hash.startswith("$argon2id$")
    assert token is not None and agent.token not in token.token_hash and len(token.token_hash) == 64


async def test_session_cookie_is_safe_and_writes_need_the_csrf_token(client: Client, agent: Staff) -> None:
    response = await client.post(V1 + "/auth/login", json={"email": agent.email.upper(), "password": PASSWORD})
    assert response.status == 200
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    csrf = (await response.json())["csrf_token"]
    assert (await (await client.get(V1 + "/me")).json())["email"] == agent.email
    refused = await client.post(V1 + "/me/tokens", json={"name": "x"})
    assert refused.status == 403 and "CSRF" in (await refused.json())["error"]["message"]
    wrong = await client.post(V1 + "/me/tokens", json={"name": "x"}, headers={"X-CSRF-Token": "guess"})
    assert wrong.status == 403
    created = await client.post(V1 + "/me/tokens", json={"name": "x"}, headers={"X-CSRF-Token": csrf})
    assert created.status == 201 and (await created.json())["token"].startswith("cc_")
    await client.post(V1 + "/auth/logout", headers={"X-CSRF-Token": csrf})
    assert (await client.get(V1 + "/me")).status == 401


async def test_wrong_passwords_are_refused_then_locked_out(client: Client, agent: Staff) -> None:
    status, body = await login(client, agent.email, "wrong password!")
    assert status == 401 and body["error"]["code"] == "invalid_credentials"
    status, _ = await login(client, "nobody@test.example", "wrong password!")
    assert status == 401
    attempts = client.app[CTX].settings.auth.login_attempts
    for _ in range(attempts - 1):
        await login(client, agent.email, "wrong password!")
    response = await client.post(V1 + "/auth/login", json={"email": agent.email, "password": PASSWORD})
    assert response.status == 429 and int(response.headers["Retry-After"]) > 0


async def test_inactive_users_cannot_sign_in(client: Client) -> None:
    ctx = client.app[CTX]
    staff = await create_staff(ctx, Role.AGENT, "gone@test.example")
    async with ctx.db.write() as session:
        user = await session.get(User, staff.user_id)
        assert user is not None
        user.is_active = False
    assert (await login(client, staff.email))[0] == 401
    assert (await client.get(V1 + "/me", headers=staff.headers)).status == 401


async def test_password_change_ends_every_session(client: Client, agent: Staff) -> None:
    status, body = await login(client, agent.email)
    assert status == 200
    csrf = body["csrf_token"]
    wrong = await client.post(V1 + "/me/password", json={"current_password": "nope", "new_password": "a new one 123"},
                              headers={"X-CSRF-Token": csrf})
    assert wrong.status == 401
    short = await client.post(V1 + "/me/password", json={"current_password": PASSWORD, "new_password": "short"},
                              headers={"X-CSRF-Token": csrf})
    assert short.status == 422
    changed = await client.post(V1 + "/me/password", json={"current_password": PASSWORD,
                                                            "new_password": "a new one 123"},
                                headers={"X-CSRF-Token": csrf})
    assert changed.status == 200
    async with client.app[CTX].db.read() as session:
        assert (await session.scalars(select(Session).where(Session.user_id == agent.user_id))).all() == []
    assert (await login(client, agent.email))[0] == 401
    assert (await login(client, agent.email, "a new one 123"))[0] == 200


async def test_revoked_tokens_stop_working(client: Client, agent: Staff) -> None:
    tokens = await (await client.get(V1 + "/me/tokens", headers=agent.headers)).json()
    assert [t["token"] for t in tokens] == [None]  # secrets are never shown again
    revoked = await client.delete(f"{V1}/me/tokens/{tokens[0]['id']}", headers=agent.headers)
    assert revoked.status == 200
    assert (await client.get(V1 + "/me", headers=agent.headers)).status == 401


async def test_roles_gate_operations(client: Client, agent: Staff, admin: Staff) -> None:
    spec = await (await client.get(V1 + "/openapi.json")).json()
    assert spec["paths"]["/api/v1/tickets"]["get"]["security"]
    me = await (await client.get(V1 + "/me", headers=admin.headers)).json()
    assert me["role"] == "admin"
    assert (await client.post(V1 + "/skills", json={"name": "x"}, headers=agent.headers)).status == 403


async def test_token_use_is_recorded(client: Client, agent: Staff) -> None:
    assert (await client.get(V1 + "/me", headers=agent.headers)).status == 200
    tokens = await (await client.get(V1 + "/me/tokens", headers=agent.headers)).json()
    assert tokens[0]["last_used_at"] is not None
