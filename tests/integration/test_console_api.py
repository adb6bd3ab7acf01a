"""The agent console's server side: canned responses, @mentions, collision frames, live ticket updates."""

from __future__ import annotations

from typing import Any

from aiohttp import ClientWebSocketResponse
from aiohttp.test_utils import TestClient
from conftest import Staff, create_staff
from sqlalchemy import func, select
from test_tickets_api import call, new_ticket

from contactcenter.context import CTX
from contactcenter.db.models import AuditEvent, Contact, Mention, Ticket
from contactcenter.domain.canned import fill
from contactcenter.domain.enums import Role
from contactcenter.domain.mentions import mention_handles
from contactcenter.events import NoteAdded, TicketChanged, TicketsMerged
from contactcenter.web.live import ticket_updates

Client = TestClient[Any, Any]
WS = ClientWebSocketResponse


async def frame_of(ws: WS, kind: str) -> dict[str, Any]:
    """The next frame of this type; offers and other pushes in between are skipped."""
    while True:
        frame: dict[str, Any] = await ws.receive_json(timeout=10)
        if frame["type"] == kind:
            return frame


async def console(client: Client, staff: Staff) -> WS:
    ws = await client.ws_connect("/chat/agent/ws", headers=staff.headers)
    await ws.send_json({"type": "console"})
    assert (await frame_of(ws, "console"))["user_id"] == staff.user_id
    return ws


def test_mention_handles_skip_email_addresses() -> None:
    assert mention_handles("@Sara and @ali.k, see sara@example.com and @sara again.") == ["sara", "ali.k"]
    assert mention_handles("no one here") == []


def test_fill_keeps_unknown_variables_and_lists_them() -> None:
    text, unknown = fill("Hi {{ customer.first_name }}, ticket {{ticket.number}} {{weather.today}}",
                         {"customer.first_name": "Sara", "ticket.number": "7"})
    assert text == "Hi Sara, ticket 7 {{weather.today}}"
    assert unknown == ["weather.today"]


def test_ticket_updates_are_one_frame_per_ticket() -> None:
    frames = ticket_updates([NoteAdded(ticket_id=3, message_id=1), TicketChanged(ticket_id=3, fields=("status",)),
                             TicketChanged(ticket_id=3, fields=("status", "assignee_id")),
                             TicketsMerged(source_id=4, target_id=3)])
    assert frames == [
        {"type": "ticket.updated", "ticket_id": 3, "reasons": ["note", "changed", "merged"],
         "fields": ["status", "assignee_id"]},
        {"type": "ticket.updated", "ticket_id": 4, "reasons": ["merged"], "fields": []}]


async def test_canned_responses_owners_roles_and_variables(client: Client, agent: Staff, supervisor: Staff) -> None:
    ctx = client.app[CTX]
    other = await create_staff(ctx, Role.AGENT, "other@test.example")
    shared = await call(client, supervisor, "POST", "/canned-responses", {
        "title": "Greeting", "shortcut": "Hello", "body": "Hi {{customer.first_name}}, this is {{agent.name}} "
        "about ticket {{ticket.number}}.", "shared": True}, status=201)
    assert shared["shortcut"] == "hello" and shared["shared"] is True
    await call(client, agent, "POST", "/canned-responses", {"title": "x", "shortcut": "x", "body": "x",
                                                            "shared": True}, status=403)
    mine = await call(client, agent, "POST", "/canned-responses",
                      {"title": "Mine", "shortcut": "hello", "body": "Mine: {{ticket.subject}}"}, status=201)
    await call(client, agent, "POST", "/canned-responses", {"title": "Again", "shortcut": "hello", "body": "y"},
               status=409)
    await call(client, supervisor, "POST", "/canned-responses", {"title": "Again", "shortcut": "hello", "body": "y",
                                                                 "shared": True}, status=409)
    listed = await call(client, agent, "GET", "/canned-responses")
    assert {(c["id"], c["editable"]) for c in listed} == {(shared["id"], False), (mine["id"], True)}
    assert [c["id"] for c in await call(client, other, "GET", "/canned-responses")] == [shared["id"]]
    # Someone else's response does not exist for you; a shared one is read-only for agents.
    await call(client, other, "PATCH", f"/canned-responses/{mine['id']}", {"title": "mine now"}, status=404)
    await call(client, other, "POST", f"/canned-responses/{mine['id']}/render", {"ticket_id": 1}, status=404)
    await call(client, agent, "PATCH", f"/canned-responses/{shared['id']}", {"title": "t"}, status=403)
    await call(client, agent, "PATCH", f"/canned-responses/{mine['id']}", {"title": None}, status=422)
    await call(client, agent, "POST", "/canned-responses", {"title": "", "shortcut": "a b", "body": ""}, status=422)

    result = await new_ticket(ctx, "canned-1", email="sara@example.com", subject="Broken router")
    async with ctx.db.write() as session:
        ticket = await session.get(Ticket, result.ticket_id)
        assert ticket is not None
        contact = await session.get(Contact, ticket.contact_id)
        assert contact is not None
        contact.name = "Sara Ahmadi"
    rendered = await call(client, agent, "POST", f"/canned-responses/{shared['id']}/render",
                          {"ticket_id": result.ticket_id})
    assert rendered["text"] == f"Hi Sara, this is Agent about ticket {result.ticket_id}."
    assert rendered["unknown_variables"] == []
    await call(client, agent, "POST", f"/canned-responses/{shared['id']}/render", {"ticket_id": 999999}, status=404)
    await call(client, agent, "PATCH", f"/canned-responses/{mine['id']}", {"body": "Re: {{ticket.subject}}"})
    rendered = await call(client, agent, "POST", f"/canned-responses/{mine['id']}/render",
                          {"ticket_id": result.ticket_id})
    assert rendered["text"] == "Re: Broken router"
    await call(client, agent, "DELETE", f"/canned-responses/{mine['id']}")
    await call(client, agent, "DELETE", f"/canned-responses/{mine['id']}", status=404)
    async with ctx.db.read() as session:
        actions = list((await session.scalars(select(AuditEvent.action).where(
            AuditEvent.object_type == "canned_response").order_by(AuditEvent.id))).all())
    assert actions == ["canned.created", "canned.created", "canned.updated", "canned.deleted"]


