"""Operations: probes, Prometheus metrics and their access rule, request ids, JSON logs without secrets."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from conftest import Staff, create_staff
from sqlalchemy import select

from contactcenter.app import create_app
from contactcenter.context import CTX
from contactcenter.db.engine import Database
from contactcenter.db.models import Message
from contactcenter.domain.enums import Role
from contactcenter.events import MessageReceived
from contactcenter.ops.http import migration_head
from contactcenter.ops.logs import JsonFormatter, RequestIdFilter, quiet_noisy_loggers, redact
from contactcenter.settings import Settings

Client = TestClient[Any, Any]
MakeClient = Callable[[dict[str, Any]], Awaitable[Client]]
PASSWORD = "correct horse battery"


@pytest.fixture
def make_client(aiohttp_client: Callable[..., Awaitable[Client]], settings: Settings) -> MakeClient:
    async def make(overrides: dict[str, Any]) -> Client:
        return await aiohttp_client(create_app(settings.with_overrides(overrides)))
    return make


def sample(metrics: str, name: str, **labels: str) -> float | None:
    """The value of one sample in the Prometheus text format, or None when it is not there."""
    for line in metrics.splitlines():
        if line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        metric, _, label_text = key.partition("{")
        found = dict(re.findall(r'(\w+)="([^"]*)"', label_text))
        if metric == name and found == labels:
            return float(value)
    return None


async def test_healthz_and_readyz(client: Client) -> None:
    alive = await client.get("/healthz")
    assert alive.status == 200 and (await alive.json()) == {"status": "ok"}
    ready = await client.get("/readyz")
    body = await ready.json()
    assert ready.status == 200 and body["migration"] == migration_head() and body["database"] == "up"


async def test_readyz_is_503_when_the_schema_is_not_current(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    # This code expects a newer migration than the database has (a deploy before `contactcenter migrate`).
    current = migration_head()
    monkeypatch.setattr("contactcenter.ops.http.migration_head", lambda: "9999_from_the_future")
    response = await client.get("/readyz")
    assert response.status == 503
    body = await response.json()
    assert body["migration"] == current and body["expected"] == "9999_from_the_future"
    assert (await client.get("/healthz")).status == 200  # alive, just not ready


async def test_readyz_is_503_when_the_database_does_not_answer(client: Client) -> None:
    ctx = client.app[CTX]
    working = ctx.db
    ctx.db = Database("postgresql+asyncpg://nobody@127.0.0.1:1/none")  # nothing listens on port 1
    try:
        response = await client.get("/readyz")
        assert response.status == 503 and (await response.json())["database"] == "down"
    finally:
        await ctx.db.dispose()
        ctx.db = working


async def test_metrics_count_requests_by_route_template_and_intake_by_channel(client: Client, agent: Staff) -> None:
    for _ in range(2):
        assert (await client.get("/api/v1/tickets/99", headers=agent.headers)).status == 404
    created = await client.post("/api/v1/webform", json={"email": "m@example.com", "message": "Where is my order?"})
    assert created.status in (200, 201, 202), await created.text()
    await client.app[CTX].relay.drain()
    response = await client.get("/metrics")
    assert response.status == 200 and response.headers["Content-Type"].startswith("text/plain")
    metrics = await response.text()
    assert sample(metrics, "cc_http_requests_total", route="/api/v1/tickets/{id}", method="GET", status="404") == 2
    assert sample(metrics, "cc_http_request_duration_seconds_count", route="/api/v1/tickets/{id}") == 2
    assert "/api/v1/tickets/99" not in metrics  # never the concrete path
    assert sample(metrics, "cc_intake_messages_total", channel="webform") == 1
    assert sample(metrics, "cc_tickets_created_total", channel="webform") == 1
    assert sample(metrics, "cc_queue_depth", queue="") == 1
    assert sample(metrics, "cc_outbox_dead_letters") == 0
    assert sample(metrics, "cc_outbox_lag_seconds") is not None


async def test_intake_metrics_read_the_channel_of_events_stored_without_one(client: Client) -> None:
    created = await client.post("/api/v1/webform", json={"email": "m@example.com", "message": "Where is my order?"})
    assert created.status in (200, 201, 202), await created.text()
    ctx = client.app[CTX]
    await ctx.relay.drain()
    async with ctx.db.read() as session:
        ticket_id, message_id = (await session.execute(select(Message.ticket_id, Message.id))).one()
    assert ctx.metrics is not None
    await ctx.metrics.on_events([MessageReceived(ticket_id=ticket_id, message_id=message_id)])  # an older event
    metrics = await (await client.get("/metrics")).text()
    assert sample(metrics, "cc_intake_messages_total", channel="webform") == 2


async def test_metrics_need_the_token_when_one_is_set(make_client: MakeClient) -> None:
    client = await make_client({"metrics": {"token": "scrape-secret-1234"}})
    assert (await client.get("/metrics")).status == 403
    assert (await client.get("/metrics", headers={"Authorization": "Bearer wrong"})).status == 403
    ok = await client.get("/metrics", headers={"Authorization": "Bearer scrape-secret-1234"})
    assert ok.status == 200 and "cc_http_requests_total" in await ok.text()


async def test_metrics_are_refused_outside_the_allowed_networks(make_client: MakeClient) -> None:
    client = await make_client({"metrics": {"allow": ["10.0.0.0/8"]}})
    refused = await client.get("/metrics")
    assert refused.status == 403 and (await refused.json())["error"]["code"] == "forbidden"
    off = await make_client({"metrics": {"enabled": False}})
    assert (await off.get("/metrics")).status == 404


async def test_request_id_is_taken_or_made_and_echoed(client: Client) -> None:
    given = await client.get("/healthz", headers={"X-Request-Id": "lb-1234.abc"})
    assert given.headers["X-Request-Id"] == "lb-1234.abc"
    made, again = await client.get("/healthz"), await client.get("/healthz")
    assert re.fullmatch(r"[0-9a-f]{16}", made.headers["X-Request-Id"])
    assert again.headers["X-Request-Id"] != made.headers["X-Request-Id"]
    hostile = await client.get("/healthz", headers={"X-Request-Id": "x\" injected=1 " + "y" * 300})
    assert hostile.headers["X-Request-Id"] != "x\" injected=1 " + "y" * 300
    missing = await client.get("/no/such/page", headers={"X-Request-Id": "r-404"})
    assert missing.status == 404 and missing.headers["X-Request-Id"] == "r-404"


def test_redact_blanks_token_like_values() -> None:
    assert "cc_abcdefghijklmnopqrstuvwxyz012345" not in redact("used cc_abcdefghijklmnopqrstuvwxyz012345 here")
    assert redact("Authorization: Bearer abc.def") == "Authorization: [redacted]"
    assert "hunter22" not in redact("login password=hunter22 failed")
    assert redact("ticket 12 closed") == "ticket 12 closed"


async def test_json_logs_carry_request_ids_and_never_secrets(make_client: MakeClient) -> None:
    client = await make_client({"logging": {"format": "json", "access": True}})
    ctx = client.app[CTX]
    staff = await create_staff(ctx, Role.AGENT, "logs@test.example")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    # The test server turns on aiohttp's own access log (raw paths); `contactcenter serve` runs without it.
    handler.addFilter(lambda record: record.name != "aiohttp.access")
    root = logging.getLogger()
    quiet_noisy_loggers()  # as `contactcenter serve` does, whatever its log level
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        wrong = await client.post("/api/v1/auth/login", json={"email": staff.email, "password": "wrong-guess-9876"},
                                  headers={"X-Request-Id": "req-login-1"})
        assert wrong.status == 401
        login = await client.post("/api/v1/auth/login", json={"email": staff.email, "password": PASSWORD})
        assert login.status == 200
        cookie = login.cookies["cc_session"].value
        csrf = (await login.json())["csrf_token"]
        created = await client.post("/api/v1/me/tokens", json={"name": "ci"}, headers={"X-CSRF-Token": csrf})
        new_token = (await created.json())["token"]
        assert (await client.get("/api/v1/me", headers={"Authorization": f"Bearer {new_token}"})).status == 200
        assert (await client.get("/api/v1/me", headers=staff.headers)).status == 200
        assert (await client.get("/api/v1/me", headers={"Authorization": "Bearer cc_" + "z" * 43})).status == 401
        portal = await client.get("/t/" + "q" * 43)
        assert portal.status == 404
        await ctx.relay.drain()
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    output = stream.getvalue()
    lines = [json.loads(line) for line in output.splitlines()]
    assert any(line.get("request_id") == "req-login-1" and line.get("status") == 401 for line in lines)
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    for secret in (PASSWORD, "wrong-guess-9876", cookie, csrf, new_token, staff.token, "z" * 43, "q" * 43):
        assert secret not in output


async def test_offer_and_sla_events_are_counted(ctx: Any) -> None:
    from contactcenter.events import OfferDecided, OfferMade, SlaBreached, SlaWarning
    metrics = ctx.metrics
    assert metrics is not None
    await metrics.on_events([OfferMade(offer_id=1, ticket_id=1, user_id=1),
                             OfferMade(offer_id=2, ticket_id=1, user_id=2),
                             OfferDecided(offer_id=1, ticket_id=1, user_id=1, status="expired"),
                             OfferDecided(offer_id=2, ticket_id=1, user_id=2, status="accepted"),
                             SlaWarning(ticket_id=1, metric="first_response", cycle=0, point="75%", due_at="x"),
                             SlaBreached(ticket_id=1, metric="first_response", cycle=0, due_at="x")])
    text = (await metrics.render()).decode()
    assert sample(text, "cc_offers_total", outcome="made") == 2
    assert sample(text, "cc_offers_total", outcome="expired") == 1
    assert sample(text, "cc_offers_total", outcome="accepted") == 1
    assert sample(text, "cc_sla_events_total", kind="warning", metric="first_response") == 1
    assert sample(text, "cc_sla_events_total", kind="breach", metric="first_response") == 1
