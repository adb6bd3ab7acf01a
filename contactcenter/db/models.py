"""The data model: SQLAlchemy 2 typed mappings. Business rules live in actions/, not here."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, deferred, mapped_column

from contactcenter.db.sealed import SealedBinary, SealedText
from contactcenter.db.types import JSONType, UTCDateTime, utcnow

# A ticket waits for an agent while it is active, unassigned and not merged away.
WAITING_SQL = "assignee_id IS NULL AND status IN ('new', 'open') AND merged_into_id IS NULL"

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime:  # noqa: RUF012 (SQLAlchemy reads this class attribute)
                            UTCDateTime(), dict[str, Any]: JSONType, list[Any]: JSONType}


def _id() -> Mapped[int]:
    return mapped_column(Integer, primary_key=True)


def _created() -> Mapped[datetime]:
    return mapped_column(default=utcnow)


class Organization(Base):
    __tablename__ = "organizations"
    id: Mapped[int] = _id()
    name: Mapped[str] = mapped_column(String(200), unique=True)
    tier: Mapped[str] = mapped_column(String(40), default="standard")
    domains: Mapped[list[Any]] = mapped_column(default=list)
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = _created()


class Contact(Base):
    __tablename__ = "contacts"
    id: Mapped[int] = _id()
    name: Mapped[str] = mapped_column(String(200), default="")
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"), index=True)
    language: Mapped[str | None] = mapped_column(String(8))
    notes: Mapped[str] = mapped_column(Text, default="")
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    erased_at: Mapped[datetime | None] = mapped_column()  # a tombstone: the contact's data was erased


class ContactKey(Base):
    """A contact's data key (AES-256-GCM), wrapped by a master key. Deleting the row erases by cryptography
    everything encrypted with it, backups included (see docs/privacy.md)."""

    __tablename__ = "contact_keys"
    id: Mapped[int] = _id()
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), unique=True)
    wrapped: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = _created()


class ContactIdentity(Base):
    __tablename__ = "contact_identities"
    __table_args__ = (UniqueConstraint("kind", "value"),)
    id: Mapped[int] = _id()
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    value: Mapped[str] = mapped_column(String(320))
    method: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = _created()


class ContactMerge(Base):
    """A recorded merge of one contact into another; ``undone_at`` is set when it is undone."""

    __tablename__ = "contact_merges"
    id: Mapped[int] = _id()
    source_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"))
    target_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"))
    identity_ids: Mapped[list[Any]] = mapped_column()
    ticket_ids: Mapped[list[Any]] = mapped_column()
    organization_copied: Mapped[bool] = mapped_column(Boolean, default=False)  # target took the source's org
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = _created()
    undone_at: Mapped[datetime | None] = mapped_column()


class Product(Base):
    __tablename__ = "products"
    id: Mapped[int] = _id()
    name: Mapped[str] = mapped_column(String(200), unique=True)
    code: Mapped[str | None] = mapped_column(String(60), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")


class SlaPolicy(Base):
    __tablename__ = "sla_policies"
    id: Mapped[int] = _id()
    name: Mapped[str] = mapped_column(String(120), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    conditions: Mapped[dict[str, Any]] = mapped_column(default=dict)
    targets: Mapped[dict[str, Any]] = mapped_column(default=dict)
    calendar: Mapped[dict[str, Any]] = mapped_column(default=dict)
    position: Mapped[int] = mapped_column(default=0)
    escalation: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")


class ServiceContract(Base):
    __tablename__ = "service_contracts"
    id: Mapped[int] = _id()
    name: Mapped[str] = mapped_column(String(200))
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"))
    sla_policy_id: Mapped[int | None] = mapped_column(ForeignKey("sla_policies.id"))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date | None] = mapped_column(Date)
    support_hours: Mapped[str] = mapped_column(String(200), default="")
    channels: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = _created()


class User(Base):
    """A staff member: agent, supervisor or admin."""

    __tablename__ = "users"
    id: Mapped[int] = _id()
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    languages: Mapped[list[Any]] = mapped_column(default=list)
    capacity: Mapped[dict[str, Any]] = mapped_column(default=dict)
    presence: Mapped[str] = mapped_column(String(20), default="offline")
    presence_changed_at: Mapped[datetime | None] = mapped_column()
    last_assigned_at: Mapped[datetime | None] = mapped_column()
    last_offered_at: Mapped[datetime | None] = mapped_column()
    wrap_up_until: Mapped[datetime | None] = mapped_column(index=True)
    missed_offers: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    password_changed_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = _created()


class Skill(Base):
    __tablename__ = "skills"
    id: Mapped[int] = _id()
    name: Mapped[str] = mapped_column(String(80), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")


class AgentSkill(Base):
    __tablename__ = "agent_skills"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    skill_id: Mapped[int] = mapped_column(ForeignKey("skills.id", ondelete="CASCADE"), primary_key=True)
    level: Mapped[int] = mapped_column(Integer)


class ApiToken(Base):
    __tablename__ = "api_tokens"
    id: Mapped[int] = _id()
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = _created()
    last_used_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()
    expires_at: Mapped[datetime | None] = mapped_column()  # None: until revoked


class Invite(Base):
    """An invitation to set a password once. Only the sha256 of the link's token is stored."""

    __tablename__ = "invites"
    id: Mapped[int] = _id()
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_by: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = _created()
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column()


