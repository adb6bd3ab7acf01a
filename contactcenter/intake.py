"""InboundMessage -> ticket: the single entry point for every channel.

One transaction drops redeliveries, resolves the contacts, threads each message, stores it with its
attachments, indexes it for search, and writes audit and outbox rows. Messages that arrive together
are taken in one batch ("group commit", intake_queue.py): the statements are set-based, so a batch of 50
costs about as many database round trips as a single message.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Table, Update, bindparam, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from channels.base import InboundMessage
from contactcenter.actions.audit import Actor, audit_row
from contactcenter.actions.contacts import ContactRequest, ResolvedContact, resolve_contacts
from contactcenter.db import search
from contactcenter.db.engine import Database, note_events
from contactcenter.db.ids import insert_rows, prefetch_ids
from contactcenter.db.keys import KeyedSelect, key_in
from contactcenter.db.models import (
    Attachment,
    AuditEvent,
    Contact,
    ContactIdentity,
    ContactKey,
    Message,
    OutboxEvent,
    Ticket,
)
from contactcenter.db.types import utcnow
from contactcenter.domain.enums import AuthorKind, DeliveryStatus, Direction, TicketStatus
from contactcenter.domain.language import detect_language
from contactcenter.domain.lifecycle import status_after_customer_message
from contactcenter.domain.threading import FoundTicket, ThreadDecision, decide
from contactcenter.errors import ActionError, NotFound
from contactcenter.events import MessageReceived, TicketChanged, TicketCreated, outbox_row
from contactcenter.new_tickets import NewTickets
from contactcenter.privacy.sealing import Sealer
from contactcenter.settings import Settings
from contactcenter.sla import store as sla_store
from contactcenter.storage import AttachmentStore

if TYPE_CHECKING:
    from contactcenter.sla.service import SlaService, TicketSla

log = logging.getLogger(__name__)
SUBJECT_FROM_TEXT = 80

# The lookups of every batch, built once (docs/architecture.md, "Statements on hot paths").
_MESSAGES = cast(Table, Message.__table__)
_STORED = KeyedSelect(select(_MESSAGES.c.channel, _MESSAGES.c.external_id, _MESSAGES.c.id, _MESSAGES.c.ticket_id,
                             _MESSAGES.c.contact_id, _MESSAGES.c.thread_reason),
                      (_MESSAGES.c.channel, _MESSAGES.c.external_id))
_TICKETS_BY = {column.key: KeyedSelect(select(Ticket), (column,)) for column in (Ticket.id, Ticket.portal_token_hash)}

_TICKETS = cast(Table, Ticket.__table__)


def _continued(status: bool, reopened: bool, requeued: bool) -> Update:
    """A continued ticket's update: only the columns that change, so that a concurrent writer's others stay."""
    values: dict[str, Any] = {"updated_at": bindparam("now"), "last_message_at": bindparam("now")}
    if status:
        values["status"] = bindparam("new_status")
    if reopened:
        values["solved_at"] = None
    if requeued:  # back in the queue for the router
        values.update(waiting_since=bindparam("now"), ring=0, next_ring_at=None,
                      routing_queue=bindparam("ticket_queue"))
    return update(_TICKETS).where(_TICKETS.c.id == bindparam("ticket")).values(values)


_CONTINUED = {kind: _continued(*kind) for kind in ((False, False, False), (True, False, False), (True, True, False),
                                                    (True, True, True))}


@dataclass(frozen=True, slots=True)
class IntakeResult:
    ticket_id: int
    message_id: int
    contact_id: int
    created_ticket: bool
    duplicate: bool
    thread_reason: str
    portal_token: str | None = None  # the private link token, shown once when a ticket is created


@dataclass(frozen=True, slots=True)
class Arrival:
    """A message waiting for intake, its attachments already on disk."""

    message: InboundMessage
    attachment_hashes: tuple[str, ...] = ()
    attachment_keys: tuple[str | None, ...] = ()  # privacy: each stored file's own key (None: in the clear)


def token_hash(token: str) -> str:
    """How portal tokens are stored: only their sha256."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(slots=True)
class _Step:
    """What the batch does with one arrival."""

    index: int
    contact: ResolvedContact
    language: str
    decision: ThreadDecision
    ticket: Ticket | None = None  # an existing ticket it continues
    opener: _Step | None = None  # or the step in this batch that opens its conversation's ticket
    ticket_id: int = 0
    portal_token: str | None = None


