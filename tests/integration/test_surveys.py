"""Satisfaction surveys with the relay: scheduled when a ticket is solved, sent once on the ticket's channel,
answered through the link (page and API), a Telegram button, or an SMS digit; the answer feeds the report."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from conftest import create_staff
from sqlalchemy import func, select, update

from channels.base import InboundMessage, OutboundMessage, Receipt, ThreadHints
from contactcenter.actions.audit import SYSTEM
from contactcenter.actions.channel_events import NewChannelEvent, do_record_channel_event
from contactcenter.actions.surveys import do_send_survey
from contactcenter.actions.tickets import do_update_ticket
from contactcenter.app import build_context, create_app
from contactcenter.context import CTX, Context
from contactcenter.db.models import Message, OutboxEvent, Survey, Ticket
from contactcenter.db.types import utcnow
from contactcenter.domain.enums import AuthorKind, DeliveryStatus, IdentityKind, Role, TicketStatus
from contactcenter.domain.identities import Address
from contactcenter.settings import Settings

Client = TestClient[Any, Any]


class Recorder:
    """A channel sender that keeps what it was asked to send."""

    def __init__(self) -> None:
        self.sent: list[OutboundMessage] = []

    async def send(self, message: OutboundMessage) -> Receipt:
        self.sent.append(message)
        return Receipt(DeliveryStatus.SENT, provider_id=f"p{len(self.sent)}")


def now_surveys(settings: Settings, **extra: Any) -> Settings:
    return settings.with_overrides({"surveys": {"delay_seconds": 0, **extra}, "routing": {"enabled": False}})


@pytest.fixture
async def quick(settings: Settings) -> AsyncIterator[Context]:
    context = build_context(now_surveys(settings))
    yield context
    await context.db.dispose()


async def arrive(ctx: Context, channel: str, key: str, sender: Address, text: str = "Help") -> int:
    msg = InboundMessage(channel=channel, external_id=key, sender=sender, received_at=utcnow(), text=text,
                         subject="Help", hints=ThreadHints(conversation_key=sender.value), language="en")
    result = await ctx.intake.submit(msg)
    await ctx.relay.drain()
    return result.ticket_id


async def solve(ctx: Context, ticket_id: int, status: TicketStatus = TicketStatus.SOLVED) -> None:
    async with ctx.db.write() as session:
        await do_update_ticket(session, ticket_id, {"status": status}, actor=SYSTEM)
    await ctx.relay.drain()
    await ctx.relay.drain()  # survey.due, then the delivery of its message


async def survey_of(ctx: Context, ticket_id: int) -> Survey | None:
    async with ctx.db.read() as session:
        return await session.scalar(select(Survey).where(Survey.ticket_id == ticket_id))


async def messages(ctx: Context, ticket_id: int) -> list[Message]:
    async with ctx.db.read() as session:
        return list((await session.scalars(select(Message).where(Message.ticket_id == ticket_id)
                                           .order_by(Message.id))).all())


async def test_sms_survey_once_and_a_digit_reply_is_the_rating(quick: Context) -> None:
    sms = Recorder()
    quick.channels.register("sms", sms)
    phone = Address(IdentityKind.PHONE, "+989121234567")
    ticket_id = await arrive(quick, "sms", "SM1", phone)
    await solve(quick, ticket_id)
    survey = await survey_of(quick, ticket_id)
    assert survey is not None and survey.sent_at is not None and survey.channel == "sms"
    assert [m.text for m in sms.sent] == [
        f"How did we do with your request #{ticket_id}? Reply with a number from 1 (bad) to 5 (great)."]
    # solved again (reopened, solved): no second survey
    await solve(quick, ticket_id, TicketStatus.OPEN)
    await solve(quick, ticket_id)
    assert len(sms.sent) == 1

    before = len(await messages(quick, ticket_id))
    taken = await quick.intake.submit(InboundMessage(channel="sms", external_id="SM2", sender=phone,
                                                     received_at=utcnow(), text=" 4 "))
    assert (taken.ticket_id, taken.created_ticket, taken.duplicate) == (ticket_id, False, False)
    again = await quick.intake.submit(InboundMessage(channel="sms", external_id="SM2", sender=phone,
                                                     received_at=utcnow(), text=" 4 "))
    assert again.duplicate
    survey = await survey_of(quick, ticket_id)
    assert survey is not None and survey.rating == 4 and survey.reply_ref == "sms:SM2"
    assert len(await messages(quick, ticket_id)) == before  # not a ticket message

    # a later digit within the window changes the rating; other text and other numbers are messages as usual
    await quick.intake.submit(InboundMessage(channel="sms", external_id="SM3", sender=phone, received_at=utcnow(),
                                             text="2"))
    assert (await survey_of(quick, ticket_id)).rating == 2  # type: ignore[union-attr]
    other = Address(IdentityKind.PHONE, "+989121111111")
    stranger = await quick.intake.submit(InboundMessage(channel="sms", external_id="SM4", sender=other,
                                                        received_at=utcnow(), text="5"))
    assert stranger.created_ticket
    words = await quick.intake.submit(InboundMessage(channel="sms", external_id="SM5", sender=phone,
                                                     received_at=utcnow(), text="5 stars but one more thing"))
    assert words.message_id > 0 and words.thread_reason != "survey rating"

    # a conversation going on takes the digit: it answers that conversation, not the survey
    await solve(quick, words.ticket_id, TicketStatus.OPEN)
    busy = await quick.intake.submit(InboundMessage(channel="sms", external_id="SM7", sender=phone,
                                                    received_at=utcnow(), text="3"))
    assert busy.thread_reason != "survey rating" and busy.message_id > 0
    assert (await survey_of(quick, ticket_id)).rating == 2  # type: ignore[union-attr]
    await solve(quick, busy.ticket_id)

    # after the window the digit is a message again
    async with quick.db.write() as session:
        await session.execute(update(Survey).values(sent_at=utcnow() - timedelta(hours=73)))
    late = await quick.intake.submit(InboundMessage(channel="sms", external_id="SM6", sender=phone,
                                                    received_at=utcnow(), text="1"))
    assert late.thread_reason != "survey rating"
    assert (await survey_of(quick, ticket_id)).rating == 2  # type: ignore[union-attr]


async def test_telegram_survey_has_buttons_pressed_by_its_own_contact_only(quick: Context) -> None:
    telegram = Recorder()
    quick.channels.register("telegram", telegram)
    ticket_id = await arrive(quick, "telegram", "tg-1", Address(IdentityKind.TELEGRAM, "42"))
    await solve(quick, ticket_id)
    survey = await survey_of(quick, ticket_id)
    assert survey is not None
    assert [data for _, data in telegram.sent[0].buttons] == [f"survey:{survey.id}:{n}" for n in range(1, 6)]

    async def press(key: str, user: int, data: str) -> None:
        async with quick.db.write() as session:
            await do_record_channel_event(session, NewChannelEvent("telegram", "callback", key, ref="42:1",
                                                                   value=data, payload={"from": user}))
        await quick.relay.drain()

    await press("cb1", 99, f"survey:{survey.id}:1")  # someone else's button press (a forwarded message)
    assert (await survey_of(quick, ticket_id)).rating is None  # type: ignore[union-attr]
    await press("cb2", 42, f"survey:{survey.id}:5")
    assert (await survey_of(quick, ticket_id)).rating == 5  # type: ignore[union-attr]
    await press("cb3", 42, "something:else")
    assert (await survey_of(quick, ticket_id)).rating == 5  # type: ignore[union-attr]


async def test_delay_and_reopen_before_sending(settings: Settings) -> None:
    ctx = build_context(settings.with_overrides({"surveys": {"delay_seconds": 3600}, "routing": {"enabled": False}}))
    try:
        email = Recorder()
        ctx.channels.register("webform", email)
        ticket_id = await arrive(ctx, "webform", "wf-1", Address(IdentityKind.EMAIL, "a@c.example"))
        await solve(ctx, ticket_id)
        survey = await survey_of(ctx, ticket_id)
        assert survey is not None and survey.sent_at is None and email.sent == []
        async with ctx.db.read() as session:  # the event waits in the outbox until the survey is due
            waiting = await session.scalar(select(OutboxEvent.available_at).where(OutboxEvent.topic == "survey.due"))
        assert waiting is not None and waiting >= survey.due_at - timedelta(seconds=1)
        await solve(ctx, ticket_id, TicketStatus.OPEN)  # reopened meanwhile: nothing is sent when it is due
        async with ctx.db.write() as session:
            assert await do_send_survey(session, survey.id, "http://x", ctx.secret, utcnow() + timedelta(hours=2)) \
                is None
        async with ctx.db.write() as session:  # solved again: due an hour after that; early is too early
            await do_update_ticket(session, ticket_id, {"status": TicketStatus.SOLVED}, actor=SYSTEM)
        await ctx.relay.drain()
        async with ctx.db.write() as session:
            assert await do_send_survey(session, survey.id, "http://x", ctx.secret, utcnow()) is None
            sent = await do_send_survey(session, survey.id, "http://x", ctx.secret, utcnow() + timedelta(hours=2))
            assert sent is not None and sent.author_kind == AuthorKind.SYSTEM and "http://x/survey/" in sent.text
    finally:
        await ctx.db.dispose()


@pytest.fixture
async def web_client(aiohttp_client: Callable[..., Awaitable[Client]], settings: Settings) -> Client:
    return await aiohttp_client(create_app(now_surveys(settings)))


async def test_link_page_and_api_answer_once_then_change_within_the_window(web_client: Client) -> None:
    ctx = web_client.app[CTX]
    boss = await create_staff(ctx, Role.SUPERVISOR)
    ticket_id = await arrive(ctx, "webform", "wf-2", Address(IdentityKind.EMAIL, "b@c.example"))
    await solve(ctx, ticket_id)
    survey_message = (await messages(ctx, ticket_id))[-1]
    assert survey_message.delivery_status == DeliveryStatus.DELIVERED  # shown on the portal page
    match = re.search(r"/survey/([A-Za-z0-9_-]{43})", survey_message.text)
    assert match is not None
    token = match.group(1)
    async with ctx.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Survey).where(Survey.token_hash == token)) == 0

    page = await web_client.get(f"/survey/{token}")
    assert page.status == 200 and f"request #{ticket_id}" in await page.text()
    refused = await web_client.post(f"/survey/{token}", data={"rating": "9"})
    assert refused.status == 422
    answered = await web_client.post(f"/survey/{token}", data={"rating": "4", "comment": "<b>quick</b>"})
    body = await answered.text()
    assert answered.status == 200 and "Thank you" in body and "&lt;b&gt;quick&lt;/b&gt;" in body

    api = f"/api/v1/surveys/{token}"
    changed = await web_client.post(api, json={"rating": 5})
    assert changed.status == 200
    out = await changed.json()
    assert (out["rating"], out["comment"], out["can_change"]) == (5, "<b>quick</b>", True)
    assert (await web_client.post(api, json={"rating": 0})).status == 422
    assert (await web_client.post(api, json={"rating": 3, "extra": 1})).status == 422
    assert (await web_client.post("/api/v1/surveys/" + "A" * 43, json={"rating": 3})).status == 404
    assert (await web_client.get("/api/v1/surveys/short")).status == 404
    assert (await web_client.get("/survey/" + "A" * 43)).status == 404

    async with ctx.db.write() as session:  # first answered 8 days ago: the window is over
        await session.execute(update(Survey).values(first_answered_at=utcnow() - timedelta(days=8)))
    assert (await web_client.post(api, json={"rating": 1})).status == 409
    assert (await web_client.post(f"/survey/{token}", data={"rating": "1"})).status == 409
    assert (await (await web_client.get(api)).json())["can_change"] is False

    staff_view = await web_client.get(f"/api/v1/tickets/{ticket_id}/survey", headers=boss.headers)
    assert staff_view.status == 200
    assert {k: v for k, v in (await staff_view.json()).items() if k in ("rating", "comment")} == {
        "rating": 5, "comment": "<b>quick</b>"}
    assert (await web_client.get(f"/api/v1/tickets/{ticket_id}/survey")).status == 401
    assert (await web_client.get("/api/v1/tickets/99999/survey", headers=boss.headers)).status == 404

    report = await web_client.get("/api/v1/reports/satisfaction", headers=boss.headers)
    summary = (await report.json())["summary"]
    assert (summary["sent"], summary["responses"], summary["average"]) == (1, 1, 5.0)
    async with ctx.db.read() as session:
        ticket = await session.get(Ticket, ticket_id)
        assert ticket is not None and ticket.status == TicketStatus.SOLVED  # the survey message reopened nothing
