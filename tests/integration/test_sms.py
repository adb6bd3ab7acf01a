"""Twilio SMS through the real app: signed webhooks, dedupe, MMS, opt-out, threading, replies through the real
twilio client to a local recording server, and delivery reports (duplicated, out of order)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select, update
from twilio.request_validator import RequestValidator

from contactcenter.app import create_app
from contactcenter.context import CTX
from contactcenter.db.models import ChannelEvent, Message, OptOut, OutboxEvent, Ticket
from contactcenter.db.types import utcnow
from contactcenter.delivery import DeliveryWorker
from contactcenter.domain.enums import Role
from contactcenter.events import ReplyQueued
from contactcenter.settings import Settings
from tests.conftest import Staff, create_staff, handled_reply

Client = TestClient[Any, Any]
TOKEN = "twilio-auth-token-for-tests"
PUBLIC = "https://cc.example.test"
SID = "AC" + "0" * 32
CUSTOMER = "+989121234567"


class TwilioRecorder:
    """A local stand-in for api.twilio.com: records Messages.json calls and answers like Twilio."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.status = 201
        self.delay = 0.0  # seconds before answering (a slow provider)
        self.app = web.Application()
        self.app.router.add_post("/2010-04-01/Accounts/{account}/Messages.json", self.create)

    async def create(self, request: web.Request) -> web.Response:
        form = dict(await request.post())
        self.calls.append({"path": request.path, "form": form, "auth": request.headers.get("Authorization", "")})
        await asyncio.sleep(self.delay)
        if self.status != 201:
            return web.json_response({"code": 21211, "message": "Invalid 'To' Phone Number", "status": self.status},
                                     status=self.status)
        return web.json_response({"sid": f"SM{len(self.calls):032d}", "status": "queued", "to": form.get("To"),
                                  "body": form.get("Body"), "account_sid": request.match_info["account"]},
                                 status=201)


