"""The data set of bench/queue.py: deterministic contacts, tickets, messages and search documents, and their
bulk load into a freshly migrated SQLite or PostgreSQL database (see bench/queue.py for what is loaded and why).
"""

from __future__ import annotations

import csv
import json
import random
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from contactcenter.db.search import MAX_INDEXED_CHARS, document

ROOT = Path(__file__).resolve().parent.parent
BANKING77 = ROOT.parent / "shared" / "corpora" / "kb" / "banking77" / "train.csv"

AGENT_EMAIL = "agent1@bench.example"
AGENTS = 50
BATCH = 20_000
DAY = 86_400.0

# Written for this benchmark: what Persian-speaking customers write (some with Arabic yeh/kaf, as typed).
PERSIAN = [
    "کارت بانکی من هنوز به دستم نرسیده است، کی ارسال می‌شود؟",
    "مبلغ خرید من دو بار از حسابم کم شده است. لطفاً بررسی کنید.",
    "رمز عبورم را فراموش کرده‌ام و کد تأیید برایم نمی‌آید.",
    "انتقال وجه به حساب دوستم انجام نشد ولی پول از حسابم کسر شد.",
    "کارتم گم شده است، لطفاً آن را مسدود کنید.",
    "چرا کارمزد برداشت نقدی از من گرفته شد؟",
    "می‌خواهم شماره تلفن حسابم را تغییر دهم.",
    "پرداخت من با کارت رد شد، مشکل چیست؟",
    "نرخ تبدیل ارز در برنامه اشتباه نمایش داده می‌شود.",
    "چطور می‌توانم حسابم را شارژ کنم؟",
    "واریز چک من هنوز در موجودی حساب نشان داده نمی‌شود.",
    "یک تراکنش ناشناس در صورتحساب من هست که آن را انجام نداده‌ام.",
    "برنامه موقع ورود بسته می‌شود و نمی‌توانم وارد حسابم شوم.",
    "می‌خواهم حسابم را ببندم، باید چه کار کنم؟",
    "کارت مجازی چطور ساخته می‌شود؟",
    "بازپرداخت خریدی که لغو کردم هنوز انجام نشده است.",
    "دستگاه خودپرداز پول کمتری به من داد.",
    "آیا می‌توانم با این کارت در خارج از کشور خرید کنم؟",
    "هویت من هنوز تأیید نشده است، چقدر طول می‌کشد؟",
    "سقف انتقال روزانه حساب من چقدر است؟",
    "پین کارتم قفل شده است.",
    "لطفاً علت مسدود شدن حسابم را توضیح دهید.",
    "اشتراک ماهانه‌ام دوبار پرداخت شده است.",
    "پول ارسالی از خارج هنوز به حسابم نرسیده است.",
    "كارت من كار نمي كند و پيام خطا مي دهد.",
    "مي خواهم موجودي حسابم را ببينم ولي برنامه باز نمي شود.",
]
REPLIES_EN = [
    "Thanks for reaching out. We have looked into this and it should be resolved now.",
    "Could you send us the date and the amount of the transaction so that we can check it?",
    "We are sorry for the trouble. A colleague from the payments team will follow up shortly.",
    "This has been fixed on our side; please try again and let us know if it still happens.",
    "Please update the app to the latest version and sign in again.",
    "We have escalated this to our specialists and will get back to you within two working days.",
    "Your request has been processed. Is there anything else we can help with?",
    "For your security we need to verify your identity first. Please reply from the address on your account.",
    "The amount has been returned to your balance; it can take up to five working days to show.",
    "We could not reproduce this. Could you tell us which device and which version of the app you use?",
]
REPLIES_FA = [
    "سلام، درخواست شما بررسی شد و نتیجه تا دو روز کاری اعلام می‌شود.",
    "از صبر شما سپاسگزاریم؛ مشکل برطرف شد. لطفاً دوباره امتحان کنید.",
    "برای پیگیری بیشتر لطفاً شماره تراکنش را برای ما بفرستید.",
    "مبلغ به حساب شما برگشت داده شد و تا پنج روز کاری نمایش داده می‌شود.",
]
FIRST = ["Anna", "Ben", "Chloe", "David", "Emma", "Farid", "Grace", "Hassan", "Iris", "Jon", "Kate", "Leila",
         "Maryam", "Nima", "Olga", "Pedro", "Reza", "Sara", "Tom", "Zahra"]
