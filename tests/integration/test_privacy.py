"""Data protection against the real app and database: encryption at rest, export, erasure, retention, audit."""

from __future__ import annotations

import asyncio
import io
import json
import os
import uuid
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from conftest import PG_URL, Staff
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError

from channels.base import InboundAttachment, InboundMessage, ThreadHints
from contactcenter.actions.audit import SYSTEM
from contactcenter.context import CTX, Context
from contactcenter.db.engine import Database
from contactcenter.db.models import Attachment, AuditEvent, Contact, ContactKey, Message, OutboxEvent, Ticket
from contactcenter.db.types import utcnow
from contactcenter.domain.enums import IdentityKind, TicketStatus
from contactcenter.domain.identities import Address
from contactcenter.intake import IntakeResult, intake
from contactcenter.privacy import service
from contactcenter.privacy.auditlock import audit_unlocked
from contactcenter.privacy.datakeys import check_master_key
from contactcenter.privacy.keyring import Keyring, KeyringError, new_master_key, parse_master_keys
from contactcenter.settings import PrivacySettings, SettingsError

Client = TestClient[Any, Any]
V1 = "/api/v1"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def marker() -> str:
    return f"mk{uuid.uuid4().hex[:14]}"


async def arrive(ctx: Context, mark: str, *, external_id: str | None = None, token: str | None = None,
                 email: str | None = None) -> IntakeResult:
    return await intake(ctx.db, ctx.store, ctx.settings, InboundMessage(
        channel="webform", external_id=external_id or uuid.uuid4().hex,
        sender=Address(IdentityKind.EMAIL, email or f"{mark}@example.com"), sender_name=f"Name {mark}",
        received_at=utcnow(), subject=f"Subject {mark}", text=f"My text {mark} here", html=f"<p>{mark}</p>",
        raw=f"raw payload {mark}".encode(), hints=ThreadHints(portal_token=token),
        attachments=(InboundAttachment(f"{mark}.txt", "text/plain", f"file {mark}".encode()),)))


async def call(client: Client, staff: Staff | None, method: str, path: str, body: Any = None,
               status: int = 200) -> Any:
    response = await client.request(method, V1 + path, json=body, headers=staff.headers if staff else {})
    assert response.status == status, (method, path, response.status, await response.text())
    return await response.json()


async def traces(ctx: Context, mark: str) -> list[str]:
    """Where ``mark`` can still be found: files of the data folder (the SQLite database among them), or on
    PostgreSQL any row of any table."""
    def in_files() -> list[str]:
        return [str(path) for path in Path(ctx.settings.data_path).rglob("*") if path.is_file()
                and mark.encode() in path.read_bytes()]

    found = await asyncio.to_thread(in_files)
    if PG_URL:
        async with ctx.db.read() as session:
            tables = (await session.scalars(text(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))).all()
            for table in tables:
                hits = await session.scalar(text(
                    f"SELECT count(*) FROM {table} t WHERE t::text ILIKE :m"), {"m": f"%{mark}%"})  # noqa: S608
                if hits:
                    found.append(f"table {table}")
    return found


# encryption at rest

async def test_bodies_raw_payloads_and_files_are_encrypted_and_read_back_transparently(
        client: Client, agent: Staff) -> None:
    ctx = client.app[CTX]
    mark = marker()
    got = await arrive(ctx, mark)
    reply = await call(client, agent, "POST", f"/tickets/{got.ticket_id}/replies", {"text": f"Answer {mark}"}, 201)
    async with ctx.db.read() as session:
        stored = (await session.execute(text("SELECT text, html, raw, key_id FROM messages ORDER BY id"))).all()
        files = (await session.execute(text("SELECT sha256, file_key FROM attachments"))).all()
        keys = (await session.scalars(select(ContactKey.contact_id))).all()
    assert keys == [got.contact_id]  # one key row for the new contact
    for body, _html, _raw, key_id in stored:
        assert body.startswith("cc1:") and mark not in body and key_id is not None
    assert stored[0].html.startswith("cc1:") and bytes(stored[0].raw).startswith(b"CC1\x00")
    assert files[0].file_key.startswith("cc1:")
    assert mark.encode() not in ctx.store.path(files[0].sha256).read_bytes()
    # every reader sees plaintext: the timeline, the attachment download, a column select, the raw bytes
    detail = await call(client, agent, "GET", f"/tickets/{got.ticket_id}")
    messages = [e for e in detail["timeline"] if e["kind"] == "message"]
    texts = [m["text"] for m in messages]
    assert f"My text {mark} here" in texts and f"Answer {mark}" in texts
    url = next(m for m in messages if m["attachments"])["attachments"][0]["url"]
    download = await client.get(url, headers=agent.headers)
    assert await download.read() == f"file {mark}".encode()
    async with ctx.db.read() as session:
        html, raw = (await session.execute(select(Message.html, Message.raw).where(
            Message.id == got.message_id))).one()
        assert (html, raw) == (f"<p>{mark}</p>", f"raw payload {mark}".encode())
        assert (await session.get(Message, reply["id"])) is not None
    # and the ticket search still finds words of the body
    found = await call(client, agent, "GET", f"/tickets?q={mark}")
    assert [t["id"] for t in found["items"]] == [got.ticket_id]