class _Batch:
    """The work of one intake batch: set-based lookups, then one bulk insert per table."""

    def __init__(self, session: Session, arrivals: Sequence[Arrival], settings: Settings,
                 sla: SlaService | None) -> None:
        self.session = session
        self.arrivals = arrivals
        self.settings = settings
        self.sla = sla  # starts the SLA clocks of the tickets it opens (None: the SLA service does it later)
        self.now = utcnow()
        self.results: list[IntakeResult | ActionError | None] = [None] * len(arrivals)
        self.first_of: dict[tuple[str, str], int] = {}  # dedupe key -> first arrival in this batch
        self.audits: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.evidence: dict[int, str] = {}
        self.by_token: dict[Any, Ticket] = {}  # portal token hash -> ticket
        self.linked: dict[int, ResolvedContact] = {}  # messages identified by their portal link
        self.continued: dict[int, tuple[TicketStatus, bool, bool]] = {}  # ticket -> (status, reopened, requeued)

    def audit(self, contact_id: int, action: str, object_type: str, object_id: int, changes: dict[str, Any],
              ticket_id: int) -> None:
        self.audits.append(audit_row(Actor.contact(contact_id), action, object_type, object_id, changes,
                                     ticket_id=ticket_id, at=self.now))

    def drop_redeliveries(self) -> list[int]:
        """Answer messages stored before with their original result; return the indexes still to do."""
        keys = [(a.message.channel, a.message.external_id) for a in self.arrivals]
        rows = _STORED.rows(self.session.connection(), set(keys))
        stored = {(r.channel, r.external_id): r for r in rows}
        todo: list[int] = []
        for index, key in enumerate(keys):
            row = stored.get(key)
            if row is not None:
                self.results[index] = IntakeResult(row.ticket_id, row.id, row.contact_id or 0, created_ticket=False,
                                                   duplicate=True, thread_reason=row.thread_reason)
            elif key not in self.first_of:
                self.first_of[key] = index
                todo.append(index)
            # else: a second copy in this very batch, answered from the first one at the end
        return todo

    def identify_by_link(self, todo: list[int]) -> list[int]:
        """Messages without a sender belong to the contact of the ticket their portal link names.

        Returns the indexes still to do; a message whose link names no ticket is refused.
        """
        self.by_token = self._tickets_by(Ticket.portal_token_hash, {
            token_hash(t) for i in todo if (t := self.arrivals[i].message.hints.portal_token)})
        kept: list[int] = []
        for index in todo:
            msg = self.arrivals[index].message
            if msg.sender is not None:
                kept.append(index)
                continue
            ticket = self.by_token.get(token_hash(msg.hints.portal_token)) if msg.hints.portal_token else None
            if ticket is None:
                self.results[index] = NotFound("no ticket has this link")
            else:
                self.linked[index] = ResolvedContact(ticket.contact_id, ticket.organization_id)
                kept.append(index)
        return kept

    def _tickets_by(self, column: Any, values: set[Any]) -> dict[Any, Ticket]:
        found = _TICKETS_BY[column.key].rows(self.session, ((value,) for value in values))
        return {getattr(ticket, column.key): ticket for ticket, in found}

    def _live(self, ticket: Ticket | None) -> Ticket | None:
        """Follow merges to the ticket that now holds the conversation."""
        seen: set[int] = set()
        while ticket is not None and ticket.merged_into_id is not None and ticket.id not in seen:
            seen.add(ticket.id)
            ticket = self.session.get(Ticket, ticket.merged_into_id)
        return ticket

    def _is_participant(self, ticket: Ticket, contact_id: int) -> bool:
        if ticket.contact_id == contact_id:
            return True
        return self.session.scalar(select(Message.id).where(
            Message.ticket_id == ticket.id, Message.contact_id == contact_id).limit(1)) is not None

    def _by_reference(self, todo: list[int]) -> dict[tuple[str, str], Any]:
        """The stored messages whose provider id a message of the batch names (In-Reply-To, References)."""
        wanted = {(self.arrivals[i].message.channel, ref) for i in todo
                  for h in [self.arrivals[i].message.hints] for ref in (h.in_reply_to, *h.references) if ref}
        if not wanted:
            return {}
        rows = self.session.execute(
            select(Message.channel, Message.provider_id, Message.contact_id, Message.direction, Ticket)
            .join(Ticket, Ticket.id == Message.ticket_id)
            .where(Message.provider_id.in_({ref for _, ref in wanted})).order_by(Message.id)).all()
        return {(r.channel, r.provider_id): r for r in rows if (r.channel, r.provider_id) in wanted}

    def _referenced(self, index: int, contact_id: int, by_reference: dict[tuple[str, str], Any]) -> Ticket | None:
        """The ticket of the nearest referenced message: one of our replies (only its recipients saw its id), or
        a message on a ticket the sender takes part in (a stranger who copies a Message-ID opens a new ticket)."""
        msg = self.arrivals[index].message
        for ref in (msg.hints.in_reply_to, *reversed(msg.hints.references)):
            row = by_reference.get((msg.channel, ref)) if ref else None
            if row is not None and (row.direction == Direction.OUTBOUND or row.contact_id == contact_id
                                    or self._is_participant(row.Ticket, contact_id)):
                return row.Ticket  # type: ignore[no-any-return]
        return None

    def find_threads(self, todo: list[int], contacts: dict[int, ResolvedContact]) -> dict[int, Ticket | None]:
        """Walk the evidence chain for each message, strongest first, one query per kind of evidence."""
        hints = {i: self.arrivals[i].message.hints for i in todo}
        by_token = self.by_token
        by_number = self._tickets_by(Ticket.id, {h.ticket_number for h in hints.values()
                                                       if h.ticket_number is not None})
        conversations = {(contacts[i].id, self.arrivals[i].message.channel, h.conversation_key)
                         for i, h in hints.items() if h.conversation_key}
        by_conversation: dict[tuple[int, str, str], Ticket] = {}
        if conversations:
            latest = (select(func.max(Ticket.id))
                      .where(key_in((Ticket.contact_id, Ticket.channel, Ticket.conversation_key), conversations),
                             Ticket.merged_into_id.is_(None))
                      .group_by(Ticket.contact_id, Ticket.channel, Ticket.conversation_key))
            for t in self.session.scalars(select(Ticket).where(Ticket.id.in_(latest))).all():
                by_conversation[(t.contact_id, t.channel, t.conversation_key or "")] = t
        by_signed = self._tickets_by(Ticket.id, {h.verified_ticket_id for h in hints.values()
                                                       if h.verified_ticket_id is not None})
        by_reference = self._by_reference(todo)
        found: dict[int, Ticket | None] = {}
        for index, hint in hints.items():
            contact_id = contacts[index].id
            ticket: Ticket | None = None
            if hint.portal_token:
                ticket, self.evidence[index] = by_token.get(token_hash(hint.portal_token)), "portal-link"
            if ticket is None and hint.verified_ticket_id is not None:
                ticket, self.evidence[index] = by_signed.get(hint.verified_ticket_id), "signed-reference"
            if ticket is None and (hint.in_reply_to or hint.references):
                ticket, self.evidence[index] = self._referenced(index, contact_id, by_reference), "message-id"
            if ticket is None and hint.ticket_number is not None:
                tagged = by_number.get(hint.ticket_number)
                if tagged is not None and self._is_participant(tagged, contact_id):
                    ticket, self.evidence[index] = tagged, "subject-tag"
            if ticket is None and hint.conversation_key:
                key = (contact_id, self.arrivals[index].message.channel, hint.conversation_key)
                ticket, self.evidence[index] = by_conversation.get(key), "conversation"
            found[index] = self._live(ticket)
        return found

    def plan(self, todo: list[int], contacts: dict[int, ResolvedContact], languages: dict[int, str],
             found: dict[int, Ticket | None]) -> list[_Step]:
        """Decide each message's ticket; messages of one new conversation share the ticket the first opens."""
        window = timedelta(days=self.settings.intake.reopen_window_days)
        opened: dict[tuple[int, str, str], _Step] = {}
        steps: list[_Step] = []
        for index in todo:
            msg, contact, ticket = self.arrivals[index].message, contacts[index], found[index]
            language = languages[index]
            key = (contact.id, msg.channel, msg.hints.conversation_key or "")
            fact = None if ticket is None else FoundTicket(ticket.id, TicketStatus(ticket.status), ticket.solved_at,
                                                           self.evidence[index], ticket.updated_at)
            decision = decide(fact, self.now, window, idle_gap=msg.hints.idle_gap,
                              reopen_solved=msg.hints.reopen_solved)
            if decision.ticket_id is None and msg.hints.conversation_key and key in opened:
                # An earlier message of this batch already opened this conversation's new ticket.
                steps.append(_Step(index, contact, language, decision, opener=opened[key]))
                continue
            step = _Step(index, contact, language, decision, ticket=ticket if decision.ticket_id else None)
            if decision.ticket_id is None and msg.hints.conversation_key:
                opened[key] = step
            steps.append(step)
        return steps

    def open_tickets(self, steps: list[_Step]) -> None:
        """Insert the new tickets (one statement) with their SLA clocks started, and give every step its ticket
        id."""
        openers = [s for s in steps if s.ticket is None and s.opener is None]
        if openers:
            self.insert_new(openers, steps)
        for step in steps:
            if step.ticket is not None:
                step.ticket_id = step.ticket.id
                self.continue_ticket(step)
            elif step.opener is not None:
                step.ticket_id = step.opener.ticket_id
                step.decision = ThreadDecision(step.ticket_id, f"conversation: continues new #{step.ticket_id}")
        self.update_continued(steps)

    def insert_new(self, openers: list[_Step], steps: list[_Step]) -> None:
        """The tickets these steps open, each over every message of the batch it gets (new_tickets.py)."""
        orgs = {s.contact.organization_id for s in openers}
        terms = NewTickets(self.session, self.settings, self.sla, self.now, orgs)
        received = {s.index: [self.arrivals[s.index].message.received_at] for s in openers}
        for step in steps:  # messages of this batch that join a new ticket count for its clocks too
            if step.opener is not None:
                received[step.opener.index].append(self.arrivals[step.index].message.received_at)
        rows: list[dict[str, Any]] = []
        slas: list[TicketSla | None] = []  # each new ticket's SLA clocks (None: without the SLA service)
        for step in openers:
            msg = self.arrivals[step.index].message
            org = step.contact.organization_id
            needs = terms.needs(msg, step.language, org)
            step.portal_token = secrets.token_urlsafe(32)
            subject = msg.subject.strip() or msg.text.strip().split("\n", 1)[0][:SUBJECT_FROM_TEXT]
            slas.append(sla := terms.clocks(needs, msg.channel, org, received[step.index]))
            rows.append({"subject": subject[:500], "status": TicketStatus.NEW.value, "priority": needs.priority.value,
                         "type": needs.type.value, "channel": msg.channel, "language": step.language,
                         "contact_id": step.contact.id, "organization_id": org,
                         "queue": needs.queue, "requirements": needs.to_dict(),
                         "portal_token_hash": token_hash(step.portal_token),
                         "conversation_key": msg.hints.conversation_key,
                         "follow_up_of_id": step.decision.follow_up_of, "created_at": self.now,
                         "updated_at": self.now, "last_message_at": self.now,
                         "sla_due_at": sla_store.breach_due(sla.clocks) if sla else None,
                         # Queued by the router once it has read the creation (after the subscribers
                         # before it, e.g. automatic answers, had their say): routing/store.py queue_new.
                         "waiting_since": None, "routing_queue": needs.queue,
                         "next_ring_at": terms.first_ring(needs.queue)})
        started: dict[int, TicketSla] = {}  # ticket id -> its SLA clocks
        for step, ticket_id, sla in zip(openers, insert_rows(self.session, Ticket, rows), slas, strict=True):
            step.ticket_id = ticket_id
            msg = self.arrivals[step.index].message
            if sla is not None:
                started[ticket_id] = sla
            self.audit(step.contact.id, "ticket.created", "ticket", ticket_id,
                       {"channel": msg.channel, "follow_up_of": step.decision.follow_up_of}, ticket_id)
            self.events.append(outbox_row(TicketCreated(ticket_id=ticket_id, channel=msg.channel,
                                                        clocks_started=self.sla is not None), self.now))
        if self.sla is not None:
            self.sla.save_started(self.session, started, self.now)

    def continue_ticket(self, step: _Step) -> None:
        """Note what a customer's message changes on its ticket (written by ``update_continued``; the ticket
        object keeps its status from before the batch)."""
        ticket = step.ticket
        assert ticket is not None
        now_status, reopened, requeued = self.continued.get(ticket.id, (TicketStatus(ticket.status), False, False))
        status = status_after_customer_message(now_status)
        if status != now_status:
            self.audit(step.contact.id, "ticket.updated", "ticket", ticket.id,
                       {"status": [now_status.value, status.value]}, ticket.id)
            self.events.append(outbox_row(TicketChanged(ticket_id=ticket.id, fields=("status",)), self.now))
            if step.decision.reopen:
                reopened, requeued = True, ticket.assignee_id is None  # back in the queue for the router
        self.continued[ticket.id] = (status, reopened, requeued)

    def update_continued(self, steps: list[_Step]) -> None:
        """Write the continued tickets with one statement per kind of change (Core, not the ORM's flush)."""
        before = {s.ticket.id: s.ticket for s in steps if s.ticket is not None}
        kinds: dict[tuple[bool, bool, bool], list[dict[str, Any]]] = {}
        for ticket_id, (status, reopened, requeued) in self.continued.items():
            ticket = before[ticket_id]
            changed = status != ticket.status
            kinds.setdefault((changed, reopened and changed, requeued and changed), []).append(
                {"ticket": ticket_id, "now": self.now, "new_status": status.value, "ticket_queue": ticket.queue})
        for kind, rows in kinds.items():
            self.session.connection().execute(_CONTINUED[kind], rows)

    def store_messages(self, steps: list[_Step]) -> None:
        # privacy: bodies, raw payloads and file keys are sealed with the sender's data key (docs/privacy.md)
        seal = Sealer.for_contacts(self.session, {s.contact.id for s in steps})
        rows: list[dict[str, Any]] = [
            {"ticket_id": s.ticket_id, "direction": Direction.INBOUND.value, "author_kind": AuthorKind.CONTACT.value,
             "contact_id": s.contact.id, "user_id": None, "channel": msg.channel, "internal": False,
             "subject": msg.subject[:500], "text": seal.text(s.contact.id, msg.text),
             "html": seal.optional_text(s.contact.id, msg.html), "key_id": seal.key_id(s.contact.id),
             "external_id": msg.external_id, "provider_id": msg.provider_id and msg.provider_id[:255],
             "delivery_status": DeliveryStatus.RECEIVED.value, "delivery_error": None,
             "thread_reason": s.decision.reason[:200], "metadata": dict(msg.metadata),
             "raw": seal.raw(s.contact.id, msg.raw), "created_at": msg.received_at}
                for s in steps for msg in [self.arrivals[s.index].message]]
        message_ids = insert_rows(self.session, Message, rows)
        attachments: list[dict[str, Any]] = []
        index_rows: list[tuple[int, str, bool]] = []
        for step, message_id, row in zip(steps, message_ids, rows, strict=True):
            arrival = self.arrivals[step.index]
            msg = arrival.message
            file_keys = arrival.attachment_keys or (None,) * len(arrival.attachment_hashes)
            attachments += [{"message_id": message_id, "filename": a.filename[:255], "content_type": a.content_type,
                             "size": len(a.data), "sha256": sha, "key_id": seal.key_id(step.contact.id),
                             "file_key": seal.optional_text(step.contact.id, key), "created_at": self.now}
                            for a, sha, key in zip(msg.attachments, arrival.attachment_hashes, file_keys, strict=True)]
            opens = step.portal_token is not None
            index_rows.append((step.ticket_id, f"{msg.subject} {msg.text}" if opens else msg.text, opens))
            self.audit(step.contact.id, "message.received", "message", message_id,
                       {"channel": msg.channel, "thread_reason": row["thread_reason"]}, step.ticket_id)
            received = MessageReceived(ticket_id=step.ticket_id, message_id=message_id, channel=msg.channel,
                                       clocks_started=self.sla is not None and step.ticket is None)
            self.events.append(outbox_row(received, self.now))
            self.results[step.index] = IntakeResult(step.ticket_id, message_id, step.contact.id,
                                                    created_ticket=opens, duplicate=False,
                                                    thread_reason=row["thread_reason"], portal_token=step.portal_token)
        insert_rows(self.session, Attachment, attachments)
        search.index_many(self.session, index_rows)
        insert_rows(self.session, AuditEvent, self.audits)
        insert_rows(self.session, OutboxEvent, self.events)
        note_events(self.session)