async def test_a_mention_is_recorded_once_and_pushed_to_that_agent(client: Client, agent: Staff,
                                                                   supervisor: Staff) -> None:
    ctx = client.app[CTX]
    sara = await create_staff(ctx, Role.AGENT, "sara@test.example")
    ws = await client.ws_connect("/chat/agent/ws", headers=sara.headers)
    result = await new_ticket(ctx, "mention-1")
    note = await call(client, agent, "POST", f"/tickets/{result.ticket_id}/notes",
                      {"text": "@sara @Sara please look; @agent (me) and @nobody; mail sara@test.example"}, status=201)
    frame = await frame_of(ws, "mention")
    assert frame["ticket_id"] == result.ticket_id and frame["message_id"] == note["id"]
    assert frame["author_name"] == "Agent" and frame["excerpt"].startswith("@sara @Sara")
    async with ctx.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Mention)) == 1
    mine = await call(client, sara, "GET", "/me/mentions?unread=true")
    assert [(m["ticket_id"], m["read"]) for m in mine] == [(result.ticket_id, False)]
    assert await call(client, supervisor, "GET", "/me/mentions") == []
    assert (await call(client, sara, "POST", "/me/mentions/read", {"up_to_id": mine[0]["id"]}))["marked"] == 1
    assert await call(client, sara, "GET", "/me/mentions?unread=true") == []
    # A reply is public: "@sara" in it mentions nobody.
    await call(client, agent, "POST", f"/tickets/{result.ticket_id}/replies", {"text": "@sara hi"}, status=201)
    async with ctx.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Mention)) == 1
    await ws.close()


async def test_collision_frames_show_who_views_and_types(client: Client, agent: Staff, supervisor: Staff) -> None:
    result = await new_ticket(client.app[CTX], "collide-1")
    ticket = result.ticket_id
    first = await console(client, agent)
    await first.send_json({"type": "view", "ticket": ticket})
    assert (await frame_of(first, "viewers"))["viewers"] == [{"id": agent.user_id, "name": "Agent", "typing": False}]
    second = await console(client, supervisor)
    await second.send_json({"type": "view", "ticket": ticket})
    both = [{"id": agent.user_id, "name": "Agent", "typing": False},
            {"id": supervisor.user_id, "name": "Supervisor", "typing": False}]
    assert (await frame_of(first, "viewers"))["viewers"] == both
    assert (await frame_of(second, "viewers"))["viewers"] == both
    await second.send_json({"type": "typing", "ticket": ticket, "typing": True})
    typing = await frame_of(first, "viewers")
    assert [v["typing"] for v in typing["viewers"]] == [False, True]
    await second.close()
    assert (await frame_of(first, "viewers"))["viewers"] == both[:1]
    await first.send_json({"type": "view", "ticket": 987654})
    assert (await frame_of(first, "error"))["code"] == "not_found"
    await first.send_json({"type": "typing", "ticket": 987654, "typing": True})
    assert (await frame_of(first, "error"))["code"] == "not_watching"
    await first.send_json({"type": "view", "ticket": "x"})
    assert (await frame_of(first, "error"))["code"] == "bad_frame"
    await first.close()


async def test_consoles_hear_of_new_messages_and_changes(client: Client, agent: Staff) -> None:
    ws = await console(client, agent)
    result = await new_ticket(client.app[CTX], "live-1")
    frame = await frame_of(ws, "ticket.updated")
    assert frame["ticket_id"] == result.ticket_id and "created" in frame["reasons"]
    await call(client, agent, "PATCH", f"/tickets/{result.ticket_id}", {"priority": "high"})
    while "changed" not in (frame := await frame_of(ws, "ticket.updated"))["reasons"]:
        pass
    assert frame["ticket_id"] == result.ticket_id and "priority" in frame["fields"]
    await ws.close()