def test_keyring_wraps_rotates_and_refuses_a_wrong_key() -> None:
    old, new = os.urandom(32), os.urandom(32)
    ring = Keyring({1: old})
    wrapped = ring.new_wrapped_key()
    sealed = ring.seal_text(wrapped, "hello")
    assert sealed == "hello" and sealed.stored.startswith("cc1:") and "hello" not in sealed.stored
    assert ring.open_bytes(wrapped, ring.seal_bytes(wrapped, b"\x00raw").stored) == b"\x00raw"
    rotated = Keyring({1: old, 2: new})
    moved = rotated.rewrap(wrapped)
    assert moved.startswith("k2.") and rotated.rewrap(moved) == moved
    only_new = Keyring({2: new})
    assert only_new.open_text(moved, sealed.stored) == "hello"
    with pytest.raises(ValueError, match="not configured"):
        only_new.open_text(wrapped, sealed.stored)
    with pytest.raises(ValueError, match="does not open"):
        Keyring({1: os.urandom(32)}).open_text(wrapped, sealed.stored)
    assert parse_master_keys(f"3:{new_master_key()}, 5:{new_master_key()}").keys() == {3, 5}
    with pytest.raises(ValueError, match="32 bytes"):
        parse_master_keys("1:c2hvcnQ=")


async def test_key_file_is_created_private_and_rotation_rewraps_every_key(ctx: Context) -> None:
    mark = marker()
    got = await arrive(ctx, mark)
    key_file = Path(ctx.settings.data_path) / "master_keys"
    settings = ctx.settings.with_overrides({"privacy": {"master_key": ""}})
    from contactcenter.privacy.commands import run
    from contactcenter.privacy.datakeys import keyring_from_settings
    keyring_from_settings(settings)
    assert key_file.stat().st_mode & 0o777 == 0o600
    await ctx.db.dispose()
    args = type("Args", (), {"privacy": "rotate-master-key"})()
    lines: list[str] = []
    assert await run(settings, args, out=lines.append) == 0
    report = json.loads(lines[0])
    assert report["added_master_key"] == 2 and report["rewrapped"] >= 1
    keys = parse_master_keys(key_file.read_text())
    db = Database(settings.database_url, keyring=Keyring({2: keys[2]}))  # the old master key is gone
    try:
        async with db.read() as session:
            wrapped = (await session.scalars(select(ContactKey.wrapped))).all()
            body = await session.scalar(select(Message.text).where(Message.id == got.message_id))
    finally:
        await db.dispose()
    assert all(w.startswith("k2.") for w in wrapped) and body == f"My text {mark} here"
    async with ctx.db.read() as session:  # a server started before the new key finds it in the key file
        assert await session.scalar(select(Message.text).where(Message.id == got.message_id)) == body


async def test_a_master_key_that_does_not_open_the_data_keys_stops_the_start(ctx: Context) -> None:
    # Two processes with a key file each would each write data keys the other cannot open (500s on reads).
    await arrive(ctx, "key-check")
    await check_master_key(ctx.db)  # the key that wrote them
    stranger = Database(ctx.settings.database_url, keyring=Keyring(parse_master_keys(f"1:{new_master_key()}")))
    try:
        with pytest.raises(SettingsError, match="same master keys"):
            await check_master_key(stranger)
    finally:
        await stranger.dispose()