class Session(Base):
    """A browser login. Only the hash of the cookie value is stored."""

    __tablename__ = "sessions"
    id: Mapped[int] = _id()
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = _created()
    expires_at: Mapped[datetime] = mapped_column()


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_status_queue_id", "status", "queue", "id"),
        Index("ix_tickets_assignee_status_id", "assignee_id", "status", "id"),
        Index("ix_tickets_status_id", "status", "id"),
        Index("ix_tickets_contact_id_id", "contact_id", "id"),
        Index("ix_tickets_conversation", "contact_id", "channel", "conversation_key"),
        # The router's view of who waits for an agent (see routing/store.py WAITING).
        Index("ix_tickets_waiting", "routing_queue", "priority", "waiting_since",
              sqlite_where=text(WAITING_SQL), postgresql_where=text(WAITING_SQL)),
        # ... and the same tickets by their SLA breach, so that the most urgent by SLA are read too.
        Index("ix_tickets_waiting_sla", "routing_queue", "priority", "sla_due_at",
              sqlite_where=text(f"{WAITING_SQL} AND sla_due_at IS NOT NULL"),
              postgresql_where=text(f"{WAITING_SQL} AND sla_due_at IS NOT NULL")),
        Index("ix_tickets_next_ring_at", "next_ring_at",
              sqlite_where=text("next_ring_at IS NOT NULL"), postgresql_where=text("next_ring_at IS NOT NULL")),
        Index("ix_tickets_created_at", "created_at"),  # reports read a date range
    )
    id: Mapped[int] = _id()
    subject: Mapped[str] = mapped_column(String(500), default="")
    status: Mapped[str] = mapped_column(String(20))
    priority: Mapped[str] = mapped_column(String(20))
    type: Mapped[str] = mapped_column(String(20))
    channel: Mapped[str] = mapped_column(String(20))
    language: Mapped[str] = mapped_column(String(8))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"))
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    queue: Mapped[str | None] = mapped_column(String(80))
    requirements: Mapped[dict[str, Any]] = mapped_column(default=dict)
    portal_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    conversation_key: Mapped[str | None] = mapped_column(String(200))
    follow_up_of_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_message_at: Mapped[datetime] = mapped_column(default=utcnow)
    solved_at: Mapped[datetime | None] = mapped_column()
    closed_at: Mapped[datetime | None] = mapped_column()
    anonymized_at: Mapped[datetime | None] = mapped_column()  # retention removed its content
    # routing: since when it waits for an agent, the overflow ring it is in, when the next applies,
    # and the queue it waits in after relaxation (None: any agent)
    waiting_since: Mapped[datetime | None] = mapped_column()
    ring: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_ring_at: Mapped[datetime | None] = mapped_column()
    routing_queue: Mapped[str | None] = mapped_column(String(80))
    sla_due_at: Mapped[datetime | None] = mapped_column()  # the earliest breach of its running SLA clocks


