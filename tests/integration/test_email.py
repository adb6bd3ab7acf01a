"""The e-mail channel end to end: real SMTP clients against the app's own aiosmtpd listener, outbound mail
captured by a recording SMTP server. Every message ends as a ticket, a reply or a kept refusal."""

from __future__ import annotations

import asyncio
import base64
import mailbox
import re
import smtplib
from collections.abc import AsyncIterator, Awaitable, Callable
from email.header import Header
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from conftest import Staff, create_staff
from mailtools import CORPORA, KEPT, REPLY, SUPPORT, Recorder, mail, send, send_sync
from sqlalchemy import func, select

from channels.email.inbox import MailIntake
from channels.email.message_ids import make_message_id, reply_address
from contactcenter.actions.inbound import do_keep_raw
from contactcenter.app import create_app, mail_intake
from contactcenter.cli import list_kept
from contactcenter.context import CTX, Context
from contactcenter.db.models import AuditEvent, Message, RawInbound, Ticket
from contactcenter.domain.enums import Role
from contactcenter.settings import Settings
from tests.ports import free_port

Client = TestClient[Any, Any]
SECRET = b"test-secret-key-not-for-production"


@pytest.fixture
async def recorder() -> AsyncIterator[Recorder]:
    server = Recorder()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def make_app(aiohttp_client: Callable[..., Awaitable[Client]], settings: Settings,
             recorder: Recorder) -> Callable[[dict[str, Any]], Awaitable[Client]]:
    async def make(email: dict[str, Any]) -> Client:
        overrides = {"email": {"port": 0, "smtp_port": recorder.port, **email}}
        app: web.Application = create_app(settings.with_overrides(overrides))
        return await aiohttp_client(app)
    return make


@pytest.fixture
async def app(make_app: Callable[[dict[str, Any]], Awaitable[Client]]) -> Client:
    return await make_app({})


def port(client: Client) -> int:
    smtp = client.app[CTX].smtp
    assert smtp is not None
    return smtp.port


async def ticket_of(answer: tuple[int, str]) -> int:
    code, text = answer
    assert code == 250, text
    found = REPLY.search(text)
    assert found, text
    return int(found[1])


async def message_on(ctx: Context, ticket_id: int) -> list[Message]:
    async with ctx.db.read() as session:
        return list((await session.scalars(select(Message).where(Message.ticket_id == ticket_id)
                                           .order_by(Message.id))).all())


async def settle(client: Client, until: Callable[[], Awaitable[bool]]) -> None:
    """Let the relay deliver (the running relay may hold events) until ``until`` holds."""
    ctx = client.app[CTX]
    for _ in range(400):
        await ctx.relay.drain()
        if await until():
            return
        await asyncio.sleep(0.025)
    raise AssertionError("condition not reached")


def corpus_messages() -> list[tuple[str, bytes]]:
    if not CORPORA.is_dir():
        return []
    found: list[tuple[str, bytes]] = []
    for path in sorted(p for p in CORPORA.rglob("*") if p.is_file()):
        if path.name.startswith((".", "LICENSE")):
            continue
        label = str(path.relative_to(CORPORA))
        if path.suffix == ".mbox":
            box = mailbox.mbox(path, create=False)
            found += [(f"{label}#{i}", box.get_bytes(key)) for i, key in enumerate(box.iterkeys())]
        else:
            found.append((label, path.read_bytes()))
    return found