async def test_rows_written_before_encryption_are_sealed_by_the_upgrade_command(ctx: Context) -> None:
    mark = marker()
    plain = Database(ctx.settings.database_url)  # as before this version: no keyring, files in the clear
    try:
        from contactcenter.storage import AttachmentStore
        got = await intake(plain, AttachmentStore(ctx.store.root), ctx.settings, InboundMessage(
            channel="webform", external_id="old", sender=Address(IdentityKind.EMAIL, "old@example.com"),
            received_at=utcnow(), subject="s", text=f"old {mark}", raw=b"raw",
            attachments=(InboundAttachment("a.txt", "text/plain", f"old file {mark}".encode()),)))
    finally:
        await plain.dispose()
    async with ctx.db.read() as session:
        assert await session.scalar(select(Message.text).where(Message.id == got.message_id)) == f"old {mark}"
    assert await service.seal_existing(ctx.db, ctx.store) == {"messages": 1, "attachments": 1}
    assert await service.seal_existing(ctx.db, ctx.store) == {"messages": 0, "attachments": 0}
    async with ctx.db.read() as session:
        stored = await session.scalar(text("SELECT text FROM messages"))
        assert stored.startswith("cc1:")
        assert await session.scalar(select(Message.text).where(Message.id == got.message_id)) == f"old {mark}"
        attachment = await session.scalar(select(Attachment))
    assert attachment is not None
    assert await ctx.store.read(attachment.sha256, attachment.file_key) == f"old file {mark}".encode()
    assert [p for p in ctx.store.root.rglob("*") if p.is_file() and mark.encode() in p.read_bytes()] == []


# export and erasure

