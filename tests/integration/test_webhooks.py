"""Outbound webhooks against a local receiving server: signed bodies, retries, dead letters, no redirects, SSRF."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from conftest import Staff, create_staff
from sqlalchemy import func, select

from contactcenter.app import create_app
from contactcenter.context import CTX
from contactcenter.db.models import AuditEvent, WebhookDelivery
from contactcenter.domain.enums import Role
from contactcenter.settings import Settings
from contactcenter.webhooks.guard import GuardedResolver, UnsafeTarget, address_allowed, check_url, networks
from contactcenter.webhooks.signing import SignatureError, signature_header, verify

Client = TestClient[Any, Any]
LOCAL = {"allow_private": ["127.0.0.1/32"], "retry_base_seconds": 0.0, "timeout_seconds": 0.5, "max_attempts": 3}


class Receiver:
    """A local HTTP server that records what it is sent and answers with the statuses it is given."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, str], bytes]] = []
        self.statuses: list[int] = []
        self.delay = 0.0
        self.app = web.Application()
        self.app.router.add_post("/hook", self.hook)
        self.app.router.add_post("/redirect", self.redirect)
        self.app.router.add_post("/elsewhere", self.hook)

    async def hook(self, request: web.Request) -> web.Response:
        self.received.append((request.path, dict(request.headers), await request.read()))
        if self.delay:
            await asyncio.sleep(self.delay)
        return web.Response(status=self.statuses.pop(0) if self.statuses else 204)

    async def redirect(self, request: web.Request) -> web.Response:
        self.received.append((request.path, dict(request.headers), await request.read()))
        raise web.HTTPTemporaryRedirect("/elsewhere")


@pytest.fixture
async def receiver(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> tuple[Receiver, str]:
    rec = Receiver()
    server = await aiohttp_server(rec.app)
    return rec, f"http://127.0.0.1:{server.port}"


async def app_client(aiohttp_client: Callable[..., Awaitable[Client]], settings: Settings,
                     webhooks: dict[str, Any]) -> tuple[Client, Staff]:
    """The app without its background workers: the test drives the relay and the sender step by step."""
    app = create_app(settings.with_overrides({"webhooks": webhooks}), relay=False)

    async def close_sender(app: web.Application) -> None:
        if app[CTX].webhooks is not None:
            await app[CTX].webhooks.sender.stop()

    app.on_cleanup.append(close_sender)
    client = await aiohttp_client(app)
    return client, await create_staff(client.app[CTX], Role.ADMIN)


async def new_ticket(client: Client) -> None:
    created = await client.post("/api/v1/webform", json={"email": "hook@example.com", "message": "Hello there"})
    assert created.status == 201, await created.text()


async def deliver(client: Client, rounds: int = 1) -> None:
    ctx = client.app[CTX]
    await ctx.relay.drain()
    assert ctx.webhooks is not None
    for _ in range(rounds):
        await ctx.webhooks.sender.run_once()


async def deliveries(client: Client) -> list[WebhookDelivery]:
    async with client.app[CTX].db.read() as session:
        return list((await session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id))).all())