LAST = ["Smith", "Jones", "Ahmadi", "Brown", "Karimi", "Garcia", "Moradi", "Miller", "Hosseini", "Davis",
        "Rezaei", "Wilson", "Novak", "Taylor", "Rostami", "Clark"]

STATUSES = [("new", 3.0), ("open", 4.0), ("pending", 3.0), ("on-hold", 0.5), ("solved", 24.5), ("closed", 65.0)]
QUEUES = [("general", 40), ("billing", 25), ("technical", 25), ("complaints", 10)]
CHANNELS = [("email", 40), ("webform", 20), ("webchat", 15), ("telegram", 10), ("sms", 10), ("voice", 5)]
PRIORITIES = [("low", 15), ("normal", 60), ("high", 20), ("urgent", 5)]
TYPES = [("question", 60), ("incident", 20), ("problem", 10), ("task", 10)]

CONTACT_COLUMNS = ["id", "name", "organization_id", "language", "notes", "merged_into_id", "created_at",
                   "updated_at"]
IDENTITY_COLUMNS = ["id", "contact_id", "kind", "value", "method", "created_at"]
ORGANIZATION_COLUMNS = ["id", "name", "tier", "domains", "notes", "created_at"]
USER_COLUMNS = ["id", "email", "name", "role", "password_hash", "is_active", "languages", "capacity", "presence",
                "presence_changed_at", "last_assigned_at", "password_changed_at", "created_at"]
TICKET_COLUMNS = ["id", "subject", "status", "priority", "type", "channel", "language", "contact_id",
                  "organization_id", "assignee_id", "queue", "requirements", "portal_token_hash", "conversation_key",
                  "follow_up_of_id", "merged_into_id", "created_at", "updated_at", "last_message_at", "solved_at",
                  "closed_at"]
MESSAGE_COLUMNS = ["id", "ticket_id", "direction", "author_kind", "contact_id", "user_id", "channel", "internal",
                   "subject", "text", "html", "external_id", "provider_id", "delivery_status", "delivery_error",
                   "thread_reason", "metadata", "raw", "created_at"]
LOADED_TABLES = ["organizations", "contacts", "contact_identities", "users", "tickets", "messages", "ticket_search"]


def _picker(rng: random.Random, weighted: Sequence[tuple[str, float]]) -> Callable[[], str]:
    values = [v for v, _ in weighted]
    cum: list[float] = []
    total = 0.0
    for _, w in weighted:
        total += w
        cum.append(total)

    def pick() -> str:
        return rng.choices(values, cum_weights=cum)[0]
    return pick


# ---------------------------------------------------------------------------------------------- the data set


@dataclass
class Batch:
    tickets: list[tuple[Any, ...]] = field(default_factory=list)
    messages: list[tuple[Any, ...]] = field(default_factory=list)
    search: list[tuple[int, list[str]]] = field(default_factory=list)  # ticket id, document parts in order