async def test_export_holds_everything_about_the_contact(client: Client, admin: Staff, agent: Staff) -> None:
    ctx = client.app[CTX]
    mark = marker()
    got = await arrive(ctx, mark)
    await call(client, agent, "POST", f"/tickets/{got.ticket_id}/notes", {"text": f"note {mark}"}, 201)
    await call(client, agent, "GET", f"/contacts/{got.contact_id}/export", status=403)
    response = await client.get(f"{V1}/contacts/{got.contact_id}/export", headers=admin.headers)
    assert response.status == 200 and response.headers["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(await response.read()))
    document = json.loads(archive.read("contact.json"))
    assert document["contacts"][0]["name"] == f"Name {mark}"
    assert [i["value"] for i in document["identities"]] == [f"{mark}@example.com"]
    assert [t["subject"] for t in document["tickets"]] == [f"Subject {mark}"]
    assert [m["text"] for m in document["messages"]] == [f"My text {mark} here"]  # no internal note by default
    attachment = document["messages"][0]["attachments"][0]
    assert archive.read(attachment["file"]) == f"file {mark}".encode()
    assert archive.read(document["messages"][0]["raw"]) == f"raw payload {mark}".encode()
    assert {"contact.created", "ticket.created", "message.received"} <= {a["action"] for a in document["audit"]}
    with_notes = await client.get(f"{V1}/contacts/{got.contact_id}/export?internal=true", headers=admin.headers)
    notes = json.loads(zipfile.ZipFile(io.BytesIO(await with_notes.read())).read("contact.json"))
    assert f"note {mark}" in [m["text"] for m in notes["messages"]]
    await call(client, admin, "GET", "/contacts/999999/export", status=404)
    audit = await call(client, admin, "GET", f"/audit?action=contact.exported&object=contact:{got.contact_id}")
    assert len(audit["items"]) == 2 and audit["items"][0]["actor_id"] == admin.user_id


async def test_erasure_leaves_no_trace_in_the_database_or_the_data_folder(client: Client, admin: Staff,
                                                                          agent: Staff) -> None:
    ctx = client.app[CTX]
    mark, other_mark = marker(), marker()
    got = await arrive(ctx, mark)
    await arrive(ctx, mark, token=got.portal_token)  # a second message on the same ticket
    await call(client, agent, "POST", f"/tickets/{got.ticket_id}/replies", {"text": f"Reply {mark}"}, 201)
    await call(client, agent, "POST", f"/tickets/{got.ticket_id}/notes", {"text": f"Note {mark}"}, 201)
    other = await arrive(ctx, other_mark)  # someone else's ticket, on which our contact writes too
    async with ctx.db.write() as session:
        await session.execute(update(Ticket).where(Ticket.id == got.ticket_id).values(subject=f"Edited {mark}"))
    await asyncio.sleep(0.3)  # let the relay deliver the reply
    assert await traces(ctx, mark)  # the marker is there before (the ticket subject at least)
    await call(client, agent, "POST", f"/contacts/{got.contact_id}/erase", {"confirm": got.contact_id}, 403)
    await call(client, admin, "POST", f"/contacts/{got.contact_id}/erase", {"confirm": got.contact_id + 1}, 422)
    await call(client, admin, "POST", f"/contacts/{got.contact_id}/erase", {}, 422)
    done = await call(client, admin, "POST", f"/contacts/{got.contact_id}/erase", {"confirm": got.contact_id})
    assert done["tickets"] == 1 and done["messages"] == 4 and done["files"] == 2
    await call(client, admin, "POST", f"/contacts/{got.contact_id}/erase", {"confirm": got.contact_id}, 409)
    await ctx.db.dispose()  # every connection closed: what is left is what the files hold
    assert await traces(ctx, mark) == []
    assert await traces(ctx, other_mark)  # the other customer's data is untouched
    async with ctx.db.read() as session:
        contact = await session.get(Contact, got.contact_id)
        assert contact is not None and contact.erased_at is not None and contact.name == ""
        assert await session.get(Ticket, got.ticket_id) is None
        assert await session.scalar(select(ContactKey).where(ContactKey.contact_id == got.contact_id)) is None
        erased = await session.scalar(select(AuditEvent).where(AuditEvent.action == "contact.erased"))
        assert erased is not None and erased.actor_id == admin.user_id and erased.changes["tickets"] == 1
    assert (await call(client, agent, "GET", f"/tickets/{other.ticket_id}"))["id"] == other.ticket_id
    assert (await call(client, agent, "GET", f"/tickets?q={mark}"))["items"] == []


async def test_erasure_reaches_a_contact_merged_into_the_erased_one(client: Client, admin: Staff) -> None:
    ctx = client.app[CTX]
    mark, merged_mark = marker(), marker()
    kept = await arrive(ctx, mark)
    gone = await arrive(ctx, merged_mark)
    await call(client, admin, "POST", f"/contacts/{gone.contact_id}/merge", {"into": kept.contact_id}, 201)
    await call(client, admin, "POST", f"/contacts/{gone.contact_id}/erase", {"confirm": gone.contact_id}, 409)
    done = await call(client, admin, "POST", f"/contacts/{kept.contact_id}/erase", {"confirm": kept.contact_id})
    assert done["contacts"] == 2 and done["tickets"] == 2
    async with ctx.db.read() as session:  # integrations (webhooks) are told what to delete on their side
        [told] = (await session.scalars(select(OutboxEvent.payload).where(OutboxEvent.topic == "contact.erased"))).all()
    assert told == {"contact_id": kept.contact_id, "contact_ids": sorted([kept.contact_id, gone.contact_id]),
                    "ticket_ids": sorted([kept.ticket_id, gone.ticket_id])}
    await ctx.db.dispose()
    assert await traces(ctx, merged_mark) == [] and await traces(ctx, mark) == []


async def test_a_destroyed_key_makes_copies_taken_before_unreadable(ctx: Context) -> None:
    """Crypto-erasure: values and files copied before the erasure (a backup) open with the contact's key,
    and with no key left in the database after it."""
    mark = marker()
    got = await arrive(ctx, mark)
    await arrive(ctx, marker())  # another contact, whose key stays
    async with ctx.db.read() as session:
        attachment = (await session.scalars(select(Attachment).order_by(Attachment.id))).first()
        sealed_text, sealed_key = (await session.execute(text(
            "SELECT m.text, a.file_key FROM messages m JOIN attachments a ON a.message_id = m.id "
            "WHERE m.id = :id"), {"id": got.message_id})).one()
        wrapped = await session.scalar(select(ContactKey.wrapped).where(ContactKey.contact_id == got.contact_id))
    assert attachment is not None and wrapped is not None and ctx.db.keyring is not None
    keyring = ctx.db.keyring
    backup = ctx.store.path(attachment.sha256).read_bytes()
    assert mark.encode() not in backup
    assert keyring.open_text(wrapped, sealed_text) == f"My text {mark} here"  # the backup plus the key: readable
    await service.erase_contact(ctx.db, ctx.store, got.contact_id, actor=SYSTEM)
    assert not ctx.store.path(attachment.sha256).exists()
    async with ctx.db.read() as session:
        left = (await session.scalars(select(ContactKey.wrapped))).all()
    assert len(left) == 1 and wrapped not in left
    for other in left:
        with pytest.raises(KeyringError):
            keyring.open_text(other, sealed_text)
        with pytest.raises(KeyringError):
            keyring.open_text(other, sealed_key)


# retention

async def closed(ctx: Context, ticket_id: int, days_ago: float) -> None:
    async with ctx.db.write() as session:
        await session.execute(update(Ticket).where(Ticket.id == ticket_id).values(
            status=TicketStatus.CLOSED, closed_at=utcnow() - timedelta(days=days_ago)))


@pytest.mark.parametrize("mode", ["anonymize", "delete"])
async def test_retention_takes_old_closed_tickets_only(ctx: Context, mode: str) -> None:
    old, recent, still_open = marker(), marker(), marker()
    first = await arrive(ctx, old)
    second = await arrive(ctx, recent)
    third = await arrive(ctx, still_open)
    await closed(ctx, first.ticket_id, 40)
    await closed(ctx, second.ticket_id, 5)
    async with ctx.db.write() as session:
        await session.execute(update(Ticket).where(Ticket.id == third.ticket_id).values(
            created_at=utcnow() - timedelta(days=400)))
    policy = PrivacySettings(retention_days=30, retention_mode=mode, retention_batch_size=1)
    run = await service.run_retention(ctx.db, ctx.store, policy)
    assert (run.tickets, run.messages) == (1, 1)
    assert (await service.run_retention(ctx.db, ctx.store, policy)).tickets == 0  # done once
    await ctx.db.dispose()
    assert await traces(ctx, f"My text {old}") == [] and await traces(ctx, f"Subject {old}") == []
    assert await traces(ctx, recent) and await traces(ctx, still_open)
    async with ctx.db.read() as session:
        ticket = await session.get(Ticket, first.ticket_id)
        entry = await session.scalar(select(AuditEvent).where(AuditEvent.action == f"retention.{mode}d"
                                                              if mode == "anonymize" else
                                                              AuditEvent.action == "retention.deleted"))
        if mode == "delete":
            assert ticket is None
        else:
            assert ticket is not None and ticket.subject == "" and ticket.anonymized_at is not None
            message = await session.get(Message, first.message_id)
            assert message is not None and message.text == "" and message.html is None
            assert await session.scalar(select(Attachment).where(Attachment.message_id == first.message_id)) is None
    assert entry is not None and entry.changes["tickets"] == [first.ticket_id]


async def test_the_scheduled_job_applies_retention_while_the_server_runs(ctx: Context) -> None:
    got = await arrive(ctx, marker())
    await closed(ctx, got.ticket_id, 10)
    job = service.RetentionJob(ctx.db, ctx.store, PrivacySettings(retention_days=1, retention_mode="delete",
                                                                  retention_interval_seconds=0.05))
    job.start()
    try:
        for _ in range(400):
            async with ctx.db.read() as session:
                if await session.get(Ticket, got.ticket_id) is None:
                    break
            await asyncio.sleep(0.05)
    finally:
        await job.stop()
    async with ctx.db.read() as session:
        assert await session.get(Ticket, got.ticket_id) is None


async def test_two_retention_runs_at_once_take_each_ticket_once(ctx: Context) -> None:
    results = [await arrive(ctx, marker()) for _ in range(6)]
    for got in results:
        await closed(ctx, got.ticket_id, 90)
    policy = PrivacySettings(retention_days=30, retention_mode="delete", retention_batch_size=2)
    other = Database(ctx.settings.database_url, keyring=ctx.db.keyring)
    try:
        runs = await asyncio.gather(service.run_retention(ctx.db, ctx.store, policy),
                                    service.run_retention(other, ctx.store, policy))
        if sum(r.tickets for r in runs) < 6:  # on PostgreSQL one run may have skipped a locked round
            await service.run_retention(ctx.db, ctx.store, policy)
    finally:
        await other.dispose()
    async with ctx.db.read() as session:
        assert (await session.scalars(select(Ticket.id))).all() == []
        logged = (await session.scalars(select(AuditEvent.changes).where(
            AuditEvent.action == "retention.deleted"))).all()
    taken = [t for changes in logged for t in changes["tickets"]]
    assert sorted(taken) == sorted(r.ticket_id for r in results)  # each ticket in exactly one batch


# the audit log

async def test_audit_log_filters_and_pages_for_admins_only(client: Client, admin: Staff, agent: Staff,
                                                           supervisor: Staff) -> None:
    ctx = client.app[CTX]
    got = await arrive(ctx, marker())
    for n in range(3):
        await call(client, supervisor, "PATCH", f"/tickets/{got.ticket_id}", {"tags": [f"t{n}"]})
    await call(client, agent, "GET", "/audit", status=403)
    await call(client, supervisor, "GET", "/audit", status=403)
    await call(client, None, "GET", "/audit", status=401)
    mine = await call(client, admin, "GET", f"/audit?actor={supervisor.user_id}&limit=2")
    assert len(mine["items"]) == 2 and mine["next_cursor"]
    assert all(e["actor_id"] == supervisor.user_id for e in mine["items"])
    rest = await call(client, admin, "GET", f"/audit?actor=user:{supervisor.user_id}&limit=2"
                                            f"&cursor={mine['next_cursor']}")
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    assert rest["items"][0]["id"] < mine["items"][-1]["id"]
    on_ticket = await call(client, admin, "GET", f"/audit?object=ticket:{got.ticket_id}")
    assert {e["object_id"] for e in on_ticket["items"]} == {got.ticket_id}
    later = (utcnow() + timedelta(minutes=5)).isoformat().replace("+00:00", "Z")
    assert (await call(client, admin, "GET", f"/audit?since={later}"))["items"] == []
    by_contact = await call(client, admin, "GET", f"/audit?actor=contact:{got.contact_id}")
    assert {e["action"] for e in by_contact["items"]} >= {"message.received"}
    for bad in ("actor=robert", "object=ticket:x", "actor=9999999999", "object=ticket:0", "since=yesterday",
                "cursor=zzz", "limit=0", "since=2026-01-01T00:00:00"):
        await call(client, admin, "GET", f"/audit?{bad}", status=422)


async def test_the_audit_table_refuses_updates_and_deletes(ctx: Context) -> None:
    await arrive(ctx, marker())
    with pytest.raises(DBAPIError, match="append-only"):
        async with ctx.db.write() as session:
            await session.execute(update(AuditEvent).values(action="forged"))
    with pytest.raises(DBAPIError, match="append-only"):
        async with ctx.db.write() as session:
            await session.execute(delete(AuditEvent))
    with pytest.raises(DBAPIError, match="append-only"):
        async with ctx.db.write() as session:
            await session.execute(text("UPDATE audit_events SET changes = '{}'"))

    def scrub(session: Any) -> int:
        with audit_unlocked(session, "test"):
            return int(session.execute(update(AuditEvent).values(changes={})).rowcount)

    assert await ctx.db.run_write(scrub) >= 1  # the erasure and retention path
    with pytest.raises(DBAPIError, match="append-only"):  # and the lock is gone afterwards
        async with ctx.db.write() as session:
            await session.execute(delete(AuditEvent))
    async with ctx.db.read() as session:
        assert (await session.scalar(text("SELECT count(*) FROM audit_unlocks"))) == 0


async def test_cli_exports_then_erases(ctx: Context, tmp_path_factory: pytest.TempPathFactory) -> None:
    from argparse import Namespace

    from contactcenter.privacy.commands import run
    mark = marker()
    got = await arrive(ctx, mark)
    out: list[str] = []
    target = tmp_path_factory.mktemp("exports") / "contact.zip"  # outside the data folder
    assert await run(ctx.settings, Namespace(privacy="export", contact_id=got.contact_id, out=str(target),
                                             internal=False), out=out.append) == 0
    document = json.loads(zipfile.ZipFile(target).read("contact.json"))
    assert document["messages"][0]["text"] == f"My text {mark} here"
    assert await run(ctx.settings, Namespace(privacy="erase", contact_id=got.contact_id,
                                             confirm=got.contact_id + 1), out=out.append) == 1
    assert await run(ctx.settings, Namespace(privacy="erase", contact_id=got.contact_id,
                                             confirm=got.contact_id), out=out.append) == 0
    assert json.loads(out[-1])["tickets"] == 1
    assert await run(ctx.settings, Namespace(privacy="erase", contact_id=got.contact_id,
                                             confirm=got.contact_id), out=out.append) == 1  # erased already
    await ctx.db.dispose()
    assert await traces(ctx, mark) == []
