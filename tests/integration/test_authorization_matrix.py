"""Every route of the app against anonymous callers and each staff role, generated from the route table:
an endpoint added without a declared role (or to the public list below) fails this test."""

from __future__ import annotations

import re
from typing import Any

from aiohttp.test_utils import TestClient
from conftest import Staff, create_staff
from sqlalchemy import select

from contactcenter.api.framework import Operation
from contactcenter.app import API_MODULES, CSP
from contactcenter.context import CTX
from contactcenter.db.models import Attachment, Message
from contactcenter.domain.enums import Role

Client = TestClient[Any, Any]
ROLES = (Role.AGENT, Role.SUPERVISOR, Role.ADMIN)
MISSING_ID = "999999"
# Routes outside the API framework, each with who may call it. A new route must be added here.
PUBLIC_ROUTES = {
    "/api/v1/openapi.json": "public: the API description",
    "/health": "public: liveness with a database check", "/healthz": "public: liveness", "/readyz": "public",
    "/metrics": "loopback or bearer token ([metrics])",
    "/static": "public: assets", "/": "public: web form", "/contact": "public: web form (signed CSRF)",
    "/t/{token}": "the portal token", "/t/{token}/reply": "the portal token + CSRF",
    "/t/{token}/attachments/{id}": "the portal token; public messages of that ticket only",
    "/api/v1/webform": "CORS preflight", "/api/v1/portal/{token}": "CORS preflight",
    "/api/v1/portal/{token}/messages": "CORS preflight",
    "/help": "public: KB", "/help/{id}": "public: KB", "/help/{id}/helped/{ticket}/{sig}": "signed link",
    "/chat": "public: widget", "/chat/config": "public: widget", "/chat/ws": "signed visitor + Origin",
    "/chat/agent/ws": "staff session or token + Origin",
    "/webhooks/twilio/voice/{step}": "X-Twilio-Signature", "/webhooks/twilio/sms": "X-Twilio-Signature",
    "/webhooks/twilio/sms/status": "X-Twilio-Signature", "/webhooks/telegram": "Telegram secret header",
    "/console": "public shell; its data comes from the staff API", "/wallboard": "public shell; supervisor API",
    "/reports": "public shell; supervisor API", "/knowledge": "public shell; admin API",
    "/my": "public shell; customer cookie API",
    "/my/tickets/{id}": "public shell; customer cookie API", "/my/signin": "single-use magic link",
    "/survey/{token}": "the survey token",
}
# Customer-cookie operations (cc_customer from a magic link): staff credentials are not theirs.
CUSTOMER_SESSION = {"/portal/me/tickets", "/portal/me/tickets/{id}"}
SAMPLES = {"token": "x" * 43, "id": MISSING_ID, "ticket": MISSING_ID, "sig": "0" * 20}


def concrete(path: str) -> str:
    return re.sub(r"{(\w+)}", lambda m: SAMPLES.get(m.group(1), MISSING_ID), path)


def operations() -> list[Operation]:
    return [op for module in API_MODULES for op in module.operations]


def check_headers(response: Any, what: str) -> None:
    assert response.status < 500, what
    assert response.headers.get("X-Content-Type-Options") == "nosniff", what
    csp = response.headers.get("Content-Security-Policy", "")
    assert csp == CSP or csp.startswith("default-src 'none'"), what


async def call(client: Client, op: Operation, headers: dict[str, str]) -> Any:
    body = {} if op.method in ("POST", "PUT", "PATCH") else None
    return await client.request(op.method, "/api/v1" + concrete(op.path), json=body, headers=headers)


async def test_every_operation_checks_the_declared_role(client: Client) -> None:
    ctx = client.app[CTX]
    staff = {role: await create_staff(ctx, role) for role in ROLES}
    assert len(operations()) > 60
    for op in operations():
        what = f"{op.method} {op.path}"
        anonymous = await call(client, op, {})
        check_headers(anonymous, what)
        if op.path in CUSTOMER_SESSION:
            assert anonymous.status == 401, what
            for member in staff.values():
                assert (await call(client, op, member.headers)).status == 401, what
            continue
        if op.role is None:
            assert anonymous.status not in (401, 403), what
        else:
            assert anonymous.status == 401, what
            bad_token = await call(client, op, {"Authorization": "Bearer cc_" + "n" * 43})
            assert bad_token.status == 401, what
        for role, member in staff.items():
            response = await call(client, op, member.headers)
            check_headers(response, f"{what} as {role}")
            if op.role is not None and not role.at_least(op.role):
                assert response.status == 403, f"{what} as {role}: {response.status}"
            else:
                assert response.status not in (401, 403), f"{what} as {role}: {await response.text()}"