async def test_registered_endpoint_gets_signed_events(aiohttp_client: Any, settings: Settings,
                                                      receiver: tuple[Receiver, str]) -> None:
    rec, base = receiver
    client, admin = await app_client(aiohttp_client, settings, LOCAL)
    created = await client.post("/api/v1/webhooks", json={"url": base + "/hook", "events": ["ticket.created"],
                                                          "description": "CRM"}, headers=admin.headers)
    assert created.status == 201, await created.text()
    endpoint = await created.json()
    secret = endpoint["secret"]
    assert secret.startswith("whsec_")
    listed = await (await client.get("/api/v1/webhooks", headers=admin.headers)).json()
    assert listed[0]["secret"] is None  # shown once only
    await new_ticket(client)
    await deliver(client)
    [(path, headers, body)] = rec.received
    assert path == "/hook" and headers["X-CC-Event"] == "ticket.created"
    verify(secret, headers["X-CC-Signature"], body, now=time.time())
    with pytest.raises(SignatureError):
        verify(secret, headers["X-CC-Signature"], body.replace(b"ticket", b"tickez"), now=time.time())
    with pytest.raises(SignatureError):  # a replay long after the fact
        verify(secret, headers["X-CC-Signature"], body, now=time.time() + 3600)
    data = json.loads(body)
    assert data["type"] == "ticket.created" and data["data"]["channel"] == "webform"
    assert data["id"] == headers["X-CC-Delivery"]
    [row] = await deliveries(client)
    assert row.status == "delivered" and row.attempts == 1 and row.last_status_code == 204
    history = await (await client.get(f"/api/v1/webhooks/{endpoint['id']}/deliveries", headers=admin.headers)).json()
    assert [d["status"] for d in history] == ["delivered"]
    async with client.app[CTX].db.read() as session:
        audited = await session.scalar(select(func.count()).where(AuditEvent.action == "webhook.created"))
        assert audited == 1
        assert secret not in json.dumps((await session.scalars(select(AuditEvent.changes))).all())


async def test_failures_are_retried_then_dead_and_can_be_resent(aiohttp_client: Any, settings: Settings,
                                                                receiver: tuple[Receiver, str]) -> None:
    rec, base = receiver
    client, admin = await app_client(aiohttp_client, settings, LOCAL)
    assert (await client.post("/api/v1/webhooks", json={"url": base + "/hook", "events": ["ticket.created"]},
                              headers=admin.headers)).status == 201
    rec.statuses = [500, 200]
    await new_ticket(client)
    await deliver(client)
    [row] = await deliveries(client)
    assert row.status == "pending" and row.attempts == 1 and row.last_error == "HTTP 500"
    await deliver(client)
    [row] = await deliveries(client)
    assert row.status == "delivered" and row.attempts == 2
    assert len(rec.received) == 2 and rec.received[0][2] == rec.received[1][2]  # the same body both times
    rec.statuses = [503, 503, 503]
    await new_ticket(client)
    await deliver(client, rounds=4)
    dead = (await deliveries(client))[-1]
    assert dead.status == "dead" and dead.attempts == 3
    assert (await client.post(f"/api/v1/webhook-deliveries/{dead.id}/retry", headers=admin.headers)).status == 200
    await deliver(client)
    assert (await deliveries(client))[-1].status == "delivered"
    again = await client.post(f"/api/v1/webhook-deliveries/{dead.id}/retry", headers=admin.headers)
    assert again.status == 409


async def test_slow_receivers_time_out(aiohttp_client: Any, settings: Settings,
                                       receiver: tuple[Receiver, str]) -> None:
    rec, base = receiver
    client, admin = await app_client(aiohttp_client, settings, {**LOCAL, "timeout_seconds": 0.2})
    assert (await client.post("/api/v1/webhooks", json={"url": base + "/hook", "events": ["ticket.created"]},
                              headers=admin.headers)).status == 201
    rec.delay = 1.0
    await new_ticket(client)
    await deliver(client)
    [row] = await deliveries(client)
    assert row.status == "pending" and row.last_error is not None and "no answer" in row.last_error


async def test_redirects_are_not_followed(aiohttp_client: Any, settings: Settings,
                                          receiver: tuple[Receiver, str]) -> None:
    rec, base = receiver
    client, admin = await app_client(aiohttp_client, settings, {**LOCAL, "max_attempts": 1})
    assert (await client.post("/api/v1/webhooks", json={"url": base + "/redirect", "events": ["ticket.created"]},
                              headers=admin.headers)).status == 201
    await new_ticket(client)
    await deliver(client)
    assert [path for path, _, _ in rec.received] == ["/redirect"]
    [row] = await deliveries(client)
    assert row.status == "dead" and row.last_status_code == 307