class Offer(Base):
    """A ticket offered to one agent by the router (or assigned at once), and why."""

    __tablename__ = "offers"
    __table_args__ = (
        # Never one ticket offered to two agents at a time, whatever the number of routers.
        Index("uq_offers_pending_ticket", "ticket_id", unique=True,
              sqlite_where=text("status = 'pending'"), postgresql_where=text("status = 'pending'")),
        Index("ix_offers_status_expires_at", "status", "expires_at"),
        Index("ix_offers_user_id_status", "user_id", "status"),
        Index("ix_offers_ticket_id_id", "ticket_id", "id"),
    )
    id: Mapped[int] = _id()
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(12))  # OfferStatus
    ring: Mapped[int] = mapped_column(Integer, default=0)
    reason: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = _created()
    expires_at: Mapped[datetime | None] = mapped_column()
    decided_at: Mapped[datetime | None] = mapped_column()


class TicketTag(Base):
    __tablename__ = "ticket_tags"
    __table_args__ = (Index("ix_ticket_tags_tag", "tag", "ticket_id"),)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(80), primary_key=True)


class Message(Base):
    """One message on a ticket: inbound, outbound reply or internal note."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("channel", "external_id", name="uq_messages_channel_external_id"),
        Index("ix_messages_ticket_id_id", "ticket_id", "id"),
        Index("ix_messages_provider_id", "provider_id"),
        Index("ix_messages_channel_provider_id", "channel", "provider_id"),  # delivery reports find their message
    )
    id: Mapped[int] = _id()
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    direction: Mapped[str] = mapped_column(String(3))
    author_kind: Mapped[str] = mapped_column(String(10))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    channel: Mapped[str] = mapped_column(String(20))
    internal: Mapped[bool] = mapped_column(Boolean, default=False)
    subject: Mapped[str] = mapped_column(String(500), default="")
    text: Mapped[str] = mapped_column(SealedText, default="")
    html: Mapped[str | None] = mapped_column(SealedText)
    key_id: Mapped[int | None] = mapped_column(Integer)  # the contact_keys row text, html and raw are sealed with
    external_id: Mapped[str | None] = mapped_column(String(255))
    provider_id: Mapped[str | None] = mapped_column(String(255))
    delivery_status: Mapped[str] = mapped_column(String(20))
    delivery_error: Mapped[str | None] = mapped_column(Text)
    thread_reason: Mapped[str] = mapped_column(String(200), default="")
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    raw: Mapped[bytes | None] = deferred(mapped_column(SealedBinary))
    created_at: Mapped[datetime] = _created()


class Attachment(Base):
    """File metadata; the bytes live in the data folder under ``sha256``: the digest of the stored file
    (encrypted with its own ``file_key``, which is sealed with the contact's data key ``key_id``)."""

    __tablename__ = "attachments"
    id: Mapped[int] = _id()
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(120))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[int | None] = mapped_column(Integer)
    file_key: Mapped[str | None] = mapped_column(SealedText)  # base64; None: a file stored in the clear
    created_at: Mapped[datetime] = _created()


class RawInbound(Base):
    """An inbound payload that did not become a message: unparsable, refused, or a delivery report.

    Kept byte for byte so that an admin can read it and replay it after a fix; ``digest`` (sha256 of
    the bytes) makes a redelivery of the same payload a no-op.
    """

    __tablename__ = "raw_inbound"
    __table_args__ = (UniqueConstraint("channel", "digest", name="uq_raw_inbound_channel_digest"),
                      Index("ix_raw_inbound_status_id", "status", "id"))
    id: Mapped[int] = _id()
    channel: Mapped[str] = mapped_column(String(20))
    digest: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20))  # unparsable, rejected, bounce, replayed
    reason: Mapped[str] = mapped_column(Text, default="")
    envelope: Mapped[dict[str, Any]] = mapped_column(default=dict)
    raw: Mapped[bytes] = deferred(mapped_column(LargeBinary, nullable=False))
    created_at: Mapped[datetime] = _created()
    replayed_at: Mapped[datetime | None] = mapped_column()


