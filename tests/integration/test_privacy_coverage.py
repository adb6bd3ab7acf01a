"""Erasure, export and retention reach every table that can hold a customer's data: generated from the schema.

Every table of the metadata must be decided below: erased (``ERASED``), deliberately kept (``KEPT``, with the
reason) or holding no customer data (``UNRELATED``, with the reason). A table added later without a decision
fails ``test_every_table_is_decided``. For every table with a foreign-key path to contacts, tickets or
messages the tests build a row generically from its columns (the customer's marker in every text-like
column, its foreign keys pointing at the customer's contact, a ticket of theirs and a message on it), then
erase the contact (or export it, or run retention on the ticket) and check what is left.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import random
import uuid
import zipfile
from datetime import date, timedelta
from typing import Any

import pytest
from conftest import PG_URL, Staff
from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Float,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session
from test_privacy import Client, arrive, call, marker, traces

from contactcenter.actions.audit import SYSTEM
from contactcenter.actions.calls import open_call, record_status, update_call
from contactcenter.actions.channel_events import NewChannelEvent, do_opt_out, do_record_channel_event
from contactcenter.actions.contacts import do_add_identity
from contactcenter.actions.inbound import RawStatus, do_keep_raw
from contactcenter.actions.kb import do_create_article, do_learn_phrasing, do_review_phrasing
from contactcenter.actions.surveys import do_answer_survey
from contactcenter.context import CTX, Context
from contactcenter.db.models import (
    AuditEvent,
    Base,
    Call,
    CallEvent,
    ChannelEvent,
    Contact,
    KbArticle,
    KbArticleVersion,
    KbLearnedPhrasing,
    Message,
    OptOut,
    RawInbound,
    Survey,
    Ticket,
)
from contactcenter.db.sealed import SealedBinary, SealedText
from contactcenter.db.types import utcnow
from contactcenter.domain.enums import IdentityKind
from contactcenter.domain.identities import Address
from contactcenter.events import EVENT_TYPES
from contactcenter.privacy import service
from contactcenter.privacy.export import INTERNAL, SECTIONS
from contactcenter.settings import PrivacySettings

ROOTS = ("contacts", "tickets", "messages")

# What erasure does with the contact's rows of each table that can hold them. Rows built by the generic
# seeding must be gone afterwards, except in TOMBSTONES, where they stay without any of the marker.
ERASED = {
    "contacts": "the contact and those merged into it stay as tombstones: name, notes, language, organization "
                "emptied, erased_at set",
    "contact_keys": "deleted last: crypto-erasure of every sealed value and file, backups included",
    "contact_identities": "deleted",
    "contact_merges": "deleted (either side)",
    "tickets": "deleted, with the search document",
    "offers": "deleted with the ticket",
    "ticket_tags": "deleted with the ticket",
    "messages": "deleted on their tickets; on other people's tickets kept as tombstones without content and ids",
    "attachments": "deleted, files removed after commit",
    "sla_timers": "deleted with the ticket",
    "sla_tickets": "deleted with the ticket",
    "notifications": "deleted with the ticket (they quote its subject)",
    "mentions": "deleted with the ticket or message",
    "surveys": "deleted (their tickets, or any survey of theirs)",
    "kb_auto_answers": "deleted with the ticket",
    "kb_learned_phrasings": "deleted with the ticket (no foreign key: ticket_id)",
    "kb_articles": "an approved question of theirs is taken out of the article's phrasings (a new version)",
    "kb_article_versions": "the approved question is taken out of every stored version",
    "calls": "deleted: theirs, on their tickets, from or to their numbers",
    "call_events": "deleted with the call (no foreign key: call_sid), caller details in the payload",
    "channel_events": "deleted: reports on their messages, their button presses, kept payloads naming them",
    "raw_inbound": "deleted: kept mail from their address or naming one of their identities",
    "magic_links": "deleted (their contact or e-mail)",
    "customer_sessions": "deleted (signed out)",
}
TOMBSTONES = {"contacts"}
# Deliberately kept, and why.
KEPT = {
    "audit_events": "append-only: rows about them (object, actor, their tickets, calls, events, kept mail, "
                    "articles, or naming one of their addresses) keep who-did-what; their changes are scrubbed",
    "opt_outs": "an opt-out (SMS STOP) is what keeps us from messaging the number again; exported, audit scrubbed",
    "outbox": "events carry ids only (test_events_carry_no_free_text); they point at deleted rows afterwards; "
              "an error text naming one of their addresses is cleared",
    "webhook_deliveries": "payloads are the same id-only events, already sent to the receivers; error texts "
                          "naming one of their addresses are cleared",
}
# Tables without customer data.
UNRELATED = {
    "organizations": "companies (the contact's link is removed from the tombstone)",
    "products": "catalogue", "sla_policies": "configuration", "service_contracts": "companies' contracts",
    "users": "staff", "skills": "staff", "agent_skills": "staff", "api_tokens": "staff", "invites": "staff",
    "sessions": "staff logins", "audit_unlocks": "empty outside an erasure or retention transaction",
    "kb_deflections": "article, channel and yes/no only: no contact, ticket or text",
    "canned_responses": "staff-written templates", "webhook_endpoints": "configuration",
}
# Retention (anonymize mode): the columns of ticket-scoped rows that must lose their content; the rest of a
# kept row holds figures, ids or staff data. "deleted": the rows go in both modes.
ANONYMIZED = {
    "tickets": ("subject", "conversation_key", "portal_token_hash"),
    "messages": ("subject", "text", "html", "raw", "metadata", "delivery_error"),
    "attachments": "deleted",
    "kb_learned_phrasings": "deleted",
    "notifications": ("text",),
    "surveys": ("comment", "reply_ref"),
    "calls": ("recording_url",),
    "offers": (), "sla_timers": (), "sla_tickets": (), "ticket_tags": (), "kb_auto_answers": (), "mentions": (),
}
NOT_EXPORTED = {
    "contact_keys": "key material, not information about the person (the export is decrypted)",
    "kb_articles": "article content; an approved question of theirs is in learned_phrasings",
    "kb_article_versions": "article content; an approved question of theirs is in learned_phrasings",
}


def _links(roots: tuple[str, ...]) -> set[str]:
    """Tables with a foreign-key path to one of ``roots`` (the roots included)."""
    linked = set(roots)
    while True:
        more = {t.name for t in Base.metadata.sorted_tables
                if t.name not in linked and any(fk.column.table.name in linked for fk in t.foreign_keys)}
        if not more:
            return linked
        linked |= more


LINKED = sorted(_links(ROOTS), key=[t.name for t in Base.metadata.sorted_tables].index)
TICKET_SCOPED = sorted(_links(("tickets", "messages")), key=LINKED.index)


def test_every_table_is_decided() -> None:
    tables = set(Base.metadata.tables)
    decided = [*ERASED, *KEPT, *UNRELATED]
    assert len(decided) == len(set(decided)), "a table is decided twice"
    assert tables - set(decided) == set(), "decide what erasure does with these tables (ERASED, KEPT or UNRELATED)"
    assert set(decided) - tables == set(), "tables that are gone: remove them from the lists"
    assert set(LINKED) - set(ERASED) - set(KEPT) == set(), "tables that point at a contact cannot be UNRELATED"
    assert set(TICKET_SCOPED) - set(ANONYMIZED) == set(), "decide what retention does with these tables"
    assert set(ERASED) - set(NOT_EXPORTED) - set(SECTIONS) == set(), "export these tables (export.SECTIONS)"


OUTSIDE_METADATA = {  # tables the migrations create that are not ORM models
    "alembic_version": "the schema revision",
    "ticket_search": "the search index: erasure deletes the contact's documents and rebuilds the others, "
                     "retention deletes them, SQLite's index is then rewritten (checked in test_privacy.py)",
}


async def test_no_table_outside_the_models_is_undecided(ctx: Context) -> None:
    async with ctx.db.read() as session:
        if session.get_bind().dialect.name == "sqlite":
            names = (await session.scalars(text("SELECT name FROM sqlite_master WHERE type = 'table'"))).all()
        else:
            names = (await session.scalars(text(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"))).all()
    extra = {n for n in names if n not in Base.metadata.tables and not n.startswith("sqlite_")
             and not n.startswith("ticket_search_")}  # FTS5's own shadow tables
    assert extra - set(OUTSIDE_METADATA) == set(), "decide what erasure, export and retention do with these"


def test_events_carry_no_free_text() -> None:
    """Outbox and webhook payloads are kept after erasure because events are ids and short codes only."""
    codes = {"channel", "kind", "status", "metric", "point", "action", "due_at"}
    for topic, cls in EVENT_TYPES.items():
        for f in dataclasses.fields(cls):
            kind = str(f.type)
            assert kind.startswith(("int", "bool", "tuple[str", "tuple[int")) or f.name in codes, \
                f"{topic}.{f.name} ({kind}) may carry customer text: decide outbox/webhook_deliveries erasure"


# generic rows

def _python_type(table: Table, column: Any) -> str:
    for mapper in Base.registry.mappers:
        if mapper.local_table is table:
            key = mapper.get_property_by_column(column).key
            for cls in mapper.class_.__mro__:
                if key in getattr(cls, "__annotations__", {}):
                    return str(cls.__annotations__[key])
    return ""


def _value(table: Table, column: Any, mark: str) -> Any:
    kind = column.type
    unique = uuid.uuid4().hex
    if isinstance(kind, SealedText | Text):
        return f"{mark} {unique}"
    if isinstance(kind, SealedBinary | LargeBinary):
        return f"{mark} {unique}".encode()
    if isinstance(kind, String):
        length = kind.length or 200
        return f"{mark}{unique}"[:length] if length >= 40 else unique[:min(length, 12)]
    if isinstance(kind, JSON) or "JSON" in type(kind).__name__:
        return [mark] if "list" in _python_type(table, column) else {"note": mark}
    if isinstance(kind, Boolean):
        return False
    if isinstance(kind, Float):
        return 0.5
    if isinstance(kind, Integer):
        return random.randint(1, 1000)
    if isinstance(kind, Date):
        return date.today()
    if "DateTime" in type(kind).__name__:
        return utcnow()
    raise AssertionError(f"no generic value for {table.name}.{column.name} ({kind!r})")


class Rows:
    """Builds rows of any table: text-like columns hold ``mark``, foreign keys point at ``refs`` (table -> id)
    or at parent rows built on the way (marked with the unrelated ``staff`` marker)."""

    def __init__(self, session: Session, refs: dict[str, int], mark: str, staff: str) -> None:
        self.session, self.refs, self.mark, self.staff = session, dict(refs), mark, staff

    def parent(self, name: str) -> int:
        if name not in self.refs:
            self.refs[name] = self.add(name, mark=self.staff)
        return self.refs[name]

    def add(self, name: str, *, mark: str | None = None, **values: Any) -> Any:
        table = Base.metadata.tables[name]
        row: dict[str, Any] = {}
        for column in table.columns:
            if column.name in values:
                row[column.name] = values[column.name]
            elif column.foreign_keys:
                row[column.name] = self.parent(next(iter(column.foreign_keys)).column.table.name)
            elif column.primary_key and isinstance(column.type, Integer) and column.autoincrement in (True, "auto"):
                continue
            else:
                row[column.name] = _value(table, column, mark or self.mark)
        key = list(table.primary_key.columns)
        inserted = self.session.execute(insert(table).values(row).returning(*key)).one()
        return inserted[0] if len(key) == 1 else tuple(inserted)

    def ticket(self, contact_id: int, **values: Any) -> int:
        ticket_id = self.add("tickets", contact_id=contact_id, follow_up_of_id=None, merged_into_id=None, **values)
        assert isinstance(ticket_id, int)
        return ticket_id


@dataclasses.dataclass
class Seeded:
    contact_id: int
    mark: str
    staff: str
    email: str
    phone: str
    telegram: str
    ticket_id: int
    rows: dict[str, Any]  # table -> primary key of the generic row
    article_id: int


def _key_filter(table: Table, key: Any) -> Any:
    columns = list(table.primary_key.columns)
    values = key if isinstance(key, tuple) else (key,)
    condition = columns[0] == values[0]
    for column, value in zip(columns[1:], values[1:], strict=True):
        condition &= column == value
    return condition


async def seed(ctx: Context) -> Seeded:
    """A customer with data in every table that can hold it: real actions where they exist, generic rows for
    every table with a foreign-key path to contacts, tickets or messages."""
    mark, staff = marker(), f"staff{uuid.uuid4().hex[:10]}"
    got = await arrive(ctx, mark)
    email, phone = f"{mark}@example.com", f"+1555{random.randint(1000000, 9999999)}"
    telegram = str(random.randint(10**9, 10**10))
    async with ctx.db.write() as session:
        await do_add_identity(session, got.contact_id, Address(IdentityKind.PHONE, phone), actor=SYSTEM)
        await do_add_identity(session, got.contact_id, Address(IdentityKind.TELEGRAM, telegram), actor=SYSTEM)
        article = await do_create_article(session, title=f"Article {staff}", body=f"Body {staff}", language="en",
                                          status="published", actor=SYSTEM)
        learned = await do_learn_phrasing(session, article.id, f"question {mark} please", ticket_id=got.ticket_id,
                                          max_chars=300, actor=SYSTEM)
        assert learned is not None
        await do_review_phrasing(session, learned.id, approve=True, actor=SYSTEM)
        article_id = article.id
        await do_opt_out(session, "sms", phone, "STOP")
        await do_keep_raw(session, "email", f"From: <{email}>\r\n\r\nloop {mark}".encode(), RawStatus.REJECTED,
                          f"mail loop from {email}", {"mail_from": "mailer-daemon@example.net"})
        await do_record_channel_event(session, NewChannelEvent(
            "telegram", "callback", f"cb{uuid.uuid4().hex}", ref=f"{telegram}:7", value=f"rate {mark}",
            payload={"from": int(telegram), "data": f"rate {mark}"}))
        await do_record_channel_event(session, NewChannelEvent(
            "sms", "unparsed", f"u{uuid.uuid4().hex}", payload={"error": "bad"},
            raw=f"From=%2B{phone[1:]}&Body=hi+{mark}".encode()))

    def calls_and_rows(session: Session) -> tuple[int, dict[str, Any]]:
        sid = f"CA{uuid.uuid4().hex}"
        open_call(session, call_sid=sid, direction="inbound", from_number=phone, to_number="+15550000000",
                  address=Address(IdentityKind.PHONE, phone))
        update_call(session, sid, recording_url=f"https://api.twilio.example/Recordings/{mark}")
        record_status(session, call_sid=sid, sequence="1", rank=1, status="completed", duration=30, final=True,
                      outcome_of=lambda call: "voicemail", payload={"From": phone, "Transcript": f"hello {mark}"},
                      direction="inbound", from_number=phone, to_number="+15550000000", address=None)
        rows = Rows(session, {"contacts": got.contact_id}, mark, staff)
        ticket_id = rows.ticket(got.contact_id)
        rows.refs["tickets"] = ticket_id
        rows.refs["messages"] = rows.add("messages", ticket_id=ticket_id, contact_id=got.contact_id, key_id=None)
        made: dict[str, Any] = {"tickets": ticket_id, "messages": rows.refs["messages"]}
        for name in LINKED:
            if name in made:
                continue
            values: dict[str, Any] = {}
            if name == "contacts":
                values = {"merged_into_id": got.contact_id, "erased_at": None}
            elif name == "attachments":
                values = {"key_id": None, "file_key": None}
            elif name == "contact_keys":  # one key per contact: the customer's has one already
                values = {"contact_id": made["contacts"]}
            made[name] = rows.add(name, **values)
        for name in ("outbox", "webhook_deliveries"):  # kept, but an error text quoting their address is not
            rows.add(name, topic="reply.queued", payload={"ticket_id": ticket_id}, pending_subscribers=None,
                     last_error=f"delivery: 550 <{email}> unknown")
        return ticket_id, made

    ticket_id, made = await ctx.db.run_write(calls_and_rows)
    other = await arrive(ctx, f"other{uuid.uuid4().hex[:8]}")  # the customer writes on someone else's ticket
    async with ctx.db.write() as session:
        await session.execute(update(Message).where(Message.id == made["messages"]).values(
            ticket_id=other.ticket_id, provider_id=f"{telegram}:9", external_id=f"{telegram}:9"))
    return Seeded(got.contact_id, mark, staff, email, phone, telegram, ticket_id, made, article_id)


# erasure

async def test_erasure_reaches_every_table(ctx: Context) -> None:
    seeded = await seed(ctx)
    assert await traces(ctx, seeded.mark)
    done = await service.erase_contact(ctx.db, ctx.store, seeded.contact_id, actor=SYSTEM)
    assert done.calls == 2 and done.raw_payloads == 1 and done.channel_events == 2 and done.articles == 1
    async with ctx.db.read() as session:
        family = list((await session.scalars(select(Contact.id).where(
            (Contact.id == seeded.contact_id) | (Contact.merged_into_id == seeded.contact_id)))).all())
        for name, key in seeded.rows.items():
            table = Base.metadata.tables[name]
            left = (await session.execute(select(table).where(_key_filter(table, key)))).all()
            if name == "messages":  # on someone else's ticket: a tombstone without content or provider ids
                assert len(left) == 1 and seeded.mark not in str(left[0]) and seeded.telegram not in str(left[0])
            elif name in TOMBSTONES:
                assert len(left) == 1 and seeded.mark not in str(left[0]), name
            else:
                assert left == [], f"erasure left the row of {name}: {ERASED.get(name) or KEPT.get(name)}"
        # nothing else points at the contact but its tombstones
        for table in Base.metadata.sorted_tables:
            for column in table.columns:
                if any(fk.column.table.name == "contacts" for fk in column.foreign_keys) \
                        and table.name not in TOMBSTONES:
                    left = (await session.execute(select(table).where(column.in_(family)))).all()
                    if table.name == "messages":  # tombstones on other people's tickets
                        assert all(m.text == "" and m.subject == "" and m.raw is None for m in left)
                    else:
                        assert left == [], f"{table.name}.{column.name} still points at the erased contact"
        # the opt-out is kept; no audit row, call, event or article names them any more
        assert await session.scalar(select(OptOut.id).where(OptOut.address == seeded.phone)) is not None
        for changes in (await session.scalars(select(AuditEvent.changes))).all():
            dumped = json.dumps(changes, ensure_ascii=False)
            assert seeded.phone not in dumped and seeded.email not in dumped and seeded.mark not in dumped
        assert (await session.scalars(select(Call.id))).all() == []
        assert (await session.scalars(select(CallEvent.id))).all() == []
        assert (await session.scalars(select(ChannelEvent.id))).all() == []
        assert (await session.scalars(select(RawInbound.id))).all() == []
        assert (await session.scalars(select(KbLearnedPhrasing.id))).all() == []
        article = await session.get(KbArticle, seeded.article_id)
        assert article is not None and article.phrasings == [] and article.version == 3
        for phrasings in (await session.scalars(select(KbArticleVersion.phrasings))).all():
            assert not any(seeded.mark in p for p in phrasings)
    await ctx.db.dispose()
    assert await traces(ctx, seeded.mark) == []
    assert await traces(ctx, seeded.staff)  # staff data and articles are untouched
    if PG_URL:
        assert await traces(ctx, seeded.phone) == ["table opt_outs"]


# export

def _exported(section: Any, table: Table, key: Any, row: dict[str, Any]) -> bool:
    """The section holds the row: one of its unique text values, or a dict with its key and matching ids."""
    dumped = json.dumps(section, ensure_ascii=False, default=str)
    texts = [v for v in row.values() if isinstance(v, str) and len(v) >= 10]
    if any(json.dumps(v, ensure_ascii=False)[1:-1] in dumped for v in texts):
        return True
    pk = [c.name for c in table.primary_key.columns]
    wanted = dict(zip(pk, key if isinstance(key, tuple) else (key,), strict=True))

    def walk(value: Any) -> bool:
        if isinstance(value, dict):
            if all(value.get(k) == v for k, v in wanted.items()) and all(
                    value[k] == row[k] for k in value if k in row and k not in wanted and isinstance(row[k], int)):
                return True
            return any(walk(v) for v in value.values())
        return isinstance(value, list) and any(walk(v) for v in value)
    return walk(section)


async def test_export_holds_every_table(ctx: Context) -> None:
    seeded = await seed(ctx)
    archive = await service.export_contact(ctx.db, ctx.store, seeded.contact_id, actor=SYSTEM, internal=True)
    zipped = zipfile.ZipFile(io.BytesIO(archive))
    document = json.loads(zipped.read("contact.json"))
    assert set(SECTIONS.values()) <= set(document)
    async with ctx.db.read() as session:
        for name, key in seeded.rows.items():
            if name in NOT_EXPORTED:
                continue
            table = Base.metadata.tables[name]
            row = dict((await session.execute(select(table).where(_key_filter(table, key)))).one()._mapping)
            assert _exported(document[SECTIONS[name]], table, key, row), f"{name} is not in the export"
    assert [p["status"] for p in document["learned_phrasings"]] == ["approved"]
    assert document["opt_outs"][0]["address"] == seeded.phone
    assert [e["raw"] for e in document["channel_events"] if e["kind"] == "unparsed"] != [None]
    assert {e["kind"] for e in document["channel_events"]} == {"callback", "unparsed"}
    raw_name = document["raw_inbound"][0]["raw"]
    assert seeded.mark.encode() in zipped.read(raw_name)
    assert any(a["action"] == "call.updated" and seeded.mark in json.dumps(a["changes"]) for a in document["audit"])
    call = next(c for c in document["calls"] if c["recording_url"])
    assert seeded.mark in call["recording_url"] and call["events"][0]["payload"]["From"] == seeded.phone
    plain = json.loads(zipfile.ZipFile(io.BytesIO(await service.export_contact(
        ctx.db, ctx.store, seeded.contact_id, actor=SYSTEM))).read("contact.json"))
    assert all(plain[section] == [] for section in INTERNAL)


# retention

@pytest.mark.parametrize("mode", ["anonymize", "delete"])
async def test_retention_covers_every_ticket_scoped_table(ctx: Context, mode: str) -> None:
    mark, staff = marker(), f"staff{uuid.uuid4().hex[:10]}"
    got = await arrive(ctx, f"keep{uuid.uuid4().hex[:8]}")  # a customer with an old closed ticket
    old = utcnow() - timedelta(days=90)

    def build(session: Session) -> dict[str, Any]:
        rows = Rows(session, {"contacts": got.contact_id}, mark, staff)
        made: dict[str, Any] = {}
        for name in TICKET_SCOPED:
            ticket_id = rows.ticket(got.contact_id, status="closed", closed_at=old, anonymized_at=None)
            message_id = rows.add("messages", ticket_id=ticket_id, contact_id=got.contact_id, key_id=None)
            rows.refs |= {"tickets": ticket_id, "messages": message_id}
            if name == "tickets":
                made[name] = ticket_id
            elif name == "messages":
                made[name] = message_id
            else:
                made[name] = rows.add(name, **({"key_id": None, "file_key": None} if name == "attachments" else {}))
        return made

    made = await ctx.db.run_write(build)
    async with ctx.db.write() as session:  # a delivery report on one of the messages
        channel, provider_id = (await session.execute(select(Message.channel, Message.provider_id).where(
            Message.id == made["messages"]))).one()
        report = await do_record_channel_event(session, NewChannelEvent(
            channel, "status", f"s{mark}", ref=provider_id, value="delivered", payload={"n": mark}))
    policy = PrivacySettings(retention_days=30, retention_mode=mode, retention_batch_size=100)
    run = await service.run_retention(ctx.db, ctx.store, policy)
    assert run.tickets == len(TICKET_SCOPED)
    async with ctx.db.read() as session:
        for name, key in made.items():
            table = Base.metadata.tables[name]
            left = (await session.execute(select(table).where(_key_filter(table, key)))).all()
            decision = ANONYMIZED[name]
            if name == "calls":  # the call log stays (unlinked when the ticket goes), without the recording
                assert len(left) == 1 and left[0].recording_url is None
                assert left[0].ticket_id is None if mode == "delete" else left[0].ticket_id is not None
            elif mode == "delete" or decision == "deleted":
                assert left == [], f"retention ({mode}) left the row of {name}"
            else:
                assert len(left) == 1, name
                for column in decision:
                    assert mark not in str(left[0]._mapping[column]), f"{name}.{column} kept its content"
        assert await session.get(ChannelEvent, report) is None
        contact = await session.get(Contact, got.contact_id)
        assert contact is not None and contact.erased_at is None  # retention never touches the contact


async def test_erasure_forgets_the_ids_of_tombstoned_messages(ctx: Context) -> None:
    """A message of the erased contact on someone else's ticket keeps no provider id (a Telegram or chat id
    names its sender)."""
    mark = marker()
    other = await arrive(ctx, marker())
    mine = await arrive(ctx, mark)
    async with ctx.db.write() as session:
        await session.execute(update(Message).where(Message.id == mine.message_id).values(
            ticket_id=other.ticket_id, provider_id=f"{mark}:1"))
    await service.erase_contact(ctx.db, ctx.store, mine.contact_id, actor=SYSTEM)
    async with ctx.db.read() as session:
        tombstone = await session.get(Message, mine.message_id)
        assert tombstone is not None and tombstone.external_id is None and tombstone.provider_id is None
        assert tombstone.text == "" and tombstone.subject == ""


async def test_erasure_after_notes_mentions_and_an_answered_survey(client: Client, admin: Staff, agent: Staff,
                                                                  supervisor: Staff) -> None:
    """The real path: rows written by the running server (mentions, a survey with the customer's comment,
    SLA rows, offers) do not stop the erasure and leave nothing behind."""
    ctx = client.app[CTX]
    mark = marker()
    got = await arrive(ctx, mark)
    await call(client, agent, "POST", f"/tickets/{got.ticket_id}/notes", {"text": f"@supervisor see {mark}"}, 201)
    await call(client, agent, "PATCH", f"/tickets/{got.ticket_id}", {"status": "solved"})
    survey = None
    for _ in range(200):
        async with ctx.db.read() as session:
            survey = await session.scalar(select(Survey).where(Survey.ticket_id == got.ticket_id))
        if survey is not None:
            break
        await asyncio.sleep(0.05)
    assert survey is not None
    async with ctx.db.write() as session:
        stored = await session.get(Survey, survey.id)
        assert stored is not None
        stored.sent_at = utcnow()
        await do_answer_survey(session, stored, 2, f"too slow {mark}", now=utcnow(), change_days=7)
    mentions = await call(client, supervisor, "GET", "/me/mentions")
    assert mentions
    done = await call(client, admin, "POST", f"/contacts/{got.contact_id}/erase", {"confirm": got.contact_id})
    assert done["tickets"] == 1
    assert await call(client, supervisor, "GET", "/me/mentions") == []
    await ctx.db.dispose()
    assert await traces(ctx, mark) == []


async def test_an_approved_question_outlives_anonymization_until_its_customer_is_erased(ctx: Context) -> None:
    mark = marker()
    got = await arrive(ctx, mark)
    async with ctx.db.write() as session:
        article = await do_create_article(session, title="Passwords", body="Reset it here.", language="en",
                                          status="published", actor=SYSTEM)
        learned = await do_learn_phrasing(session, article.id, f"forgot {mark} password", ticket_id=got.ticket_id,
                                          max_chars=300, actor=SYSTEM)
        assert learned is not None
        await do_review_phrasing(session, learned.id, approve=True, actor=SYSTEM)
        await session.execute(update(Ticket).where(Ticket.id == got.ticket_id).values(
            status="closed", closed_at=utcnow() - timedelta(days=90)))
        article_id = article.id
    policy = PrivacySettings(retention_days=30, retention_mode="anonymize")
    assert (await service.run_retention(ctx.db, ctx.store, policy)).tickets == 1
    async with ctx.db.read() as session:
        kept = await session.get(KbArticle, article_id)
        assert kept is not None and kept.phrasings == [f"forgot {mark} password"]
    done = await service.erase_contact(ctx.db, ctx.store, got.contact_id, actor=SYSTEM)
    assert done.articles == 1
    async with ctx.db.read() as session:
        kept = await session.get(KbArticle, article_id)
        assert kept is not None and kept.phrasings == [] and kept.title == "Passwords"
    await ctx.db.dispose()
    assert await traces(ctx, mark) == []