def _without_nul(arrival: Arrival) -> Arrival:
    """NUL cannot be stored in PostgreSQL text: it becomes U+FFFD, so the message is kept, not refused."""
    msg = arrival.message
    if not any("\x00" in value for value in (msg.text, msg.subject, msg.sender_name, msg.html or "")):
        return arrival

    def clean(value: str) -> str:
        return value.replace("\x00", "\ufffd")

    return dataclasses.replace(arrival, message=dataclasses.replace(
        msg, text=clean(msg.text), subject=clean(msg.subject), sender_name=clean(msg.sender_name),
        html=msg.html and clean(msg.html)))


def receive_batch(session: Session, arrivals: Sequence[Arrival], settings: Settings,
                  sla: SlaService | None = None) -> list[IntakeResult | ActionError]:
    """Store every arrival on the right ticket in the caller's transaction; results in arrival order.

    A message that cannot be taken (no sender and a portal link that names no ticket) gets an error
    in its place; the others are stored. With ``sla``, the clocks of the tickets it opens start in the same
    transaction (without, the SLA service starts them when it hears of them).
    """
    arrivals = [_without_nul(a) for a in arrivals]
    batch = _Batch(session, arrivals, settings, sla)
    todo = batch.drop_redeliveries()
    if todo:
        prefetch_ids(session, (Contact, ContactIdentity, ContactKey, Ticket, Message, Attachment, AuditEvent,
                               OutboxEvent))
        default = settings.intake.default_language
        todo = batch.identify_by_link(todo)
        messages = {i: arrivals[i].message for i in todo}
        languages = {i: m.language or detect_language(f"{m.subject} {m.text}", default) for i, m in messages.items()}
        by_address = [i for i in todo if i not in batch.linked]
        requests = [ContactRequest((sender, *m.other_addresses), m.sender_name, languages[i])
                    for i in by_address for m in [messages[i]] if (sender := m.sender) is not None]
        contacts = {**batch.linked, **dict(zip(by_address, resolve_contacts(session, requests), strict=True))}
        found = batch.find_threads(todo, contacts)
        steps = batch.plan(todo, contacts, languages, found)
        batch.open_tickets(steps)
        batch.store_messages(steps)
    for index, arrival in enumerate(arrivals):
        if batch.results[index] is None:  # a second copy within this batch
            first = batch.results[batch.first_of[(arrival.message.channel, arrival.message.external_id)]]
            assert first is not None
            if isinstance(first, ActionError):
                batch.results[index] = first
                continue
            batch.results[index] = IntakeResult(first.ticket_id, first.message_id, first.contact_id,
                                                created_ticket=False, duplicate=True,
                                                thread_reason=first.thread_reason)
    return [r for r in batch.results if r is not None]


