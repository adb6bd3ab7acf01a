"""Contacts over the API: search, the customer 360, edits, identities, merge and undo."""

from __future__ import annotations

import itertools
from typing import Any

from aiohttp.test_utils import TestClient
from conftest import Staff
from sqlalchemy import select

from channels.base import InboundMessage
from contactcenter.context import CTX
from contactcenter.db.models import AuditEvent, ContactIdentity, OutboxEvent, Ticket
from contactcenter.db.types import utcnow
from contactcenter.domain.enums import IdentityKind
from contactcenter.domain.identities import Address
from contactcenter.intake import IntakeResult, intake

Client = TestClient[Any, Any]
_ids = itertools.count(1)


async def arrive(client: Client, sender: Address, text: str = "Hello, I need help", *,
                 channel: str = "webform", name: str = "", subject: str = "Help",
                 other: tuple[Address, ...] = ()) -> IntakeResult:
    """A customer message through the real intake."""
    ctx = client.app[CTX]
    msg = InboundMessage(channel=channel, external_id=f"ext-{next(_ids)}", sender=sender, sender_name=name,
                         other_addresses=other, received_at=utcnow(), text=text, subject=subject)
    return await intake(ctx.db, ctx.store, ctx.settings, msg)


def email(value: str) -> Address:
    return Address(IdentityKind.EMAIL, value)


def phone(value: str) -> Address:
    return Address(IdentityKind.PHONE, value)


async def search(client: Client, staff: Staff, **params: str) -> list[int]:
    response = await client.get("/api/v1/contacts", params=params, headers=staff.headers)
    assert response.status == 200, await response.text()
    return [c["id"] for c in (await response.json())["items"]]


async def test_search_by_name_email_and_phone_in_any_writing(client: Client, agent: Staff) -> None:
    sara = await arrive(client, email("sara@example.com"), name="Sara Tehrani",
                        other=(phone("+989123456789"),))
    other = await arrive(client, email("bob@example.org"), name="Bob Builder")
    assert await search(client, agent, q="tehr") == [sara.contact_id]  # name part, any case
    assert await search(client, agent, q="SARA") == [sara.contact_id]
    assert await search(client, agent, q="Sara@Example.COM") == [sara.contact_id]  # e-mail, lower-cased
    for written in ("0912 345 6789", "+98 912 345 6789", "۰۹۱۲۳۴۵۶۷۸۹", "09123456789", "+989123456789"):
        assert await search(client, agent, q=written) == [sara.contact_id], written
    assert await search(client, agent, q="nobody-matches-this") == []
    assert await search(client, agent) == [other.contact_id, sara.contact_id]  # newest first
    assert await search(client, agent, q="%") == []  # LIKE wildcards are taken literally


async def test_search_by_telegram_id_and_pagination(client: Client, agent: Staff) -> None:
    tg = await arrive(client, Address(IdentityKind.TELEGRAM, "556677"), channel="telegram",
                      name="Telegram user")
    assert await search(client, agent, q="556677") == [tg.contact_id]
    made = [(await arrive(client, email(f"page{i}@example.com"), name=f"Pager {i}")).contact_id
            for i in range(5)]
    first = await (await client.get("/api/v1/contacts", params={"q": "pager", "limit": "2"},
                                    headers=agent.headers)).json()
    assert [c["id"] for c in first["items"]] == made[::-1][:2]
    seen = [c["id"] for c in first["items"]]
    cursor = first["next_cursor"]
    while cursor:
        page = await (await client.get("/api/v1/contacts", headers=agent.headers,
                                       params={"q": "pager", "limit": "2", "cursor": cursor})).json()
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
    assert seen == made[::-1]
    bad = await client.get("/api/v1/contacts", params={"cursor": "!!"}, headers=agent.headers)
    assert bad.status == 422
    assert (await bad.json())["error"]["code"] == "invalid"