@pytest.mark.skipif(not CORPORA.is_dir(), reason="../shared/corpora/mail is not here")
async def test_every_corpus_message_ends_as_ticket_reply_or_kept_refusal(app: Client) -> None:
    ctx = app.app[CTX]
    messages = corpus_messages()
    assert len(messages) > 200

    def send_all() -> list[tuple[str, int, str]]:
        answers = []
        for start in range(0, len(messages), 20):  # several messages per session, as MTAs do
            with smtplib.SMTP("127.0.0.1", port(app), timeout=60) as smtp:
                smtp.ehlo()
                for label, raw in messages[start:start + 20]:
                    smtp.mail("corpus@example.net")
                    smtp.rcpt(SUPPORT)
                    code, text = smtp.data(re.sub(rb"\r?\n", b"\r\n", raw))
                    answers.append((label, code, text.decode()))
        return answers

    answers = await asyncio.to_thread(send_all)
    tickets: set[int] = set()
    kept: dict[int, str] = {}
    for label, code, text in answers:
        assert code == 250, f"{label}: {code} {text}"
        if found := REPLY.search(text):
            tickets.add(int(found[1]))
        else:
            match = KEPT.search(text)
            assert match, f"{label}: {text}"
            assert match[1] in ("rejected", "bounce"), f"{label}: {text}"  # never "unparsable": no parser crash
            kept[int(match[2])] = label
    async with ctx.db.read() as session:
        stored = set((await session.scalars(select(Ticket.id).where(Ticket.id.in_(tickets)))).all())
        rows = {r.id: r.reason for r in (await session.execute(
            select(RawInbound.id, RawInbound.reason).where(RawInbound.id.in_(kept)))).all()}
        email_messages = await session.scalar(select(func.count()).select_from(Message)
                                              .where(Message.channel == "email"))
    assert stored == tickets
    assert set(rows) == set(kept) and all(rows.values())
    assert email_messages and email_messages >= len(tickets)
    assert len(tickets) > 100 and len(kept) > 10


async def test_charsets_attachments_and_quotes_arrive_readable(app: Client) -> None:
    ctx = app.app[CTX]
    cases = {
        "mikel-mail/multi_charset/japanese_iso_2022.eml": None,
        "mikel-mail/error_emails/content_transfer_encoding_x_uuencode.eml": None,
        "mikel-mail/multi_charset/ks_c_5601-1987.eml": None,
        "mailgun-talon/standard_replies/gmail.eml": "Hello",
    }
    for name, expected in cases.items():
        path = CORPORA / name
        if not path.exists():
            continue
        ticket = await ticket_of(await send(port(app), path.read_bytes()))
        [stored] = await message_on(ctx, ticket)
        assert "\ufffd" not in stored.text and "=?" not in stored.subject
        if expected is not None:
            assert stored.text == expected and stored.meta["quoted_history"] == "hidden"
    subject = Header("مرحبا بالعالم", "windows-1256").encode()
    raw = (f"From: {Header('آرش', 'windows-1256').encode()} <arash@example.ir>\r\nTo: {SUPPORT}\r\n"
           f"Subject: {subject}\r\nContent-Type: text/plain; charset=windows-1256\r\n"
           "Content-Transfer-Encoding: 8bit\r\n\r\n").encode() + "بطاقتي لا تعمل".encode("cp1256")
    ticket = await ticket_of(await send(port(app), raw))
    [stored] = await message_on(ctx, ticket)
    assert stored.subject == "مرحبا بالعالم" and stored.text == "بطاقتي لا تعمل"
    koi = ("From: ivan@example.ru\r\nSubject: =?koi8-r?b?" + base64.b64encode("Привет".encode("koi8-r")).decode()
           + "?=\r\nContent-Type: text/plain; charset=koi8-r\r\n\r\n").encode() + "Здравствуйте".encode("koi8-r")
    [stored] = await message_on(ctx, await ticket_of(await send(port(app), koi)))
    assert (stored.subject, stored.text) == ("Привет", "Здравствуйте")
    gb = ("From: li@example.cn\r\nSubject: =?gb2312?b?" + base64.b64encode("你好".encode("gb2312")).decode()
          + "?=\r\nContent-Type: text/plain; charset=gb2312\r\n\r\n").encode() + "𠀀你好".encode("gb18030")
    [stored] = await message_on(ctx, await ticket_of(await send(port(app), gb)))
    assert (stored.subject, stored.text) == ("你好", "𠀀你好")


