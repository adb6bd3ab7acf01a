"""Customers' "my tickets" through the real application and a local SMTP sink: the e-mailed sign-in link works
once and briefly, nobody learns which addresses are known, limits hold, and a customer sees only their own tickets
and only public messages."""

from __future__ import annotations

import asyncio
import email.policy
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from email import message_from_bytes
from email.message import EmailMessage
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from aiosmtpd.smtp import SMTP, Envelope, Session
from conftest import create_staff
from mailtools import Recorder
from sqlalchemy import select, update

from channels.base import InboundMessage
from contactcenter.actions.audit import SYSTEM, Actor
from contactcenter.actions.tickets import do_add_note
from contactcenter.app import create_app
from contactcenter.context import CTX
from contactcenter.db.models import AuditEvent, MagicLink, Ticket
from contactcenter.db.types import utcnow
from contactcenter.domain.enums import IdentityKind, Role
from contactcenter.domain.identities import Address
from contactcenter.privacy import service
from contactcenter.settings import Settings

Client = TestClient[Any, Any]


@pytest.fixture
async def sink() -> AsyncIterator[Recorder]:
    recorder = Recorder()
    await recorder.start()
    yield recorder
    await recorder.stop()


@pytest.fixture
async def site(aiohttp_client: Callable[..., Awaitable[Client]], settings: Settings, sink: Recorder) -> Client:
    configured = settings.with_overrides({"email": {"port": 0, "smtp_port": sink.port},
                                          "portal": {"magic_link_per_ip": 8}})
    return await aiohttp_client(create_app(configured))


async def eventually(probe: Callable[[], Any]) -> Any:
    for _ in range(200):
        if value := probe():
            return value
        await asyncio.sleep(0.05)
    raise AssertionError("never got there")


async def customer_ticket(client: Client, email: str, key: str) -> int:
    ctx = client.app[CTX]
    msg = InboundMessage(channel="webform", external_id=key, sender=Address(IdentityKind.EMAIL, email),
                         received_at=utcnow(), text="Help", subject=f"Help {key}")
    return (await ctx.intake.submit(msg)).ticket_id


def link_in(raw: bytes) -> str:
    mail = message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(mail, EmailMessage)
    found = re.search(r"/my/signin\?token=([A-Za-z0-9_-]{43})\s", mail.get_content())
    assert found is not None
    return found.group(1)


async def test_sign_in_by_link_then_my_tickets_only(site: Client, sink: Recorder) -> None:
    ctx = site.app[CTX]
    agent = await create_staff(ctx, Role.AGENT)
    mine = [await customer_ticket(site, "ann@c.example", f"m{i}") for i in range(2)]
    theirs = await customer_ticket(site, "bob@c.example", "t1")
    async with ctx.db.write() as session:
        await do_add_note(session, mine[0], "internal: customer is difficult",
                          actor=Actor.user(agent.user_id, Role.AGENT))

    known = await site.post("/api/v1/portal/magic-link", json={"email": " Ann@C.example "})
    unknown = await site.post("/api/v1/portal/magic-link", json={"email": "nobody@c.example"})
    assert known.status == unknown.status == 202
    assert await known.json() == await unknown.json() == {"status": "accepted"}
    await eventually(lambda: sink.received)
    await asyncio.sleep(0.2)
    assert [rcpt for _, rcpt, _ in sink.received] == [["ann@c.example"]]
    token = link_in(sink.received[0][2])
    async with ctx.db.read() as session:  # only the hash is stored
        assert token not in {link.token_hash for link in (await session.scalars(select(MagicLink))).all()}

    assert (await site.get("/api/v1/portal/me/tickets")).status == 401
    signed = await site.get(f"/my/signin?token={token}", allow_redirects=False)
    assert signed.status == 303 and signed.headers["Location"] == "/my"
    cookie = signed.headers["Set-Cookie"]
    assert cookie.startswith("cc_customer=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie

    listed = await (await site.get("/api/v1/portal/me/tickets")).json()
    assert [t["id"] for t in listed] == sorted(mine, reverse=True)
    assert listed[0]["portal_url"] == f"/my/tickets/{listed[0]['id']}"
    detail = await (await site.get(f"/api/v1/portal/me/tickets/{mine[0]}")).json()
    assert [m["author"] for m in detail["messages"]] == ["you"]  # the internal note is not there
    assert (await site.get(f"/api/v1/portal/me/tickets/{theirs}")).status == 404
    assert (await site.get("/api/v1/portal/me/tickets/abc")).status == 404

    assert (await site.post("/api/v1/portal/signout")).status == 204
    assert (await site.get("/api/v1/portal/me/tickets")).status == 401
    again = await site.get(f"/my/signin?token={token}", allow_redirects=False)  # single use
    assert again.status == 410


async def test_a_contact_erased_while_their_link_is_mailed_leaves_no_audit_row(
        aiohttp_client: Callable[..., Awaitable[Client]], settings: Settings) -> None:
    erased: list[int] = []

    class ErasingSink(Recorder):
        """The SMTP server takes the mail just as an admin erases the customer."""

        async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
            answer = await super().handle_DATA(server, session, envelope)
            ctx = site.app[CTX]
            await service.erase_contact(ctx.db, ctx.store, erased[0], actor=SYSTEM)
            return answer

    sink = ErasingSink()
    await sink.start()
    try:
        site = await aiohttp_client(create_app(settings.with_overrides({"email": {"port": 0, "smtp_port": sink.port}})))
        ctx = site.app[CTX]
        await customer_ticket(site, "gone@c.example", "g1")
        async with ctx.db.read() as session:
            [link_owner] = (await session.scalars(select(Ticket.contact_id))).all()
        erased.append(link_owner)
        assert (await site.post("/api/v1/portal/magic-link", json={"email": "gone@c.example"})).status == 202
        await eventually(lambda: sink.received)
        await ctx.relay.drain()
        async with ctx.db.read() as session:
            actions = (await session.scalars(select(AuditEvent.action).where(
                AuditEvent.object_type == "contact", AuditEvent.object_id == link_owner))).all()
    finally:
        await sink.stop()
    assert "contact.erased" in actions and "portal.magic_link_sent" not in actions


async def test_expired_links_limits_and_bad_input(site: Client, sink: Recorder) -> None:
    ctx = site.app[CTX]
    await customer_ticket(site, "cy@c.example", "x1")
    for _ in range(5):  # three links per address and hour; the others are answered alike and not sent
        assert (await site.post("/api/v1/portal/magic-link", json={"email": "cy@c.example"})).status == 202
    await eventually(lambda: len(sink.received) >= 3)
    await asyncio.sleep(0.3)
    assert len(sink.received) == 3
    async with ctx.db.write() as session:
        await session.execute(update(MagicLink).values(expires_at=utcnow() - timedelta(seconds=1)))
    expired = await site.get(f"/my/signin?token={link_in(sink.received[0][2])}", allow_redirects=False)
    assert expired.status == 410
    assert (await site.get("/my/signin?token=nonsense", allow_redirects=False)).status == 410
    assert (await site.get("/my/signin", allow_redirects=False)).status == 410

    for bad in ({"email": "not-an-address"}, {}, {"email": "a@b.c", "extra": 1}, {"email": 5}):
        assert (await site.post("/api/v1/portal/magic-link", json=bad)).status == 422
    statuses = [(await site.post("/api/v1/portal/magic-link", json={"email": f"z{i}@c.example"})).status
                for i in range(4)]
    assert statuses[-1] == 429  # eight per IP address and hour in this test's settings
