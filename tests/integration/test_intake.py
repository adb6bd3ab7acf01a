"""The single intake path against a real database: side effects, redeliveries, identity, threading, batches."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from channels.base import InboundAttachment, InboundMessage, ThreadHints
from contactcenter.context import Context
from contactcenter.db.engine import Database
from contactcenter.db.models import (
    Attachment,
    AuditEvent,
    Contact,
    ContactIdentity,
    Message,
    Organization,
    OutboxEvent,
    Ticket,
)
from contactcenter.db.types import utcnow
from contactcenter.domain.enums import IdentityKind, Role, TicketStatus
from contactcenter.domain.identities import Address, normalize_phone
from contactcenter.errors import NotFound
from contactcenter.intake import Arrival, IntakeResult, intake, receive_batch
from contactcenter.intake_queue import IntakeQueue
from contactcenter.storage import AttachmentStore
from tests.conftest import create_staff

EMAIL = IdentityKind.EMAIL
PHONE = IdentityKind.PHONE


def message(external_id: str, sender: Address | None = None, *, channel: str = "webform", text: str = "Hello",
            subject: str = "Help", **kwargs: Any) -> InboundMessage:
    return InboundMessage(channel=channel, external_id=external_id,
                          sender=sender or Address(EMAIL, "customer@example.com"),
                          received_at=utcnow(), text=text, subject=subject, **kwargs)


async def count(ctx: Context, model: Any, *where: Any) -> int:
    async with ctx.db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def receive(ctx: Context, msg: InboundMessage) -> IntakeResult:
    return await intake(ctx.db, ctx.store, ctx.settings, msg)


async def set_status(ctx: Context, ticket_id: int, status: TicketStatus, solved_days_ago: float | None = None) -> None:
    values: dict[str, Any] = {"status": status}
    if solved_days_ago is not None:
        values["solved_at"] = utcnow() - timedelta(days=solved_days_ago)
    async with ctx.db.write() as session:
        await session.execute(update(Ticket).where(Ticket.id == ticket_id).values(**values))


async def test_first_message_writes_exactly_its_rows(ctx: Context) -> None:
    result = await receive(ctx, message("m1", text="My card was charged twice", sender_name="Sam",
                                        attachments=(InboundAttachment("r.txt", "text/plain", b"receipt"),)))
    assert result.created_ticket and not result.duplicate and result.portal_token
    assert result.thread_reason.startswith("new")
    async with ctx.db.read() as session:
        ticket = await session.get(Ticket, result.ticket_id)
        contact = await session.get(Contact, result.contact_id)
        audit = Counter((await session.scalars(select(AuditEvent.action))).all())
        events = Counter((await session.scalars(select(OutboxEvent.topic))).all())
        attachment = await session.scalar(select(Attachment))
    assert ticket is not None and contact is not None and attachment is not None
    assert (ticket.status, ticket.channel, ticket.language, ticket.contact_id) == ("new", "webform", "en", contact.id)
    assert contact.name == "Sam"
    assert audit == {"contact.created": 1, "ticket.created": 1, "message.received": 1}
    assert events == {"ticket.created": 1, "message.received": 1}
    assert (attachment.filename, attachment.size) == ("r.txt", 7)
    assert await ctx.store.read(attachment.sha256, attachment.file_key) == b"receipt"
    assert b"receipt" not in ctx.store.path(attachment.sha256).read_bytes()  # encrypted at rest
    assert await count(ctx, ContactIdentity) == 1


async def test_redelivery_returns_the_original_and_stores_nothing(ctx: Context) -> None:
    first = await receive(ctx, message("same-id"))
    rows = [await count(ctx, m) for m in (Message, Ticket, Contact, AuditEvent, OutboxEvent)]
    again = await receive(ctx, message("same-id", text="changed text"))
    assert again.duplicate and not again.created_ticket
    assert (again.ticket_id, again.message_id, again.contact_id) == (first.ticket_id, first.message_id,
                                                                     first.contact_id)
    assert [await count(ctx, m) for m in (Message, Ticket, Contact, AuditEvent, OutboxEvent)] == rows
    # The same id on another channel is another message.
    other = await receive(ctx, message("same-id", channel="sms", sender=Address(PHONE, "+989121234567")))
    assert not other.duplicate


async def test_addresses_are_one_contact_in_any_writing(ctx: Context) -> None:
    first = await receive(ctx, message("a", Address(PHONE, normalize_phone("0912 345 6789")),
                                       other_addresses=(Address(EMAIL, "maryam@example.com"),)))
    by_phone = await receive(ctx, message("b", Address(PHONE, normalize_phone("+98 912 345 6789"))))
    by_digits = await receive(ctx, message("c", Address(PHONE, normalize_phone("۰۹۱۲۳۴۵۶۷۸۹"))))
    by_mail = await receive(ctx, message("d", Address(EMAIL, "maryam@example.com")))
    assert first.contact_id == by_phone.contact_id == by_digits.contact_id == by_mail.contact_id
    assert await count(ctx, Contact) == 1 and await count(ctx, ContactIdentity) == 2


async def test_contact_joins_the_organization_of_its_mail_domain(ctx: Context) -> None:
    async with ctx.db.write() as session:
        session.add(Organization(name="Parsian", domains=["parsian.example"]))
    result = await receive(ctx, message("m", Address(EMAIL, "ali@parsian.example")))
    async with ctx.db.read() as session:
        contact = await session.get(Contact, result.contact_id)
        ticket = await session.get(Ticket, result.ticket_id)
    assert contact is not None and ticket is not None
    assert contact.organization_id is not None and ticket.organization_id == contact.organization_id


async def test_topic_sets_type_priority_and_queue_and_language_is_detected(ctx: Context) -> None:
    result = await receive(ctx, message("c", topic="complaint", subject="شکایت", text="از خدمات شما ناراضی هستم"))
    async with ctx.db.read() as session:
        ticket = await session.get(Ticket, result.ticket_id)
    assert ticket is not None
    assert (ticket.type, ticket.priority, ticket.queue, ticket.language) == ("complaint", "high", "complaints", "fa")
    assert ticket.requirements["skills"] == {"complaints": 1}


async def test_conversation_continues_reopens_and_follows_up(ctx: Context) -> None:
    sender = Address(PHONE, "+989121111111")
    hints = ThreadHints(conversation_key="chat-1")
    first = await receive(ctx, message("1", sender, channel="sms", hints=hints))
    second = await receive(ctx, message("2", sender, channel="sms", hints=hints))
    assert second.ticket_id == first.ticket_id and second.thread_reason.startswith("conversation: continues")

    await set_status(ctx, first.ticket_id, TicketStatus.SOLVED, solved_days_ago=1)
    reopened = await receive(ctx, message("3", sender, channel="sms", hints=hints))
    assert reopened.ticket_id == first.ticket_id and "reopens" in reopened.thread_reason
    async with ctx.db.read() as session:
        ticket = await session.get(Ticket, first.ticket_id)
    assert ticket is not None and ticket.status == "open" and ticket.solved_at is None

    await set_status(ctx, first.ticket_id, TicketStatus.SOLVED, solved_days_ago=30)
    late = await receive(ctx, message("4", sender, channel="sms", hints=hints))
    assert late.created_ticket and "follow-up" in late.thread_reason

    await set_status(ctx, late.ticket_id, TicketStatus.CLOSED)
    after_close = await receive(ctx, message("5", sender, channel="sms", hints=hints))
    assert after_close.created_ticket
    async with ctx.db.read() as session:
        follow_up = await session.get(Ticket, after_close.ticket_id)
    assert follow_up is not None and follow_up.follow_up_of_id == late.ticket_id


async def test_two_messages_in_one_batch_reopen_a_solved_ticket_once_and_queue_it_again(ctx: Context) -> None:
    sender = Address(EMAIL, "twice@example.com")
    hints = ThreadHints(conversation_key="c-twice")
    first = await receive(ctx, message("t1", sender, hints=hints))
    async with ctx.db.write() as session:  # solved, and out of the router's queue (as after an agent's work)
        await session.execute(update(Ticket).where(Ticket.id == first.ticket_id).values(
            status=TicketStatus.SOLVED, solved_at=utcnow() - timedelta(hours=1), waiting_since=None, ring=2,
            routing_queue="overflow", next_ring_at=utcnow()))
    before = utcnow()
    batch = [Arrival(message(f"t{i}", sender, hints=hints)) for i in (2, 3)]
    results = await ctx.db.run_write(lambda session: receive_batch(session, batch, ctx.settings))
    assert {r.ticket_id for r in results if isinstance(r, IntakeResult)} == {first.ticket_id}
    async with ctx.db.read() as session:
        ticket = await session.get(Ticket, first.ticket_id)
        changes = (await session.scalars(select(AuditEvent.changes).where(
            AuditEvent.ticket_id == first.ticket_id, AuditEvent.action == "ticket.updated"))).all()
    assert ticket is not None and ticket.status == "open" and ticket.solved_at is None
    assert ticket.waiting_since is not None and ticket.waiting_since >= before and ticket.ring == 0
    assert ticket.routing_queue == ticket.queue and ticket.next_ring_at is None
    assert ticket.last_message_at is not None and ticket.last_message_at >= before
    assert changes == [{"status": ["solved", "open"]}]  # one change, not one per message


async def test_a_message_on_an_assigned_solved_ticket_reopens_it_for_its_agent(ctx: Context) -> None:
    first = await receive(ctx, message("a1", Address(EMAIL, "mine@example.com")))
    agent = await create_staff(ctx, Role.AGENT, "agent-reopen@example.com")
    async with ctx.db.write() as session:
        await session.execute(update(Ticket).where(Ticket.id == first.ticket_id).values(
            status=TicketStatus.SOLVED, solved_at=utcnow(), assignee_id=agent.user_id, waiting_since=None))
    assert first.portal_token
    await receive(ctx, message("a2", hints=ThreadHints(portal_token=first.portal_token)))
    async with ctx.db.read() as session:
        ticket = await session.get(Ticket, first.ticket_id)
    assert ticket is not None and ticket.status == "open" and ticket.assignee_id == agent.user_id
    assert ticket.waiting_since is None  # not back in the queue: its agent has it


async def test_pending_ticket_goes_back_to_open_on_a_customer_message(ctx: Context) -> None:
    first = await receive(ctx, message("p1"))
    await set_status(ctx, first.ticket_id, TicketStatus.PENDING)
    assert first.portal_token
    await receive(ctx, message("p2", hints=ThreadHints(portal_token=first.portal_token)))
    async with ctx.db.read() as session:
        ticket = await session.get(Ticket, first.ticket_id)
        changes = (await session.scalars(select(AuditEvent.changes).where(AuditEvent.action == "ticket.updated"))).all()
    assert ticket is not None and ticket.status == "open"
    assert changes == [{"status": ["pending", "open"]}]


async def test_subject_tag_is_trusted_only_from_a_participant(ctx: Context) -> None:
    owner = Address(EMAIL, "owner@example.com")
    first = await receive(ctx, message("o1", owner))
    tagged = await receive(ctx, message("o2", owner, hints=ThreadHints(ticket_number=first.ticket_id)))
    assert tagged.ticket_id == first.ticket_id and tagged.thread_reason.startswith("subject-tag")
    stranger = await receive(ctx, message("s1", Address(EMAIL, "intruder@example.com"),
                                          hints=ThreadHints(ticket_number=first.ticket_id)))
    assert stranger.created_ticket and stranger.ticket_id != first.ticket_id


async def test_a_wrong_portal_token_opens_a_new_ticket(ctx: Context) -> None:
    first = await receive(ctx, message("w1"))
    guess = await receive(ctx, message("w2", hints=ThreadHints(portal_token="not-the-token")))
    assert guess.created_ticket and guess.ticket_id != first.ticket_id


async def test_messages_to_a_merged_ticket_land_on_its_target(ctx: Context) -> None:
    source = await receive(ctx, message("s"))
    target = await receive(ctx, message("t", Address(EMAIL, "other@example.com")))
    async with ctx.db.write() as session:
        await session.execute(update(Ticket).where(Ticket.id == source.ticket_id)
                              .values(merged_into_id=target.ticket_id, status="closed"))
    assert source.portal_token
    later = await receive(ctx, message("s2", hints=ThreadHints(portal_token=source.portal_token)))
    assert later.ticket_id == target.ticket_id


async def test_a_batch_shares_contacts_and_answers_in_order(ctx: Context) -> None:
    same = Address(EMAIL, "twice@example.com")
    chat = ThreadHints(conversation_key="c-9")
    arrivals = [Arrival(message("b1", same)), Arrival(message("b2", same)),
                Arrival(message("b1", same)),  # a copy of b1 inside the same batch
                Arrival(message("b3", Address(PHONE, "+989120000001"), channel="sms", hints=chat)),
                Arrival(message("b4", Address(PHONE, "+989120000001"), channel="sms", hints=chat))]
    results = await ctx.db.run_write(lambda session: receive_batch(session, arrivals, ctx.settings))
    assert [r.duplicate for r in results] == [False, False, True, False, False]
    assert results[0].contact_id == results[1].contact_id
    assert results[2].message_id == results[0].message_id
    assert results[0].ticket_id != results[1].ticket_id  # web-form messages without a link are new requests
    assert results[4].ticket_id == results[3].ticket_id and results[4].thread_reason.startswith("conversation")
    assert await count(ctx, Contact) == 2 and await count(ctx, Message) == 4


async def test_queue_groups_concurrent_messages_and_isolates_a_failing_one(ctx: Context) -> None:
    queue = IntakeQueue(ctx.db, ctx.store, ctx.settings)
    good = [message(f"q{i}", Address(EMAIL, f"user{i % 5}@example.com")) for i in range(30)]
    results = await asyncio.gather(*(queue.submit(m) for m in good))
    assert len({r.message_id for r in results}) == 30
    assert await count(ctx, Contact) == 5

    broken = Arrival(message("bad"), attachment_hashes=("x",))  # no attachment for that hash: refused
    with pytest.raises(ValueError):
        await ctx.db.run_write(lambda session: receive_batch(session, [broken], ctx.settings))
    assert await count(ctx, Message, Message.external_id == "bad") == 0  # rolled back whole
    loop = asyncio.get_running_loop()
    bad_future: asyncio.Future[IntakeResult] = loop.create_future()
    ok_future: asyncio.Future[IntakeResult] = loop.create_future()
    queue._waiting.extend([(broken, bad_future), (Arrival(message("fine")), ok_future)])
    await queue._write()  # one batch: it fails, then each message is stored alone
    assert not queue._waiting
    assert isinstance(bad_future.exception(), ValueError)
    assert ok_future.result().created_ticket
    assert await count(ctx, Message, Message.external_id == "fine") == 1


async def test_messages_arriving_while_the_writer_is_busy_go_into_the_batch_taken_at_its_turn(ctx: Context) -> None:
    if not ctx.db.is_sqlite:
        pytest.skip("SQLite's single writer: PostgreSQL writes batches side by side")
    queue = IntakeQueue(ctx.db, ctx.store, ctx.settings)
    commits: list[int] = []
    ctx.db.on_commit(lambda: commits.append(1))
    release = threading.Event()
    busy = asyncio.create_task(ctx.db.run_write(lambda session: release.wait(10)))
    await asyncio.sleep(0.05)  # the writer is held
    first = asyncio.create_task(queue.submit(message("busy0", Address(EMAIL, "a@busy.example"))))
    await asyncio.sleep(0.05)  # its batch waits for the writer's turn
    later = [asyncio.create_task(queue.submit(message(f"busy{i}", Address(EMAIL, "a@busy.example"))))
             for i in range(1, 5)]
    await asyncio.sleep(0.05)
    release.set()
    await busy
    results = await asyncio.gather(first, *later)
    assert len({r.message_id for r in results}) == 5
    assert len(commits) == 2  # the busy unit and one intake batch with all five


async def test_two_writers_race_on_one_message_and_store_it_once(ctx: Context) -> None:
    other = Database(ctx.settings.database_url)
    try:
        store = AttachmentStore(ctx.settings.data_path / "attachments")
        results = await asyncio.gather(*(intake(db, store, ctx.settings, message("race", Address(EMAIL, "r@x.example")))
                                         for db in (ctx.db, other, ctx.db, other)))
    finally:
        await other.dispose()
    assert len({r.message_id for r in results}) == 1
    assert sum(not r.duplicate for r in results) == 1
    assert await count(ctx, Message) == 1 and await count(ctx, Contact) == 1


async def test_nul_characters_are_replaced_not_refused(ctx: Context) -> None:
    result = await receive(ctx, message("nul", text="before\x00after", subject="a\x00b"))
    async with ctx.db.read() as session:
        stored = await session.get(Message, result.message_id)
    assert stored is not None and "\x00" not in stored.text and stored.text.startswith("before")


async def test_a_portal_link_identifies_the_customer_without_an_address(ctx: Context) -> None:
    first = await receive(ctx, message("l1", Address(PHONE, "+989121234567")))
    assert first.portal_token
    linked = InboundMessage(channel="webform", external_id="l2", sender=None, received_at=utcnow(),
                            text="any news?", hints=ThreadHints(portal_token=first.portal_token))
    reply = await receive(ctx, linked)
    assert (reply.ticket_id, reply.contact_id) == (first.ticket_id, first.contact_id)
    assert await count(ctx, Contact) == 1

    stray = InboundMessage(channel="webform", external_id="l3", sender=None, received_at=utcnow(),
                           text="hello?", hints=ThreadHints(portal_token="no-such-link"))
    with pytest.raises(NotFound):
        await receive(ctx, stray)
    queue = IntakeQueue(ctx.db, ctx.store, ctx.settings)
    outcomes = await asyncio.gather(queue.submit(stray), queue.submit(message("l4")), return_exceptions=True)
    assert isinstance(outcomes[0], NotFound) and isinstance(outcomes[1], IntakeResult)
    assert await count(ctx, Message, Message.external_id == "l3") == 0


async def test_one_batch_opens_one_follow_up_per_conversation(ctx: Context) -> None:
    sender = Address(PHONE, "+989127777777")
    hints = ThreadHints(conversation_key="chat-7")
    first = await receive(ctx, message("f1", sender, channel="sms", hints=hints))
    await set_status(ctx, first.ticket_id, TicketStatus.CLOSED)
    arrivals = [Arrival(message(f"f{i}", sender, channel="sms", hints=hints)) for i in (2, 3)]
    results = await ctx.db.run_write(lambda session: receive_batch(session, arrivals, ctx.settings))
    assert [r.created_ticket for r in results if isinstance(r, IntakeResult)] == [True, False]
    assert results[0].ticket_id == results[1].ticket_id != first.ticket_id


async def test_concurrent_saves_of_one_attachment_all_succeed(ctx: Context) -> None:
    data = bytes(range(256)) * 4096  # 1 MiB
    digests = await asyncio.gather(*(ctx.store.save(data) for _ in range(8)))
    assert len(set(digests)) == 1
    assert ctx.store.path(digests[0]).read_bytes() == data
    assert not list(ctx.store.path(digests[0]).parent.glob("*.tmp"))
