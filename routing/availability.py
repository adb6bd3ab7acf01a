"""Who can take a live conversation now. A stand-in until routing (issue 5) decides per skill and capacity."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from contactcenter.db.models import User
from contactcenter.domain.enums import Presence


async def agents_available(session: AsyncSession) -> int:
    """How many active staff users have their presence set to available (any skill)."""
    count = await session.scalar(select(func.count()).select_from(User).where(
        User.is_active.is_(True), User.presence == Presence.AVAILABLE.value))
    return int(count or 0)