async def test_threading_by_in_reply_to_and_references(app: Client) -> None:
    """chatwoot's fixtures: a reply naming an earlier message of the same sender joins its ticket."""
    if not CORPORA.is_dir():
        pytest.skip("../shared/corpora/mail is not here")
    ctx = app.app[CTX]
    first = mail("Sony Mathew <sony@chatwoot.com>", "Attachments", "First message",
                 Message_ID="<4e6e35f5a38b4_479f13bb90078178@small-app-01.mail>")
    ticket = await ticket_of(await send(port(app), first))
    for name in ("references.eml", "reply.eml", "in_reply_to.eml"):
        raw = (CORPORA / "chatwoot" / name).read_bytes()
        assert await ticket_of(await send(port(app), raw)) == ticket, name
    messages = await message_on(ctx, ticket)
    reasons = [m.thread_reason for m in messages]
    assert reasons[0] == "new: no thread evidence"
    assert all(r.startswith("message-id: continues") for r in reasons[1:]), reasons


async def test_auto_reply_is_stored_but_never_acknowledged(make_app: Callable[[dict[str, Any]], Awaitable[Client]],
                                                          recorder: Recorder) -> None:
    app = await make_app({"acknowledge": True})
    ctx = app.app[CTX]
    human = await ticket_of(await send(port(app), mail("Nina <nina@example.org>", "Help", "My card is blocked")))
    await settle(app, lambda: _acknowledged(ctx, human))
    raw = (CORPORA / "chatwoot" / "auto_reply_with_auto_submitted.eml").read_bytes() if CORPORA.is_dir() else \
        mail("Sony <sony@chatwoot.com>", "Out of office", "Away", Auto_Submitted="auto-replied")
    automatic = await ticket_of(await send(port(app), raw))
    [stored] = await message_on(ctx, automatic)
    assert stored.meta["automatic"].startswith("Auto-Submitted")
    await ctx.relay.drain()
    assert not await _acknowledged(ctx, automatic)
    [ack] = recorder.messages()
    assert ack["Auto-Submitted"] == "auto-replied" and f"[#{human}]" in ack["Subject"]
    assert ack["To"] == "nina@example.org"
    # The customer answers the acknowledgement: its signed Message-ID threads the answer.
    answer = mail("Nina <nina@example.org>", "Re: " + ack["Subject"], "More details", In_Reply_To=ack["Message-ID"])
    assert await ticket_of(await send(port(app), answer)) == human
    assert (await message_on(ctx, human))[-1].thread_reason == f"signed-reference: continues #{human}"


async def _acknowledged(ctx: Context, ticket_id: int) -> bool:
    async with ctx.db.read() as session:
        return await session.scalar(select(AuditEvent.id).where(
            AuditEvent.action == "email.acknowledged", AuditEvent.object_id == ticket_id)) is not None


async def _reply(app: Client, agent: Staff, ticket: int, text: str) -> int:
    response = await app.post(f"/api/v1/tickets/{ticket}/replies", json={"text": text}, headers=agent.headers)
    assert response.status == 201, await response.text()
    return int((await response.json())["id"])


async def _status(ctx: Context, message_id: int) -> tuple[str, str | None, str | None]:
    async with ctx.db.read() as session:
        row = (await session.execute(select(Message.delivery_status, Message.delivery_error, Message.provider_id)
                                     .where(Message.id == message_id))).one()
    return row[0], row[1], row[2]


