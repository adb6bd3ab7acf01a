"""The SLA endpoints through the real application: a ticket's clocks and timers, the policy list."""

from __future__ import annotations

from datetime import date
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from channels.base import InboundMessage
from contactcenter.actions.audit import SYSTEM
from contactcenter.actions.tickets import do_update_ticket
from contactcenter.context import CTX
from contactcenter.db.models import AuditEvent, Organization, Product, ServiceContract, SlaPolicy
from contactcenter.db.types import utcnow
from contactcenter.domain.enums import IdentityKind, TicketStatus
from contactcenter.domain.identities import Address
from contactcenter.intake import intake
from tests.conftest import Staff

OFFICE = {"business_hours": True, "timezone": "Asia/Tehran", "days": "Sa-We", "hours": ["08:00-12:30", "13:30-17:00"]}


async def add_policies(client: TestClient[Any, Any]) -> None:
    async with client.app[CTX].db.write() as session:
        session.add_all([
            SlaPolicy(name="Office", position=10, conditions={}, calendar=OFFICE,
                      targets={"first_response_minutes": 60, "resolution_minutes": 600}),
            SlaPolicy(name="Broken", position=1, conditions={"colour": ["red"]}, targets={}, calendar={}),
        ])


async def test_ticket_sla_shows_the_policy_clocks_and_timers(client: TestClient[Any, Any], agent: Staff) -> None:
    await add_policies(client)
    ctx = client.app[CTX]
    msg = InboundMessage(channel="webform", external_id="api-1", sender=Address(IdentityKind.EMAIL, "c@x.example"),
                         received_at=utcnow(), text="Help", subject="Help", topic="billing", language="en")
    ticket_id = (await intake(ctx.db, ctx.store, ctx.settings, msg)).ticket_id
    assert ctx.sla is not None
    await ctx.sla.recompute([ticket_id])
    response = await client.get(f"/api/v1/tickets/{ticket_id}/sla", headers=agent.headers)
    assert response.status == 200
    body = await response.json()
    assert body["policy"] == "Office" and body["business_hours"] is True and body["flags"] == []
    clocks = {c["metric"]: c for c in body["clocks"]}
    assert set(clocks) == {"first_response", "resolution"}
    assert clocks["first_response"]["state"] == "running"
    assert clocks["first_response"]["target_seconds"] == 3600
    # 75 % of an hour is 15 minutes before the breach: both warnings, at the same moment, ordered by name
    assert [p["name"] for p in clocks["first_response"]["points"]] == ["warn-15m", "warn-75%", "breach"]
    assert {(t["metric"], t["point"], t["state"]) for t in body["timers"]} >= {("first_response", "breach", "pending")}


async def test_unknown_ticket_is_404_and_anonymous_is_401(client: TestClient[Any, Any], agent: Staff) -> None:
    assert (await client.get("/api/v1/tickets/999/sla", headers=agent.headers)).status == 404
    assert (await client.get("/api/v1/tickets/1/sla")).status == 401


async def test_policy_list_says_which_policies_are_ignored(client: TestClient[Any, Any], agent: Staff) -> None:
    await add_policies(client)
    response = await client.get("/api/v1/sla/policies", headers=agent.headers)
    assert response.status == 200
    policies = await response.json()
    assert [(p["name"], p["valid"]) for p in policies] == [("Broken", False), ("Office", True)]
    assert "unknown condition" in policies[0]["error"]


POLICY = {"name": "VIP", "position": 5, "conditions": {"tags": ["vip"]}, "targets": {"first_response_minutes": 15},
          "calendar": {}, "escalation": [{"at": "breach", "action": "notify_supervisor"}]}