@pytest.fixture
async def twilio(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> tuple[TwilioRecorder, str]:
    recorder = TwilioRecorder()
    server = await aiohttp_server(recorder.app)
    return recorder, str(server.make_url("")).rstrip("/")


@pytest.fixture
async def sms(aiohttp_client: Callable[..., Awaitable[Client]], settings: Settings,
              twilio: tuple[TwilioRecorder, str]) -> Client:
    overrides = {"server": {"public_url": PUBLIC},
                 "sms": {"auth_token": TOKEN, "account_sid": SID, "from_number": "+15005550006",
                         "api_base_url": twilio[1]}}
    return await aiohttp_client(create_app(settings.with_overrides(overrides)))


def signed(path: str, params: dict[str, str], token: str = TOKEN) -> dict[str, Any]:
    signature = RequestValidator(token).compute_signature(PUBLIC + path, params)
    return {"data": urlencode(params), "headers": {"X-Twilio-Signature": signature,
                                                   "Content-Type": "application/x-www-form-urlencoded"}}


def inbound(sid: str, body: str = "Hello, my card is blocked", sender: str = CUSTOMER, **extra: str) -> dict[str, str]:
    return {"MessageSid": sid, "AccountSid": SID, "From": sender, "To": "+15005550006", "Body": body,
            "NumMedia": "0", **extra}


async def post_sms(client: Client, params: dict[str, str], path: str = "/webhooks/twilio/sms") -> str:
    response = await client.post(path, **signed(path, params))
    assert response.status == 200, await response.text()
    assert response.content_type == "text/xml"
    text = await response.text()
    assert ET.fromstring(text).tag == "Response"  # noqa: S314 (our own answer) valid TwiML: an empty <Response/>
    return text


async def count(client: Client, model: Any, *where: Any) -> int:
    async with client.app[CTX].db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def messages(client: Client) -> list[Message]:
    async with client.app[CTX].db.read() as session:
        return list((await session.scalars(select(Message).where(Message.channel == "sms")
                                           .order_by(Message.id))).all())


async def test_signed_sms_is_stored_once_and_a_redelivery_is_a_no_op(sms: Client) -> None:
    await post_sms(sms, inbound("SM1"))
    await post_sms(sms, inbound("SM1"))
    stored = await messages(sms)
    assert len(stored) == 1 and stored[0].external_id == "SM1" and stored[0].text == "Hello, my card is blocked"
    async with sms.app[CTX].db.read() as session:
        ticket = await session.get(Ticket, stored[0].ticket_id)
    assert ticket is not None and ticket.channel == "sms" and ticket.conversation_key == CUSTOMER


@pytest.mark.parametrize("how", ["missing", "wrong token", "tampered", "other url"])
async def test_forged_requests_are_403_and_store_nothing(sms: Client, how: str) -> None:
    params = inbound("SM9")
    request = signed("/webhooks/twilio/sms", params, token="not-the-token" if how == "wrong token" else TOKEN)
    if how == "missing":
        del request["headers"]["X-Twilio-Signature"]
    elif how == "tampered":
        request["data"] = urlencode({**params, "Body": "send me money"})
    elif how == "other url":
        request = signed("/webhooks/twilio/sms/status", params)
    response = await sms.post("/webhooks/twilio/sms", **request)
    assert response.status == 403
    assert (await response.json())["error"]["code"] == "forbidden"
    assert await count(sms, Message) == 0 and await count(sms, ChannelEvent) == 0


async def test_without_an_auth_token_the_webhook_is_closed(client: Client) -> None:
    response = await client.post("/webhooks/twilio/sms", **signed("/webhooks/twilio/sms", inbound("SM1")))
    assert response.status == 403


async def test_mms_media_are_recorded(sms: Client) -> None:
    await post_sms(sms, inbound("MM1", body="", NumMedia="1", MediaUrl0="https://api.twilio.com/media/ME1",
                                MediaContentType0="image/png"))
    [stored] = await messages(sms)
    assert stored.meta["media_0_url"] == "https://api.twilio.com/media/ME1"
    assert stored.meta["media_0_type"] == "image/png" and stored.text == "[MMS: image/png]"


async def test_an_unreadable_signed_request_is_kept_raw(sms: Client) -> None:
    await post_sms(sms, inbound("SM5", sender="short-code"))
    await post_sms(sms, inbound("SM5", sender="short-code"))
    assert await count(sms, Message) == 0
    async with sms.app[CTX].db.read() as session:
        kept = (await session.scalars(select(ChannelEvent))).all()
        assert len(kept) == 1 and kept[0].kind == "unparsed"
        raw = await session.scalar(select(ChannelEvent.raw).where(ChannelEvent.id == kept[0].id))
    assert raw is not None and b"short-code" in raw


async def reply(client: Client, staff: Staff, ticket_id: int, text: str = "We unblocked it.") -> int:
    response = await client.post(f"/api/v1/tickets/{ticket_id}/replies", json={"text": text},
                                 headers=staff.headers)
    assert response.status == 201, await response.text()
    return int((await response.json())["id"])


async def test_a_reply_goes_out_through_the_twilio_client_with_a_status_callback(
        sms: Client, twilio: tuple[TwilioRecorder, str]) -> None:
    agent = await create_staff(sms.app[CTX], Role.AGENT)
    await post_sms(sms, inbound("SM1"))
    [first] = await messages(sms)
    sent = await handled_reply(sms.app[CTX], await reply(sms, agent, first.ticket_id))
    recorder = twilio[0]
    assert len(recorder.calls) == 1
    call = recorder.calls[0]
    assert call["path"] == f"/2010-04-01/Accounts/{SID}/Messages.json"
    assert call["form"]["To"] == CUSTOMER and call["form"]["From"] == "+15005550006"
    assert call["form"]["Body"] == "We unblocked it."
    assert call["form"]["StatusCallback"] == PUBLIC + "/webhooks/twilio/sms/status"
    assert call["auth"].startswith("Basic ")
    assert sent.delivery_status == "sent" and sent.provider_id == f"SM{1:032d}"

    # Delivery reports: a duplicate, then an older one arriving late; the status never goes back.
    status = "/webhooks/twilio/sms/status"
    for word in ("delivered", "delivered", "sent", "failed"):
        await post_sms(sms, {"MessageSid": sent.provider_id or "", "MessageStatus": word, "AccountSid": SID},
                       status)
    async with sms.app[CTX].db.read() as session:
        after = await session.get(Message, sent.id)
        reports = (await session.scalars(select(ChannelEvent.key).where(ChannelEvent.kind == "status")
                                         .order_by(ChannelEvent.id))).all()
    assert after is not None and after.delivery_status == "delivered"
    assert reports == [f"{sent.provider_id}:delivered", f"{sent.provider_id}:sent", f"{sent.provider_id}:failed"]


async def test_a_send_that_times_out_after_reaching_twilio_is_marked_failed_not_sent_again(
        aiohttp_client: Callable[..., Awaitable[Client]], settings: Settings,
        twilio: tuple[TwilioRecorder, str]) -> None:
    # Twilio may have taken the message before the answer was lost: sending it again could give the
    # customer two copies, so the reply is marked failed for the agent to check.
    overrides = {"server": {"public_url": PUBLIC},
                 "sms": {"auth_token": TOKEN, "account_sid": SID, "from_number": "+15005550006",
                         "api_base_url": twilio[1], "send_timeout": 0.3}}
    slow = await aiohttp_client(create_app(settings.with_overrides(overrides)))
    agent = await create_staff(slow.app[CTX], Role.AGENT)
    await post_sms(slow, inbound("SM-slow"))
    [first] = await messages(slow)
    twilio[0].delay = 1.0
    failed = await handled_reply(slow.app[CTX], await reply(slow, agent, first.ticket_id))
    assert failed.delivery_status == "failed" and "may have reached the customer" in (failed.delivery_error or "")
    await slow.app[CTX].relay.drain()
    assert len(twilio[0].calls) == 1


async def test_a_send_that_could_not_connect_in_time_is_queued_again_not_failed(
        aiohttp_client: Callable[..., Awaitable[Client]], settings: Settings) -> None:
    # A listener whose backlog is full: the connection never opens, so nothing can have reached Twilio and the
    # reply must be retried (not marked "may have reached the customer").
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        fillers = [socket.socket() for _ in range(3)]
        for filler in fillers:
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
        overrides = {"server": {"public_url": PUBLIC},
                     "sms": {"auth_token": TOKEN, "account_sid": SID, "from_number": "+15005550006",
                             "api_base_url": f"http://127.0.0.1:{port}", "send_timeout": 0.3}}
        unreachable = await aiohttp_client(create_app(settings.with_overrides(overrides)))
        ctx = unreachable.app[CTX]
        agent = await create_staff(ctx, Role.AGENT)
        await post_sms(unreachable, inbound("SM-unreachable"))
        [first] = await messages(unreachable)
        message_id = await reply(unreachable, agent, first.ticket_id)
        await ctx.relay.drain()
        async with ctx.db.read() as session:
            kept = await session.get(Message, message_id)
            [event] = (await session.scalars(select(OutboxEvent).where(OutboxEvent.topic == "reply.queued"))).all()
        for filler in fillers:
            filler.close()
    assert kept is not None and kept.delivery_status == "queued" and not kept.delivery_error
    assert (event.status, event.attempts) == ("pending", 1) and "TimeoutError" in (event.last_error or "")


async def test_a_report_that_arrives_before_the_receipt_is_applied(sms: Client,
                                                                   twilio: tuple[TwilioRecorder, str]) -> None:
    agent = await create_staff(sms.app[CTX], Role.AGENT)
    await post_sms(sms, inbound("SM1"))
    [first] = await messages(sms)
    early = f"SM{1:032d}"  # the sid the recorder will give the reply
    await post_sms(sms, {"MessageSid": early, "MessageStatus": "delivered"}, "/webhooks/twilio/sms/status")
    sent = await handled_reply(sms.app[CTX], await reply(sms, agent, first.ticket_id))
    assert sent.provider_id == early and sent.delivery_status == "delivered"


async def test_twilio_refusing_a_reply_marks_it_failed(sms: Client, twilio: tuple[TwilioRecorder, str]) -> None:
    agent = await create_staff(sms.app[CTX], Role.AGENT)
    await post_sms(sms, inbound("SM1"))
    [first] = await messages(sms)
    twilio[0].status = 400
    failed = await handled_reply(sms.app[CTX], await reply(sms, agent, first.ticket_id))
    assert failed.delivery_status == "failed" and failed.delivery_error is not None
    assert "21211" in failed.delivery_error


async def test_stop_opts_out_and_start_opts_back_in(sms: Client, twilio: tuple[TwilioRecorder, str]) -> None:
    agent = await create_staff(sms.app[CTX], Role.AGENT)
    await post_sms(sms, inbound("SM1"))
    await post_sms(sms, inbound("SM2", body="لغو"))
    await post_sms(sms, inbound("SM2", body="لغو"))  # a redelivery changes nothing
    assert await count(sms, OptOut, OptOut.address == CUSTOMER) == 1
    [first, stop] = await messages(sms)
    assert stop.meta["keyword"] == "stop"
    refused = await handled_reply(sms.app[CTX], await reply(sms, agent, first.ticket_id))
    assert refused.delivery_status == "failed" and "opted out" in (refused.delivery_error or "")
    assert twilio[0].calls == []
    await post_sms(sms, inbound("SM3", body=" Start "))
    assert await count(sms, OptOut) == 0
    allowed = await handled_reply(sms.app[CTX], await reply(sms, agent, first.ticket_id, "Welcome back"))
    assert allowed.delivery_status == "sent" and len(twilio[0].calls) == 1


async def test_threading_continues_then_starts_anew_after_solved_or_a_quiet_gap(sms: Client) -> None:
    await post_sms(sms, inbound("SM1"))
    await post_sms(sms, inbound("SM2", body="any news?"))
    first, second = await messages(sms)
    assert second.ticket_id == first.ticket_id and second.thread_reason.startswith("conversation: continues")
    async with sms.app[CTX].db.write() as session:
        await session.execute(update(Ticket).where(Ticket.id == first.ticket_id)
                              .values(status="solved", solved_at=utcnow()))
    await post_sms(sms, inbound("SM3", body="thanks, one more thing"))
    third = (await messages(sms))[-1]
    async with sms.app[CTX].db.read() as session:
        follow = await session.get(Ticket, third.ticket_id)
    assert follow is not None and follow.id != first.ticket_id and follow.follow_up_of_id == first.ticket_id
    async with sms.app[CTX].db.write() as session:
        await session.execute(update(Ticket).where(Ticket.id == follow.id)
                              .values(updated_at=utcnow() - timedelta(hours=100)))
    await post_sms(sms, inbound("SM4", body="hello again after days"))
    fourth = (await messages(sms))[-1]
    assert fourth.ticket_id not in (first.ticket_id, follow.id) and "quiet" in fourth.thread_reason


async def test_an_undecodable_form_is_400_not_500(sms: Client) -> None:
    response = await sms.post("/webhooks/twilio/sms", data=b"Body=\xff\xfe&From=1",
                              headers={"Content-Type": "application/x-www-form-urlencoded",
                                       "X-Twilio-Signature": "x"})
    assert response.status in (400, 403)
    other = await sms.post("/webhooks/twilio/sms", json={"Body": "x"}, headers={"X-Twilio-Signature": "x"})
    assert other.status == 415
    assert await count(sms, Message) == 0


async def test_a_reply_cut_off_while_sending_is_marked_failed_not_sent_again(
        sms: Client, twilio: tuple[TwilioRecorder, str]) -> None:
    # The process died between claiming the reply and recording Twilio's answer: the relay delivers the event
    # again, and the worker must not send a second SMS the customer may already have.
    ctx = sms.app[CTX]
    agent = await create_staff(ctx, Role.AGENT)
    await post_sms(sms, inbound("SM1"))
    [first] = await messages(sms)
    # the background relay is done with it
    sent = await handled_reply(sms.app[CTX], await reply(sms, agent, first.ticket_id))
    async with ctx.db.write() as session:
        message = await session.get(Message, sent.id)
        assert message is not None and message.delivery_status == "sent"
        message.delivery_status = "sending"  # as the dead process left it (whatever happened since)
        message_id = message.id
    calls = len(twilio[0].calls)
    await DeliveryWorker(ctx.db, ctx.channels, ctx.store).on_reply_queued(
        ReplyQueued(ticket_id=first.ticket_id, message_id=message_id))
    async with ctx.db.read() as session:
        after = await session.get(Message, message_id)
    assert after is not None and after.delivery_status == "failed" and "interrupted" in (after.delivery_error or "")
    assert len(twilio[0].calls) == calls  # nothing sent again
