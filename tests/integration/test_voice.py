"""Twilio Voice through the real app: signed webhooks, TwiML parsed as XML, menu -> queue, voicemail ->
ticket with transcript, status callbacks deduplicated, call-back tickets, and an outbound call-back that
reaches a local recording server through the real twilio client."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from multidict import MultiDict
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from channels.voice.signature import signature_valid
from contactcenter.app import create_app
from contactcenter.context import CTX
from contactcenter.db.engine import Database
from contactcenter.db.models import Call, CallEvent, Message, Ticket
from contactcenter.domain.enums import Role
from contactcenter.settings import Settings
from tests.conftest import Staff, create_staff
from tests.ports import free_port

Client = TestClient[Any, Any]
TOKEN = "voice-test-auth-token"
ACCOUNT = "AC" + "0" * 32
CALLER = "+15005550006"
CUSTOMER = "+989121234567"
VECTORS = Path(__file__).resolve().parents[3] / "shared" / "corpora" / "webhooks" / "twilio_signature_vectors.json"


def call_sid(n: int) -> str:
    return f"CA{n:032x}"


async def signed(client: Client, path: str, params: dict[str, str], *, forge: bool = False) -> Any:
    """POST a form to a voice webhook, signed like Twilio signs it (for the configured public URL)."""
    url = client.app[CTX].settings.base_url + path
    signature = RequestValidator(TOKEN).compute_signature(url, params)
    if forge:
        signature = RequestValidator("not-the-token").compute_signature(url, params)
    return await client.post(path, data=params, headers={"X-Twilio-Signature": signature})


def twiml(text: str) -> ET.Element:
    root = ET.fromstring(text)  # noqa: S314 (our own answer, parsed to check it is XML)
    assert root.tag == "Response"
    return root


@pytest.fixture
async def voice(aiohttp_client: Callable[..., Awaitable[Client]], settings: Settings) -> Client:
    overrides = {"voice": {"auth_token": TOKEN, "account_sid": ACCOUNT, "caller_id": CALLER}}
    return await aiohttp_client(create_app(settings.with_overrides(overrides)))


async def go_available(client: Client) -> Staff:
    staff = await create_staff(client.app[CTX], Role.AGENT)
    response = await client.put("/api/v1/agents/me/presence", json={"presence": "available"}, headers=staff.headers)
    assert response.status == 200
    return staff


def test_the_corpus_signature_vectors_pass_and_forgeries_fail() -> None:
    if not VECTORS.exists():
        pytest.skip("../shared/corpora is not next to the project")
    data = json.loads(VECTORS.read_text("utf-8"))
    token = data["auth_token"]
    for case in data["cases"]:
        params: Any
        if "params" in case:
            params = case["params"]
        elif "params_multi" in case:
            params = MultiDict(case["params_multi"])
        else:
            params = case["json_body"]
        assert signature_valid(token, case["url"], params, case["signature"]), case["url"]
        assert not signature_valid(token, case["url"], params, case["signature"][:-2] + "A=")
        assert not signature_valid("wrong", case["url"], params, case["signature"])
        if isinstance(params, dict):
            assert not signature_valid(token, case["url"], {**params, "Digits": "9"}, case["signature"])
        assert not signature_valid(token, case["url"].replace("myapp", "other"), params, case["signature"])
        assert not signature_valid("", case["url"], params, case["signature"])


async def test_bad_signature_is_403_and_nothing_is_stored(voice: Client) -> None:
    params = {"CallSid": call_sid(1), "From": CUSTOMER, "To": CALLER, "CallStatus": "ringing"}
    for path in ("incoming", "menu", "queue-result", "recorded", "transcription", "status", "connect"):
        forged = await signed(voice, f"/webhooks/twilio/voice/{path}", params, forge=True)
        assert forged.status == 403, path
        unsigned = await voice.post(f"/webhooks/twilio/voice/{path}", data=params)
        assert unsigned.status == 403, path
    async with voice.app[CTX].db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Call)) == 0


async def test_menu_then_queue(voice: Client) -> None:
    await go_available(voice)
    sid = call_sid(2)
    base = {"CallSid": sid, "From": CUSTOMER, "To": CALLER}
    answer = await signed(voice, "/webhooks/twilio/voice/incoming", {**base, "CallStatus": "ringing"})
    assert answer.status == 200 and answer.content_type == "application/xml"
    root = twiml(await answer.text())
    gather = root.find("Gather")
    assert gather is not None and gather.get("numDigits") == "1"
    assert gather.get("action") == "http://127.0.0.1:8080/webhooks/twilio/voice/menu?attempt=1"
    languages = [say.get("language") for say in gather.findall("Say")]
    assert set(languages) == {"en-US", "fa-IR"}
    assert any("صورتحساب" in (say.text or "") for say in gather.findall("Say"))
    assert root.find("Redirect") is not None

    # No digit on the first attempt: the menu again; a valid digit: the topic's queue.
    again = twiml(await (await signed(voice, "/webhooks/twilio/voice/menu?attempt=1", base)).text())
    assert again.find("Gather") is not None
    queued = twiml(await (await signed(voice, "/webhooks/twilio/voice/menu?attempt=2", {**base, "Digits": "2"})).text())
    enqueue = queued.find("Enqueue")
    assert enqueue is not None and enqueue.text == "cc-billing"
    assert enqueue.get("action") == "http://127.0.0.1:8080/webhooks/twilio/voice/queue-result"
    bridged = await signed(voice, "/webhooks/twilio/voice/queue-result", {**base, "QueueResult": "bridged"})
    assert twiml(await bridged.text()).findall("*") == []
    done = await signed(voice, "/webhooks/twilio/voice/status",
                        {**base, "CallStatus": "completed", "CallDuration": "95", "SequenceNumber": "3"})
    assert done.status == 204
    async with voice.app[CTX].db.read() as session:
        call = await session.scalar(select(Call).where(Call.call_sid == sid))
        assert call is not None
        assert (call.topic, call.outcome, call.duration, call.status) == ("billing", "answered", 95, "completed")
        assert await session.scalar(select(func.count()).select_from(Ticket)) == 0  # answered: no ticket
    staff = await create_staff(voice.app[CTX], Role.AGENT, "b@x.example")
    calls = await (await voice.get(f"/api/v1/contacts/{call.contact_id}/calls", headers=staff.headers)).json()
    assert [(c["call_sid"], c["outcome"], c["duration"]) for c in calls] == [(sid, "answered", 95)]
    contact = await (await voice.get(f"/api/v1/contacts/{call.contact_id}", headers=staff.headers)).json()
    assert [(c["call_sid"], c["outcome"], c["duration"]) for c in contact["calls"]] == [(sid, "answered", 95)]


async def test_voicemail_becomes_a_ticket_with_the_transcript(voice: Client) -> None:
    sid = call_sid(3)
    base = {"CallSid": sid, "From": CUSTOMER, "To": CALLER}
    root = twiml(await (await signed(voice, "/webhooks/twilio/voice/incoming", base)).text())  # nobody available
    record = root.find("Record")
    assert record is not None and record.get("transcribe") == "true"
    assert record.get("transcribeCallback") == "http://127.0.0.1:8080/webhooks/twilio/voice/transcription"
    recording = {**base, "RecordingUrl": "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1",
                 "RecordingSid": "RE" + "1" * 32, "RecordingDuration": "14"}
    for _ in range(2):  # Twilio may call twice: one ticket, one message
        thanks = twiml(await (await signed(voice, "/webhooks/twilio/voice/recorded", recording)).text())
        assert thanks.find("Hangup") is not None
    transcript = {**base, "RecordingSid": "RE" + "1" * 32, "TranscriptionSid": "TR" + "1" * 32,
                  "TranscriptionStatus": "completed", "TranscriptionText": "Please call me about my invoice."}
    for _ in range(2):
        assert (await signed(voice, "/webhooks/twilio/voice/transcription", transcript)).status == 204
    final = {**base, "CallStatus": "completed", "CallDuration": "30", "SequenceNumber": "2"}
    assert (await signed(voice, "/webhooks/twilio/voice/status", final)).status == 204
    async with voice.app[CTX].db.read() as session:
        tickets = (await session.scalars(select(Ticket))).all()
        assert len(tickets) == 1 and tickets[0].channel == "voice"
        texts = (await session.scalars(select(Message.text).where(Message.ticket_id == tickets[0].id)
                                       .order_by(Message.id))).all()
        call = await session.scalar(select(Call).where(Call.call_sid == sid))
    assert len(texts) == 2
    assert texts[0].startswith("Voicemail from +989121234567 (14 s): https://api.twilio.com/")
    assert texts[1] == "Voicemail transcript: Please call me about my invoice."
    assert call is not None and call.outcome == "voicemail" and call.ticket_id == tickets[0].id


async def test_abandoned_call_gets_a_callback_ticket_and_status_is_deduplicated(voice: Client) -> None:
    await go_available(voice)
    sid = call_sid(4)
    base = {"CallSid": sid, "From": CUSTOMER, "To": CALLER}
    await signed(voice, "/webhooks/twilio/voice/incoming", base)
    await signed(voice, "/webhooks/twilio/voice/menu?attempt=1", {**base, "Digits": "3"})
    await signed(voice, "/webhooks/twilio/voice/queue-result", {**base, "QueueResult": "hangup"})
    final = {**base, "CallStatus": "completed", "CallDuration": "41", "SequenceNumber": "5"}
    for _ in range(3):  # redelivered: one event row, one ticket
        assert (await signed(voice, "/webhooks/twilio/voice/status", final)).status == 204
    late = {**base, "CallStatus": "ringing", "SequenceNumber": "1"}  # arrives after the end: changes nothing
    assert (await signed(voice, "/webhooks/twilio/voice/status", late)).status == 204
    async with voice.app[CTX].db.read() as session:
        call = await session.scalar(select(Call).where(Call.call_sid == sid))
        events = (await session.scalars(select(CallEvent.sequence).where(CallEvent.call_sid == sid))).all()
        tickets = (await session.scalars(select(Ticket))).all()
    assert sorted(events) == ["1", "5"]
    assert call is not None and (call.status, call.outcome, call.duration) == ("completed", "abandoned", 41)
    assert len(tickets) == 1 and tickets[0].id == call.ticket_id
    assert tickets[0].subject == "Abandoned call from +989121234567: call back"
    assert tickets[0].queue == "technical"


async def test_missed_call_gets_a_callback_ticket(voice: Client) -> None:
    sid = call_sid(5)
    status = {"CallSid": sid, "From": CUSTOMER, "To": CALLER, "CallStatus": "no-answer", "Direction": "inbound"}
    assert (await signed(voice, "/webhooks/twilio/voice/status", status)).status == 204
    assert (await signed(voice, "/webhooks/twilio/voice/status", status)).status == 204
    async with voice.app[CTX].db.read() as session:
        call = await session.scalar(select(Call).where(Call.call_sid == sid))
        assert await session.scalar(select(func.count()).select_from(CallEvent)) == 1
        subjects = (await session.scalars(select(Ticket.subject))).all()
    assert call is not None and call.outcome == "missed"
    assert subjects == ["Missed call from +989121234567: call back"]


async def test_bad_parameters_are_400(voice: Client) -> None:
    assert (await signed(voice, "/webhooks/twilio/voice/incoming", {"From": CUSTOMER})).status == 400
    bad = {"CallSid": call_sid(6), "CallStatus": "exploded"}
    response = await signed(voice, "/webhooks/twilio/voice/status", bad)
    assert response.status == 400 and (await response.json())["error"]["code"] == "bad_request"


async def test_agent_callback_reaches_the_provider_through_the_twilio_client(
        aiohttp_client: Callable[..., Awaitable[Client]], settings: Settings) -> None:
    seen: list[tuple[str, str, dict[str, str]]] = []

    app_client: list[Client] = []

    async def create_call(request: web.Request) -> web.Response:
        seen.append((request.path, request.headers.get("Authorization", ""), dict(await request.post())))
        # Twilio's first status callback can arrive before its API answer reaches us.
        early = {"CallSid": call_sid(7), "From": CALLER, "To": CUSTOMER, "Direction": "outbound-api",
                 "CallStatus": "initiated", "SequenceNumber": "0"}
        assert (await signed(app_client[0], "/webhooks/twilio/voice/status", early)).status == 204
        return web.json_response({"sid": call_sid(7), "status": "queued", "to": CUSTOMER, "from": CALLER,
                                  "account_sid": ACCOUNT}, status=201)

    recorder = web.Application()
    recorder.router.add_post("/2010-04-01/Accounts/{account}/Calls.json", create_call)
    server = TestServer(recorder, host="127.0.0.1")
    await server.start_server()
    try:
        overrides = {"voice": {"auth_token": TOKEN, "account_sid": ACCOUNT, "caller_id": CALLER,
                               "api_base_url": str(server.make_url("")).rstrip("/")}}
        client = await aiohttp_client(create_app(settings.with_overrides(overrides)))
        app_client.append(client)
        staff = await create_staff(client.app[CTX], Role.AGENT)
        response = await client.post("/api/v1/calls", json={"to": "09121234567"}, headers=staff.headers)
        assert response.status == 201, await response.text()
        call = await response.json()
        assert (call["call_sid"], call["direction"], call["to_number"], call["user_id"]) == (
            call_sid(7), "outbound", CUSTOMER, staff.user_id)
        [(path, auth, form)] = seen
        assert path == f"/2010-04-01/Accounts/{ACCOUNT}/Calls.json" and auth.startswith("Basic ")
        assert form["To"] == CUSTOMER and form["From"] == CALLER
        assert form["Url"] == f"http://127.0.0.1:8080/webhooks/twilio/voice/connect?agent={staff.user_id}"
        assert form["StatusCallback"] == "http://127.0.0.1:8080/webhooks/twilio/voice/status"

        # The customer answers: the call is connected to the agent's client; then it is logged as answered.
        base = {"CallSid": call_sid(7), "From": CALLER, "To": CUSTOMER, "Direction": "outbound-api"}
        connect = twiml(await (await signed(client, f"/webhooks/twilio/voice/connect?agent={staff.user_id}",
                                            base)).text())
        dial = connect.find("Dial")
        assert dial is not None and dial.findtext("Client") == f"agent-{staff.user_id}"
        await signed(client, "/webhooks/twilio/voice/status",
                     {**base, "CallStatus": "completed", "CallDuration": "62", "SequenceNumber": "3"})
        calls = await (await client.get(f"/api/v1/contacts/{call['contact_id']}/calls", headers=staff.headers)).json()
        assert [(c["outcome"], c["duration"]) for c in calls] == [("answered", 62)]
        async with client.app[CTX].db.read() as session:
            assert await session.scalar(select(func.count()).select_from(Ticket)) == 0

        refused = await client.post("/api/v1/calls", json={"to": "not a number"}, headers=staff.headers)
        assert refused.status == 422
    finally:
        await server.close()


async def test_callback_needs_configuration(client: Client, agent: Staff) -> None:
    response = await client.post("/api/v1/calls", json={"to": CUSTOMER}, headers=agent.headers)
    assert response.status == 409


async def test_database_down_is_503(voice: Client) -> None:
    ctx = voice.app[CTX]
    working = ctx.db
    down = Database(f"postgresql+asyncpg://cc@127.0.0.1:{free_port()}/cc")
    ctx.db = ctx.intake.db = down
    try:
        response = await signed(voice, "/webhooks/twilio/voice/incoming", {"CallSid": call_sid(9), "From": CUSTOMER})
        assert response.status == 503 and response.headers["Retry-After"] == "5"
    finally:
        ctx.db = ctx.intake.db = working
        await down.dispose()
