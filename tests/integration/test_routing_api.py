"""Routing over the API with the relay and router running: offers, who may see and answer them,
transfers, requirement overrides and the explanation."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from conftest import Staff, create_staff

from channels.base import InboundMessage
from contactcenter.app import create_app
from contactcenter.context import CTX
from contactcenter.db.types import utcnow
from contactcenter.domain.enums import IdentityKind, Role
from contactcenter.domain.identities import Address
from contactcenter.intake import intake
from contactcenter.settings import Settings
from tests import waiting

eventually = partial(waiting.eventually, what="the router did not get there")

Client = TestClient[Any, Any]
V1 = "/api/v1"


async def call(client: Client, staff: Staff, method: str, path: str, body: Any = None, status: int = 200) -> Any:
    response = await client.request(method, V1 + path, json=body, headers=staff.headers)
    assert response.status == status, (method, path, await response.text())
    return await response.json()


@pytest.fixture
async def client(aiohttp_client: Callable[..., Awaitable[Client]], settings: Settings) -> Client:
    routed = settings.with_overrides({"routing": {"offer_timeout": {"email": 30}, "timer_interval": 0.1}})
    return await aiohttp_client(create_app(routed))


async def staff_with(client: Client, admin: Staff, email: str, skills: dict[str, int]) -> Staff:
    staff = await create_staff(client.app[CTX], Role.AGENT, email)
    await call(client, admin, "PATCH", f"/agents/{staff.user_id}", {"skills": skills})
    await call(client, staff, "PUT", "/agents/me/presence", {"presence": "available"})
    return staff


async def customer_writes(client: Client, key: str, topic: str) -> int:
    ctx = client.app[CTX]
    msg = InboundMessage(channel="webform", external_id=key, sender=Address(IdentityKind.EMAIL, f"{key}@c.example"),
                         received_at=utcnow(), text="Please help", subject="Help", topic=topic)
    return (await intake(ctx.db, ctx.store, ctx.settings, msg)).ticket_id


async def test_offers_transfer_override_and_explain(client: Client, admin: Staff, supervisor: Staff) -> None:
    for name in ("billing", "technical"):
        await call(client, admin, "POST", "/skills", {"name": name}, 201)
    billing = await staff_with(client, admin, "b@agents.example", {"billing": 3})
    techie = await staff_with(client, admin, "t@agents.example", {"technical": 3})
    ticket_id = await customer_writes(client, "k1", "billing")

    [offer] = await eventually(lambda: call(client, billing, "GET", "/offers"))
    assert offer["ticket_id"] == ticket_id and offer["status"] == "pending" and offer["reason"]["candidates"]
    assert await call(client, techie, "GET", "/offers") == []
    await call(client, techie, "GET", f"/offers?user_id={billing.user_id}", status=403)
    assert len(await call(client, supervisor, "GET", f"/offers?user_id={billing.user_id}")) == 1
    await call(client, techie, "POST", f"/offers/{offer['id']}/accept", status=404)  # not theirs
    accepted = await call(client, billing, "POST", f"/offers/{offer['id']}/accept")
    assert accepted["status"] == "accepted"
    await call(client, billing, "POST", f"/offers/{offer['id']}/reject", {}, status=409)
    await call(client, billing, "POST", "/offers/99999/accept", status=404)

    # A transfer to another skill group sends it back to routing, to the technical agent.
    moved = await call(client, billing, "POST", f"/tickets/{ticket_id}/transfer",
                       {"to_skill": "technical", "note": "This is a login problem"})
    assert moved["queue"] == "technical" and moved["assignee_id"] is None
    [offer2] = await eventually(lambda: call(client, techie, "GET", "/offers"))
    assert offer2["ticket_id"] == ticket_id
    await call(client, billing, "POST", f"/tickets/{ticket_id}/transfer", {"note": "nowhere"}, status=422)
    await call(client, billing, "POST", f"/tickets/{ticket_id}/transfer", {"to_skill": "astrology"}, status=422)

    # Overrides are for supervisors; the explanation shows every offer.
    await call(client, billing, "PUT", f"/tickets/{ticket_id}/requirements", {"skills": {"billing": 2}}, status=403)
    changed = await call(client, supervisor, "PUT", f"/tickets/{ticket_id}/requirements",
                         {"skills": {"billing": 2}, "language": "fa"})
    assert changed["requirements"]["overridden"] is True and changed["queue"] == "billing"
    async def offer_cancelled() -> Any:
        explained = await call(client, billing, "GET", f"/tickets/{ticket_id}/routing")
        return explained if [o["status"] for o in explained["offers"]][:2] == ["accepted", "cancelled"] else None

    explained = await eventually(offer_cancelled)
    assert explained["need_now"]["skills"] == {"billing": 2} and explained["need_now"]["language"] == "fa"
    await call(client, billing, "GET", "/tickets/99999/routing", status=404)


async def test_the_console_gets_offers_live_and_closing_it_sets_the_agent_away(client: Client, admin: Staff) -> None:
    await call(client, admin, "POST", "/skills", {"name": "billing"}, 201)
    billing = await staff_with(client, admin, "live@agents.example", {"billing": 2})
    console = await client.ws_connect("/chat/agent/ws", headers=billing.headers)
    assert await console.receive_json(timeout=5) == {"type": "offers", "offers": []}
    ticket_id = await customer_writes(client, "live1", "billing")
    offer = await console.receive_json(timeout=10)
    assert offer["type"] == "offer" and offer["ticket_id"] == ticket_id and offer["reason"]["strategy"]
    await call(client, billing, "POST", f"/offers/{offer['offer_id']}/accept")
    decided = await console.receive_json(timeout=10)
    assert (decided["type"], decided["offer_id"], decided["status"]) == ("offer.decided", offer["offer_id"],
                                                                        "accepted")
    await console.close()

    async def away() -> bool:
        return (await call(client, billing, "GET", "/agents/me"))["presence"] == "away"

    assert await eventually(away)
