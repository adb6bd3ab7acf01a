"""The supervisors' wallboard through the real application: queue figures, agents, SLA clocks at risk and
breached, and the coalesced wallboard.changed push on the agent socket."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from aiohttp.test_utils import TestClient
from conftest import Staff, create_staff

from channels.base import InboundMessage
from contactcenter.context import CTX, Context
from contactcenter.db.models import SlaPolicy, Ticket
from contactcenter.db.types import utcnow
from contactcenter.domain.enums import IdentityKind, Role
from contactcenter.domain.identities import Address
from contactcenter.hub import Frame, LocalHub
from contactcenter.intake import intake
from contactcenter.supervision.push import WallboardPusher
from routing.push import agent_topic
from tests.waiting import eventually

Client = TestClient[Any, Any]


async def new_ticket(ctx: Context, key: str, channel: str = "webform") -> int:
    msg = InboundMessage(channel=channel, external_id=key, sender=Address(IdentityKind.EMAIL, f"{key}@c.example"),
                         received_at=utcnow(), text="Please help", subject=f"Help {key}", topic="billing")
    return (await intake(ctx.db, ctx.store, ctx.settings, msg)).ticket_id


async def board(client: Client, staff: Staff) -> dict[str, Any]:
    response = await client.get("/api/v1/wallboard", headers=staff.headers)
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def test_queues_agents_and_sla_clocks(client: Client, supervisor: Staff, agent: Staff) -> None:
    ctx = client.app[CTX]
    async with ctx.db.write() as session:
        session.add(SlaPolicy(name="Fast", position=1, conditions={}, calendar={"business_hours": False},
                              targets={"first_response_minutes": 60, "warn_percent": [50]}))
    first = await new_ticket(ctx, "w1")
    second = await new_ticket(ctx, "w2")
    await ctx.relay.drain()

    body = await board(client, supervisor)
    waiting = {(q["queue"], q["channel"]): q for q in body["queues"]}
    assert sum(q["waiting"] for q in body["queues"]) == 2
    assert all(q["longest_wait_seconds"] >= 0 for q in body["queues"])
    assert {channel for _, channel in waiting} == {"webform"}
    names = {a["id"]: a for a in body["agents"]}
    assert names[agent.user_id]["presence"] == "offline" and names[agent.user_id]["load"] == {}
    assert names[agent.user_id]["capacity"] == dict(ctx.settings.routing.capacity)
    assert body["at_risk"] == [] and body["breached"] == []

    assert ctx.sla is not None
    async with ctx.db.read() as session:
        created = (await session.get(Ticket, first)).created_at  # type: ignore[union-attr]
    await ctx.sla.tick(created + timedelta(minutes=31))  # both warnings fire
    body = await board(client, supervisor)
    assert {(c["ticket_id"], c["metric"]) for c in body["at_risk"]} == {(first, "first_response"),
                                                                         (second, "first_response")}
    item = next(c for c in body["at_risk"] if c["ticket_id"] == first)
    assert item["subject"] == "Help w1" and item["number"] == first and item["assignee_id"] is None

    await ctx.sla.tick(created + timedelta(minutes=61))  # both breaches
    body = await board(client, supervisor)
    assert body["at_risk"] == []
    assert {c["ticket_id"] for c in body["breached"]} == {first, second}
    assert all(c["breached_at"] for c in body["breached"])

    # an agent answering the first ticket takes it off the breached list (answered late, but answered)
    await client.patch(f"/api/v1/tickets/{first}", json={"assignee_id": agent.user_id}, headers=supervisor.headers)
    reply = await client.post(f"/api/v1/tickets/{first}/replies", json={"text": "Sorry for the wait"},
                              headers=agent.headers)
    assert reply.status in (200, 201), await reply.text()

    async def answered() -> bool:
        return {c["ticket_id"] for c in (await board(client, supervisor))["breached"]} == {second}

    assert await eventually(answered)


async def test_only_supervisors_and_admins(client: Client, agent: Staff, admin: Staff) -> None:
    assert (await client.get("/api/v1/wallboard", headers=agent.headers)).status == 403
    assert (await client.get("/api/v1/wallboard")).status == 401
    assert (await client.get("/api/v1/wallboard", headers=admin.headers)).status == 200


async def test_supervisor_console_gets_wallboard_changed(client: Client, supervisor: Staff) -> None:
    ctx = client.app[CTX]
    agent_only = await create_staff(ctx, Role.AGENT, "quiet@agents.example")
    console = await client.ws_connect("/chat/agent/ws", headers=supervisor.headers)
    quiet = await client.ws_connect("/chat/agent/ws", headers=agent_only.headers)
    assert (await console.receive_json(timeout=5))["type"] == "offers"
    assert (await quiet.receive_json(timeout=5))["type"] == "offers"
    await new_ticket(ctx, "live1")
    frame = await console.receive_json(timeout=10)
    assert frame["type"] == "wallboard.changed" and "queues" in frame["reason"].split(",")
    # presence changes reach it too
    await client.put("/api/v1/agents/me/presence", json={"presence": "available"}, headers=agent_only.headers)
    while True:
        frame = await console.receive_json(timeout=10)
        if "agents" in frame["reason"].split(","):
            break
    await quiet.close()
    await console.close()


class Recorder:
    def __init__(self) -> None:
        self.frames: list[Frame] = []

    async def deliver(self, frame: Frame) -> bool:
        self.frames.append(frame)
        return True


async def test_changes_are_coalesced(ctx: Context) -> None:
    supervisor = await create_staff(ctx, Role.SUPERVISOR, "boss@agents.example")
    hub = LocalHub()
    recorder = Recorder()
    hub.subscribe(agent_topic(supervisor.user_id), recorder)
    pusher = WallboardPusher(ctx.db, hub, interval=3600)
    pusher.changed("queues")
    await eventually(lambda: asyncio.sleep(0, len(recorder.frames)))
    for reason in ("offers", "agents", "queues", "sla"):
        pusher.changed(reason)  # all within the interval: held back and pushed together later
    await asyncio.sleep(0.05)
    assert recorder.frames == [{"type": "wallboard.changed", "reason": "queues"}]
    await pusher.close()

    soon = WallboardPusher(ctx.db, hub, interval=0)
    soon.changed("offers", "agents")
    soon.changed("sla")
    await eventually(lambda: asyncio.sleep(0, len(recorder.frames) == 2))
    assert recorder.frames[1] == {"type": "wallboard.changed", "reason": "agents,offers,sla"}
    await soon.close()