class DataSet:
    """Deterministic rows for every loaded table; times are epoch seconds, converted by the writer."""

    def __init__(self, tickets: int, seed: int, now: float) -> None:
        self.n = tickets
        self.contacts = max(1, tickets // 5)
        self.organizations = max(1, self.contacts // 100)
        self.seed = seed
        self.now = now
        self.start = now - 365 * DAY
        with BANKING77.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        self.texts = [r["text"].strip() for r in rows if r["text"].strip()]
        self.subjects = sorted({r["category"].replace("_", " ").capitalize() for r in rows})
        self._docs: dict[str, str] = {}

    def doc(self, text: str) -> str:
        found = self._docs.get(text)
        if found is None:
            found = self._docs[text] = document(text)
        return found

    def organization_rows(self) -> list[tuple[Any, ...]]:
        return [(i, f"Company {i}", "premium" if i % 10 == 0 else "standard", json.dumps([f"company{i}.example"]),
                 "", self.start) for i in range(1, self.organizations + 1)]

    def contact_rows(self) -> Iterator[tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]]:
        rng = random.Random(self.seed)
        contacts: list[tuple[Any, ...]] = []
        identities: list[tuple[Any, ...]] = []
        for i in range(1, self.contacts + 1):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            org = self.organization_of(i)
            created = self.start - rng.random() * 365 * DAY
            contacts.append((i, f"{first} {last}", org, self.language(i), "", None, created, created))
            domain = f"company{org}.example" if org else rng.choice(["gmail.com", "yahoo.com", "outlook.com"])
            identities.append((i, i, "email", f"{first}.{last}.{i}@{domain}".lower(),
                               "verified" if rng.random() < 0.6 else "claimed", created))
            if len(contacts) == BATCH:
                yield contacts, identities
                contacts, identities = [], []
        if contacts:
            yield contacts, identities

    @staticmethod
    def language(contact_id: int) -> str:
        return "fa" if contact_id % 12 == 0 else "en"

    def organization_of(self, contact_id: int) -> int | None:
        """Three contacts in ten belong to an organization."""
        return contact_id * 7919 % self.organizations + 1 if contact_id % 10 < 3 else None

    def user_rows(self) -> list[tuple[Any, ...]]:
        """Agents 2..AGENTS (agent 1 is made by `contactcenter admin create-user`)."""
        return [(i, f"agent{i}@bench.example", f"Agent {i}", "agent", None, True,
                 json.dumps(["en", "fa"] if i % 5 == 0 else ["en"]), json.dumps({}), "offline", None, None, None,
                 self.start) for i in range(2, AGENTS + 1)]

    def ticket_batches(self) -> Iterator[Batch]:
        rng = random.Random(self.seed + 1)
        status, queue, channel = _picker(rng, STATUSES), _picker(rng, QUEUES), _picker(rng, CHANNELS)
        priority, kind = _picker(rng, PRIORITIES), _picker(rng, TYPES)
        span = self.now - self.start - DAY
        message_id = 0
        batch = Batch()
        for tid in range(1, self.n + 1):
            created = self.start + span * (tid - 1) / self.n + rng.random() * 60
            contact = 1 + int(self.contacts * rng.random() ** 1.4)  # some contacts write much more often
            persian = self.language(contact) == "fa" and rng.random() < 0.9
            lang = "fa" if persian else "en"
            st, q, ch = status(), queue(), channel()
            pr, ty = priority(), kind()
            if q == "complaints":
                ty = "complaint"
                pr = "urgent" if pr == "urgent" else "high"
            assignee = None if st == "new" or (st != "closed" and st != "solved" and rng.random() < 0.15) \
                else rng.randint(1, AGENTS)
            count = 1 if st == "new" else rng.choices((1, 2, 3), cum_weights=(25, 75, 100))[0]
            texts = [rng.choice(PERSIAN) if persian else rng.choice(self.texts)]
            subject_msg = rng.choice(self.subjects) if ch in ("email", "webform") else ""
            subject = subject_msg or texts[0].split("\n", 1)[0][:80]
            times = [created]
            if count >= 2:
                texts.append(rng.choice(REPLIES_FA) if persian else rng.choice(REPLIES_EN))
                times.append(created + rng.uniform(600, 2 * DAY))
            if count == 3:
                texts.append(rng.choice(PERSIAN) if persian else rng.choice(self.texts))
                times.append(times[-1] + rng.uniform(600, 3 * DAY))
            times = [min(t, self.now - 1) for t in times]
            last = times[-1]
            solved = min(last + rng.uniform(600, DAY), self.now - 1) if st in ("solved", "closed") else None
            closed = min(solved + 4 * DAY, self.now - 1) if solved is not None and st == "closed" else None
            org = self.organization_of(contact)
            requirements = json.dumps({"skills": {q: 1}, "language": lang, "channel": ch, "priority": pr,
                                       "type": ty})
            token = rng.getrandbits(256).to_bytes(32, "big").hex()
            conversation = f"{ch}:{contact}:{tid}" if ch in ("webchat", "telegram", "sms") else None
            updated = max(last, closed or solved or last)
            batch.tickets.append((tid, subject, st, pr, ty, ch, lang, contact, org, assignee, q,
                                  requirements, token, conversation, None, None, created, updated, last, solved,
                                  closed))
            parts = []
            for k, (text, at) in enumerate(zip(texts, times, strict=True)):
                message_id += 1
                inbound = k != 1
                if inbound:
                    external = f"<{tid}.{k}.{message_id}@mail.bench.example>" if ch == "email" \
                        else f"{ch}-{tid}-{k}"
                    reason = "new ticket" if k == 0 else f"references: ticket #{tid}"
                    batch.messages.append((message_id, tid, "in", "contact", contact, None, ch, False,
                                           subject_msg, text, None, external, None, "received", None, reason,
                                           "{}", None, at))
                else:
                    batch.messages.append((message_id, tid, "out", "agent", None, assignee or 1, ch, False,
                                           subject, text, None, None, f"{ch}:{message_id}", "delivered", None,
                                           "agent", "{}", None, at))
                parts.append(self.doc(f"{subject_msg} {text}") if k == 0 else self.doc(text))
            batch.search.append((tid, parts))
            if len(batch.tickets) == BATCH:
                yield batch
                batch = Batch()
        if batch.tickets:
            yield batch


def sqlite_body(parts: list[str]) -> str:
    """The FTS5 body as intake + later messages leave it: first document, then `substr(body || ' ' || doc)`."""
    body = parts[0] or " "
    for part in parts[1:]:
        if part:
            body = (body + " " + part)[:MAX_INDEXED_CHARS]
    return body


# ---------------------------------------------------------------------------------------------- loading


def _sqlite_time(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    dt = datetime.fromtimestamp(epoch, UTC)
    return f"{dt:%Y-%m-%d %H:%M:%S}.{dt.microsecond:06d}"


def _converted(rows: list[tuple[Any, ...]], columns: list[str], convert: Callable[[Any], Any],
               bools: tuple[str, ...] = ()) -> list[tuple[Any, ...]]:
    """Rows with their time columns (``*_at``) passed through ``convert`` and booleans as 0/1 where asked."""
    times = [i for i, c in enumerate(columns) if c.endswith("_at")]
    flags = [i for i, c in enumerate(columns) if c in bools]
    out = []
    for row in rows:
        values = list(row)
        for i in times:
            values[i] = convert(values[i])
        for i in flags:
            values[i] = int(values[i])
        out.append(tuple(values))
    return out


def load_sqlite(path: Path, data: DataSet, say: Callable[[str], None]) -> dict[str, int]:
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=OFF", "cache_size=-1000000", "temp_store=MEMORY",
                   "foreign_keys=OFF"):
        conn.execute(f"PRAGMA {pragma}")
    indexes = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN "
        "('contacts', 'contact_identities', 'tickets', 'messages')").fetchall()
    for name, _ in indexes:
        conn.execute(f'DROP INDEX "{name}"')

    def insert(table: str, columns: list[str], rows: list[tuple[Any, ...]], bools: tuple[str, ...] = ()) -> None:
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"  # noqa: S608
        conn.executemany(sql, _converted(rows, columns, _sqlite_time, bools))

    counts = {"contacts": 0, "tickets": 0, "messages": 0}
    conn.execute("BEGIN")
    insert("organizations", ORGANIZATION_COLUMNS, data.organization_rows())
    insert("users", USER_COLUMNS, data.user_rows(), ("is_active",))
    for contacts, identities in data.contact_rows():
        insert("contacts", CONTACT_COLUMNS, contacts)
        insert("contact_identities", IDENTITY_COLUMNS, identities)
        counts["contacts"] += len(contacts)
    conn.execute("COMMIT")
    for batch in data.ticket_batches():
        conn.execute("BEGIN")
        insert("tickets", TICKET_COLUMNS, batch.tickets)
        insert("messages", MESSAGE_COLUMNS, batch.messages, ("internal",))
        conn.executemany("INSERT INTO ticket_search (rowid, body) VALUES (?, ?)",
                         [(tid, sqlite_body(parts)) for tid, parts in batch.search])
        conn.execute("COMMIT")
        counts["tickets"] += len(batch.tickets)
        counts["messages"] += len(batch.messages)
        if counts["tickets"] % 200_000 == 0:
            say(f"  {counts['tickets']:,} tickets")
    say("  creating indexes")
    for _, sql in indexes:
        conn.execute(sql)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return counts