async def test_customer_360_lists_identities_from_two_channels_and_tickets(client: Client, agent: Staff,
                                                                           supervisor: Staff) -> None:
    org = await (await client.post("/api/v1/organizations", json={"name": "Parsian", "tier": "gold",
                                                                  "domains": ["parsian.example"]},
                                   headers=supervisor.headers)).json()
    contract = await client.post("/api/v1/service-contracts", headers=supervisor.headers, json={
        "name": "Gold 2026", "organization_id": org["id"], "starts_on": "2020-01-01", "ends_on": None})
    assert contract.status == 201, await contract.text()
    first = await arrive(client, email("reza@parsian.example"), "My card was charged twice", name="Reza")
    added = await client.post(f"/api/v1/contacts/{first.contact_id}/identities", headers=agent.headers,
                              json={"kind": "phone", "value": "0912 111 2233"})
    assert added.status == 201, await added.text()
    assert (await added.json())["value"] == "+989121112233"
    second = await arrive(client, phone("+989121112233"), "Calling about the refund", channel="sms")
    assert second.contact_id == first.contact_id  # the phone now leads to the same customer

    response = await client.get(f"/api/v1/contacts/{first.contact_id}", headers=agent.headers)
    assert response.status == 200
    view = await response.json()
    assert view["name"] == "Reza" and view["organization_id"] == org["id"]
    assert {(i["kind"], i["value"], i["method"]) for i in view["identities"]} == {
        ("email", "reza@parsian.example", "claimed"), ("phone", "+989121112233", "agent")}
    assert [t["id"] for t in view["tickets"]] == [second.ticket_id, first.ticket_id]  # newest first
    assert [t["channel"] for t in view["tickets"]] == ["sms", "webform"]
    assert view["ticket_count"] == 2
    assert view["organization"]["name"] == "Parsian"
    assert [(c["name"], c["active"]) for c in view["contracts"]] == [("Gold 2026", True)]
    assert view["merges"] == []

    missing = await client.get("/api/v1/contacts/999999", headers=agent.headers)
    assert missing.status == 404
    assert (await missing.json())["error"]["code"] == "not_found"
    assert (await client.get("/api/v1/contacts/abc", headers=agent.headers)).status == 404


async def test_patch_contact_and_validation(client: Client, agent: Staff, supervisor: Staff) -> None:
    c = await arrive(client, email("pat@example.com"), name="Pat")
    org = await (await client.post("/api/v1/organizations", json={"name": "Acme"},
                                   headers=supervisor.headers)).json()
    url = f"/api/v1/contacts/{c.contact_id}"
    ok = await client.patch(url, headers=agent.headers, json={
        "name": "Pat Smith", "organization_id": org["id"], "language": "fa", "notes": "VIP"})
    assert ok.status == 200, await ok.text()
    body = await ok.json()
    assert (body["name"], body["organization_id"], body["language"], body["notes"]) == \
        ("Pat Smith", org["id"], "fa", "VIP")
    detached = await (await client.patch(url, headers=agent.headers, json={"organization_id": None})).json()
    assert detached["organization_id"] is None and detached["name"] == "Pat Smith"

    for bad in ({"name": None}, {"name": 5}, {"colour": "red"}, {"language": "not a language"},
                {"organization_id": "x"}):
        response = await client.patch(url, headers=agent.headers, json=bad)
        assert response.status == 422, (bad, await response.text())
        error = (await response.json())["error"]
        assert error["code"] == "invalid" and error["details"], bad
    unknown_org = await client.patch(url, headers=agent.headers, json={"organization_id": 424242})
    assert unknown_org.status == 422
    assert "424242" in (await unknown_org.json())["error"]["message"]
    not_json = await client.patch(url, headers={**agent.headers, "Content-Type": "application/json"},
                                  data="{oops")
    assert not_json.status == 400
    missing = await client.patch("/api/v1/contacts/999999", headers=agent.headers, json={"name": "x"})
    assert missing.status == 404

    async with client.app[CTX].db.read() as session:
        actions = (await session.scalars(select(AuditEvent.action).where(
            AuditEvent.object_type == "contact", AuditEvent.object_id == c.contact_id,
            AuditEvent.actor_kind == "user", AuditEvent.actor_id == agent.user_id))).all()
    assert actions == ["contact.updated", "contact.updated"]


async def test_add_identity_normalizes_and_refuses_duplicates(client: Client, agent: Staff) -> None:
    a = await arrive(client, email("a@example.com"))
    b = await arrive(client, email("b@example.com"))
    url = f"/api/v1/contacts/{a.contact_id}/identities"
    added = await client.post(url, headers=agent.headers,
                              json={"kind": "email", "value": " A.Second@Example.COM "})
    assert added.status == 201
    assert (await added.json())["value"] == "a.second@example.com"
    persian = await client.post(url, headers=agent.headers, json={"kind": "phone", "value": "۰۹۱۲۳۴۵۶۷۸۹"})
    assert (await persian.json())["value"] == "+989123456789"
    taken = await client.post(f"/api/v1/contacts/{b.contact_id}/identities", headers=agent.headers,
                              json={"kind": "email", "value": "a@EXAMPLE.com"})
    assert taken.status == 409
    for bad in ({"kind": "email", "value": "not-an-address"}, {"kind": "phone", "value": "12"},
                {"kind": "fax", "value": "1"}, {"kind": "telegram", "value": "two words"}, {"kind": "email"}):
        response = await client.post(url, headers=agent.headers, json=bad)
        assert response.status == 422, (bad, await response.text())