class AuditEvent(Base):
    """Who changed what, when. Written by every action; append-only (see AuditUnlock)."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_ticket_id_id", "ticket_id", "id"),)
    id: Mapped[int] = _id()
    created_at: Mapped[datetime] = _created()
    actor_kind: Mapped[str] = mapped_column(String(10))
    actor_id: Mapped[int | None] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(60))
    object_type: Mapped[str] = mapped_column(String(30))
    object_id: Mapped[int] = mapped_column(Integer)
    ticket_id: Mapped[int | None] = mapped_column(Integer)
    changes: Mapped[dict[str, Any]] = mapped_column(default=dict)


class AuditUnlock(Base):
    """While a transaction holds a row here, database triggers let it scrub or delete audit rows.

    Only erasure and retention insert one, and delete it again before they commit, so no other
    transaction ever sees it (docs/privacy.md, "Audit log").
    """

    __tablename__ = "audit_unlocks"
    id: Mapped[int] = _id()
    reason: Mapped[str] = mapped_column(String(60))
    created_at: Mapped[datetime] = _created()


class OutboxEvent(Base):
    """An event written in the same transaction as the change; relayed to subscribers after commit."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_available_at", "status", "available_at"),  # retries, housekeeping
                      Index("ix_outbox_status_id", "status", "id"))  # the relay's claim, oldest first
    id: Mapped[int] = _id()
    topic: Mapped[str] = mapped_column(String(60))
    payload: Mapped[dict[str, Any]] = mapped_column()
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    available_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_until: Mapped[datetime | None] = mapped_column()
    pending_subscribers: Mapped[list[Any] | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created()
    done_at: Mapped[datetime | None] = mapped_column()


class ChannelEvent(Base):
    """Something a channel reported that is not a customer message: a delivery report, a button press, a
    payload we could not translate (kept for a replay). UNIQUE(channel, kind, key) makes a redelivery a no-op."""

    __tablename__ = "channel_events"
    __table_args__ = (
        UniqueConstraint("channel", "kind", "key", name="uq_channel_events_channel_kind_key"),
        Index("ix_channel_events_channel_ref", "channel", "ref"),
    )
    id: Mapped[int] = _id()
    channel: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(20))  # status, callback, unparsed, unknown
    key: Mapped[str] = mapped_column(String(255))  # the dedupe key within (channel, kind)
    ref: Mapped[str | None] = mapped_column(String(255))  # the provider message it is about
    value: Mapped[str] = mapped_column(String(255), default="")  # the status, the button's data, ...
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    raw: Mapped[bytes | None] = deferred(mapped_column(LargeBinary))
    created_at: Mapped[datetime] = _created()


class OptOut(Base):
    """An address that asked us to stop messaging it on a channel (SMS STOP). Nothing is sent to it."""

    __tablename__ = "opt_outs"
    __table_args__ = (UniqueConstraint("channel", "address", name="uq_opt_outs_channel_address"),)
    id: Mapped[int] = _id()
    channel: Mapped[str] = mapped_column(String(20))
    address: Mapped[str] = mapped_column(String(320))
    keyword: Mapped[str] = mapped_column(String(60), default="")
    created_at: Mapped[datetime] = _created()


