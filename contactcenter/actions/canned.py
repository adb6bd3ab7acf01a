"""Canned responses: shared ones (supervisors write them) and each agent's own."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from contactcenter.actions.audit import Actor, record
from contactcenter.db.models import CannedResponse, Contact, ContactIdentity, Ticket, User
from contactcenter.db.types import utcnow
from contactcenter.domain.canned import fill, first_name
from contactcenter.domain.enums import Role
from contactcenter.errors import Conflict, Forbidden, NotFound


def may_edit(response: CannedResponse, actor: Actor) -> bool:
    """Your own responses; shared ones need a supervisor."""
    if response.owner_id is None:
        return actor.role is not None and actor.role.at_least(Role.SUPERVISOR)
    return response.owner_id == actor.id


async def get_canned(session: AsyncSession, response_id: int, actor: Actor) -> CannedResponse:
    """A response the actor may see (shared or their own); someone else's is a 404, not a 403."""
    response = await session.get(CannedResponse, response_id)
    if response is None or (response.owner_id is not None and response.owner_id != actor.id):
        raise NotFound(f"canned response {response_id} not found")
    return response


async def _flush(session: AsyncSession, shortcut: str) -> None:
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise Conflict(f"the shortcut {shortcut!r} is taken") from None


async def do_create_canned(session: AsyncSession, *, title: str, shortcut: str, body: str, language: str | None,
                           shared: bool, actor: Actor) -> CannedResponse:
    if shared and not (actor.role is not None and actor.role.at_least(Role.SUPERVISOR)):
        raise Forbidden("shared canned responses need the supervisor role")
    owner_id = None if shared else actor.id
    taken = await session.scalar(select(CannedResponse.id).where(
        CannedResponse.shortcut == shortcut,
        CannedResponse.owner_id.is_(None) if owner_id is None else CannedResponse.owner_id == owner_id))
    if taken is not None:  # NULL owners are never equal in a unique index: check shared ones here
        raise Conflict(f"the shortcut {shortcut!r} is taken")
    now = utcnow()
    response = CannedResponse(title=title, shortcut=shortcut, body=body, language=language, owner_id=owner_id,
                              created_at=now, updated_at=now)
    session.add(response)
    await _flush(session, shortcut)
    record(session, actor, "canned.created", "canned_response", response.id, {"shortcut": shortcut,
                                                                             "shared": shared})
    return response


async def do_update_canned(session: AsyncSession, response_id: int, changes: dict[str, Any], *,
                           actor: Actor) -> CannedResponse:
    response = await get_canned(session, response_id, actor)
    if not may_edit(response, actor):
        raise Forbidden("shared canned responses are edited by supervisors")
    diff: dict[str, list[Any]] = {}
    for key in ("title", "shortcut", "body", "language"):
        if key in changes and changes[key] != getattr(response, key):
            diff[key] = [getattr(response, key), changes[key]]
            setattr(response, key, changes[key])
    if "shortcut" in diff and response.owner_id is None:
        taken = await session.scalar(select(CannedResponse.id).where(
            CannedResponse.shortcut == response.shortcut, CannedResponse.owner_id.is_(None),
            CannedResponse.id != response.id))
        if taken is not None:
            raise Conflict(f"the shortcut {response.shortcut!r} is taken")
    if diff:
        response.updated_at = utcnow()
        await _flush(session, response.shortcut)
        record(session, actor, "canned.updated", "canned_response", response.id,
               {k: v for k, v in diff.items() if k != "body"} | ({"body": "changed"} if "body" in diff else {}))
    return response


async def do_delete_canned(session: AsyncSession, response_id: int, *, actor: Actor) -> None:
    response = await get_canned(session, response_id, actor)
    if not may_edit(response, actor):
        raise Forbidden("shared canned responses are deleted by supervisors")
    record(session, actor, "canned.deleted", "canned_response", response.id, {"shortcut": response.shortcut})
    await session.delete(response)


async def render_canned(session: AsyncSession, response: CannedResponse, ticket_id: int,
                        user: User) -> tuple[str, list[str]]:
    """The response's body filled in for one ticket and the agent who sends it (read only)."""
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None:
        raise NotFound(f"ticket {ticket_id} not found")
    contact = await session.get(Contact, ticket.contact_id)
    email = await session.scalar(select(ContactIdentity.value).where(
        ContactIdentity.contact_id == ticket.contact_id, ContactIdentity.kind == "email")
        .order_by(ContactIdentity.id).limit(1))
    name = (contact.name if contact is not None else "") or ""
    values = {"customer.name": name, "customer.first_name": first_name(name), "customer.email": email or "",
              "agent.name": user.name, "agent.first_name": first_name(user.name), "ticket.number": str(ticket.id),
              "ticket.subject": ticket.subject or "", "ticket.channel": ticket.channel}
    return fill(response.body, values)
