"""The SLA engine against a real database: timers written from relay events, the sweeper firing each warning and
breach exactly once with its escalation steps, recompute-before-fire, missed due times after a restart, and two
sweepers on one database. Time is driven explicitly: ``tick(now)``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from channels.base import InboundMessage
from contactcenter.actions.agents import do_create_agent
from contactcenter.actions.audit import SYSTEM, Actor
from contactcenter.actions.notifications import do_notify
from contactcenter.actions.tickets import do_reply, do_update_ticket
from contactcenter.app import build_context
from contactcenter.context import Context
from contactcenter.db.models import (
    AuditEvent,
    Message,
    Notification,
    OutboxEvent,
    SlaPolicy,
    SlaTicket,
    SlaTimer,
    Ticket,
)
from contactcenter.db.types import utcnow
from contactcenter.demo import load_demo
from contactcenter.domain.enums import IdentityKind, Role, TicketStatus
from contactcenter.domain.identities import Address
from contactcenter.intake import intake
from contactcenter.settings import Settings
from contactcenter.sla.service import SlaService
from routing.push import agent_topic

AROUND_THE_CLOCK = {"business_hours": False}


@pytest.fixture
async def sla(settings: Settings) -> AsyncIterator[Context]:
    context = build_context(settings.with_overrides({"routing": {"enabled": False}}))
    async with context.db.write() as session:
        session.add_all([
            SlaPolicy(name="Complaints", position=1, conditions={"type": ["complaint"]},
                      targets={"first_response_minutes": 30, "resolution_minutes": 120}, calendar=AROUND_THE_CLOCK,
                      escalation=[{"at": "breach", "action": "reroute", "queue": "escalations",
                                   "metrics": ["first_response"]}]),
            SlaPolicy(name="Default", position=100, conditions={},
                      targets={"first_response_minutes": 60, "next_response_minutes": 60, "resolution_minutes": 480,
                               "warn_percent": [50], "warn_before_minutes": [10]},
                      calendar=AROUND_THE_CLOCK,
                      escalation=[{"at": "warn-50%", "action": "notify_assignee"},
                                  {"at": "breach", "action": "raise_priority", "metrics": ["first_response"]}]),
        ])
    yield context
    await context.db.dispose()


async def new_ticket(ctx: Context, key: str, *, topic: str | None = "billing") -> tuple[int, datetime]:
    local, _, domain = key.partition("@")
    sender = Address(IdentityKind.EMAIL, f"{local}@{domain or 'customers'}.example")
    msg = InboundMessage(channel="webform", external_id=key, sender=sender, received_at=utcnow(), text="Help",
                         subject=f"Request {key}", topic=topic, language="en")
    result = await intake(ctx.db, ctx.store, ctx.settings, msg)
    await ctx.relay.drain()
    async with ctx.db.read() as session:
        ticket = await session.get(Ticket, result.ticket_id)
        assert ticket is not None
        return ticket.id, ticket.created_at


async def timers(ctx: Context, ticket_id: int) -> dict[tuple[str, int, str], SlaTimer]:
    async with ctx.db.read() as session:
        rows = (await session.scalars(select(SlaTimer).where(SlaTimer.ticket_id == ticket_id))).all()
        return {(t.metric, t.cycle, t.point): t for t in rows}


async def audit_actions(ctx: Context, ticket_id: int, prefix: str = "sla.") -> list[tuple[str, dict[str, object]]]:
    async with ctx.db.read() as session:
        rows = (await session.execute(select(AuditEvent.action, AuditEvent.changes).where(
            AuditEvent.ticket_id == ticket_id, AuditEvent.action.startswith(prefix)).order_by(AuditEvent.id))).all()
        return [(a, c) for a, c in rows]


async def make_agent(ctx: Context) -> int:
    async with ctx.db.write() as session:
        user = await do_create_agent(session, email="agent@agents.example", name="Agent", role=Role.AGENT,
                                     password=None, actor=SYSTEM)
    return user.id


async def notifications(ctx: Context) -> list[tuple[int, str, int | None]]:
    async with ctx.db.read() as session:
        rows = (await session.execute(select(Notification.user_id, Notification.kind, Notification.ticket_id)
                                      .order_by(Notification.id))).all()
        return [(u, k, t) for u, k, t in rows]


async def make_supervisor(ctx: Context, email: str = "boss@agents.example") -> int:
    async with ctx.db.write() as session:
        user = await do_create_agent(session, email=email, name="Boss", role=Role.SUPERVISOR, password=None,
                                     actor=SYSTEM)
    return user.id


def service(ctx: Context) -> SlaService:
    assert ctx.sla is not None
    return ctx.sla


async def test_a_new_ticket_gets_its_timers_and_figures(sla: Context) -> None:
    ticket_id, created = await new_ticket(sla, "t1")
    found = await timers(sla, ticket_id)
    assert {k: (t.state, t.due_at - created) for k, t in found.items()} == {
        ("first_response", 0, "warn-50%"): ("pending", timedelta(minutes=30)),
        ("first_response", 0, "warn-10m"): ("pending", timedelta(minutes=50)),
        ("first_response", 0, "breach"): ("pending", timedelta(minutes=60)),
        ("resolution", 0, "warn-50%"): ("pending", timedelta(hours=4)),
        ("resolution", 0, "warn-10m"): ("pending", timedelta(hours=7, minutes=50)),
        ("resolution", 0, "breach"): ("pending", timedelta(hours=8)),
    }
    async with sla.db.read() as session:
        figures = await session.get(SlaTicket, ticket_id)
        assert figures is not None and figures.policy_name == "Default" and figures.breaches == 0
    assert await service(sla).next_due() == created + timedelta(minutes=30)


async def test_the_sweeper_fires_each_point_once_with_its_escalation_steps(sla: Context) -> None:
    ticket_id, created = await new_ticket(sla, "t2")
    sweeper = service(sla)
    assert await sweeper.tick(created + timedelta(minutes=29)) == 0
    assert await sweeper.tick(created + timedelta(minutes=30)) == 1  # first response's warn-50%
    assert await sweeper.tick(created + timedelta(minutes=30)) == 0  # once
    await sla.relay.drain()
    assert await sweeper.tick(created + timedelta(minutes=61)) == 2  # warn-10m and the breach
    assert await sweeper.tick(created + timedelta(minutes=61)) == 0
    await sla.relay.drain()
    actions = [(a, c.get("metric"), c.get("point"), c.get("action")) for a, c in await audit_actions(sla, ticket_id)]
    assert actions == [
        ("sla.warning", "first_response", "warn-50%", None),
        ("sla.escalated", "first_response", "warn-50%", "notify_assignee"),
        ("sla.warning", "first_response", "warn-10m", None),
        ("sla.breached", "first_response", "breach", None),
        ("sla.escalated", "first_response", "breach", "raise_priority"),
    ]
    fired = await timers(sla, ticket_id)
    assert {k for k, t in fired.items() if t.state == "fired"} == {
        ("first_response", 0, "warn-50%"), ("first_response", 0, "warn-10m"), ("first_response", 0, "breach")}
    async with sla.db.read() as session:
        ticket = await session.get(Ticket, ticket_id)
        assert ticket is not None and ticket.priority == "high"  # raised one level, once
        topics = (await session.scalars(select(OutboxEvent.topic).where(OutboxEvent.topic.startswith("sla."))
                                        .order_by(OutboxEvent.id))).all()
    assert topics == ["sla.warning", "sla.escalated", "sla.warning", "sla.breached", "sla.escalated"]


async def test_a_reply_meets_first_response_and_cancels_its_timers(sla: Context) -> None:
    ticket_id, created = await new_ticket(sla, "t3")
    agent = await make_agent(sla)
    async with sla.db.write() as session:
        await do_reply(session, ticket_id, "On it", actor=Actor.user(agent, Role.AGENT))
    await sla.relay.drain()
    found = await timers(sla, ticket_id)
    assert {k[2]: t.state for k, t in found.items() if k[0] == "first_response"} == {
        "warn-50%": "cancelled", "warn-10m": "cancelled", "breach": "cancelled"}
    assert await service(sla).tick(created + timedelta(hours=2)) == 0  # resolution's first warning is at 4 h
    assert await service(sla).tick(created + timedelta(hours=4)) == 1


async def test_solved_before_the_relay_delivered_is_not_breached(sla: Context) -> None:
    ticket_id, created = await new_ticket(sla, "t4")
    async with sla.db.write() as session:
        await do_update_ticket(session, ticket_id, {"status": TicketStatus.SOLVED}, actor=SYSTEM)
    # no drain: the sweeper finds the old timers due, recomputes first, and cancels them
    assert await service(sla).tick(created + timedelta(hours=9)) == 0
    assert await audit_actions(sla, ticket_id) == []
    assert {t.state for t in (await timers(sla, ticket_id)).values()} == {"cancelled"}


async def test_complaints_reroute_and_always_escalate_on_breach(sla: Context) -> None:
    ticket_id, created = await new_ticket(sla, "t5", topic="complaint")
    async with sla.db.read() as session:
        ticket = await session.get(Ticket, ticket_id)
        assert ticket is not None and ticket.type == "complaint"
        before = ticket.priority
    assert await service(sla).tick(created + timedelta(minutes=31)) >= 1
    await sla.relay.drain()
    steps = [c.get("action") for a, c in await audit_actions(sla, ticket_id) if a == "sla.escalated"]
    assert steps == ["reroute", "notify_supervisor", "raise_priority"]
    async with sla.db.read() as session:
        ticket = await session.get(Ticket, ticket_id)
        assert ticket is not None and ticket.queue == "escalations" and ticket.priority != before


async def test_missed_due_times_fire_once_after_a_restart(sla: Context, settings: Settings) -> None:
    ticket_id, created = await new_ticket(sla, "t6")
    restarted = build_context(settings.with_overrides({"routing": {"enabled": False}}))
    try:
        assert await service(restarted).tick(created + timedelta(days=1)) == 6
        assert await service(restarted).tick(created + timedelta(days=1)) == 0
        assert await service(sla).tick(created + timedelta(days=1)) == 0
    finally:
        await restarted.db.dispose()
    breaches = [c.get("metric") for a, c in await audit_actions(sla, ticket_id) if a == "sla.breached"]
    assert sorted(breaches) == ["first_response", "resolution"]


async def test_two_sweepers_on_one_database_fire_each_timer_once(sla: Context, settings: Settings) -> None:
    bosses = [await make_supervisor(sla, f"boss{i}@agents.example") for i in range(2)]
    created = [(await new_ticket(sla, f"m{i}"))[1] for i in range(6)]
    other = build_context(settings.with_overrides({"routing": {"enabled": False}, "sla": {"batch_size": 4}}))
    try:
        when = max(created) + timedelta(days=1)
        counts = await asyncio.gather(service(sla).tick(when), service(other).tick(when),
                                      service(other).tick(when), service(sla).tick(when))
    finally:
        await other.db.dispose()
    assert sum(counts) == 36
    async with sla.db.read() as session:
        fired = await session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action.in_(["sla.warning", "sla.breached"])))
    assert fired == 36
    # the warn-50% notify_assignee steps of unassigned tickets (first response and resolution) told both
    # supervisors, once each: 6 tickets x 2 points x 2 supervisors
    found = await notifications(sla)
    assert len(found) == 24 and {u for u, _, _ in found} == set(bosses)
    assert all(found.count(row) == 2 for row in found) and {k for _, k, _ in found} == {"sla.warning"}


class Console:
    """An open console connection as the hub sees it: it keeps what it is sent."""

    def __init__(self) -> None:
        self.frames: list[dict[str, object]] = []

    async def deliver(self, frame: Mapping[str, Any]) -> bool:
        self.frames.append(dict(frame))
        return True


async def test_escalations_reach_the_assignee_and_supervisors_consoles(sla: Context) -> None:
    agent = await make_agent(sla)
    async with sla.db.write() as session:
        boss = await do_create_agent(session, email="boss@agents.example", name="Boss", role=Role.SUPERVISOR,
                                     password=None, actor=SYSTEM)
    ticket_id, created = await new_ticket(sla, "t7", topic="complaint")
    async with sla.db.write() as session:
        await do_update_ticket(session, ticket_id, {"assignee_id": agent}, actor=SYSTEM)
    await sla.relay.drain()
    mine, theirs = Console(), Console()
    sla.hub.subscribe(agent_topic(agent), mine)
    sla.hub.subscribe(agent_topic(boss.id), theirs)
    await service(sla).tick(created + timedelta(minutes=31))
    await sla.relay.drain()
    assert [(f["type"], f["point"]) for f in mine.frames] == [  # 30 minutes: both default warnings at 22.5 min
        ("sla.warning", "warn-15m"), ("sla.warning", "warn-75%"), ("sla.breached", "breach")]
    # the complaint's breach always notifies the supervisors: a durable notification, pushed as it is written
    assert [(f["type"], f["kind"], f["ticket_id"]) for f in theirs.frames] == [
        ("notification", "sla.breach", ticket_id)]
    assert str(theirs.frames[0]["text"]).startswith("SLA breached: first response was due")
    assert await notifications(sla) == [(boss.id, "sla.breach", ticket_id)]


async def test_demo_policies_and_contract(settings: Settings) -> None:
    ctx = build_context(settings.with_overrides({"routing": {"enabled": False}}))
    try:
        await load_demo(ctx.db, ctx.settings, out=lambda _: None)
        async with ctx.db.read() as session:
            policies = await session.run_sync(service(ctx).policies)
        assert [p.name for p in policies] == ["Complaints", "Gold contract", "Default"]
        gold, _ = await new_ticket(ctx, "demo-gold@parsian")  # a Parsian address: gold tier, contract in force
        async with ctx.db.read() as session:
            figures = await session.get(SlaTicket, gold)
        assert figures is not None and figures.policy_name == "Gold contract"
        assert figures.contract == "Parsian gold support 2026" and figures.flags == []
    finally:
        await ctx.db.dispose()


async def set_ladder(ctx: Context, name: str, escalation: list[dict[str, Any]]) -> None:
    async with ctx.db.write() as session:
        policy = await session.scalar(select(SlaPolicy).where(SlaPolicy.name == name))
        assert policy is not None
        policy.escalation = escalation


async def test_a_complaint_with_an_empty_ladder_still_escalates_on_breach(sla: Context) -> None:
    await set_ladder(sla, "Complaints", [])
    boss = await make_supervisor(sla)
    ticket_id, created = await new_ticket(sla, "t8", topic="complaint")
    async with sla.db.read() as session:
        ticket = await session.get(Ticket, ticket_id)
        assert ticket is not None and ticket.priority == "high"  # complaints start high
    assert await service(sla).tick(created + timedelta(minutes=29)) == 2  # warnings at 75 % and 15 minutes before
    assert await service(sla).tick(created + timedelta(minutes=30)) == 1  # first response's breach
    steps = [c.get("action") for a, c in await audit_actions(sla, ticket_id) if a == "sla.escalated"]
    assert steps == ["notify_supervisor", "raise_priority"]
    async with sla.db.read() as session:
        ticket = await session.get(Ticket, ticket_id)
        assert ticket is not None and ticket.priority == "urgent"
    assert await notifications(sla) == [(boss, "sla.breach", ticket_id)]
    assert await service(sla).tick(created + timedelta(minutes=30)) == 0  # once


async def test_notify_assignee_is_durable_without_a_console(sla: Context) -> None:
    agent = await make_agent(sla)
    ticket_id, created = await new_ticket(sla, "t9")
    async with sla.db.write() as session:
        await do_update_ticket(session, ticket_id, {"assignee_id": agent}, actor=SYSTEM)
    await sla.relay.drain()
    assert not sla.hub.listeners(agent_topic(agent))  # no console open anywhere
    assert await service(sla).tick(created + timedelta(minutes=30)) == 1
    await sla.relay.drain()
    assert await notifications(sla) == [(agent, "sla.warning", ticket_id)]
    escalated = [c for a, c in await audit_actions(sla, ticket_id) if a == "sla.escalated"]
    assert [(c["action"], c["notified"]) for c in escalated] == [("notify_assignee", [agent])]


async def test_do_notify_writes_once_per_user_and_key(sla: Context) -> None:
    agent = await make_agent(sla)
    ticket_id, _ = await new_ticket(sla, "t10")
    for _ in range(2):
        async with sla.db.write() as session:
            await do_notify(session, [agent], kind="mention", text="You were mentioned", ticket_id=ticket_id,
                            key="mention:1", actor=SYSTEM)
    async with sla.db.write() as session:  # no key: every call is a new notification
        await do_notify(session, [agent], kind="mention", text="Again", ticket_id=ticket_id, actor=SYSTEM)
    assert await notifications(sla) == [(agent, "mention", ticket_id), (agent, "mention", ticket_id)]
    async with sla.db.read() as session:
        created = (await session.scalars(select(OutboxEvent.topic).where(
            OutboxEvent.topic == "notification.created"))).all()
    assert len(created) == 2


CUSTOMER_UPDATES = [{"at": "breach", "action": "notify_customer", "metrics": ["first_response"]}]


async def customer_messages(ctx: Context, ticket_id: int) -> list[tuple[str, str, bool, str]]:
    async with ctx.db.read() as session:
        rows = (await session.execute(select(Message.author_kind, Message.text, Message.internal,
                                             Message.delivery_status).where(
            Message.ticket_id == ticket_id, Message.direction == "out").order_by(Message.id))).all()
        return [(a, t, i, d) for a, t, i, d in rows]


async def test_notify_customer_sends_one_public_update_in_the_ticket_language(sla: Context) -> None:
    await set_ladder(sla, "Default", CUSTOMER_UPDATES)
    ticket_id, created = await new_ticket(sla, "t11")
    async with sla.db.write() as session:
        ticket = await session.get(Ticket, ticket_id)
        assert ticket is not None
        ticket.language = "fa"
    assert await service(sla).tick(created + timedelta(minutes=60)) == 3  # two warnings and the breach
    assert await service(sla).tick(created + timedelta(minutes=60)) == 0
    await sla.relay.drain()
    sent = await customer_messages(sla, ticket_id)
    assert len(sent) == 1
    author, text, internal, status = sent[0]
    assert (author, internal, status) == ("system", False, "delivered")  # the web form's portal shows it
    assert f"#{ticket_id}" in text and "پوزش" in text
    escalated = [c for a, c in await audit_actions(sla, ticket_id) if a == "sla.escalated"]
    assert [(c["action"], c["customer_update"]) for c in escalated] == [("notify_customer", "queued")]
    # a system message is no agent reply: the first-response clock is not met by it
    async with sla.db.read() as session:
        figures = await session.get(SlaTicket, ticket_id)
        assert figures is not None and figures.first_response_business_seconds is None


async def test_notify_customer_is_skipped_when_nobody_can_or_should_receive_it(sla: Context) -> None:
    await set_ladder(sla, "Default", CUSTOMER_UPDATES)
    ctx = sla
    waiting, created = await new_ticket(ctx, "t12")
    async with ctx.db.write() as session:
        await do_update_ticket(session, waiting, {"status": TicketStatus.PENDING}, actor=SYSTEM)
    recorded = await intake(ctx.db, ctx.store, ctx.settings, InboundMessage(
        channel="in_person", external_id="desk-1", sender=Address(IdentityKind.EMAIL, "walkin@customers.example"),
        received_at=utcnow(), text="I came by", subject="Visit", language="en"))
    await ctx.relay.drain()
    async with ctx.db.read() as session:
        visit = await session.get(Ticket, recorded.ticket_id)
        assert visit is not None
    await service(ctx).tick(max(created, visit.created_at) + timedelta(hours=2))
    # pending: the clock paused, so its breach never fired and nothing was sent
    assert await customer_messages(ctx, waiting) == []
    assert [a for a, _ in await audit_actions(ctx, waiting)] == []
    assert await customer_messages(ctx, visit.id) == []
    escalated = [c for a, c in await audit_actions(ctx, visit.id) if a == "sla.escalated"]
    assert [(c["customer_update"], c["reason"]) for c in escalated] == [("skipped", "channel_cannot_receive")]