async def test_merge_moves_everything_new_mail_follows_and_undo_restores(client: Client,
                                                                          agent: Staff) -> None:
    ctx = client.app[CTX]
    src1 = await arrive(client, email("old@example.com"), "first", name="Old Account",
                        other=(phone("+989120000001"),))
    src2 = await arrive(client, email("old@example.com"), "second", subject="Another question")
    target = await arrive(client, email("new@example.com"), "hello", name="New Account")
    source_id, target_id = src1.contact_id, target.contact_id
    assert src2.contact_id == source_id

    async def state() -> tuple[dict[int, int], dict[int, int]]:
        async with ctx.db.read() as session:
            rows = await session.execute(select(ContactIdentity.id, ContactIdentity.contact_id))
            identities = {identity_id: contact_id for identity_id, contact_id in rows.all()}
            rows = await session.execute(select(Ticket.id, Ticket.contact_id))
            tickets = {ticket_id: contact_id for ticket_id, contact_id in rows.all()}
        return identities, tickets

    before = await state()
    response = await client.post(f"/api/v1/contacts/{source_id}/merge", headers=agent.headers,
                                 json={"into": target_id})
    assert response.status == 201, await response.text()
    merge = await response.json()
    assert (merge["source_id"], merge["target_id"], merge["undone_at"]) == (source_id, target_id, None)
    assert sorted(merge["ticket_ids"]) == sorted({src1.ticket_id, src2.ticket_id})
    assert len(merge["identity_ids"]) == 2 and merge["actor_id"] == agent.user_id

    identities, tickets = await state()
    assert set(identities.values()) == {target_id} and set(tickets.values()) == {target_id}
    merged_view = await (await client.get(f"/api/v1/contacts/{source_id}", headers=agent.headers)).json()
    assert merged_view["merged_into_id"] == target_id and merged_view["identities"] == []
    assert [m["id"] for m in merged_view["merges"]] == [merge["id"]]
    target_view = await (await client.get(f"/api/v1/contacts/{target_id}", headers=agent.headers)).json()
    assert {i["value"] for i in target_view["identities"]} == {"old@example.com", "+989120000001",
                                                               "new@example.com"}
    assert target_view["ticket_count"] == 3
    assert source_id not in await search(client, agent, q="old account")
    assert await search(client, agent, q="old@example.com") == [target_id]

    # A merged contact can be read (to follow it) but not edited or merged again.
    for method, path, body in (("PATCH", f"/api/v1/contacts/{source_id}", {"name": "x"}),
                               ("POST", f"/api/v1/contacts/{source_id}/identities",
                                {"kind": "email", "value": "z@example.com"}),
                               ("POST", f"/api/v1/contacts/{source_id}/merge", {"into": target_id}),
                               ("POST", f"/api/v1/contacts/{target_id}/merge", {"into": source_id})):
        answer = await client.request(method, path, headers=agent.headers, json=body)
        assert answer.status == 409, (method, path, await answer.text())

    undo = await client.post(f"/api/v1/contact-merges/{merge['id']}/undo", headers=agent.headers)
    assert undo.status == 200, await undo.text()
    assert (await undo.json())["undone_at"] is not None
    assert await state() == before
    assert (await (await client.get(f"/api/v1/contacts/{source_id}", headers=agent.headers)).json()
            )["merged_into_id"] is None
    again = await client.post(f"/api/v1/contact-merges/{merge['id']}/undo", headers=agent.headers)
    assert again.status == 409
    assert (await again.json())["error"]["code"] == "conflict"
    assert (await client.post("/api/v1/contact-merges/999999/undo", headers=agent.headers)).status == 404

    # Merge again: a new message from the source's address now lands on the target.
    await client.post(f"/api/v1/contacts/{source_id}/merge", headers=agent.headers, json={"into": target_id})
    later = await arrive(client, email("old@example.com"), "one more thing", subject="New topic")
    assert later.contact_id == target_id

    async with ctx.db.read() as session:
        audit = (await session.scalars(select(AuditEvent.action).where(
            AuditEvent.actor_id == agent.user_id, AuditEvent.actor_kind == "user")
            .order_by(AuditEvent.id))).all()
        topics = (await session.scalars(select(OutboxEvent.topic)
                                        .where(OutboxEvent.topic == "contact.merged"))).all()
    assert audit == ["contact.merged", "contact.merge_undone", "contact.merged"]
    assert len(topics) == 3


