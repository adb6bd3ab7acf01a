"""Who is acting, and the audit row every write leaves behind."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from contactcenter.db.models import AuditEvent
from contactcenter.db.types import utcnow
from contactcenter.domain.enums import Role


@dataclass(frozen=True, slots=True)
class Actor:
    """The author of a change: a staff user, a contact (customer) or the system."""

    kind: str  # "user", "contact" or "system"
    id: int | None = None
    role: Role | None = None

    @classmethod
    def user(cls, user_id: int, role: Role) -> Actor:
        return cls("user", user_id, role)

    @classmethod
    def contact(cls, contact_id: int) -> Actor:
        return cls("contact", contact_id)


SYSTEM = Actor("system")


def audit_row(actor: Actor, action: str, object_type: str, object_id: int, changes: dict[str, Any] | None = None,
              *, ticket_id: int | None = None, at: datetime | None = None) -> dict[str, Any]:
    """The values of one audit row (for bulk inserts; ``record`` adds a single one)."""
    return {"created_at": at or utcnow(), "actor_kind": actor.kind, "actor_id": actor.id, "action": action,
            "object_type": object_type, "object_id": object_id, "ticket_id": ticket_id, "changes": changes or {}}


def record(session: AsyncSession | Session, actor: Actor, action: str, object_type: str, object_id: int,
           changes: dict[str, Any] | None = None, *, ticket_id: int | None = None) -> None:
    """Add an audit row to the caller's transaction."""
    session.add(AuditEvent(**audit_row(actor, action, object_type, object_id, changes, ticket_id=ticket_id)))
