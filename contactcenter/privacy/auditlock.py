"""The one way past the audit table's append-only triggers (erasure and retention only)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import delete, insert
from sqlalchemy.orm import Session

from contactcenter.db.models import AuditUnlock
from contactcenter.db.types import utcnow


@contextmanager
def audit_unlocked(session: Session, reason: str) -> Iterator[None]:
    """Let this transaction scrub or delete audit rows while the block runs.

    The unlock row is removed before the block's transaction can commit, so no other transaction ever sees
    it; if the block fails, the rollback removes it.
    """
    row_id = session.execute(insert(AuditUnlock).values(reason=reason[:60], created_at=utcnow())
                             .returning(AuditUnlock.id)).scalar_one()
    yield
    session.execute(delete(AuditUnlock).where(AuditUnlock.id == row_id))
