"""The customer portal against the real app: public messages only, replies, merges, attachments, bad links."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient
from conftest import handled_reply
from sqlalchemy import select

from contactcenter.context import CTX
from contactcenter.db.models import Attachment, Message, Ticket

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(64))
PDF = b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
SUBMISSION = re.compile(r'name="submission_id" value="([^"]+)"')
Client = TestClient[Any, Any]


async def hidden_fields(client: Client, path: str) -> tuple[str, str]:
    response = await client.get(path)
    assert response.status == 200, path
    html = await response.text()
    csrf, submission = CSRF.search(html), SUBMISSION.search(html)
    assert csrf and submission
    return csrf[1], submission[1]


async def new_ticket(client: Client, email: str = "sara@example.com", message: str = "My order is late.",
                     files: tuple[tuple[str, str, bytes], ...] = ()) -> tuple[str, int]:
    """Submit the contact form; return the portal token and the ticket number."""
    csrf, submission = await hidden_fields(client, "/contact")
    data = aiohttp.FormData(default_to_multipart=True)
    for key, value in {"csrf_token": csrf, "submission_id": submission, "name": "Sara", "email": email,
                       "subject": "Order 1234", "message": message, "topic": "general"}.items():
        data.add_field(key, value)
    for filename, content_type, payload in files:
        data.add_field("attachments", payload, filename=filename, content_type=content_type)
    response = await client.post("/contact", data=data, allow_redirects=False)
    assert response.status == 303, await response.text()
    token = response.headers["Location"].removeprefix("/t/")
    portal = await (await client.get(f"/api/v1/portal/{token}")).json()
    return token, portal["number"]


async def reply(client: Client, token: str, text: str, files: tuple[tuple[str, str, bytes], ...] = (),
                csrf: str | None = None) -> aiohttp.ClientResponse:
    page_csrf, submission = await hidden_fields(client, f"/t/{token}")
    data = aiohttp.FormData(default_to_multipart=True)
    data.add_field("csrf_token", csrf if csrf is not None else page_csrf)
    data.add_field("submission_id", submission)
    data.add_field("message", text)
    for filename, content_type, payload in files:
        data.add_field("attachments", payload, filename=filename, content_type=content_type)
    return await client.post(f"/t/{token}/reply", data=data, allow_redirects=False)


async def agent_reply(client: Client, agent: Any, number: int, text: str, **extra: Any) -> None:
    response = await client.post(f"/api/v1/tickets/{number}/replies", json={"text": text, **extra},
                                 headers=agent.headers)
    assert response.status == 201, await response.text()
    message_id = (await response.json())["id"]
    assert (await handled_reply(client.app[CTX], message_id)).delivery_status == "delivered"


async def ticket(client: Client, agent: Any, number: int) -> dict[str, Any]:
    response = await client.get(f"/api/v1/tickets/{number}", headers=agent.headers)
    assert response.status == 200
    result: dict[str, Any] = await response.json()
    return result


async def test_portal_shows_public_messages_not_internal_notes(client: Client, agent: Any) -> None:
    token, number = await new_ticket(client)
    note = await client.post(f"/api/v1/tickets/{number}/notes", headers=agent.headers,
                             json={"text": "SECRET NOTE: customer is on the watch list"})
    assert note.status == 201
    await agent_reply(client, agent, number, "Hello Sara, <b>we</b> are checking with the courier.",
                      html="<p>Hello Sara, <b>we</b> are checking with the courier.</p>")
    page = await client.get(f"/t/{token}")
    assert page.status == 200
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    html = await page.text()
    assert '<meta name="robots" content="noindex">' in html
    assert f"Ticket <strong>#{number}</strong>" in html
    assert "SECRET NOTE" not in html
    assert "My order is late." in html
    assert "Hello Sara, &lt;b&gt;we&lt;/b&gt; are checking" in html  # text only, escaped
    assert "<b>we</b>" not in html
    assert html.index("My order is late.") < html.index("Hello Sara")
    assert ">You<" in html and ">Agent<" in html  # the agent's display name

    data = await (await client.get(f"/api/v1/portal/{token}")).json()
    assert data["number"] == number and data["subject"] == "Order 1234"
    assert [(m["author"], m["author_name"]) for m in data["messages"]] == [("you", "You"), ("agent", "Agent")]
    assert all("SECRET" not in m["text"] for m in data["messages"])


async def test_queued_reply_appears_once_delivered(client: Client, agent: Any) -> None:
    token, number = await new_ticket(client)
    response = await client.post(f"/api/v1/tickets/{number}/replies", json={"text": "On its way"},
                                 headers=agent.headers)
    assert response.status == 201
    for _ in range(100):  # the running relay delivers it through the portal sender
        data = await (await client.get(f"/api/v1/portal/{token}")).json()
        if len(data["messages"]) == 2:
            break
        await asyncio.sleep(0.05)
    assert data["messages"][-1]["text"] == "On its way"


async def test_reply_through_portal_lands_on_same_ticket_and_reopens(client: Client, agent: Any) -> None:
    token, number = await new_ticket(client)
    await agent_reply(client, agent, number, "Could you send the receipt?", status="pending")
    assert (await ticket(client, agent, number))["status"] == "pending"

    response = await reply(client, token, "Here it is: receipt attached.",
                           files=(("رسید.pdf", "application/pdf", PDF),))
    assert response.status == 303
    assert response.headers["Location"] == f"/t/{token}"

    detail = await ticket(client, agent, number)
    assert detail["status"] == "open"
    messages = [e for e in detail["timeline"] if e["kind"] == "message"]
    assert len(messages) == 3
    assert messages[-1]["text"] == "Here it is: receipt attached."
    assert messages[-1]["thread_reason"].startswith("portal-link")
    assert messages[-1]["channel"] == "webform"
    assert [a["filename"] for a in messages[-1]["attachments"]] == ["رسید.pdf"]
    assert messages[-1]["author_id"] == messages[0]["author_id"]  # the same contact

    html = await (await client.get(f"/t/{token}")).text()
    assert "Here it is: receipt attached." in html and "رسید.pdf" in html


async def test_portal_reply_double_submit_is_stored_once(client: Client) -> None:
    token, number = await new_ticket(client)
    csrf, submission = await hidden_fields(client, f"/t/{token}")
    for _ in range(2):
        data = aiohttp.FormData(default_to_multipart=True)
        for key, value in {"csrf_token": csrf, "submission_id": submission, "message": "once"}.items():
            data.add_field(key, value)
        response = await client.post(f"/t/{token}/reply", data=data, allow_redirects=False)
        assert response.status == 303
    async with client.app[CTX].db.read() as session:
        texts = (await session.scalars(select(Message.text).where(Message.ticket_id == number))).all()
    assert list(texts).count("once") == 1


async def test_portal_reply_needs_csrf_and_text(client: Client) -> None:
    token, number = await new_ticket(client)
    forged = await reply(client, token, "forged", csrf="f" * 64)
    assert forged.status == 403
    empty = await reply(client, token, "   ")
    assert empty.status == 422
    assert "Please write your message" in await empty.text()
    async with client.app[CTX].db.read() as session:
        count = len((await session.scalars(select(Message.id).where(Message.ticket_id == number))).all())
    assert count == 1


async def test_portal_json_reply(client: Client, agent: Any, settings: Any) -> None:
    token, number = await new_ticket(client)
    response = await client.post(f"/api/v1/portal/{token}/messages", json={"text": "JSON reply",
                                                                           "submission_id": "r-1"})
    assert response.status == 201, await response.text()
    body = await response.json()
    assert body["ticket_number"] == number and body["duplicate"] is False
    assert body["portal_url"] == f"{settings.base_url}/t/{token}"
    again = await client.post(f"/api/v1/portal/{token}/messages", json={"text": "JSON reply",
                                                                        "submission_id": "r-1"})
    assert again.status == 200 and (await again.json())["duplicate"] is True
    for bad in ({"text": ""}, {"text": 3}, {"message": "x"}):
        response = await client.post(f"/api/v1/portal/{token}/messages", json=bad)
        assert response.status == 422
    malformed = await client.post(f"/api/v1/portal/{token}/messages", data=b"{",
                                  headers={"Content-Type": "application/json"})
    assert malformed.status == 400
    detail = await ticket(client, agent, number)
    replies = [e for e in detail["timeline"] if e["kind"] == "message" and e["text"] == "JSON reply"]
    assert len(replies) == 1 and replies[0]["thread_reason"].startswith("portal-link")


async def test_reply_on_closed_ticket_opens_follow_up_with_new_link(client: Client, agent: Any) -> None:
    token, number = await new_ticket(client)
    closed = await client.patch(f"/api/v1/tickets/{number}", json={"status": "closed"}, headers=agent.headers)
    assert closed.status == 200
    html = await (await client.get(f"/t/{token}")).text()
    assert "This ticket is closed" in html
    response = await reply(client, token, "It broke again")
    assert response.status == 303
    new_token = response.headers["Location"].removeprefix("/t/")
    assert new_token != token
    data = await (await client.get(f"/api/v1/portal/{new_token}")).json()
    assert data["number"] != number
    follow_up = await ticket(client, agent, data["number"])
    assert follow_up["follow_up_of_id"] == number


async def test_unknown_token_is_404_without_leaking(client: Client) -> None:
    token, number = await new_ticket(client)
    for path in (f"/t/{'x' * 43}", "/t/short", f"/t/{number}", f"/t/{token[:-1]}"):
        response = await client.get(path)
        assert response.status == 404, path
        assert response.content_type == "text/html"
        assert "not valid" in await response.text()
    api = await client.get(f"/api/v1/portal/{'x' * 43}")
    assert api.status == 404
    assert (await api.json())["error"]["code"] == "not_found"
    api_reply = await client.post(f"/api/v1/portal/{'x' * 43}/messages", json={"text": "hi"})
    assert api_reply.status == 404
    csrf, submission = await hidden_fields(client, "/contact")
    data = aiohttp.FormData(default_to_multipart=True)
    for key, value in {"csrf_token": csrf, "submission_id": submission, "message": "hi"}.items():
        data.add_field(key, value)
    html_reply = await client.post(f"/t/{'x' * 43}/reply", data=data, allow_redirects=False)
    assert html_reply.status == 404


async def test_attachments_only_of_public_messages_of_this_ticket(client: Client, agent: Any) -> None:
    token, number = await new_ticket(client, files=(("photo.png", "image/png", PNG),))
    other_token, other_number = await new_ticket(client, email="ali@example.com",
                                                 files=(("other.pdf", "application/pdf", PDF),))
    async with client.app[CTX].db.read() as session:
        mine = await session.scalar(select(Attachment).join(Message, Message.id == Attachment.message_id)
                                    .where(Message.ticket_id == number))
        theirs = await session.scalar(select(Attachment).join(Message, Message.id == Attachment.message_id)
                                      .where(Message.ticket_id == other_number))
    assert mine is not None and theirs is not None
    download = await client.get(f"/t/{token}/attachments/{mine.id}")
    assert download.status == 200
    assert await download.read() == PNG
    assert download.headers["Content-Type"] == "application/octet-stream"
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert download.headers["Cache-Control"] == "no-store"
    assert (await client.get(f"/t/{token}/attachments/{theirs.id}")).status == 404
    assert (await client.get(f"/t/{other_token}/attachments/{theirs.id}")).status == 200
    assert (await client.get(f"/t/{token}/attachments/999999")).status == 404
    assert (await client.get(f"/t/{token}/attachments/abc")).status == 404
    assert (await client.get(f"/t/{'x' * 43}/attachments/{mine.id}")).status == 404

    # an attachment on an internal note is never served through the portal
    note = await client.post(f"/api/v1/tickets/{number}/notes", json={"text": "internal"}, headers=agent.headers)
    note_id = (await note.json())["id"]
    async with client.app[CTX].db.write() as session:
        internal = Attachment(message_id=note_id, filename="internal.png", content_type="image/png",
                              size=mine.size, sha256=mine.sha256)
        session.add(internal)
        await session.flush()
        internal_id = internal.id
    assert (await client.get(f"/t/{token}/attachments/{internal_id}")).status == 404
    data = await (await client.get(f"/api/v1/portal/{token}")).json()
    urls = [a["url"] for m in data["messages"] for a in m["attachments"]]
    assert urls == [f"/t/{token}/attachments/{mine.id}"]


async def test_merged_ticket_portal_shows_target(client: Client, agent: Any) -> None:
    old_token, old_number = await new_ticket(client, message="First message")
    target_token, target_number = await new_ticket(client, message="Second message")
    merged = await client.post(f"/api/v1/tickets/{old_number}/merge", json={"into": target_number},
                               headers=agent.headers)
    assert merged.status == 200, await merged.text()
    await agent_reply(client, agent, target_number, "Both handled here")
    data = await (await client.get(f"/api/v1/portal/{old_token}")).json()
    assert data["number"] == target_number and data["merged_from"] == old_number
    texts = [m["text"] for m in data["messages"]]
    assert "First message" in texts and "Second message" in texts and "Both handled here" in texts
    target = await (await client.get(f"/api/v1/portal/{target_token}")).json()
    assert target["merged_from"] is None and [m["text"] for m in target["messages"]] == texts
    html = await (await client.get(f"/t/{old_token}")).text()
    assert f"Ticket <strong>#{target_number}</strong>" in html and "Both handled here" in html
    response = await reply(client, old_token, "Reply via the old link")
    assert response.status == 303
    async with client.app[CTX].db.read() as session:
        rows = (await session.scalars(select(Message))).all()  # texts are encrypted: compared after reading
        row = next((m for m in rows if m.text == "Reply via the old link"), None)
        assert row is not None
        assert row.ticket_id == target_number
        old = await session.get(Ticket, old_number)
        assert old is not None and old.merged_into_id == target_number