async def test_cookie_writes_need_the_csrf_token_on_every_operation(client: Client) -> None:
    ctx = client.app[CTX]
    admin = await create_staff(ctx, Role.ADMIN, "csrf-admin@test.example")
    login = await client.post("/api/v1/auth/login", json={"email": admin.email, "password": "correct horse battery"})
    assert login.status == 200
    writes = [op for op in operations() if op.role is not None and op.method not in ("GET", "HEAD", "OPTIONS")
              and op.path != "/auth/logout"]
    assert writes
    for op in writes:
        response = await call(client, op, {})  # the session cookie only
        assert response.status == 403, f"{op.method} {op.path}"
        assert "CSRF" in (await response.json())["error"]["message"]


async def test_every_other_route_is_declared_and_never_fails(client: Client) -> None:
    api = {("/api/v1" + op.path, op.method) for op in operations()}
    seen = set()
    for route in client.app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        if (path, route.method) in api or route.method == "HEAD":
            continue
        declared = re.sub(r"^/webhooks/twilio/voice/\w[\w-]*$", "/webhooks/twilio/voice/{step}", path)
        assert declared in PUBLIC_ROUTES, f"undeclared route {route.method} {path}: add it with its access rule"
        seen.add((route.method, path))
        response = await client.request(route.method, concrete(path) + ("/webform.css" if path == "/static" else ""))
        check_headers(response, f"{route.method} {path}")
    assert ("GET", "/metrics") in seen and ("POST", "/webhooks/telegram") in seen
    missing = await client.get("/no/such/page")
    check_headers(missing, "404 page")
    wrong_method = await client.request("PATCH", "/healthz")
    check_headers(wrong_method, "405")


async def test_staff_attachment_downloads_are_never_inline(client: Client, agent: Staff) -> None:
    from aiohttp import FormData
    data = FormData()
    data.add_field("email", "svg@example.com")
    data.add_field("message", "see attached")
    data.add_field("attachments", b"%PDF-1.4\n%%EOF\n", filename="x.pdf", content_type="application/pdf")
    created = await client.post("/api/v1/webform", data=data)
    assert created.status == 201, await created.text()
    async with client.app[CTX].db.read() as session:
        attachment = await session.scalar(select(Attachment).join(Message, Message.id == Attachment.message_id))
    assert attachment is not None
    response = await client.get(f"/api/v1/attachments/{attachment.id}", headers=agent.headers)
    assert response.status == 200
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response.headers["Content-Security-Policy"]
    assert (await client.get(f"/api/v1/attachments/{attachment.id}")).status == 401


async def test_internal_notes_never_reach_customer_views_or_delivery(client: Client, agent: Staff) -> None:
    created = await client.post("/api/v1/webform", json={"email": "note@example.com", "message": "Question"})
    body = await created.json()
    number, token = body["ticket_number"], body["portal_url"].rsplit("/", 1)[1]
    note = await client.post(f"/api/v1/tickets/{number}/notes", json={"text": "NOTE-SECRET-7731"},
                             headers=agent.headers)
    assert note.status == 201
    await client.app[CTX].relay.drain()
    api_view = await client.get(f"/api/v1/portal/{token}")
    page = await client.get(f"/t/{token}")
    assert api_view.status == 200 and page.status == 200
    assert "NOTE-SECRET-7731" not in await api_view.text() and "NOTE-SECRET-7731" not in await page.text()
    async with client.app[CTX].db.read() as session:
        row = await session.get(Message, (await note.json())["id"])
    assert row is not None and row.internal and row.delivery_status == "internal"  # never handed to a sender
