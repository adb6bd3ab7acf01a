"""The ticket API over HTTP with the real app: filters, keyset pages, search, timeline, reply, notes, changes, merge."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from aiohttp.test_utils import TestClient
from conftest import Staff, handled_reply
from sqlalchemy import select

from channels.base import InboundMessage, ThreadHints
from contactcenter.context import CTX, Context
from contactcenter.db.models import OutboxEvent
from contactcenter.db.types import utcnow
from contactcenter.domain.enums import IdentityKind
from contactcenter.domain.identities import Address
from contactcenter.intake import IntakeResult, intake

Client = TestClient[Any, Any]
V1 = "/api/v1"


async def new_ticket(ctx: Context, external_id: str, *, email: str = "c@example.com", subject: str = "Question",
                     text: str = "Hello", topic: str | None = None, token: str | None = None) -> IntakeResult:
    return await intake(ctx.db, ctx.store, ctx.settings, InboundMessage(
        channel="webform", external_id=external_id, sender=Address(IdentityKind.EMAIL, email), received_at=utcnow(),
        subject=subject, text=text, topic=topic, hints=ThreadHints(portal_token=token)))


async def call(client: Client, staff: Staff | None, method: str, path: str, body: Any = None,
               status: int = 200) -> Any:
    response = await client.request(method, V1 + path, json=body, headers=staff.headers if staff else {})
    assert response.status == status, (method, path, response.status, await response.text())
    return await response.json()


async def test_filters_combine(client: Client, agent: Staff) -> None:
    ctx = client.app[CTX]
    billing = await new_ticket(ctx, "1", topic="billing")
    complaint = await new_ticket(ctx, "2", topic="complaint", email="angry@example.com")
    await new_ticket(ctx, "3", topic="technical")
    await call(client, agent, "PATCH", f"/tickets/{billing.ticket_id}",
               {"status": "pending", "assignee_id": agent.user_id, "tags": ["VIP", " refund ", "vip"]})

    async def ids(query: str) -> list[int]:
        return [t["id"] for t in (await call(client, agent, "GET", f"/tickets?{query}"))["items"]]

    assert await ids("queue=billing") == [billing.ticket_id]
    assert await ids("type=complaint&priority=high") == [complaint.ticket_id]
    assert await ids("status=pending") == [billing.ticket_id]
    assert await ids("status=new,open&channel=webform") == [3, complaint.ticket_id]
    assert await ids("assignee=me") == [billing.ticket_id]
    assert await ids(f"assignee={agent.user_id}&tag=vip") == [billing.ticket_id]
    assert len(await ids("assignee=none")) == 2
    assert await ids(f"contact_id={complaint.contact_id}") == [complaint.ticket_id]
    detail = await call(client, agent, "GET", f"/tickets/{billing.ticket_id}")
    assert detail["tags"] == ["refund", "vip"] and detail["status"] == "pending"


async def test_keyset_pages_cover_every_ticket_once(client: Client, agent: Staff) -> None:
    ctx = client.app[CTX]
    await asyncio.gather(*(new_ticket(ctx, f"p{i}", email=f"p{i}@example.com") for i in range(23)))
    for order in ("newest", "oldest"):
        seen: list[int] = []
        cursor = ""
        while True:
            page = await call(client, agent, "GET", f"/tickets?limit=5&order={order}{cursor}")
            seen += [t["id"] for t in page["items"]]
            if not page["next_cursor"]:
                break
            cursor = f"&cursor={page['next_cursor']}"
        assert sorted(seen) == list(range(1, 24)) and len(seen) == 23
        assert seen == sorted(seen, reverse=order == "newest")


async def test_text_search_treats_persian_spellings_alike(client: Client, agent: Staff) -> None:
    ctx = client.app[CTX]
    persian = await new_ticket(ctx, "fa", subject="مشکل در پرداخت", text="کارت من دوبار شارژ شد و می‌خواهم پول برگردد")
    english = await new_ticket(ctx, "en", subject="Refund", text="Please refund my CARD payment")

    async def found(q: str) -> list[int]:
        return [t["id"] for t in (await call(client, agent, "GET", f"/tickets?q={q}"))["items"]]

    assert await found("كارت") == [persian.ticket_id]  # Arabic kaf
    assert await found("ميخواهم") == [persian.ticket_id]  # Arabic yeh, no ZWNJ
    assert await found("card refund") == [english.ticket_id]
    assert await found("card missing") == []
    await call(client, agent, "POST", f"/tickets/{english.ticket_id}/notes", {"text": "customer is a زبان‌آموز"}, 201)
    assert await found("زبان‌آموز") == [english.ticket_id]


async def test_reply_is_delivered_through_the_outbox_and_notes_stay_internal(client: Client, agent: Staff) -> None:
    ctx = client.app[CTX]
    ticket = await new_ticket(ctx, "r")
    note = await call(client, agent, "POST", f"/tickets/{ticket.ticket_id}/notes", {"text": "check the ledger"}, 201)
    reply = await call(client, agent, "POST", f"/tickets/{ticket.ticket_id}/replies",
                       {"text": "We refunded you.", "status": "pending",
                        "html": "<p onclick='x()'>We <b>refunded</b> you.<script>1</script>"}, 201)
    assert note["internal"] and note["delivery_status"] == "internal"
    assert reply["delivery_status"] == "queued"
    stored = await handled_reply(ctx, reply["id"])
    assert stored.delivery_status == "delivered" and stored.provider_id == f"portal:{reply['id']}"
    assert stored.html == "<p>We <b>refunded</b> you.</p>"
    detail = await call(client, agent, "GET", f"/tickets/{ticket.ticket_id}")
    assert detail["status"] == "pending"
    messages = [e for e in detail["timeline"] if e["kind"] == "message"]
    assert [(m["direction"], m["internal"]) for m in messages] == [("in", False), ("out", True), ("out", False)]
    actions = [e["action"] for e in detail["timeline"] if e["kind"] == "event"]
    assert {"ticket.created", "message.received", "message.noted", "message.replied", "ticket.updated",
            "message.delivery"} <= set(actions)
    async with ctx.db.read() as session:
        topics = (await session.scalars(select(OutboxEvent.topic).order_by(OutboxEvent.id))).all()
    assert topics[-3:] == ["note.added", "reply.queued", "ticket.changed"]


async def test_status_lifecycle_is_enforced(client: Client, agent: Staff) -> None:
    ticket = await new_ticket(client.app[CTX], "s")
    path = f"/tickets/{ticket.ticket_id}"
    await call(client, agent, "PATCH", path, {"status": "solved"})
    await call(client, agent, "PATCH", path, {"status": "pending"}, 409)
    await call(client, agent, "PATCH", path, {"status": "closed"})
    error = await call(client, agent, "PATCH", path, {"status": "open"}, 409)
    assert "closed" in error["error"]["message"]
    await call(client, agent, "POST", f"{path}/replies", {"text": "hi"}, 409)
    bad = await call(client, agent, "PATCH", path, {"status": "archived"}, 422)
    assert bad["error"]["details"][0]["field"] == "status"


async def test_merge_moves_messages_and_redirects_the_customer(client: Client, agent: Staff) -> None:
    ctx = client.app[CTX]
    source = await new_ticket(ctx, "ms", text="first request")
    target = await new_ticket(ctx, "mt", text="second request")
    merged = await call(client, agent, "POST", f"/tickets/{source.ticket_id}/merge", {"into": target.ticket_id})
    assert merged["id"] == target.ticket_id
    old = await call(client, agent, "GET", f"/tickets/{source.ticket_id}")
    assert (old["status"], old["merged_into_id"]) == ("closed", target.ticket_id)
    texts = [e["text"] for e in (await call(client, agent, "GET", f"/tickets/{target.ticket_id}"))["timeline"]
             if e["kind"] == "message"]
    assert texts == ["first request", "second request"]
    later = await new_ticket(ctx, "ms2", text="any news?", token=source.portal_token)
    assert later.ticket_id == target.ticket_id
    await call(client, agent, "POST", f"/tickets/{source.ticket_id}/merge", {"into": target.ticket_id}, 409)
    await call(client, agent, "POST", f"/tickets/{target.ticket_id}/merge", {"into": target.ticket_id}, 409)
    await call(client, agent, "POST", f"/tickets/{target.ticket_id}/merge", {"into": 9999}, 404)


async def test_bad_requests_get_clear_4xx_answers(client: Client, agent: Staff) -> None:
    ticket = await new_ticket(client.app[CTX], "b")
    path = f"{V1}/tickets/{ticket.ticket_id}"
    cases = [
        ("GET", f"{V1}/tickets/999999", None, 404),
        ("GET", f"{V1}/tickets/abc", None, 404),
        ("GET", f"{V1}/tickets/99999999999999999999999", None, 404),
        ("GET", f"{V1}/tickets?limit=0", None, 422),
        ("GET", f"{V1}/tickets?cursor=!!!", None, 422),
        ("GET", f"{V1}/tickets?assignee=someone", None, 422),
        ("GET", f"{V1}/tickets?status=open,bogus", None, 422),
        ("GET", f"{V1}/tickets?unknown=1", None, 422),
        ("PATCH", path, b"{not json", 400),
        ("PATCH", path, b'["a list"]', 422),
        ("PATCH", path, b'{"priority": 5}', 422),
        ("PATCH", path, b'{"surprise": true}', 422),
        ("PATCH", path, b'{"assignee_id": 424242}', 422),
        ("POST", f"{path}/replies", b'{"text": ""}', 422),
        ("POST", f"{path}/replies", b"\xff\xfe", 400),
        ("DELETE", path, None, 405),
    ]
    for method, url, body, status in cases:
        response = await client.request(method, url, data=body, headers=agent.headers)
        payload = await response.json()
        assert response.status == status, (method, url, body, response.status, payload)
        assert set(payload["error"]) >= {"code", "message"}


async def test_oversized_body_is_413(client: Client, agent: Staff) -> None:
    ticket = await new_ticket(client.app[CTX], "big")
    limit = client.app[CTX].settings.server.max_body_bytes
    response = await client.post(f"{V1}/tickets/{ticket.ticket_id}/notes", data=b"x" * (limit + 1),
                                 headers={**agent.headers, "Content-Type": "application/json"})
    assert response.status == 413
    assert (await response.json())["error"]["code"]


async def test_every_ticket_endpoint_needs_a_signed_in_user(client: Client) -> None:
    for method, path in (("GET", "/tickets"), ("GET", "/tickets/1"), ("PATCH", "/tickets/1"),
                         ("POST", "/tickets/1/replies"), ("POST", "/tickets/1/notes"), ("POST", "/tickets/1/merge"),
                         ("GET", "/attachments/1")):
        response = await client.request(method, V1 + path, json={})
        assert response.status == 401, (method, path)
    response = await client.get(V1 + "/tickets", headers={"Authorization": "Bearer cc_made-up"})
    assert response.status == 401


async def test_a_reply_the_provider_never_takes_is_marked_failed(client: Client, agent: Staff) -> None:
    ctx = client.app[CTX]

    class Unreachable:  # the provider side, out of reach: every send raises
        async def send(self, message: Any) -> Any:
            raise ConnectionError("provider refused the connection")

    ctx.channels.register("webform", Unreachable())
    ctx.relay.settings = dataclasses.replace(ctx.relay.settings, max_attempts=2, retry_base_delay=0.0)
    ticket = await new_ticket(ctx, "dead")
    reply = await call(client, agent, "POST", f"/tickets/{ticket.ticket_id}/replies", {"text": "hello"}, 201)
    stored = await handled_reply(ctx, reply["id"])
    assert stored.delivery_status == "failed"
    assert stored.delivery_error is not None and "refused" in stored.delivery_error


async def test_nul_and_overlong_tags_are_refused_not_stored(client: Client, agent: Staff) -> None:
    ticket = await new_ticket(client.app[CTX], "nul")
    await call(client, agent, "POST", f"/tickets/{ticket.ticket_id}/replies", {"text": "a\u0000b"}, 422)
    await call(client, agent, "POST", f"/tickets/{ticket.ticket_id}/notes", {"text": "\ud800"}, 422)
    await call(client, agent, "PATCH", f"/tickets/{ticket.ticket_id}", {"tags": ["x" * 81]}, 422)


async def test_pages_and_errors_carry_the_security_headers(client: Client) -> None:
    for path in ("/contact", "/no-such-page", "/api/v1/no-such-endpoint"):
        response = await client.get(path)
        assert response.headers["X-Content-Type-Options"] == "nosniff", path
        assert "default-src 'self'" in response.headers["Content-Security-Policy"], path