async def test_admins_manage_policies_and_open_tickets_follow(client: TestClient[Any, Any], admin: Staff,
                                                               agent: Staff) -> None:
    await add_policies(client)
    ctx = client.app[CTX]
    msg = InboundMessage(channel="webform", external_id="api-2", sender=Address(IdentityKind.EMAIL, "d@x.example"),
                         received_at=utcnow(), text="Help", subject="Help", topic="billing", language="en")
    ticket_id = (await intake(ctx.db, ctx.store, ctx.settings, msg)).ticket_id

    assert (await client.post("/api/v1/sla/policies", json=POLICY, headers=agent.headers)).status == 403
    created = await client.post("/api/v1/sla/policies", json=POLICY, headers=admin.headers)
    assert created.status == 201
    policy = await created.json()
    assert policy["valid"] and policy["conditions"] == {"tags": ["vip"]}
    assert (await client.post("/api/v1/sla/policies", json=POLICY, headers=admin.headers)).status == 409
    bad = await client.post("/api/v1/sla/policies", json={**POLICY, "name": "Bad", "calendar": {
        "business_hours": True, "timezone": "Mars/Base"}}, headers=admin.headers)
    assert bad.status == 422 and "time zone" in (await bad.text())

    # every open ticket is recomputed with the new order: "Office" (position 10) loses to a catch-all at 0
    replaced = await client.put(f"/api/v1/sla/policies/{policy['id']}", headers=admin.headers,
                                json={**POLICY, "position": 0, "conditions": {}})
    assert replaced.status == 200
    await ctx.relay.drain()
    body = await (await client.get(f"/api/v1/tickets/{ticket_id}/sla", headers=agent.headers)).json()
    assert body["policy"] == "VIP"
    assert [c["target_seconds"] for c in body["clocks"] if c["metric"] == "first_response"] == [900]
    breach = [t for t in body["timers"] if t["metric"] == "first_response" and t["point"] == "breach"]
    assert [t["state"] for t in breach] == ["pending"]
    assert (await client.delete(f"/api/v1/sla/policies/{policy['id']}", headers=admin.headers)).status == 200
    assert (await client.delete(f"/api/v1/sla/policies/{policy['id']}", headers=admin.headers)).status == 404
    await ctx.relay.drain()
    body = await (await client.get(f"/api/v1/tickets/{ticket_id}/sla", headers=agent.headers)).json()
    assert body["policy"] == "Office"


async def test_complaint_register_by_organization_and_product(client: TestClient[Any, Any], supervisor: Staff,
                                                              agent: Staff) -> None:
    ctx = client.app[CTX]
    async with ctx.db.write() as session:
        org = Organization(name="Parsian", tier="gold", domains=["parsian.example"])
        product = Product(name="Mobile Bank")
        session.add_all([org, product])
        await session.flush()
        session.add(ServiceContract(name="Gold", organization_id=org.id, product_id=product.id,
                                    starts_on=date(2026, 1, 1), ends_on=None))
        session.add(SlaPolicy(name="Complaints", position=1, conditions={"type": ["complaint"]}, calendar={},
                              targets={"first_response_minutes": 30, "resolution_minutes": 480}))
    ids = []
    for i, sender in enumerate(["a@parsian.example", "b@parsian.example", "c@elsewhere.example"]):
        msg = InboundMessage(channel="webform", external_id=f"cmp-{i}", sender=Address(IdentityKind.EMAIL, sender),
                             received_at=utcnow(), text="I am unhappy", subject=f"Complaint {i}", topic="complaint",
                             language="en")
        ids.append((await intake(ctx.db, ctx.store, ctx.settings, msg)).ticket_id)
    async with ctx.db.write() as session:
        await do_update_ticket(session, ids[0], {"status": TicketStatus.SOLVED}, actor=SYSTEM)
    assert ctx.sla is not None
    await ctx.sla.recompute(ids)

    assert (await client.get("/api/v1/complaints/register", headers=agent.headers)).status == 403
    bad = await client.get("/api/v1/complaints/register?since=2026-02-01&until=2026-01-01",
                           headers=supervisor.headers)
    assert bad.status == 422
    response = await client.get("/api/v1/complaints/register", headers=supervisor.headers)
    assert response.status == 200
    body = await response.json()
    assert (body["totals"]["open"], body["totals"]["closed"]) == (2, 1)
    assert [(g["name"], g["open"], g["closed"]) for g in body["by_organization"]] == [
        ("Parsian", 1, 1), ("(no organization)", 1, 0)]
    assert [(g["name"], g["open"], g["closed"]) for g in body["by_product"]] == [
        ("Mobile Bank", 1, 1), ("(no product)", 1, 0)]
    solved = next(c for c in body["complaints"] if c["ticket_id"] == ids[0])
    assert solved["product"] == "Mobile Bank" and solved["resolution_business_seconds"] is not None
    assert body["totals"]["median_resolution_calendar_seconds"] is not None


async def call(client: TestClient[Any, Any], staff: Staff, method: str, path: str, body: Any = None,
               status: int = 200) -> Any:
    response = await client.request(method, "/api/v1" + path, json=body, headers=staff.headers)
    assert response.status == status, await response.text()
    return await response.json()