class KbArticle(Base):
    """A knowledge-base article. ``body`` is Markdown; ``phrasings`` are reviewed alternative questions."""

    __tablename__ = "kb_articles"
    id: Mapped[int] = _id()
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(8))
    category: Mapped[str] = mapped_column(String(120), default="")
    tags: Mapped[list[Any]] = mapped_column(default=list)
    status: Mapped[str] = mapped_column(String(20), default="draft")  # draft | internal | published
    phrasings: Mapped[list[Any]] = mapped_column(default=list)
    related: Mapped[list[Any]] = mapped_column(default=list)  # ids of related articles
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class KbArticleVersion(Base):
    """The content of an article as it was after each change (version 1 is the first)."""

    __tablename__ = "kb_article_versions"
    __table_args__ = (UniqueConstraint("article_id", "version"),)
    id: Mapped[int] = _id()
    article_id: Mapped[int] = mapped_column(ForeignKey("kb_articles.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(8))
    category: Mapped[str] = mapped_column(String(120))
    tags: Mapped[list[Any]] = mapped_column()
    status: Mapped[str] = mapped_column(String(20))
    phrasings: Mapped[list[Any]] = mapped_column()
    related: Mapped[list[Any]] = mapped_column()
    actor_id: Mapped[int | None] = mapped_column(Integer)  # the staff user, None for the system
    created_at: Mapped[datetime] = _created()


class KbLearnedPhrasing(Base):
    """A customer's question an agent answered with an article, awaiting an admin's review.

    ``key`` is the question's search key: the unique (article_id, key) pair deduplicates.
    """

    __tablename__ = "kb_learned_phrasings"
    __table_args__ = (UniqueConstraint("article_id", "key"),)
    id: Mapped[int] = _id()
    article_id: Mapped[int] = mapped_column(ForeignKey("kb_articles.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(Text)
    key: Mapped[str] = mapped_column(String(400))
    ticket_id: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending | approved | rejected
    created_at: Mapped[datetime] = _created()


class KbDeflection(Base):
    """A customer's answer to "did this help?" after self-service offered an article."""

    __tablename__ = "kb_deflections"
    __table_args__ = (Index("ix_kb_deflections_created_at", "created_at"),)
    id: Mapped[int] = _id()
    article_id: Mapped[int | None] = mapped_column(ForeignKey("kb_articles.id", ondelete="SET NULL"))
    channel: Mapped[str] = mapped_column(String(20))
    helpful: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = _created()


class KbAutoAnswer(Base):
    """A new ticket answered automatically with an article, and what came of it (kb/autoanswer.py).

    ``UNIQUE(ticket_id)``: a ticket is answered once. While ``outcome`` is null and ``hold_until`` is set,
    the ticket waits on the customer (status pending) instead of being routed; the KB hold sweeper routes it
    when ``hold_until`` passes (``timed-out``). ``helpful`` / ``not-helpful``: the customer's answer.
    """

    __tablename__ = "kb_auto_answers"
    __table_args__ = (
        Index("ix_kb_auto_answers_hold_until", "hold_until",
              sqlite_where=text("outcome IS NULL AND hold_until IS NOT NULL"),
              postgresql_where=text("outcome IS NULL AND hold_until IS NOT NULL")),
    )
    id: Mapped[int] = _id()
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), unique=True)
    article_id: Mapped[int | None] = mapped_column(ForeignKey("kb_articles.id", ondelete="SET NULL"))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    channel: Mapped[str] = mapped_column(String(20))
    score: Mapped[float] = mapped_column(Float)
    hold_until: Mapped[datetime | None] = mapped_column()
    outcome: Mapped[str | None] = mapped_column(String(12))
    decided_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = _created()


class Call(Base):
    """One phone call, inbound or an agent's call-back: the call log shown on the contact's timeline."""

    __tablename__ = "calls"
    __table_args__ = (Index("ix_calls_contact_id_id", "contact_id", "id"),)
    id: Mapped[int] = _id()
    call_sid: Mapped[str] = mapped_column(String(64), unique=True)
    direction: Mapped[str] = mapped_column(String(10))  # inbound | outbound
    from_number: Mapped[str] = mapped_column(String(64), default="")
    to_number: Mapped[str] = mapped_column(String(64), default="")
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # the agent of a call-back
    topic: Mapped[str | None] = mapped_column(String(80))
    stage: Mapped[str] = mapped_column(String(20), default="new")  # new, menu, queue, voicemail, connect
    status: Mapped[str] = mapped_column(String(20), default="")  # Twilio CallStatus
    outcome: Mapped[str | None] = mapped_column(String(20))  # answered, voicemail, missed, abandoned, failed
    duration: Mapped[int | None] = mapped_column(Integer)  # seconds
    last_sequence: Mapped[int] = mapped_column(Integer, default=-1)
    recording_url: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column()


class CallEvent(Base):
    """A status callback as received; UNIQUE(call_sid, sequence) makes a redelivery a no-op."""

    __tablename__ = "call_events"
    __table_args__ = (UniqueConstraint("call_sid", "sequence", name="uq_call_events_call_sid_sequence"),)
    id: Mapped[int] = _id()
    call_sid: Mapped[str] = mapped_column(String(64))
    sequence: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20))
    duration: Mapped[int | None] = mapped_column(Integer)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = _created()


