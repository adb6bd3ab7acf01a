"""Organizations, products and service contracts over the API (SLA policies: test_sla_api.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp.test_utils import TestClient
from conftest import Staff
from sqlalchemy import select

from channels.base import InboundMessage
from contactcenter.context import CTX
from contactcenter.db.models import AuditEvent
from contactcenter.db.types import utcnow
from contactcenter.domain.enums import IdentityKind
from contactcenter.domain.identities import Address
from contactcenter.intake import intake

Client = TestClient[Any, Any]
V1 = "/api/v1"


async def post(client: Client, staff: Staff, path: str, body: dict[str, Any], status: int = 201) -> Any:
    response = await client.post(V1 + path, json=body, headers=staff.headers)
    assert response.status == status, await response.text()
    return await response.json()


async def patch(client: Client, staff: Staff, path: str, body: dict[str, Any], status: int = 200) -> Any:
    response = await client.patch(V1 + path, json=body, headers=staff.headers)
    assert response.status == status, await response.text()
    return await response.json()


async def get(client: Client, staff: Staff, path: str, status: int = 200, **params: str) -> Any:
    response = await client.get(V1 + path, params=params, headers=staff.headers)
    assert response.status == status, await response.text()
    return await response.json()


async def audit_actions(client: Client, object_type: str) -> list[str]:
    async with client.app[CTX].db.read() as session:
        return list((await session.scalars(select(AuditEvent.action).where(AuditEvent.object_type == object_type)
                                           .order_by(AuditEvent.id))).all())


async def test_organizations_crud_unique_names_and_domains(client: Client, agent: Staff,
                                                           supervisor: Staff) -> None:
    org = await post(client, supervisor, "/organizations", {"name": " Parsian Trading ", "tier": "Gold",
                                                            "domains": ["Parsian.Example"], "notes": "big"})
    assert (org["name"], org["tier"], org["domains"], org["contracts"], org["contact_count"]) == \
        ("Parsian Trading", "gold", ["parsian.example"], [], 0)
    await post(client, supervisor, "/organizations", {"name": "Parsian Trading"}, status=409)
    clash = await post(client, supervisor, "/organizations", {"name": "Other", "domains": ["parsian.example"]},
                       status=409)
    assert "parsian.example" in clash["error"]["message"]
    second = await post(client, supervisor, "/organizations", {"name": "Northwind"})
    await patch(client, supervisor, f"/organizations/{second['id']}", {"name": "Parsian Trading"}, status=409)
    renamed = await patch(client, supervisor, f"/organizations/{second['id']}",
                          {"name": "Northwind Retail", "domains": ["northwind.example"]})
    assert renamed["name"] == "Northwind Retail" and renamed["domains"] == ["northwind.example"]

    # A customer writing from the organization's domain joins it, and it counts them.
    ctx = client.app[CTX]
    await intake(ctx.db, ctx.store, ctx.settings, InboundMessage(
        channel="webform", external_id="org-1", sender=Address(IdentityKind.EMAIL, "ali@parsian.example"),
        received_at=utcnow(), text="hello", subject="hi"))
    detail = await get(client, agent, f"/organizations/{org['id']}")
    assert detail["contact_count"] == 1
    assert (await get(client, agent, "/contacts", organization_id=str(org["id"])))["items"][0]["organization_id"] \
        == org["id"]

    listed = await get(client, agent, "/organizations", limit="1")
    assert [o["id"] for o in listed["items"]] == [org["id"]] and listed["next_cursor"]
    rest = await get(client, agent, "/organizations", limit="1", cursor=listed["next_cursor"])
    assert [o["id"] for o in rest["items"]] == [second["id"]] and rest["next_cursor"] is None
    assert [o["name"] for o in (await get(client, agent, "/organizations", q="north"))["items"]] == \
        ["Northwind Retail"]
    await get(client, agent, "/organizations/999999", status=404)
    assert await audit_actions(client, "organization") == ["organization.created", "organization.created",
                                                           "organization.updated"]


async def test_roles_on_directory_writes(client: Client, agent: Staff, supervisor: Staff, admin: Staff) -> None:
    denied = await post(client, agent, "/organizations", {"name": "Nope"}, status=403)
    assert denied["error"]["code"] == "forbidden"
    await post(client, agent, "/products", {"name": "Nope"}, status=403)
    await post(client, supervisor, "/sla/policies", {"name": "P", "targets": {"first_response_minutes": 1}},
               status=403)
    await post(client, admin, "/organizations", {"name": "Admins may"})
    unauthenticated = await client.post(V1 + "/organizations", json={"name": "Anon"})
    assert unauthenticated.status == 401
    assert (await client.get(V1 + "/organizations")).status == 401
    assert (await client.get(V1 + "/sla/policies")).status == 401
    assert (await client.get(V1 + "/sla-policies", headers=agent.headers)).status == 404  # gone: /sla/policies


async def test_products(client: Client, agent: Staff, supervisor: Staff) -> None:
    pmb = await post(client, supervisor, "/products", {"name": "Mobile Bank", "code": "PMB"})
    pgw = await post(client, supervisor, "/products", {"name": "Gateway", "description": "card payments"})
    assert pgw["code"] is None
    await post(client, supervisor, "/products", {"name": "Another", "code": "PMB"}, status=409)
    await post(client, supervisor, "/products", {"name": "Mobile Bank"}, status=409)
    await post(client, supervisor, "/products", {"name": "Bad", "code": "has space"}, status=422)
    updated = await patch(client, supervisor, f"/products/{pgw['id']}", {"code": "PGW"})
    assert updated["code"] == "PGW" and updated["description"] == "card payments"
    await patch(client, supervisor, f"/products/{pgw['id']}", {"code": "PMB"}, status=409)
    cleared = await patch(client, supervisor, f"/products/{pmb['id']}", {"code": None})
    assert cleared["code"] is None
    await patch(client, supervisor, f"/products/{pmb['id']}", {"name": None}, status=422)
    assert (await get(client, agent, f"/products/{pgw['id']}"))["name"] == "Gateway"
    assert [p["id"] for p in (await get(client, agent, "/products", q="PGW"))["items"]] == [pgw["id"]]
    await get(client, agent, "/products/424242", status=404)


async def test_contracts_validation_and_active_flag(client: Client, agent: Staff, supervisor: Staff,
                                                    admin: Staff) -> None:
    org = await post(client, supervisor, "/organizations", {"name": "Acme"})
    product = await post(client, supervisor, "/products", {"name": "App"})
    policy = await post(client, admin, "/sla/policies", {"name": "Gold", "targets": {
        "first_response_minutes": 60, "next_response_minutes": 120, "resolution_minutes": 1440}})
    today = utcnow().date()
    current = await post(client, supervisor, "/service-contracts", {
        "name": "Current", "organization_id": org["id"], "product_id": product["id"],
        "sla_policy_id": policy["id"], "starts_on": str(today - timedelta(days=30)),
        "ends_on": str(today + timedelta(days=30)), "channels": ["Email", "telegram"],
        "support_hours": "Sa-We 08:00-12:30 13:30-17:00 Asia/Tehran"})
    assert current["active"] is True and current["channels"] == ["email", "telegram"]
    expired = await post(client, supervisor, "/service-contracts", {
        "name": "Old", "organization_id": org["id"], "starts_on": "2020-01-01", "ends_on": "2020-12-31"})
    assert expired["active"] is False
    future = await post(client, supervisor, "/service-contracts", {
        "name": "Next", "organization_id": org["id"], "starts_on": str(today + timedelta(days=1))})
    assert future["active"] is False
    open_ended = await post(client, supervisor, "/service-contracts", {
        "name": "Forever", "organization_id": org["id"], "starts_on": str(today)})
    assert open_ended["active"] is True and open_ended["ends_on"] is None

    base = {"name": "X", "organization_id": org["id"], "starts_on": "2026-01-01"}
    for bad, field in (({**base, "ends_on": "2025-12-31"}, "ends_on"), ({**base, "starts_on": "2026-02-30"},
                                                                         "starts_on"),
                       ({**base, "starts_on": "yesterday"}, "starts_on"), ({**base, "colour": 1}, "colour"),
                       ({**base, "organization_id": "one"}, "organization_id"), ({"name": "X"}, "organization_id"),
                       ({**base, "channels": ["no spaces allowed"]}, "channels.0")):
        error = (await post(client, supervisor, "/service-contracts", bad, status=422))["error"]
        assert error["code"] == "invalid" and field in [d["field"] for d in error["details"]], (bad, error)
    for hours in ("whenever", "Sa-We 08:00-17:00 Mars/Olympus", "Xx 08:00-17:00", "Sa-We 22:00-06:00 UTC"):
        error = (await post(client, supervisor, "/service-contracts", {**base, "support_hours": hours},
                            status=422))["error"]
        assert "support_hours" in error["message"], (hours, error)
    await patch(client, supervisor, f"/service-contracts/{current['id']}", {"support_hours": "24/7"}, status=422)
    for ref in ("organization_id", "product_id", "sla_policy_id"):
        error = (await post(client, supervisor, "/service-contracts", {**base, ref: 987654}, status=422))["error"]
        assert ref in error["message"] and "987654" in error["message"]

    # PATCH checks the dates against the stored ones too.
    await patch(client, supervisor, f"/service-contracts/{current['id']}", {"ends_on": "2000-01-01"}, status=422)
    await patch(client, supervisor, f"/service-contracts/{current['id']}", {"sla_policy_id": 987654}, status=422)
    await patch(client, supervisor, f"/service-contracts/{current['id']}", {"starts_on": None}, status=422)
    await patch(client, supervisor, f"/service-contracts/{current['id']}", {"organization_id": 1}, status=422)
    ended = await patch(client, supervisor, f"/service-contracts/{current['id']}",
                        {"ends_on": str(today - timedelta(days=1)), "sla_policy_id": None})
    assert ended["active"] is False and ended["sla_policy_id"] is None
    await patch(client, agent, f"/service-contracts/{current['id']}", {"name": "mine"}, status=403)
    await patch(client, supervisor, "/service-contracts/999999", {"name": "x"}, status=404)

    everything = await get(client, agent, "/service-contracts", organization_id=str(org["id"]))
    assert len(everything["items"]) == 4
    active = await get(client, agent, "/service-contracts", active="true")
    assert [c["name"] for c in active["items"]] == ["Forever"]
    inactive = await get(client, agent, "/service-contracts", active="false")
    assert sorted(c["name"] for c in inactive["items"]) == ["Current", "Next", "Old"]
    await get(client, agent, "/service-contracts", status=422, active="perhaps")
    assert (await get(client, agent, f"/service-contracts/{expired['id']}"))["name"] == "Old"
    assert [c["name"] for c in (await get(client, agent, f"/organizations/{org['id']}"))["contracts"]] == \
        ["Next", "Forever", "Current", "Old"]  # newest start first
    assert await audit_actions(client, "service_contract") == ["contract.created"] * 4 + ["contract.updated"]


async def test_hostile_input_is_4xx_never_500(client: Client, agent: Staff, supervisor: Staff,
                                              admin: Staff) -> None:
    huge = 10**12  # larger than any id the (32-bit) id columns can hold
    for path in (f"/organizations/{huge}", f"/products/{huge}", f"/service-contracts/{huge}",
                 f"/sla/policies/{huge}", f"/contacts/{huge}", f"/agents/{huge}"):
        await get(client, agent, path, status=404)
    await get(client, agent, "/organizations", status=422, cursor="MTAwMDAwMDAwMDAwMA")  # a huge id, encoded
    await get(client, agent, "/contacts", status=422, organization_id=str(huge))
    await post(client, supervisor, "/service-contracts", {"name": "x", "organization_id": huge,
                                                          "starts_on": "2026-01-01"}, status=422)
    await post(client, agent, "/contacts/1/merge", {"into": huge}, status=422)
    await patch(client, supervisor, f"/agents/{huge}", {"name": "x"}, status=404)
    await post(client, supervisor, "/organizations", {"name": "nul\u0000byte"}, status=422)
    await post(client, admin, "/sla/policies", {"name": "p", "conditions": {"type": ["a\u0000"]}, "targets": {
        "first_response_minutes": 1}}, status=422)
    await get(client, agent, "/contacts", status=422, q="a\u0000b")
    surrogate = await client.post(V1 + "/organizations", data='{"name": "\\ud800"}',
                                  headers={**supervisor.headers, "Content-Type": "application/json"})
    assert surrogate.status == 422
    for body in ("[]", '"text"', "null", "{"):
        response = await client.post(V1 + "/products", data=body,
                                     headers={**supervisor.headers, "Content-Type": "application/json"})
        assert response.status in (400, 422), (body, response.status)
        assert "error" in await response.json()
    wrong_method = await client.delete(V1 + "/organizations", headers=supervisor.headers)
    assert wrong_method.status == 405