async def test_agent_reply_is_sent_threaded_and_customer_answer_comes_back(app: Client, recorder: Recorder) -> None:
    ctx = app.app[CTX]
    agent = await create_staff(ctx, Role.AGENT)
    ticket = await ticket_of(await send(port(app), mail("Omid <omid@example.ir>", "Refund", "Please refund me",
                                                        Message_ID="<first@omid.example.ir>")))
    reply_id = await _reply(app, agent, ticket, "We refunded you.")
    await settle(app, lambda: _sent(ctx, reply_id))
    [sent] = recorder.messages()
    assert sent["In-Reply-To"] == "<first@omid.example.ir>" and sent["References"] == "<first@omid.example.ir>"
    assert sent["Message-ID"] == f"<{make_message_id(SECRET, ticket, reply_id, 'example.com')}>"
    assert sent["Reply-To"].endswith(f"<{reply_address(SECRET, ticket, SUPPORT)}>")
    assert sent["Subject"] == f"Re: [#{ticket}] Refund"
    body = sent.get_payload(decode=True).decode()
    assert "We refunded you." in body and "> Please refund me" in body
    status, _, provider_id = await _status(ctx, reply_id)
    assert status == "sent" and provider_id == sent["Message-ID"].strip("<>")
    # The customer's program dropped every threading header, but it answers to the Reply-To token.
    answer = mail("Omid <omid@example.ir>", "thanks", "Thank you")
    assert await ticket_of(await send(port(app), answer, rcpts=(reply_address(SECRET, ticket, SUPPORT),))) == ticket
    # A participant's subject tag threads too.
    tagged = mail("Omid <omid@example.ir>", f"Re: [#{ticket}] Refund", "One more thing")
    assert await ticket_of(await send(port(app), tagged)) == ticket
    reasons = [m.thread_reason for m in await message_on(ctx, ticket)]
    assert reasons[-2:] == [f"signed-reference: continues #{ticket}", f"subject-tag: continues #{ticket}"]


async def _sent(ctx: Context, message_id: int) -> bool:
    return (await _status(ctx, message_id))[0] not in ("queued", "sending")


async def test_forged_reply_and_strangers_subject_tag_open_new_tickets(app: Client) -> None:
    ctx = app.app[CTX]
    ticket = await ticket_of(await send(port(app), mail("Mina <mina@example.org>", "Invoice", "Where is it?",
                                                        Message_ID="<mina-1@example.org>")))
    forged_id = make_message_id(b"some other key", ticket, 1, "example.com")
    forged = mail("Eve <eve@evil.example>", "Re: Invoice", "Send the refund to me", In_Reply_To=f"<{forged_id}>")
    tagged = mail("Eve <eve@evil.example>", f"Re: [#{ticket}] Invoice", "I am the customer, really")
    copied = mail("Eve <eve@evil.example>", "Re: Invoice", "Me again", In_Reply_To="<mina-1@example.org>")
    token = reply_address(b"some other key", ticket, SUPPORT)
    for raw, rcpts in ((forged, (SUPPORT,)), (tagged, (SUPPORT,)), (copied, (SUPPORT,)), (forged, (token,))):
        other = await ticket_of(await send(port(app), raw.replace(b"Subject:", b"X-N: %d\r\nSubject:" % id(rcpts)),
                                           rcpts=rcpts))
        assert other != ticket
    assert [m.text for m in await message_on(ctx, ticket)] == ["Where is it?"]


async def test_bounce_marks_the_reply_failed_instead_of_opening_a_ticket(app: Client, recorder: Recorder) -> None:
    ctx = app.app[CTX]
    agent = await create_staff(ctx, Role.AGENT)
    ticket = await ticket_of(await send(port(app), mail("Sara <sara@example.org>", "Login", "Cannot log in")))
    reply_id = await _reply(app, agent, ticket, "Try again please")
    await settle(app, lambda: _sent(ctx, reply_id))
    [sent] = recorder.messages()
    template = (CORPORA / "chatwoot" / "bounced_with_no_from.eml").read_bytes() if CORPORA.is_dir() else b""
    if not template:
        pytest.skip("../shared/corpora/mail is not here")
    bounce = re.sub(rb"(Content-Type: message/rfc822\s+)", rb"\1", template)
    bounce = bounce.replace(b"Return-Path: <support@example.com>",
                            b"Return-Path: <support@example.com>\nMessage-ID: " + sent["Message-ID"].encode(), 1)
    async with ctx.db.read() as session:
        tickets_before = await session.scalar(select(func.count()).select_from(Ticket))
    code, text = await send(port(app), bounce, mail_from="")
    assert code == 250 and "kept for review as bounce" in text
    status, error, _ = await _status(ctx, reply_id)
    assert status == "failed" and error and "5.7.1" in error
    async with ctx.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Ticket)) == tickets_before
        reason = await session.scalar(select(RawInbound.reason).where(RawInbound.status == "bounce"))
    assert reason and f"message {reply_id} on ticket #{ticket}" in reason


