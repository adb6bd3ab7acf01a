"""Two server processes on one PostgreSQL database route at the same time: no agent above capacity,
no ticket offered or assigned twice."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
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

ROOT = Path(__file__).resolve().parents[2]
AGENTS, CAPACITY, TICKETS = 3, 2, 24


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def servers(settings: Settings, tmp_path: Path) -> Iterator[list[str]]:
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("several server processes share one database on PostgreSQL only (set CC_TEST_DATABASE_URL)")
    urls, processes = [], []
    for n in range(2):
        port = free_port()
        env = {**os.environ, "CC_DATABASE__URL": settings.database_url, "CC_SERVER__PORT": str(port),
               "CC_SERVER__DATA_DIR": str(tmp_path / f"server{n}"), "CC_SERVER__LOG_LEVEL": "WARNING",
               "CC_SERVER__SECRET_KEY": "two-routers-test", "CC_EMAIL__ENABLED": "false",
               "CC_WEBFORM__RATE_PER_IP": "0", "CC_WEBFORM__RATE_PER_ADDRESS": "0",
               "CC_ROUTING__CAPACITY": f'{{"email": {CAPACITY}}}', "CC_ROUTING__TIMER_INTERVAL": "0.2"}
        processes.append(subprocess.Popen([sys.executable, "-m", "contactcenter", "serve"], env=env, cwd=ROOT))
        urls.append(f"http://127.0.0.1:{port}")
    try:
        yield urls
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)


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
            for url in servers:
                for _ in range(100):
                    try:
                        async with http.get(url + "/health") as response:
                            if response.status == 200:
                                break
                    except aiohttp.ClientError:
                        pass
                    await asyncio.sleep(0.1)

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
