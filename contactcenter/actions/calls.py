"""The call log: one row per phone call, its status callbacks, and the audit trail on the contact's tickets.

Plain synchronous functions on an ORM ``Session``: run them with ``Database.run_write`` (as intake).
They never commit; the caller's transaction does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from contactcenter.actions.audit import SYSTEM, Actor, audit_row
from contactcenter.actions.contacts import ContactRequest, resolve_contacts
from contactcenter.db.models import AuditEvent, Call, CallEvent
from contactcenter.db.types import utcnow
from contactcenter.domain.identities import Address


@dataclass(frozen=True, slots=True)
class CallInfo:
    """A snapshot of a call row, safe to use after its transaction."""

    id: int
    call_sid: str
    direction: str
    from_number: str
    to_number: str
    contact_id: int | None
    ticket_id: int | None
    topic: str | None
    stage: str
    status: str
    outcome: str | None
    duration: int | None
    ended: bool


def _info(call: Call) -> CallInfo:
    return CallInfo(call.id, call.call_sid, call.direction, call.from_number, call.to_number, call.contact_id,
                    call.ticket_id, call.topic, call.stage, call.status, call.outcome, call.duration,
                    call.ended_at is not None)


def _audit(session: Session, actor: Actor, action: str, call: Call, changes: dict[str, Any]) -> None:
    session.add(AuditEvent(**audit_row(actor, action, "call", call.id, changes, ticket_id=call.ticket_id)))


def _by_sid(session: Session, call_sid: str) -> Call | None:
    return session.scalar(select(Call).where(Call.call_sid == call_sid))


def _contact_for(session: Session, address: Address | None) -> int | None:
    if address is None:
        return None
    return resolve_contacts(session, [ContactRequest((address,), "", None)])[0].id


def open_call(session: Session, *, call_sid: str, direction: str, from_number: str, to_number: str,
              address: Address | None, stage: str = "new", status: str = "", user_id: int | None = None,
              ticket_id: int | None = None, actor: Actor = SYSTEM) -> CallInfo:
    """The call with this sid, created (with its contact: the phone's owner, or a new contact) if new."""
    call = _by_sid(session, call_sid)
    if call is not None:
        return _info(call)
    now = utcnow()
    call = Call(call_sid=call_sid, direction=direction, from_number=from_number[:64], to_number=to_number[:64],
                contact_id=_contact_for(session, address), ticket_id=ticket_id, user_id=user_id, stage=stage,
                status=status, last_sequence=-1, created_at=now, updated_at=now)
    session.add(call)
    session.flush()
    _audit(session, actor, "call.started", call, {"direction": direction, "stage": stage})
    return _info(call)


def update_call(session: Session, call_sid: str, **changes: Any) -> CallInfo | None:
    """Set stage, topic, outcome, ticket_id or recording_url; an audit row lists what changed."""
    call = _by_sid(session, call_sid)
    if call is None:
        return None
    diff = {k: [getattr(call, k), v] for k, v in changes.items() if getattr(call, k) != v}
    if diff:
        for key, (_, value) in diff.items():
            setattr(call, key, value)
        call.updated_at = utcnow()
        session.flush()
        _audit(session, SYSTEM, "call.updated", call, diff)
    return _info(call)


@dataclass(frozen=True, slots=True)
class StatusResult:
    call: CallInfo
    duplicate: bool


def record_status(session: Session, *, call_sid: str, sequence: str, rank: int, status: str,
                  duration: int | None, final: bool, outcome_of: Any, payload: dict[str, str],
                  direction: str, from_number: str, to_number: str, address: Address | None) -> StatusResult:
    """Store one status callback once (UNIQUE(call_sid, sequence)); a newer one updates the call.

    ``outcome_of(call)`` gives the final outcome when the callback ends the call. An older callback that
    arrives late is stored but changes nothing.
    """
    seen = session.scalar(select(CallEvent.id).where(CallEvent.call_sid == call_sid, CallEvent.sequence == sequence))
    call = _by_sid(session, call_sid)
    if seen is not None and call is not None:
        return StatusResult(_info(call), duplicate=True)
    if call is None:
        open_call(session, call_sid=call_sid, direction=direction, from_number=from_number, to_number=to_number,
                  address=address)
        call = _by_sid(session, call_sid)
        assert call is not None
    session.add(CallEvent(call_sid=call_sid, sequence=sequence, status=status, duration=duration, payload=payload,
                          created_at=utcnow()))
    if rank > call.last_sequence and call.ended_at is None:
        changes: dict[str, Any] = {"status": [call.status, status]}
        call.status, call.last_sequence = status, rank
        if duration is not None:
            changes["duration"] = [call.duration, duration]
            call.duration = duration
        if final:
            outcome = outcome_of(call)
            changes["outcome"] = [call.outcome, outcome]
            call.outcome = outcome
            call.ended_at = utcnow()
        call.updated_at = utcnow()
        session.flush()
        _audit(session, SYSTEM, "call.ended" if final else "call.status", call, changes)
    return StatusResult(_info(call), duplicate=False)

