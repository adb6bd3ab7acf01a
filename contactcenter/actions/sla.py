"""SLA policies: create, replace, delete (admins). Every change is validated, audited, and announced so that the
SLA engine recomputes the open tickets' clocks with it. And the customer update of a ``notify_customer`` step."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from contactcenter.actions.audit import Actor, record
from contactcenter.db.models import Message, ServiceContract, SlaPolicy, Ticket
from contactcenter.db.types import utcnow
from contactcenter.domain.enums import AuthorKind, DeliveryStatus, Direction
from contactcenter.errors import Conflict, Invalid, NotFound
from contactcenter.events import ReplyQueued, SlaPoliciesChanged, emit
from contactcenter.sla.policies import PolicyError, parse_policy
from contactcenter.sla.store import lock_terms

FIELDS = ("name", "description", "position", "conditions", "targets", "calendar", "escalation")


async def lock_terms_to_change(session: AsyncSession) -> None:
    """Before changing policies or contracts: the terms lock until commit (``sla.store.lock_terms``). Taken first,
    before any row lock, since an intake batch holding it shared may need those rows (its timers' foreign keys)."""
    await session.run_sync(lambda s: lock_terms(s, shared=False))


def _check(values: Mapping[str, Any], read_file: Callable[[str], bytes]) -> None:
    try:
        parse_policy(0, str(values["name"]), int(values["position"]), values["conditions"], values["targets"],
                     values["calendar"], values["escalation"], read_file)
    except PolicyError as exc:
        raise Invalid(str(exc)) from None


async def do_create_sla_policy(session: AsyncSession, values: Mapping[str, Any], *, read_file: Callable[[str], bytes],
                               actor: Actor) -> SlaPolicy:
    await lock_terms_to_change(session)
    _check(values, read_file)
    if await session.scalar(select(SlaPolicy.id).where(SlaPolicy.name == values["name"])) is not None:
        raise Conflict(f"SLA policy {values['name']!r} exists")
    policy = SlaPolicy(**{k: values[k] for k in FIELDS})
    session.add(policy)
    try:
        await session.flush()
    except IntegrityError:
        raise Conflict(f"SLA policy {values['name']!r} exists") from None
    record(session, actor, "sla_policy.created", "sla_policy", policy.id, {k: values[k] for k in FIELDS})
    emit(session, SlaPoliciesChanged(policy_id=policy.id))
    return policy


async def do_replace_sla_policy(session: AsyncSession, policy_id: int, values: Mapping[str, Any], *,
                                read_file: Callable[[str], bytes], actor: Actor) -> SlaPolicy:
    await lock_terms_to_change(session)
    policy = await session.get(SlaPolicy, policy_id, with_for_update=True)
    if policy is None:
        raise NotFound(f"SLA policy {policy_id} not found")
    _check(values, read_file)
    if values["name"] != policy.name and await session.scalar(
            select(SlaPolicy.id).where(SlaPolicy.name == values["name"])) is not None:
        raise Conflict(f"SLA policy {values['name']!r} exists")
    diff = {k: [getattr(policy, k), values[k]] for k in FIELDS if getattr(policy, k) != values[k]}
    for key in FIELDS:
        setattr(policy, key, values[key])
    if diff:
        record(session, actor, "sla_policy.updated", "sla_policy", policy.id, diff)
        emit(session, SlaPoliciesChanged(policy_id=policy.id))
    return policy


async def do_update_sla_policy(session: AsyncSession, policy_id: int, changes: Mapping[str, Any], *,
                                read_file: Callable[[str], bytes], actor: Actor) -> SlaPolicy:
    """Change some fields of a policy (each given field is replaced whole), checked like a whole policy."""
    await lock_terms_to_change(session)
    policy = await session.get(SlaPolicy, policy_id, with_for_update=True)
    if policy is None:
        raise NotFound(f"SLA policy {policy_id} not found")
    values = {key: changes[key] if key in changes else getattr(policy, key) for key in FIELDS}
    return await do_replace_sla_policy(session, policy_id, values, read_file=read_file, actor=actor)


async def do_delete_sla_policy(session: AsyncSession, policy_id: int, *, actor: Actor) -> None:
    await lock_terms_to_change(session)
    policy = await session.get(SlaPolicy, policy_id, with_for_update=True)
    if policy is None:
        raise NotFound(f"SLA policy {policy_id} not found")
    if await session.scalar(select(ServiceContract.id).where(ServiceContract.sla_policy_id == policy_id).limit(1)):
        raise Conflict(f"SLA policy {policy.name!r} is the policy of a service contract")
    record(session, actor, "sla_policy.deleted", "sla_policy", policy.id, {"name": policy.name})
    await session.delete(policy)
    emit(session, SlaPoliciesChanged(policy_id=policy_id))


async def do_send_customer_update(session: AsyncSession, ticket: Ticket, text: str, *, why: Mapping[str, Any],
                                  actor: Actor) -> Message:
    """Queue a public system message to the customer on the ticket's channel (an SLA ``notify_customer`` step);
    the delivery worker sends it after commit like any reply. It is not an agent reply: no clock counts it."""
    message = Message(ticket_id=ticket.id, direction=Direction.OUTBOUND, author_kind=AuthorKind.SYSTEM, user_id=None,
                      channel=ticket.channel, internal=False, subject=ticket.subject, text=text,
                      delivery_status=DeliveryStatus.QUEUED, thread_reason="sla", meta={"sla": dict(why)},
                      created_at=utcnow())
    session.add(message)
    await session.flush()
    record(session, actor, "message.customer_updated", "message", message.id,
           {"channel": ticket.channel, **why}, ticket_id=ticket.id)
    emit(session, ReplyQueued(ticket_id=ticket.id, message_id=message.id))
    return message
