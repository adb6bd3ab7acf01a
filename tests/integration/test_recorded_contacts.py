"""Contacts made in person, by post or fax, recorded by an agent: they go through intake like any message."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from contactcenter.context import CTX
from contactcenter.db.models import AuditEvent, Message, Ticket
from tests.conftest import Staff

Client = TestClient[Any, Any]


async def record(client: Client, agent: Staff, **body: Any) -> Any:
    return await client.post("/api/v1/recorded-contacts", json=body, headers=agent.headers)


async def test_an_in_person_visit_opens_a_ticket_and_a_letter_continues_it(client: Client, agent: Staff) -> None:
    first = await record(client, agent, channel="in_person", text="Came to the branch: card swallowed by ATM",
                         name="Sara Ahmadi", phone="0912 123 4567", idempotency_key="visit-1")
    assert first.status == 201, await first.text()
    visit = await first.json()
    assert visit["created_ticket"] and not visit["duplicate"]
    again = await record(client, agent, channel="in_person", text="Came to the branch: card swallowed by ATM",
                         name="Sara Ahmadi", phone="0912 123 4567", idempotency_key="visit-1")
    assert again.status == 200 and (await again.json())["duplicate"]
    letter = await record(client, agent, channel="letter", text="Letter: still no new card",
                          ticket_id=visit["ticket_id"])
    assert letter.status == 201, await letter.text()
    follow = await letter.json()
    assert follow["ticket_id"] == visit["ticket_id"] and follow["contact_id"] == visit["contact_id"]
    assert not follow["created_ticket"] and follow["thread_reason"].endswith(f"continues #{visit['ticket_id']}")
    fax = await record(client, agent, channel="fax", text="Fax: complaint", contact_id=visit["contact_id"],
                       occurred_at="2026-11-20T09:30:00+03:30")
    assert fax.status == 201
    async with client.app[CTX].db.read() as session:
        ticket = await session.get(Ticket, visit["ticket_id"])
        stored = (await session.scalars(select(Message).order_by(Message.id))).all()
        audits = (await session.scalars(select(AuditEvent.action).where(AuditEvent.action == "message.received"))).all()
    assert ticket is not None and ticket.channel == "in_person" and ticket.status == "new"
    assert [m.channel for m in stored] == ["in_person", "letter", "fax"]
    assert {m.meta["recorded_by"] for m in stored} == {str(agent.user_id)}
    assert len(audits) == 3


async def test_a_customer_must_be_named(client: Client, agent: Staff) -> None:
    response = await record(client, agent, channel="letter", text="anonymous letter")
    assert response.status == 422
    bad = await record(client, agent, channel="letter", text="x", email="not an address")
    assert bad.status == 422
    missing = await record(client, agent, channel="letter", text="x", ticket_id=999)
    assert missing.status == 404
    unknown = await record(client, agent, channel="pigeon", text="x", email="a@example.com")
    assert unknown.status == 422


async def test_recording_needs_sign_in(client: Client) -> None:
    response = await client.post("/api/v1/recorded-contacts", json={"channel": "fax", "text": "x"})
    assert response.status == 401