async def test_merge_errors(client: Client, agent: Staff) -> None:
    a = await arrive(client, email("m1@example.com"))
    same = await client.post(f"/api/v1/contacts/{a.contact_id}/merge", headers=agent.headers,
                             json={"into": a.contact_id})
    assert same.status == 409
    unknown = await client.post(f"/api/v1/contacts/{a.contact_id}/merge", headers=agent.headers,
                                json={"into": 999999})
    assert unknown.status == 422
    assert (await client.post("/api/v1/contacts/999999/merge", headers=agent.headers,
                              json={"into": a.contact_id})).status == 404
    for bad in ({}, {"into": "x"}, {"into": 0}, {"into": a.contact_id, "also": 1}):
        response = await client.post(f"/api/v1/contacts/{a.contact_id}/merge", headers=agent.headers,
                                     json=bad)
        assert response.status == 422, bad


async def test_contacts_need_sign_in(client: Client) -> None:
    for method, path in (("GET", "/api/v1/contacts"), ("GET", "/api/v1/contacts/1"),
                         ("PATCH", "/api/v1/contacts/1"), ("POST", "/api/v1/contact-merges/1/undo")):
        response = await client.request(method, path, json={})
        assert response.status == 401, (method, path)
        assert (await response.json())["error"]["code"] == "unauthorized"
    bogus = await client.get("/api/v1/contacts", headers={"Authorization": "Bearer cc_not-a-real-token"})
    assert bogus.status == 401


async def test_session_cookie_writes_need_csrf(client: Client, agent: Staff) -> None:
    c = await arrive(client, email("csrf@example.com"))
    login = await client.post("/api/v1/auth/login", json={"email": agent.email,
                                                           "password": "correct horse battery"})
    assert login.status == 200
    csrf = (await login.json())["csrf_token"]
    assert (await client.get(f"/api/v1/contacts/{c.contact_id}")).status == 200
    refused = await client.patch(f"/api/v1/contacts/{c.contact_id}", json={"notes": "x"})
    assert refused.status == 403
    accepted = await client.patch(f"/api/v1/contacts/{c.contact_id}", json={"notes": "x"},
                                  headers={"X-CSRF-Token": csrf})
    assert accepted.status == 200


async def test_openapi_lists_the_new_endpoints(client: Client) -> None:
    spec = await (await client.get("/api/v1/openapi.json")).json()
    for path in ("/api/v1/contacts", "/api/v1/contacts/{id}", "/api/v1/contacts/{id}/identities",
                 "/api/v1/contacts/{id}/merge", "/api/v1/contact-merges/{id}/undo", "/api/v1/organizations",
                 "/api/v1/organizations/{id}", "/api/v1/products", "/api/v1/products/{id}",
                 "/api/v1/service-contracts", "/api/v1/service-contracts/{id}", "/api/v1/sla/policies",
                 "/api/v1/sla/policies/{id}", "/api/v1/me/notifications", "/api/v1/agents", "/api/v1/agents/{id}",
                 "/api/v1/agents/me",
                 "/api/v1/agents/me/presence", "/api/v1/agents/{id}/presence", "/api/v1/skills",
                 "/api/v1/skills/{id}"):
        assert path in spec["paths"], path
    assert "/api/v1/sla-policies" not in spec["paths"]  # one API for SLA policies: /sla/policies
    assert "Contact360" in spec["components"]["schemas"]
    assert spec["paths"]["/api/v1/contacts"]["get"]["parameters"][0]["name"] == "q"


async def test_undo_takes_back_an_organization_the_merge_copied(client: Client, agent: Staff,
                                                                 supervisor: Staff) -> None:
    org = await client.post("/api/v1/organizations", json={"name": "Parsian", "domains": ["parsian.example"]},
                            headers=supervisor.headers)
    assert org.status == 201
    with_org = await arrive(client, email("ali@parsian.example"))
    without = await arrive(client, email("ali@gmail.example"))
    merge = await client.post(f"/api/v1/contacts/{with_org.contact_id}/merge", json={"into": without.contact_id},
                              headers=agent.headers)
    assert merge.status == 201
    target = await (await client.get(f"/api/v1/contacts/{without.contact_id}", headers=agent.headers)).json()
    assert target["organization_id"] == (await org.json())["id"]
    undo = await client.post(f"/api/v1/contact-merges/{(await merge.json())['id']}/undo", headers=agent.headers)
    assert undo.status == 200
    target = await (await client.get(f"/api/v1/contacts/{without.contact_id}", headers=agent.headers)).json()
    assert target["organization_id"] is None
