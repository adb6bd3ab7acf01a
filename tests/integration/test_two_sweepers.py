"""Two server processes on one PostgreSQL database sweep the same SLA timers: every warning, breach and
escalation step fires exactly once, and every notification is written once."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func, select

from channels.base import InboundMessage
from contactcenter.actions.agents import do_create_agent
from contactcenter.actions.audit import SYSTEM
from contactcenter.app import build_context
from contactcenter.db.models import AuditEvent, Notification, SlaPolicy, SlaTimer, Ticket
from contactcenter.db.types import utcnow
from contactcenter.domain.enums import IdentityKind, Role
from contactcenter.domain.identities import Address
from contactcenter.intake import intake
from contactcenter.settings import Settings
from tests.servers import serve_processes, wait_healthy

TICKETS = 20


@pytest.fixture
def servers(settings: Settings, tmp_path: Path) -> Iterator[list[str]]:
    with serve_processes(settings, tmp_path, 2, {"CC_ROUTING__ENABLED": "false", "CC_SLA__MAX_SLEEP_SECONDS": "0.5",
                                                 "CC_SLA__BATCH_SIZE": "7"}) as urls:
        yield urls


async def test_two_processes_fire_each_sla_point_once(settings: Settings, servers: list[str]) -> None:
    ctx = build_context(settings.with_overrides({"routing": {"enabled": False}}))
    try:
        async with ctx.db.write() as session:
            # breach 6 s after creation, a warning at 50 %; both escalate
            session.add(SlaPolicy(name="Fast", position=1, conditions={}, calendar={"business_hours": False},
                                  targets={"first_response_minutes": 0.1, "warn_percent": [50],
                                           "warn_before_minutes": []},
                                  escalation=[{"at": "warn-50%", "action": "notify_assignee"},
                                              {"at": "breach", "action": "raise_priority"}]))
        async with ctx.db.write() as session:  # the unassigned tickets' notify_assignee steps tell them instead
            bosses = [(await do_create_agent(session, email=f"boss{n}@agents.example", name="Boss",
                                             role=Role.SUPERVISOR, password=None, actor=SYSTEM)).id for n in range(2)]
        for i in range(TICKETS):
            msg = InboundMessage(channel="webform", external_id=f"s{i}", received_at=utcnow(), text="Help",
                                 sender=Address(IdentityKind.EMAIL, f"s{i}@customers.example"), subject=f"R{i}",
                                 topic="billing", language="en")
            await intake(ctx.db, ctx.store, ctx.settings, msg)
        async with aiohttp.ClientSession() as http:
            await wait_healthy(http, servers)

        async def pending() -> int:
            async with ctx.db.read() as session:
                return int(await session.scalar(select(func.count()).select_from(SlaTimer).where(
                    SlaTimer.state == "pending")) or 0)

        async def timer_count() -> int:
            async with ctx.db.read() as session:
                return int(await session.scalar(select(func.count()).select_from(SlaTimer)) or 0)

        for _ in range(600):  # the servers' relays write the timers, then their sweepers fire them
            if await timer_count() >= TICKETS * 2 and await pending() == 0:
                break
            await asyncio.sleep(0.1)
        async with ctx.db.read() as session:
            actions = dict((await session.execute(select(AuditEvent.action, func.count()).where(
                AuditEvent.action.startswith("sla.")).group_by(AuditEvent.action))).all())
            priorities = dict((await session.execute(select(Ticket.priority, func.count())
                                                     .group_by(Ticket.priority))).all())
            states = dict((await session.execute(select(SlaTimer.state, func.count()).where(
                SlaTimer.metric == "first_response").group_by(SlaTimer.state))).all())
            notified = (await session.execute(select(Notification.user_id, Notification.ticket_id))).all()
        assert states == {"fired": TICKETS * 2}
        assert actions == {"sla.warning": TICKETS, "sla.breached": TICKETS, "sla.escalated": TICKETS * 2}
        assert sum(priorities.values()) == TICKETS and len(priorities) == 1  # raised once each, all alike
        assert len(notified) == TICKETS * 2 and len(set(notified)) == TICKETS * 2  # once per supervisor and ticket
        assert {user for user, _ in notified} == set(bosses)
    finally:
        await ctx.db.dispose()
