"""Channel events (delivery reports, button presses, kept payloads), delivery status updates and opt-outs.

Writers take the caller's session and never commit. Every insert is keyed by a unique constraint, so a
redelivered report or a replayed payload is a no-op, also under concurrency.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from contactcenter.actions.audit import SYSTEM, Actor, record
from contactcenter.db.models import ChannelEvent, Message, OptOut
from contactcenter.db.types import utcnow
from contactcenter.domain.delivery import advances, furthest
from contactcenter.events import ChannelEventRecorded, emit


@dataclass(frozen=True, slots=True)
class NewChannelEvent:
    channel: str
    kind: str  # status, callback, unparsed, unknown
    key: str  # unique within (channel, kind)
    ref: str | None = None
    value: str = ""
    payload: dict[str, Any] | None = None
    raw: bytes | None = None


async def _insert_ignoring_duplicate(session: AsyncSession, table: Any, values: dict[str, Any],
                                     returning: Any) -> Any:
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(table).values(**values).on_conflict_do_nothing().returning(returning)
    return (await session.execute(statement)).scalar_one_or_none()


async def do_record_channel_event(session: AsyncSession, event: NewChannelEvent) -> int | None:
    """Store the event and announce it (outbox ``channel.event``); None when it was stored before."""
    values = {"channel": event.channel, "kind": event.kind, "key": event.key[:255],
              "ref": event.ref[:255] if event.ref else None, "value": event.value[:255],
              "payload": event.payload or {}, "raw": event.raw, "created_at": utcnow()}
    event_id: int | None = await _insert_ignoring_duplicate(session, ChannelEvent.__table__, values, ChannelEvent.id)
    if event_id is not None:
        record(session, SYSTEM, f"channel.{event.kind}", "channel_event", event_id,
               {"channel": event.channel, "value": values["value"]})
        emit(session, ChannelEventRecorded(event_id=event_id, channel=event.channel, kind=event.kind))
    return event_id


async def do_apply_delivery_status(session: AsyncSession, channel: str, provider_id: str, status: str,
                                   error: str | None = None) -> Message | None:
    """Move the message the provider knows as ``provider_id`` forward to ``status`` (never back).

    Returns the message when it changed. A report for a message whose receipt is not stored yet
    changes nothing here; the delivery worker applies stored reports when it records the receipt.
    """
    message = await session.scalar(select(Message).where(Message.channel == channel,
                                                          Message.provider_id == provider_id).with_for_update())
    if message is None or not advances(message.delivery_status, status):
        return None
    old, message.delivery_status = message.delivery_status, status
    if error:
        message.delivery_error = error[:2000]
    record(session, SYSTEM, "message.delivery", "message", message.id,
           {"status": [old, status], "error": error, "reported": True}, ticket_id=message.ticket_id)
    return message


async def reported_status(session: AsyncSession, channel: str, provider_id: str) -> str | None:
    """The furthest status the provider reported for this message so far (stored delivery reports)."""
    values = (await session.scalars(select(ChannelEvent.value).where(
        ChannelEvent.channel == channel, ChannelEvent.ref == provider_id, ChannelEvent.kind == "status"))).all()
    return furthest(list(values))


async def is_opted_out(session: AsyncSession, channel: str, address: str) -> bool:
    return await session.scalar(select(OptOut.id).where(OptOut.channel == channel,
                                                        OptOut.address == address)) is not None


async def do_opt_out(session: AsyncSession, channel: str, address: str, keyword: str, *,
                     actor: Actor = SYSTEM) -> bool:
    """Stop all messages to ``address`` on ``channel``; False when it was opted out already."""
    values = {"channel": channel, "address": address, "keyword": keyword[:60], "created_at": utcnow()}
    opt_id = await _insert_ignoring_duplicate(session, OptOut.__table__, values, OptOut.id)
    if opt_id is not None:
        record(session, actor, "channel.opted_out", "opt_out", opt_id,
               {"channel": channel, "address": address, "keyword": keyword})
    return opt_id is not None


async def do_opt_in(session: AsyncSession, channel: str, address: str, keyword: str, *,
                    actor: Actor = SYSTEM) -> bool:
    """Allow messages to ``address`` again; False when it was not opted out."""
    opt_id = await session.scalar(delete(OptOut).where(OptOut.channel == channel, OptOut.address == address)
                                  .returning(OptOut.id))
    if opt_id is not None:
        record(session, actor, "channel.opted_in", "opt_out", opt_id,
               {"channel": channel, "address": address, "keyword": keyword})
    return opt_id is not None