class SlaTimer(Base):
    """One moment of one SLA clock at which something fires (a warning or the breach), at most once.

    ``state`` goes pending -> fired (by exactly one sweeper, with a conditional UPDATE) or pending <-> cancelled
    (the clock paused, stopped or was met before the moment). The sweeper reads ``(state, due_at)`` through the index.
    """

    __tablename__ = "sla_timers"
    __table_args__ = (
        UniqueConstraint("ticket_id", "metric", "cycle", "point", name="uq_sla_timers_ticket_point"),
        Index("ix_sla_timers_state_due_at", "state", "due_at"),
    )
    id: Mapped[int] = _id()
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    metric: Mapped[str] = mapped_column(String(20))
    cycle: Mapped[int] = mapped_column(Integer, default=0)
    point: Mapped[str] = mapped_column(String(20))  # "warn-75%", "warn-15m", "breach"
    due_at: Mapped[datetime] = mapped_column()
    state: Mapped[str] = mapped_column(String(10))  # pending, fired, cancelled
    policy_id: Mapped[int | None] = mapped_column(Integer)
    fired_at: Mapped[datetime | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class SlaTicket(Base):
    """A ticket's SLA as last computed: its policy, flags, and the figures reports need."""

    __tablename__ = "sla_tickets"
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), primary_key=True)
    policy_id: Mapped[int | None] = mapped_column(Integer)
    policy_name: Mapped[str] = mapped_column(String(120), default="")
    contract: Mapped[str | None] = mapped_column(String(200))
    flags: Mapped[list[Any]] = mapped_column(default=list)
    first_response_business_seconds: Mapped[int | None] = mapped_column(Integer)
    first_response_calendar_seconds: Mapped[int | None] = mapped_column(Integer)
    resolution_business_seconds: Mapped[int | None] = mapped_column(Integer)
    resolution_calendar_seconds: Mapped[int | None] = mapped_column(Integer)
    breaches: Mapped[int] = mapped_column(Integer, default=0)
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)


