"""Removing personal data from tickets and messages: shared by contact erasure and retention.

Every function runs in the caller's (synchronous) transaction and returns the attachment files to delete
once it has committed (a file is deleted after its row, never before, so a rollback loses nothing).

What happens to each table is written down table by table in docs/privacy.md, and
tests/integration/test_privacy_coverage.py fails when a table is added without a decision.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import Any, TypeVar

from sqlalchemy import Text, cast, delete, select, text, update
from sqlalchemy.orm import Session

from contactcenter.db import search
from contactcenter.db.models import (
    Attachment,
    AuditEvent,
    Call,
    CallEvent,
    ChannelEvent,
    KbAutoAnswer,
    KbLearnedPhrasing,
    Mention,
    Message,
    Notification,
    Offer,
    OutboxEvent,
    SlaTicket,
    SlaTimer,
    Survey,
    Ticket,
    TicketTag,
    WebhookDelivery,
)

CHUNK = 500  # ids per IN list
T = TypeVar("T")
SCRUBBED = {"scrubbed": True}


def chunks(ids: Sequence[T]) -> list[list[T]]:
    return [list(ids[i:i + CHUNK]) for i in range(0, len(ids), CHUNK)]


def _quiet(statement: Any) -> Any:
    return statement.execution_options(synchronize_session=False)


def drop_attachments(session: Session, message_ids: Sequence[int]) -> list[str]:
    """Delete the attachment rows of these messages; return their files."""
    files: list[str] = []
    for part in chunks(message_ids):
        files += session.scalars(select(Attachment.sha256).where(Attachment.message_id.in_(part))).all()
        session.execute(delete(Attachment).where(Attachment.message_id.in_(part)))
    return files


def drop_search(session: Session, ticket_ids: Sequence[int]) -> None:
    column = "rowid" if session.get_bind().dialect.name == "sqlite" else "ticket_id"
    for part in chunks(ticket_ids):
        session.execute(text(f"DELETE FROM ticket_search WHERE {column} = :id"),  # noqa: S608 (a fixed name)
                        [{"id": i} for i in part])


def reindex(session: Session, ticket_ids: Collection[int]) -> None:
    """Rebuild the search documents of these tickets from what they still hold."""
    ids = sorted(ticket_ids)
    drop_search(session, ids)
    rows: list[tuple[int, str, bool]] = []
    for part in chunks(ids):
        subjects = dict(session.execute(select(Ticket.id, Ticket.subject).where(Ticket.id.in_(part))).all())
        texts: dict[int, list[str]] = {i: [subjects.get(i, "")] for i in part}
        for ticket_id, body in session.execute(select(Message.ticket_id, Message.text)
                                               .where(Message.ticket_id.in_(part)).order_by(Message.id)).all():
            texts[ticket_id].append(body)
        rows += [(i, " ".join(t), True) for i, t in texts.items() if i in subjects]
    search.index_many(session, rows)


def scrub_audit(session: Session, condition: Any) -> int:
    """Replace the recorded changes of matching audit rows (they may quote personal data) by nothing.

    Needs ``audit_unlocked``: the table refuses updates otherwise.
    """
    result = session.execute(_quiet(update(AuditEvent).where(condition, AuditEvent.changes != {})
                                    .values(changes=SCRUBBED)))
    return int(getattr(result, "rowcount", 0) or 0)


def scrub_audit_of(session: Session, object_type: str, object_ids: Sequence[int]) -> int:
    """Scrub the audit rows about these objects (e.g. the calls or kept payloads being deleted)."""
    return sum(scrub_audit(session, (AuditEvent.object_type == object_type) & AuditEvent.object_id.in_(part))
               for part in chunks(object_ids))


def _like(value: str) -> str:
    return "%" + value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def scrub_audit_mentioning(session: Session, values: Iterable[str]) -> int:
    """Scrub every audit row whose recorded changes contain one of these values (e-mail addresses, phone
    numbers), whatever it is about: a refused mail's reason, an opt-out, a delivery error, an acknowledgement.

    One scan of the audit table per value; erasure is rare and this catches writers added later too.
    """
    changes = cast(AuditEvent.changes, Text)
    return sum(scrub_audit(session, changes.ilike(_like(value), escape="\\")) for value in sorted(set(values))
               if len(value) >= 5)


def forget_errors_mentioning(session: Session, values: Iterable[str]) -> None:
    """Error texts kept with relayed events and webhook deliveries may quote an address (a refused recipient):
    cleared where they contain one of these values."""
    for value in sorted(set(values)):
        if len(value) < 5:
            continue
        for model in (OutboxEvent, WebhookDelivery):
            session.execute(_quiet(update(model).where(model.last_error.ilike(_like(value), escape="\\"))
                                   .values(last_error=None)))


def blank_messages(session: Session, message_ids: Sequence[int], *, forget_ids: bool = False) -> list[str]:
    """Keep the messages as tombstones (who, when, which channel) without any content.

    ``forget_ids`` also drops the provider's ids of the message (``external_id`` / ``provider_id``: a Telegram
    or chat id names the sender) and why it was threaded there; erasure does, retention keeps them so a
    redelivery stays a no-op.
    """
    files = drop_attachments(session, message_ids)
    values: dict[str, Any] = {"text": "", "html": None, "raw": None, "subject": "", "meta": {}, "key_id": None,
                              "delivery_error": None}
    if forget_ids:
        values |= {"external_id": None, "provider_id": None, "thread_reason": ""}
    for part in chunks(message_ids):
        session.execute(_quiet(update(Message).where(Message.id.in_(part)).values(**values)))
    return files


def forget_calls(session: Session, call_ids: Sequence[int]) -> None:
    """Calls kept in the log lose what they recorded of the conversation: the recording link, the provider's
    status callbacks (caller details) and the audit values (which list the recording link)."""
    sids: list[str] = []
    for part in chunks(call_ids):
        sids += session.scalars(select(Call.call_sid).where(Call.id.in_(part))).all()
        session.execute(_quiet(update(Call).where(Call.id.in_(part)).values(recording_url=None)))
    for some in chunks(sids):
        session.execute(_quiet(update(CallEvent).where(CallEvent.call_sid.in_(some)).values(payload={})))
    scrub_audit_of(session, "call", call_ids)


def provider_refs(session: Session, condition: Any) -> dict[str, set[str]]:
    """The provider ids of the messages matching ``condition``, by channel (what channel events refer to)."""
    found: dict[str, set[str]] = {}
    for channel, provider_id in session.execute(select(Message.channel, Message.provider_id).where(
            condition, Message.provider_id.is_not(None))).all():
        if provider_id:
            found.setdefault(channel, set()).add(provider_id)
    return found


def channel_events_about(session: Session, refs: dict[str, set[str]]) -> list[int]:
    """Channel events about these provider ids (through the ``(channel, ref)`` index)."""
    event_ids: list[int] = []
    for channel, ids in sorted(refs.items()):
        for part in chunks(sorted(ids)):
            event_ids += session.scalars(select(ChannelEvent.id).where(ChannelEvent.channel == channel,
                                                                       ChannelEvent.ref.in_(part))).all()
    return event_ids


def drop_channel_events(session: Session, message_ids: Sequence[int]) -> int:
    """Delete what channels reported about these messages (delivery reports, button presses: ``ref`` is the
    message's provider id) and scrub the audit rows about those events."""
    refs: dict[str, set[str]] = {}
    for part in chunks(message_ids):
        for channel, ids in provider_refs(session, Message.id.in_(part)).items():
            refs.setdefault(channel, set()).update(ids)
    event_ids = channel_events_about(session, refs)
    scrub_audit_of(session, "channel_event", event_ids)
    for part in chunks(event_ids):
        session.execute(delete(ChannelEvent).where(ChannelEvent.id.in_(part)))
    return len(event_ids)


def purge_tickets(session: Session, ticket_ids: Sequence[int], *, delete_rows: bool) -> tuple[int, list[str]]:
    """Delete the tickets with everything on them, or anonymize them (rows kept for the figures, content
    removed). Returns the number of messages concerned and the files to delete after commit.

    Needs ``audit_unlocked``. Calls linked to the tickets stay in the call log (unlinked when the tickets
    are deleted) without their recording link and callback payloads; channel events about the tickets'
    messages are deleted in both modes.
    """
    if not ticket_ids:
        return 0, []
    message_ids: list[int] = []
    call_ids: list[int] = []
    for part in chunks(ticket_ids):
        message_ids += session.scalars(select(Message.id).where(Message.ticket_id.in_(part))).all()
        call_ids += session.scalars(select(Call.id).where(Call.ticket_id.in_(part))).all()
    drop_search(session, ticket_ids)
    forget_calls(session, call_ids)
    drop_channel_events(session, message_ids)
    for part in chunks(ticket_ids):
        # An approved question is article content by then; anonymized tickets keep its row, so that erasing the
        # customer later still finds it (and takes it out of the article).
        learned = delete(KbLearnedPhrasing).where(KbLearnedPhrasing.ticket_id.in_(part))
        session.execute(learned if delete_rows else learned.where(KbLearnedPhrasing.status != "approved"))
        scrub_audit(session, AuditEvent.ticket_id.in_(part))
    if not delete_rows:
        files = blank_messages(session, message_ids)
        for part in chunks(ticket_ids):
            session.execute(_quiet(update(Ticket).where(Ticket.id.in_(part)).values(
                subject="", conversation_key=None, portal_token_hash=None)))
            # staff notifications quote the subject; survey comments are the customer's words
            session.execute(_quiet(update(Notification).where(Notification.ticket_id.in_(part)).values(text="")))
            session.execute(_quiet(update(Survey).where(Survey.ticket_id.in_(part)).values(
                comment="", reply_ref=None)))
        return len(message_ids), files
    files = drop_attachments(session, message_ids)
    for part in chunks(message_ids):  # rows elsewhere that point at these messages
        session.execute(delete(Mention).where(Mention.message_id.in_(part)))
        for pointing in (Survey, KbAutoAnswer):
            session.execute(_quiet(update(pointing).where(pointing.message_id.in_(part)).values(message_id=None)))
    for part in chunks(ticket_ids):
        for model in (Mention, KbAutoAnswer, Survey, Notification, Offer, SlaTimer, SlaTicket, TicketTag):
            session.execute(delete(model).where(model.ticket_id.in_(part)))
    for part in chunks(message_ids):
        session.execute(delete(Message).where(Message.id.in_(part)))
    for part in chunks(ticket_ids):
        session.execute(_quiet(update(Ticket).where(Ticket.follow_up_of_id.in_(part)).values(follow_up_of_id=None)))
        session.execute(_quiet(update(Ticket).where(Ticket.merged_into_id.in_(part)).values(merged_into_id=None)))
        session.execute(_quiet(update(Call).where(Call.ticket_id.in_(part)).values(ticket_id=None)))
    for part in chunks(ticket_ids):
        session.execute(delete(Ticket).where(Ticket.id.in_(part)))
    return len(message_ids), files