def receive(session: Session, msg: InboundMessage, settings: Settings,
                  attachment_hashes: tuple[str, ...] = ()) -> IntakeResult:
    """Store one message in the caller's transaction (attachments already on disk).

    Raises NotFound for a message without a sender whose portal link names no ticket.
    """
    result = (receive_batch(session, [Arrival(msg, attachment_hashes)], settings))[0]
    if isinstance(result, ActionError):
        raise result
    return result


async def save_attachments(store: AttachmentStore, msg: InboundMessage) -> Arrival:
    files = [await store.store(a.data) for a in msg.attachments]
    return Arrival(msg, tuple(f.name for f in files), tuple(f.key for f in files))


async def commit_one(db: Database, settings: Settings, arrival: Arrival,
                     sla: SlaService | None = None) -> IntakeResult:
    """One message in its own transaction. Losing a race on a unique constraint (a concurrent
    redelivery, or the same new address from another process) is retried once and then sees the winner."""
    def work(session: Session) -> IntakeResult:
        result = receive_batch(session, [arrival], settings, sla)[0]
        if isinstance(result, ActionError):
            raise result
        return result

    try:
        return await db.run_write(work)
    except IntegrityError:
        return await db.run_write(work)


async def intake(db: Database, store: AttachmentStore, settings: Settings, msg: InboundMessage) -> IntakeResult:
    """Persist one message (files first, then one transaction) and return where it went."""
    return await commit_one(db, settings, await save_attachments(store, msg))