async def test_header_injection_is_impossible(app: Client, recorder: Recorder) -> None:
    ctx = app.app[CTX]
    agent = await create_staff(ctx, Role.AGENT)
    evil_name = mail("=?utf-8?q?Bad=0D=0ABcc=3A_victim=40example=2Eorg?= <bad@example.org>", "hi", "hi")
    assert "kept for review as rejected" in (await send(port(app), evil_name))[1]
    evil = mail("Bad <bad@example.org>", "=?utf-8?q?Hello=0D=0ABcc=3A_victim=40example=2Eorg=0D=0A?=", "hi")
    ticket = await ticket_of(await send(port(app), evil))
    async with ctx.db.write() as session:  # even a subject written straight into the database
        stored = await session.get(Ticket, ticket)
        assert stored is not None and "\n" not in stored.subject
        stored.subject = "Hello\r\nBcc: victim@example.org\r\nX-Evil: 1"
    reply_id = await _reply(app, agent, ticket, "Answer")
    await settle(app, lambda: _sent(ctx, reply_id))
    [(_, rcpts, raw)] = recorder.received
    assert rcpts == ["bad@example.org"]
    headers = raw.split(b"\r\n\r\n", 1)[0]
    assert b"\r\nBcc:" not in headers and b"\r\nX-Evil:" not in headers
    [sent] = recorder.messages()
    assert sent["Bcc"] is None and sent["X-Evil"] is None


async def test_refused_recipients_sizes_and_counts(make_app: Callable[[dict[str, Any]], Awaitable[Client]]) -> None:
    app = await make_app({"max_message_bytes": 5000, "max_recipients": 2})
    body = mail("a@example.org", "hi", "hello")
    assert (await send(port(app), body, rcpts=("nobody@example.com",)))[0] == 550
    assert (await send(port(app), body, rcpts=("support@other.example",)))[0] == 550
    assert (await send(port(app), body, rcpts=("support+billing@example.com",)))[0] == 250
    assert (await send(port(app), body, rcpts=(SUPPORT, SUPPORT, SUPPORT)))[0] == 452
    code, _ = await send(port(app), mail("a@example.org", "big", "x" * 6000))
    assert code == 552


async def test_database_down_answers_451_and_redelivery_is_stored_once(app: Client) -> None:
    from contactcenter.db.engine import Database
    ctx = app.app[CTX]
    raw = mail("Reza <reza@example.ir>", "Hi", "Are you there?", Message_ID="<once@example.ir>")
    working = ctx.db
    down = Database(f"postgresql+asyncpg://cc@127.0.0.1:{free_port()}/cc")
    ctx.intake.db = down
    try:
        code, text = await send(port(app), raw)
    finally:
        ctx.intake.db = working
        await down.dispose()
    assert code == 451 and "try again" in text
    ticket = await ticket_of(await send(port(app), raw))
    code, text = await send(port(app), raw)
    assert "already received" in text and await ticket_of((code, text)) == ticket
    assert len(await message_on(ctx, ticket)) == 1


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_smtp_auth_when_configured(make_app: Callable[[dict[str, Any]], Awaitable[Client]]) -> None:
    app = await make_app({"auth_required": True, "auth_require_tls": False, "auth_username": "mta",
                          "auth_password": "s3cret-pass"})
    body = mail("a@example.org", "hi", "hello")

    def attempt(password: str | None) -> int:
        with smtplib.SMTP("127.0.0.1", port(app), timeout=30) as smtp:
            smtp.ehlo()
            if password is not None:
                try:
                    smtp.login("mta", password)
                except smtplib.SMTPAuthenticationError as exc:
                    return exc.smtp_code
            code, _ = smtp.mail("a@example.org")
            return code
    assert await asyncio.to_thread(attempt, None) == 530
    assert await asyncio.to_thread(attempt, "wrong") == 535
    assert await asyncio.to_thread(attempt, "s3cret-pass") == 250
    del body