async def test_private_targets_are_refused_without_configuration(aiohttp_client: Any, settings: Settings,
                                                                 receiver: tuple[Receiver, str]) -> None:
    rec, base = receiver
    client, admin = await app_client(aiohttp_client, settings, {"retry_base_seconds": 0.0})
    for url in (base + "/hook", "http://169.254.169.254/latest/meta-data", "http://[::1]/x", "http://10.1.2.3/",
                "http://[::ffff:127.0.0.1]/", "ftp://example.com/", "http://user:pw@example.com/",
                "http://localhost/hook"):
        refused = await client.post("/api/v1/webhooks", json={"url": url, "events": ["ticket.created"]},
                                    headers=admin.headers)
        assert refused.status == 422, url
    # A host name is checked when it is resolved, at each delivery: every address it has must be allowed.
    with pytest.raises(UnsafeTarget):
        await GuardedResolver(()).resolve("localhost", 80)
    assert (await GuardedResolver(networks(["127.0.0.0/8", "::1/128"])).resolve("localhost", 80))
    ctx = client.app[CTX]
    assert ctx.webhooks is not None
    refused = await ctx.webhooks.sender.post(_due(base + "/hook"))
    assert not refused.ok and refused.final and "refused" in (refused.error or "")
    assert rec.received == []


def _due(url: str) -> Any:
    from contactcenter.webhooks.sender import Due
    return Due(1, "u-1", "ticket.created", {"ticket_id": 1}, 0, "2026-01-01T00:00:00+00:00", url, "s" * 20)


async def test_only_admins_manage_webhooks(aiohttp_client: Any, settings: Settings) -> None:
    client, admin = await app_client(aiohttp_client, settings, LOCAL)
    supervisor = await create_staff(client.app[CTX], Role.SUPERVISOR)
    body = {"url": "https://crm.example.com/hook", "events": ["ticket.created"]}
    assert (await client.post("/api/v1/webhooks", json=body, headers=supervisor.headers)).status == 403
    assert (await client.get("/api/v1/webhooks", headers=supervisor.headers)).status == 403
    bad = await client.post("/api/v1/webhooks", json={**body, "events": ["no.such"]}, headers=admin.headers)
    assert bad.status == 422 and "no.such" in (await bad.json())["error"]["message"]
    created = await (await client.post("/api/v1/webhooks", json=body, headers=admin.headers)).json()
    patched = await client.patch(f"/api/v1/webhooks/{created['id']}", json={"is_active": False},
                                 headers=admin.headers)
    assert patched.status == 200 and (await patched.json())["is_active"] is False
    assert (await client.delete(f"/api/v1/webhooks/{created['id']}", headers=admin.headers)).status == 200
    assert (await client.get(f"/api/v1/webhooks/{created['id']}", headers=admin.headers)).status == 404


def test_address_rules() -> None:
    none: tuple[Any, ...] = ()
    unspecified = "0.0.0.0"  # noqa: S104 (an address to refuse, not one to bind)
    for private in ("127.0.0.1", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254", "100.64.0.1",
                    unspecified, "::1", "fe80::1", "fc00::1", "::ffff:10.0.0.1", "224.0.0.1", "255.255.255.255"):
        assert not address_allowed(ipaddress.ip_address(private), none), private
    for public in ("93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"):
        assert address_allowed(ipaddress.ip_address(public), none)
    assert address_allowed(ipaddress.ip_address("127.0.0.1"), networks(["127.0.0.1/32"]))
    with pytest.raises(UnsafeTarget):
        check_url("http://[fe80::1]/", none)
    assert str(check_url("https://crm.example.com/hook?x=1", none)) == "https://crm.example.com/hook?x=1"


def test_signature_header_shape() -> None:
    header = signature_header("k" * 20, 1700000000, b"{}")
    assert header.startswith("t=1700000000,v1=") and len(header.split("v1=")[1]) == 64