async def test_one_policy_read_patched_and_audited(client: TestClient[Any, Any], admin: Staff, agent: Staff) -> None:
    created = await call(client, admin, "POST", "/sla/policies", POLICY, status=201)
    other = await call(client, admin, "POST", "/sla/policies", {**POLICY, "name": "Other"}, status=201)
    assert (await call(client, agent, "GET", f"/sla/policies/{created['id']}"))["name"] == "VIP"
    await call(client, agent, "GET", "/sla/policies/999999", status=404)
    changed = await call(client, admin, "PATCH", f"/sla/policies/{created['id']}",
                         {"targets": {"first_response_minutes": 5}, "position": 0})
    assert changed["targets"] == {"first_response_minutes": 5} and changed["position"] == 0
    assert changed["conditions"] == POLICY["conditions"] and changed["escalation"] == POLICY["escalation"]
    await call(client, admin, "PATCH", f"/sla/policies/{created['id']}", {"name": "Other"}, status=409)
    await call(client, admin, "PATCH", f"/sla/policies/{created['id']}", {"targets": None}, status=422)
    await call(client, admin, "PATCH", f"/sla/policies/{created['id']}", {"colour": "red"}, status=422)
    bad = await call(client, admin, "PATCH", f"/sla/policies/{created['id']}",
                     {"escalation": [{"at": "breach", "action": "reroute"}]}, status=422)
    assert "queue" in bad["error"]["message"]
    await call(client, agent, "PATCH", f"/sla/policies/{created['id']}", {"position": 5}, status=403)
    await call(client, admin, "PATCH", "/sla/policies/999999", {"position": 5}, status=404)
    assert [p["name"] for p in await call(client, agent, "GET", "/sla/policies")] == ["VIP", "Other"]
    async with client.app[CTX].db.read() as session:
        actions = (await session.scalars(select(AuditEvent.action).where(AuditEvent.object_type == "sla_policy")
                                         .order_by(AuditEvent.id))).all()
    assert actions == ["sla_policy.created", "sla_policy.created", "sla_policy.updated"]
    assert other["valid"]


async def test_contracts_through_the_api_drive_the_policy_and_flag_a_fallback(
        client: TestClient[Any, Any], admin: Staff, supervisor: Staff, agent: Staff) -> None:
    ctx = client.app[CTX]
    targets = {"first_response_minutes": 60}
    gold = await call(client, admin, "POST", "/sla/policies", {
        "name": "Gold", "position": 1, "conditions": {"contract": True}, "targets": {"first_response_minutes": 15},
        "calendar": {"business_hours": True, "timezone": "UTC", "days": "Mo-Su", "hours": ["00:00-24:00"]}},
        status=201)
    await call(client, admin, "POST", "/sla/policies", {"name": "Default", "position": 9, "targets": targets},
               status=201)
    org = await call(client, supervisor, "POST", "/organizations", {"name": "Parsian", "domains": ["parsian.example"]},
                     status=201)
    contract = await call(client, supervisor, "POST", "/service-contracts", {
        "name": "Gold 2025", "organization_id": org["id"], "sla_policy_id": gold["id"], "starts_on": "2025-01-01",
        "ends_on": "2025-12-31", "channels": ["webform"], "support_hours": "Sa-We 08:00-17:00 Asia/Tehran"},
        status=201)
    msg = InboundMessage(channel="webform", external_id="api-3",
                         sender=Address(IdentityKind.EMAIL, "a@parsian.example"), received_at=utcnow(), text="Help",
                         subject="Help", topic="billing", language="en")
    ticket_id = (await intake(ctx.db, ctx.store, ctx.settings, msg)).ticket_id
    await ctx.relay.drain()
    body = await call(client, agent, "GET", f"/tickets/{ticket_id}/sla")
    assert (body["policy"], body["contract"], body["flags"]) == ("Default", None, ["contract_expired"])
    ticket = await call(client, agent, "GET", f"/tickets/{ticket_id}")  # the ticket shows it too
    assert ticket["sla_flags"] == ["contract_expired"]
    assert [e["changes"]["flags"] for e in ticket["timeline"] if e.get("action") == "sla.flagged"] == [
        [[], ["contract_expired"]]]

    # renewed through the API: the organization's open tickets are recomputed with the contract's policy and hours
    await call(client, supervisor, "PATCH", f"/service-contracts/{contract['id']}", {"ends_on": None})
    await ctx.relay.drain()
    body = await call(client, agent, "GET", f"/tickets/{ticket_id}/sla")
    assert (body["policy"], body["contract"], body["flags"]) == ("Gold", "Gold 2025", [])
    assert body["business_hours"] is True

    # a contract that starts later grants nothing yet
    today = utcnow().date()
    await call(client, supervisor, "PATCH", f"/service-contracts/{contract['id']}",
               {"starts_on": str(date(today.year + 1, 1, 1))})
    await ctx.relay.drain()
    body = await call(client, agent, "GET", f"/tickets/{ticket_id}/sla")
    assert (body["policy"], body["flags"]) == ("Default", ["contract_not_started"])
    async with ctx.db.read() as session:
        flagged = (await session.scalars(select(AuditEvent.changes).where(
            AuditEvent.ticket_id == ticket_id, AuditEvent.action == "sla.flagged").order_by(AuditEvent.id))).all()
    assert [c["flags"] for c in flagged] == [[[], ["contract_expired"]], [["contract_expired"], []],
                                            [[], ["contract_not_started"]]]