async def load_postgres(url: str, data: DataSet, say: Callable[[str], None]) -> dict[str, int]:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute("SET session_replication_role = replica")  # no FK triggers during the load
        await conn.execute("SET maintenance_work_mem = '512MB'")
        indexes = await conn.fetch(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = 'public' AND i.tablename = "
            "ANY($1::text[]) AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)",
            ["contacts", "contact_identities", "tickets", "messages", "ticket_search"])
        for row in indexes:
            await conn.execute(f'DROP INDEX "{row["indexname"]}"')

        def now_dt(epoch: float | None) -> datetime | None:
            return None if epoch is None else datetime.fromtimestamp(epoch, UTC)

        async def copy(table: str, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
            await conn.copy_records_to_table(table, records=_converted(rows, columns, now_dt), columns=columns)

        counts = {"contacts": 0, "tickets": 0, "messages": 0}
        await copy("organizations", ORGANIZATION_COLUMNS, data.organization_rows())
        await copy("users", USER_COLUMNS, data.user_rows())
        for contacts, identities in data.contact_rows():
            await copy("contacts", CONTACT_COLUMNS, contacts)
            await copy("contact_identities", IDENTITY_COLUMNS, identities)
            counts["contacts"] += len(contacts)
        await conn.execute("CREATE TEMP TABLE search_parts (ticket_id integer, b1 text, b2 text, b3 text)")
        for batch in data.ticket_batches():
            async with conn.transaction():
                await copy("tickets", TICKET_COLUMNS, batch.tickets)
                await copy("messages", MESSAGE_COLUMNS, batch.messages)
                await conn.copy_records_to_table(
                    "search_parts", columns=["ticket_id", "b1", "b2", "b3"],
                    records=[(tid, parts[0] or " ", *(p or None for p in parts[1:]), *[None] * (3 - len(parts)))
                             for tid, parts in batch.search])
                # As the app does it: to_tsvector of the first document, then `document || to_tsvector(...)`.
                await conn.execute(
                    "INSERT INTO ticket_search (ticket_id, document) SELECT ticket_id, to_tsvector('simple', b1)"
                    " || coalesce(to_tsvector('simple', b2), '') || coalesce(to_tsvector('simple', b3), '') "
                    "FROM search_parts; TRUNCATE search_parts")
            counts["tickets"] += len(batch.tickets)
            counts["messages"] += len(batch.messages)
            if counts["tickets"] % 200_000 == 0:
                say(f"  {counts['tickets']:,} tickets")
        say("  creating indexes")
        for row in indexes:
            await conn.execute(row["indexdef"])
        for table in LOADED_TABLES[:-1]:
            await conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608 (our names)
                               f"(SELECT max(id) FROM {table}))")
        say("  VACUUM ANALYZE")
        await conn.execute("RESET session_replication_role")
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()
    return counts
