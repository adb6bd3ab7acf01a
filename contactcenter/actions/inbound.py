"""Inbound payloads that did not become messages (kept for admins and replay), and delivery failures
reported by a provider after a send (e-mail bounces)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from contactcenter.actions.audit import SYSTEM, record
from contactcenter.db.models import Message, RawInbound
from contactcenter.db.types import utcnow
from contactcenter.domain.enums import DeliveryStatus, Direction
from contactcenter.events import TicketChanged, emit


class RawStatus:
    UNPARSABLE = "unparsable"  # the parser failed: replay after a fix
    REJECTED = "rejected"  # read, but refused (no clear sender, a loop...)
    BOUNCE = "bounce"  # a delivery report
    REPLAYED = "replayed"  # replayed later into a message


def digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


async def find_raw(session: AsyncSession, channel: str, raw: bytes) -> RawInbound | None:
    """The kept payload with these exact bytes, if any."""
    return await session.scalar(select(RawInbound).where(RawInbound.channel == channel,
                                                         RawInbound.digest == digest(raw)))


async def do_keep_raw(session: AsyncSession, channel: str, raw: bytes, status: str, reason: str,
                      envelope: dict[str, Any]) -> RawInbound:
    """Keep a payload byte for byte with why it did not become a message (a second copy is not kept again)."""
    found = await find_raw(session, channel, raw)
    if found is not None:
        return found
    row = RawInbound(channel=channel, digest=digest(raw), status=status, reason=reason[:4000], envelope=envelope,
                     raw=raw, created_at=utcnow())
    session.add(row)
    await session.flush()
    record(session, SYSTEM, "inbound.kept", "raw_inbound", row.id, {"status": status, "reason": reason[:500]})
    return row


async def do_mark_undelivered(session: AsyncSession, channel: str, message_ids: Sequence[int],
                              reason: str) -> list[int]:
    """Our outbound messages that the provider reports undeliverable become ``failed`` with the reason.

    Returns the ids changed; messages of another channel, inbound ones or unknown ids are left alone.
    """
    if not message_ids:
        return []
    found = (await session.scalars(select(Message).where(
        Message.id.in_(set(message_ids)), Message.channel == channel,
        Message.direction == Direction.OUTBOUND))).all()
    changed: list[int] = []
    for message in found:
        if message.delivery_status == DeliveryStatus.FAILED and message.delivery_error == reason[:2000]:
            continue
        message.delivery_status = DeliveryStatus.FAILED
        message.delivery_error = reason[:2000]
        record(session, SYSTEM, "message.bounced", "message", message.id, {"reason": reason[:500]},
               ticket_id=message.ticket_id)
        emit(session, TicketChanged(ticket_id=message.ticket_id, fields=("delivery",)))
        changed.append(message.id)
    return changed
