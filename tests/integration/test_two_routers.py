"""Two server processes on one PostgreSQL database route at the same time: no agent above capacity,
no ticket offered or assigned twice."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func, select

from contactcenter.actions.agents import do_create_agent, do_create_skill, do_set_presence
from contactcenter.actions.audit import SYSTEM
from contactcenter.app import build_context
from contactcenter.db.models import Offer, OutboxEvent, Ticket
from contactcenter.domain.enums import OfferStatus, OutboxStatus, Presence, Role
from contactcenter.settings import Settings
from tests.servers import serve_processes, wait_healthy

AGENTS, CAPACITY, TICKETS = 3, 2, 24


@pytest.fixture
def servers(settings: Settings, tmp_path: Path) -> Iterator[list[str]]:
    with serve_processes(settings, tmp_path, 2, {"CC_ROUTING__CAPACITY": f'{{"email": {CAPACITY}}}',
                                                 "CC_ROUTING__TIMER_INTERVAL": "0.2"}) as urls:
        yield urls


async def test_two_processes_never_double_offer_or_overfill(settings: Settings, servers: list[str]) -> None:
    ctx = build_context(settings)
    try:
        async with ctx.db.write() as session:
            await do_create_skill(session, name="billing", actor=SYSTEM)
            for i in range(AGENTS):
                user = await do_create_agent(session, email=f"a{i}@agents.example", name=f"A{i}", role=Role.AGENT,
                                             password=None, skills={"billing": 1 + i}, actor=SYSTEM)
                await do_set_presence(session, user.id, Presence.AVAILABLE, actor=SYSTEM)
        async with aiohttp.ClientSession() as http:
            await wait_healthy(http, servers)

            async def submit(i: int) -> int:
                body = {"name": f"C{i}", "email": f"c{i}@customers.example", "message": "A question about my bill",
                        "topic": "billing", "subject": f"Request {i}"}
                async with http.post(servers[i % 2] + "/api/v1/webform", json=body,
                                     headers={"Idempotency-Key": f"two-routers-{i}"}) as response:
                    return response.status

            assert set(await asyncio.gather(*(submit(i) for i in range(TICKETS)))) == {201}

        async def settled() -> bool:
            async with ctx.db.read() as session:
                left = await session.scalar(select(func.count()).select_from(OutboxEvent).where(
                    OutboxEvent.status.in_([OutboxStatus.PENDING, OutboxStatus.CLAIMED])))
                return left == 0

        for _ in range(300):
            if await settled():
                break
            await asyncio.sleep(0.1)
        async with ctx.db.read() as session:
            loads = dict((await session.execute(select(Ticket.assignee_id, func.count()).where(
                Ticket.assignee_id.is_not(None)).group_by(Ticket.assignee_id))).all())
            accepted = (await session.execute(select(Offer.ticket_id, func.count()).where(
                Offer.status == OfferStatus.ACCEPTED).group_by(Offer.ticket_id))).all()
        assert sorted(loads.values()) == [CAPACITY] * AGENTS  # everyone full, nobody above
        assert len(accepted) == AGENTS * CAPACITY and all(count == 1 for _, count in accepted)
    finally:
        await ctx.db.dispose()