async def test_kept_mail_is_listed_and_replayed(app: Client) -> None:
    ctx = app.app[CTX]
    raw = mail("Lale <lale@example.org>", "Stuck", "The parser failed on me once")
    async with ctx.db.write() as session:  # as the listener keeps a mail the parser crashed on
        row = await do_keep_raw(session, "email", raw, "unparsable", "parser error: KeyError: 'x'",
                                {"mail_from": "lale@example.org", "rcpt_tos": [SUPPORT]})
    refused = await send(port(app), b"Subject: no sender\r\n\r\nhello")
    assert "kept for review as rejected" in refused[1]
    outcome = await mail_intake(ctx).replay(row.id)
    assert outcome.kind == "ticket" and outcome.ticket_id
    async with ctx.db.read() as session:
        kept = (await session.execute(select(RawInbound.status, RawInbound.reason).where(RawInbound.id == row.id)
                                      )).one()
    assert kept[0] == "replayed" and f"ticket #{outcome.ticket_id}" in kept[1]
    again = await MailIntake(ctx.db, ctx.intake, ctx.settings.email, ctx.secret).replay(row.id)
    assert again.kind == "replayed"
    listed = await list_kept(ctx.db, None, 10)
    assert [r["status"] for r in listed] == ["rejected", "replayed"]
    assert "no From header" in str(listed[0]["reason"])


async def test_message_is_sent_with_smtplib_send_sync_helper(app: Client) -> None:
    code, text = await asyncio.to_thread(send_sync, port(app), mail("x@example.org", "Hi", "Hello"))
    assert code == 250 and REPLY.search(text)


async def test_import_mail_from_mbox_maildir_and_eml_folder(app: Client, tmp_path: Any) -> None:
    from channels.email.mailbox_import import import_mail
    ctx = app.app[CTX]
    inbox = mail_intake(ctx)
    maildir = mailbox.Maildir(tmp_path / "Maildir", create=True)
    maildir.add(mail("Ava <ava@example.org>", "Old case", "From the old helpdesk", Message_ID="<old-1@example.org>",
                     Date="Mon, 01 Jan 2024 10:00:00 +0000"))
    maildir.add(mail("Ava <ava@example.org>", "Re: Old case", "Still broken", In_Reply_To="<old-1@example.org>"))
    maildir.add(b"Subject: nobody wrote this\r\n\r\nno sender")
    summary = await import_mail(inbox, tmp_path / "Maildir", concurrency=4, progress=False)
    assert (summary["format"], summary["total"], summary["imported"], summary["threaded"], summary["rejected"]) == \
        ("maildir", 3, 1, 1, 1)
    assert summary["rejections"][0]["reason"] == "sender: no From header"
    again = await import_mail(inbox, tmp_path / "Maildir", concurrency=4, progress=False)
    assert again["duplicates"] == 2 and again["imported"] == 0
    folder = tmp_path / "eml"
    folder.mkdir()
    (folder / "one.eml").write_bytes(mail("Bo <bo@example.org>", "Hi", "Hello"))
    assert (await import_mail(inbox, folder, progress=False))["imported"] == 1
    if CORPORA.is_dir():
        box = CORPORA / "cpython" / "mailbox_01.mbox"
        summary = await import_mail(inbox, box, progress=False)
        assert summary["format"] == "mbox" and summary["total"] == len(mailbox.mbox(box, create=False)) > 0
        assert summary["imported"] + summary["threaded"] + summary["rejected"] + summary["duplicates"] == \
            summary["total"]
    await ctx.relay.drain()
    async with ctx.db.read() as session:
        first = await session.scalar(select(Message).where(Message.provider_id == "old-1@example.org"))
    assert first is not None and first.created_at.year == 2024 and first.meta["imported"] == "yes"
