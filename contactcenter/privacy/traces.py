"""A contact's data in tables that do not point at the contact: kept payloads, channel events, approved
phrasings in KB articles. Erasure and export find them here (synchronous, in the caller's transaction)."""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from contactcenter.db.models import (
    AuditEvent,
    ChannelEvent,
    ContactIdentity,
    KbArticle,
    KbArticleVersion,
    KbLearnedPhrasing,
    RawInbound,
)
from contactcenter.db.types import utcnow
from contactcenter.domain.enums import IdentityKind
from contactcenter.privacy.purge import SCRUBBED, channel_events_about, chunks
from kb.normalize import search_key

SCAN_BATCH = 200  # kept payloads read per query while scanning


@dataclass
class Addresses:
    """The contact's identities by kind, and the byte patterns that find them in a raw payload."""

    emails: set[str] = field(default_factory=set)
    phones: set[str] = field(default_factory=set)
    telegram: set[str] = field(default_factory=set)
    chat: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, session: Session, contact_ids: Collection[int]) -> Addresses:
        found = cls()
        for part in chunks(list(contact_ids)):
            for kind, value in session.execute(select(ContactIdentity.kind, ContactIdentity.value).where(
                    ContactIdentity.contact_id.in_(part))).all():
                {IdentityKind.EMAIL.value: found.emails, IdentityKind.PHONE.value: found.phones,
                 IdentityKind.TELEGRAM.value: found.telegram}.get(kind, found.chat).add(value)
        return found

    @property
    def all(self) -> set[str]:
        return self.emails | self.phones | self.telegram | self.chat

    @property
    def distinctive(self) -> set[str]:
        """Values that cannot be mistaken for something else inside a text: addresses and numbers with '+'
        (a Telegram id is a bare number, a chat visitor id is random: both are matched by field instead)."""
        return self.emails | self.phones

    def patterns(self) -> list[re.Pattern[bytes]]:
        """How the identities look inside raw payloads: e-mail as is, phones also form-encoded (%2B...),
        Telegram ids as a JSON ``"id": N`` field, chat visitor ids as is (long random strings)."""
        found = [re.compile(re.escape(e.encode()), re.IGNORECASE) for e in self.emails]
        for phone in self.phones:
            found += [re.compile(re.escape(phone.encode())), re.compile(re.escape(b"%2B" + phone[1:].encode()))]
        found += [re.compile(rb'"id"\s*:\s*' + re.escape(t.encode()) + rb"\b") for t in self.telegram]
        found += [re.compile(re.escape(c.encode())) for c in self.chat if len(c) >= 8]
        return found


def _mentions(data: bytes | None, patterns: list[re.Pattern[bytes]]) -> bool:
    return bool(data) and any(p.search(data or b"") for p in patterns)


def _scan(session: Session, columns: Any, model: Any, where: Any) -> Iterator[Any]:
    """Rows of a table with large payloads, a batch at a time (keyset on id)."""
    last = 0
    while True:
        rows = session.execute(select(model.id, *columns).where(where, model.id > last)
                               .order_by(model.id).limit(SCAN_BATCH)).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].id


def channel_event_ids(session: Session, provider_ids: dict[str, set[str]], who: Addresses) -> list[int]:
    """Channel events about the contact: reports on their messages (``ref``: a provider id, by channel), their
    Telegram button presses (``payload.from`` or a ref in their chat) and kept payloads that name one of their
    identities."""
    ids = set(channel_events_about(session, provider_ids))
    for telegram_id in sorted(who.telegram):
        ids.update(session.scalars(select(ChannelEvent.id).where(
            ChannelEvent.channel == "telegram", ChannelEvent.ref.like(f"{telegram_id}:%"))).all())
    patterns = who.patterns()
    if not patterns:
        return sorted(ids)
    telegram = {int(t) for t in who.telegram if t.isdigit()}
    for row in _scan(session, (ChannelEvent.raw, ChannelEvent.payload), ChannelEvent,
                     or_(ChannelEvent.raw.is_not(None), ChannelEvent.kind != "status")):
        payload = row.payload or {}
        if payload.get("from") in telegram or payload.get("chat_id") in telegram or _mentions(row.raw, patterns) \
                or _mentions(json.dumps(payload).encode(), patterns):
            ids.add(row.id)
    return sorted(ids)


def raw_inbound_ids(session: Session, who: Addresses) -> list[int]:
    """Kept inbound payloads from or about the contact: the envelope sender is one of their addresses, or the
    bytes name one of their identities (a bounce of a reply to them quotes their address and our text)."""
    if not who.all:
        return []
    wanted = {a.lower() for a in who.emails}
    patterns = who.patterns()
    return [row.id for row in _scan(session, (RawInbound.envelope, RawInbound.raw), RawInbound, RawInbound.id > 0)
            if str((row.envelope or {}).get("mail_from") or "").lower() in wanted or _mentions(row.raw, patterns)]


def approved_phrasings(session: Session, ticket_ids: Collection[int]) -> list[tuple[int, str]]:
    """(article id, text) of the customer questions from these tickets that an admin approved into articles."""
    found: list[tuple[int, str]] = []
    for part in chunks(sorted(ticket_ids)):
        found += [(a, t) for a, t in session.execute(select(KbLearnedPhrasing.article_id, KbLearnedPhrasing.text)
                  .where(KbLearnedPhrasing.ticket_id.in_(part), KbLearnedPhrasing.status == "approved")).all()]
    return found


def _contains(value: Any, keys: set[str]) -> bool:
    if isinstance(value, str):
        return search_key(value) in keys
    if isinstance(value, list):
        return any(_contains(v, keys) for v in value)
    if isinstance(value, dict):
        return any(_contains(v, keys) for v in value.values())
    return False


def remove_phrasings(session: Session, phrasings: list[tuple[int, str]]) -> int:
    """Take approved customer questions out of their articles, out of every stored version of the articles and
    out of the audit rows that recorded the change; the article gets a new version (so every process's KB
    index is rebuilt). Returns how many articles changed. Needs ``audit_unlocked``."""
    by_article: dict[int, set[str]] = {}
    for article_id, phrase in phrasings:
        if key := search_key(phrase):
            by_article.setdefault(article_id, set()).add(key)
    changed = 0
    for article_id, keys in sorted(by_article.items()):
        article = session.get(KbArticle, article_id, with_for_update=True)
        if article is None:
            continue
        for version in session.scalars(select(KbArticleVersion).where(KbArticleVersion.article_id == article_id)):
            if _contains(version.phrasings, keys):
                version.phrasings = [p for p in version.phrasings if not _contains(p, keys)]
        for event in session.scalars(select(AuditEvent).where(AuditEvent.object_type == "kb_article",
                                                              AuditEvent.object_id == article_id)):
            if _contains(event.changes, keys):
                session.execute(update(AuditEvent).where(AuditEvent.id == event.id).values(changes=SCRUBBED)
                                .execution_options(synchronize_session=False))
        kept = [p for p in article.phrasings if not _contains(p, keys)]
        if kept != list(article.phrasings):
            article.phrasings, article.version, article.updated_at = kept, article.version + 1, utcnow()
            session.add(KbArticleVersion(article_id=article.id, version=article.version, title=article.title,
                                         body=article.body, language=article.language, category=article.category,
                                         tags=list(article.tags), status=article.status, phrasings=kept,
                                         related=list(article.related), actor_id=None, created_at=utcnow()))
            changed += 1
    session.flush()
    return changed
