"""Who can take a live chat or call now: any agent the routing policy would find eligible for that kind
of work (presence available, not in wrap-up, free capacity for the channel's class, not on a call).
Skills and language are not asked: the router still picks the right agent for the ticket."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from contactcenter.settings import RoutingSettings
from routing.policy import Need, is_eligible
from routing.store import agent_views


async def agents_available(session: AsyncSession, settings: RoutingSettings, channel: str, now: datetime) -> int:
    """How many active agents could take new work on ``channel`` at ``now``."""
    need = Need(channel_class=settings.channel_class(channel))

    def count(sync: Session) -> int:
        return sum(is_eligible(agent, need, now, voice_blocks=settings.voice_blocks_other_work)
                   for agent in agent_views(sync, settings))

    return await session.run_sync(count)