class Notification(Base):
    """Something a staff member should see even if no console was open when it happened (an SLA escalation, a
    mention...). ``key`` makes a notification unique per user (``UNIQUE(user_id, key)``): writers that may run twice
    (two sweepers, a redelivered event) insert with ON CONFLICT DO NOTHING and only one row exists."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("user_id", "key", name="uq_notifications_user_id_key"),
        Index("ix_notifications_user_id_id", "user_id", "id"),
        Index("ix_notifications_unread", "user_id", "id",
              sqlite_where=text("read_at IS NULL"), postgresql_where=text("read_at IS NULL")),
    )
    id: Mapped[int] = _id()
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(40))  # "sla.assignee", "sla.supervisor", later "mention"...
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    text: Mapped[str] = mapped_column(Text, default="")
    key: Mapped[str | None] = mapped_column(String(200))  # the dedupe key; None: never deduplicated
    created_at: Mapped[datetime] = _created()
    read_at: Mapped[datetime | None] = mapped_column()


class CannedResponse(Base):
    """A reusable answer for the agent console. ``owner_id`` None: shared by the whole team.

    ``body`` may hold variables (``{{customer.name}}``, ``{{ticket.number}}``...) filled in per ticket.
    """

    __tablename__ = "canned_responses"
    __table_args__ = (UniqueConstraint("owner_id", "shortcut"),)
    id: Mapped[int] = _id()
    title: Mapped[str] = mapped_column(String(200))
    shortcut: Mapped[str] = mapped_column(String(40))  # typed after "/" in the reply box
    body: Mapped[str] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(8))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Mention(Base):
    """An agent named with ``@handle`` in an internal note: recorded once per note and agent."""

    __tablename__ = "mentions"
    __table_args__ = (UniqueConstraint("message_id", "user_id"), Index("ix_mentions_user_id_id", "user_id", "id"))
    id: Mapped[int] = _id()
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    author_id: Mapped[int | None] = mapped_column(Integer)
    read_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = _created()


class Survey(Base):
    """A satisfaction survey of one solved ticket: sent once on the ticket's channel, answered 1-5.

    Only the hash of the link token is stored; the token is derived from the server key and ``nonce``.
    ``reply_ref`` is the channel message that carried the rating (an SMS "5"), so a redelivery changes nothing.
    """

    __tablename__ = "surveys"
    __table_args__ = (
        Index("ix_surveys_contact_channel_sent_at", "contact_id", "channel", "sent_at"),
        Index("ix_surveys_answered_at", "answered_at"),
    )
    id: Mapped[int] = _id()
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), unique=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # the ticket's assignee when solved
    channel: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    nonce: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = _created()
    due_at: Mapped[datetime] = mapped_column()
    sent_at: Mapped[datetime | None] = mapped_column()
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    rating: Mapped[int | None] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(Text, default="")
    answered_at: Mapped[datetime | None] = mapped_column()
    first_answered_at: Mapped[datetime | None] = mapped_column()
    reply_ref: Mapped[str | None] = mapped_column(String(255))


class MagicLink(Base):
    """A single-use sign-in link for a customer's "my tickets", e-mailed on request. Only its hash is stored."""

    __tablename__ = "magic_links"
    id: Mapped[int] = _id()
    email: Mapped[str] = mapped_column(String(320))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    nonce: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = _created()
    expires_at: Mapped[datetime] = mapped_column()
    sent_at: Mapped[datetime | None] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column()


class CustomerSession(Base):
    """A customer signed in to "my tickets" (cookie ``cc_customer``). Only the hash of the cookie is stored."""

    __tablename__ = "customer_sessions"
    id: Mapped[int] = _id()
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), index=True)
    created_at: Mapped[datetime] = _created()
    expires_at: Mapped[datetime] = mapped_column()


class WebhookEndpoint(Base):
    """Another system that is told about events: signed POSTs of the event kinds it asked for.
    The secret must be kept as is: it keys the HMAC of every delivery."""

    __tablename__ = "webhook_endpoints"
    id: Mapped[int] = _id()
    url: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(String(200))
    events: Mapped[list[Any]] = mapped_column(default=list)
    description: Mapped[str] = mapped_column(String(500), default="")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = _created()


class WebhookDelivery(Base):
    """One event owed to one endpoint: pending until a 2xx answer, retried with backoff, then dead."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
                      Index("ix_webhook_deliveries_endpoint_id_id", "endpoint_id", "id"))
    id: Mapped[int] = _id()
    uid: Mapped[str] = mapped_column(String(36), unique=True)  # X-CC-Delivery: receivers dedupe by it
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    topic: Mapped[str] = mapped_column(String(60))
    payload: Mapped[dict[str, Any]] = mapped_column()
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created()
    delivered_at: Mapped[datetime | None] = mapped_column()
