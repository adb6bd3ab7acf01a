"""SLA clocks started by intake in its own transaction: the timers, figures and listed breach time are there at
commit (before any relay batch), they are exactly what the SLA service's recompute from the stored history gives,
and the SLA subscriber does not compute them again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from channels.base import InboundMessage, ThreadHints
from contactcenter.actions.audit import SYSTEM
from contactcenter.actions.sla import do_update_sla_policy
from contactcenter.app import build_context
from contactcenter.context import Context
from contactcenter.db.engine import after_commit
from contactcenter.db.models import Organization, OutboxEvent, ServiceContract, SlaPolicy, SlaTicket, SlaTimer, Ticket
from contactcenter.db.types import utcnow
from contactcenter.demo import load_demo
from contactcenter.domain.enums import IdentityKind
from contactcenter.domain.identities import Address
from contactcenter.events import MessageReceived, TicketCreated
from contactcenter.intake import Arrival, receive_batch
from contactcenter.settings import Settings
from contactcenter.sla.service import SlaService
from contactcenter.sla.store import lock_terms


@pytest.fixture
async def demo(settings: Settings) -> AsyncIterator[Context]:
    """The demo's policies (complaints, a gold contract, the default) and organizations; routing off."""
    context = build_context(settings.with_overrides({"routing": {"enabled": False}}))
    await load_demo(context.db, context.settings, out=lambda _: None)
    await context.relay.drain()
    yield context
    await context.db.dispose()


def message(key: str, sender: str, *, topic: str | None = None, chat: str | None = None,
            text: str = "Help please") -> InboundMessage:
    return InboundMessage(channel="webform" if chat is None else "telegram", external_id=key,
                          sender=Address(IdentityKind.EMAIL, sender), received_at=utcnow(), text=text,
                          subject=f"Request {key}", topic=topic, language="en",
                          hints=ThreadHints(conversation_key=chat))


def service(ctx: Context) -> SlaService:
    assert ctx.sla is not None
    return ctx.sla


async def sla_state(ctx: Context, ids: list[int]) -> dict[int, Any]:
    """Per ticket: its timers, its figures (but the time they were computed) and the breach time it lists."""
    async with ctx.db.read() as session:
        timers = (await session.scalars(select(SlaTimer).where(SlaTimer.ticket_id.in_(ids)))).all()
        figures = {f.ticket_id: f for f in (await session.scalars(
            select(SlaTicket).where(SlaTicket.ticket_id.in_(ids)))).all()}
        listed = dict((await session.execute(select(Ticket.id, Ticket.sla_due_at).where(Ticket.id.in_(ids)))).all())
    out: dict[int, Any] = {}
    for ticket_id in ids:
        f = figures.get(ticket_id)
        out[ticket_id] = {
            "timers": sorted((t.metric, t.cycle, t.point, t.due_at, t.state, t.policy_id)
                             for t in timers if t.ticket_id == ticket_id),
            "figures": None if f is None else (f.policy_id, f.policy_name, f.contract, f.flags, f.breaches),
            "listed": listed.get(ticket_id)}
    return out


async def test_intake_starts_the_clocks_that_a_recompute_would_write(demo: Context) -> None:
    queue = demo.intake
    assert queue.sla is demo.sla  # wired by build_context
    arrivals = [
        Arrival(message("plain", "someone@customers.example")),
        Arrival(message("complaint", "angry@customers.example", topic="complaint")),
        Arrival(message("gold", "buyer@parsian.example")),  # gold tier, a contract in force (the demo's)
        # two messages of one new conversation in the same batch: one ticket, both in its history
        Arrival(message("chat-1", "chatty@customers.example", chat="c-1", text="Hello")),
        Arrival(message("chat-2", "chatty@customers.example", chat="c-1", text="Anyone there?")),
    ]
    results = await demo.db.run_write(lambda s: receive_batch(s, arrivals, demo.settings, service(demo)))
    ids = sorted({r.ticket_id for r in results if not isinstance(r, Exception)})
    assert len(ids) == 4

    # At commit, before the relay delivered anything: every new ticket has its clocks.
    started = await sla_state(demo, ids)
    assert all(state["timers"] and state["figures"] and state["listed"] for state in started.values())
    names = {ticket_id: state["figures"][1] for ticket_id, state in started.items()}
    assert sorted(names.values()) == ["Complaints", "Default", "Default", "Gold contract"]

    # The events say so, and the SLA subscriber leaves these tickets alone...
    async with demo.db.read() as session:
        payloads = (await session.execute(select(OutboxEvent.topic, OutboxEvent.payload).where(
            OutboxEvent.topic.in_([TicketCreated.topic, MessageReceived.topic]),
            OutboxEvent.payload["ticket_id"].as_integer().in_(ids)))).all()
    assert len(payloads) == 4 + 5 and all(p["clocks_started"] is True for _, p in payloads)
    await demo.relay.drain()
    assert await sla_state(demo, ids) == started

    # ...because recomputing them from the stored history changes nothing.
    await service(demo).recompute(ids, utcnow() + timedelta(seconds=1))
    assert await sla_state(demo, ids) == started


async def test_follow_ups_are_still_recomputed_by_the_subscriber(demo: Context) -> None:
    first = await demo.intake.submit(message("f-1", "again@customers.example", chat="c-2"))
    await demo.relay.drain()
    before = await sla_state(demo, [first.ticket_id])
    assert before[first.ticket_id]["timers"]

    later = message("f-2", "again@customers.example", chat="c-2", text="Still waiting")
    second = await demo.intake.submit(later)
    assert second.ticket_id == first.ticket_id and not second.created_ticket
    async with demo.db.read() as session:
        payload = await session.scalar(select(OutboxEvent.payload).where(
            OutboxEvent.topic == MessageReceived.topic,
            OutboxEvent.payload["message_id"].as_integer() == second.message_id))
    assert payload is not None and payload["clocks_started"] is False


async def test_after_commit_callbacks_run_once_committed_and_never_after_a_rollback(demo: Context) -> None:
    called: list[str] = []

    def work(session: Session, name: str, fail: bool) -> None:
        after_commit(session, lambda: called.append(name))
        assert name not in called  # not before the commit
        if fail:
            raise RuntimeError("rolled back")

    await demo.db.run_write(lambda s: work(s, "committed", False))
    with pytest.raises(RuntimeError):
        await demo.db.run_write(lambda s: work(s, "rolled back", True))
    async with demo.db.write() as session:
        await session.run_sync(lambda s: work(s, "async unit", False))
    assert called == ["committed", "async unit"]


async def test_on_postgresql_a_change_of_policies_waits_for_intake_batches_in_flight(demo: Context) -> None:
    if demo.db.is_sqlite:
        pytest.skip("SQLite serializes writers: no batch is in flight while a policy changes")
    holding, release = asyncio.Event(), asyncio.Event()

    async def intake_in_flight() -> None:
        async with demo.db.write() as session:
            await session.run_sync(lambda s: lock_terms(s, shared=True))  # what a batch opening tickets takes
            holding.set()
            await release.wait()
            # then it writes timers, whose foreign key takes KEY SHARE on the policy row: no deadlock with the
            # change, which must not hold that row while it waits for the terms lock
            await session.execute(text("SELECT id FROM sla_policies WHERE name = 'Default' FOR KEY SHARE"))

    async def change_default_policy() -> None:
        async with demo.db.write() as session:
            policy = await session.scalar(select(SlaPolicy).where(SlaPolicy.name == "Default"))
            assert policy is not None
            await do_update_sla_policy(session, policy.id, {"description": "changed"}, read_file=lambda _: b"",
                                       actor=SYSTEM)

    batch = asyncio.create_task(intake_in_flight())
    await holding.wait()
    change = asyncio.create_task(change_default_policy())
    await asyncio.sleep(0.5)
    assert not change.done()  # it waits for the batch's commit
    release.set()
    await asyncio.wait_for(asyncio.gather(batch, change), 10)  # neither is aborted as a deadlock


async def test_without_the_sla_service_intake_leaves_the_clocks_to_it(demo: Context) -> None:
    arrival = Arrival(message("no-sla", "plain@customers.example"))
    [result] = await demo.db.run_write(lambda s: receive_batch(s, [arrival], demo.settings))
    assert not isinstance(result, Exception)
    assert (await sla_state(demo, [result.ticket_id]))[result.ticket_id]["timers"] == []
    await demo.relay.drain()  # the subscriber starts them
    state = (await sla_state(demo, [result.ticket_id]))[result.ticket_id]
    assert state["timers"] and state["figures"][1] == "Default"


async def test_routing_rules_see_whether_a_contract_is_in_force(settings: Settings) -> None:
    """The terms a batch reads once serve routing too: a `contract = true` rule matches an organization whose
    contract is in force today (the demo's Parsian), not one whose contract has ended."""
    rule = {"name": "contract customers", "contract": True, "skill": "billing", "level": 3}
    ctx = build_context(settings.with_overrides({"routing": {"enabled": False, "rules": [rule]}}))
    try:
        await load_demo(ctx.db, ctx.settings, out=lambda _: None)
        async with ctx.db.write() as session:
            northwind = await session.scalar(select(Organization).where(Organization.name == "Northwind Retail"))
            assert northwind is not None
            yesterday = utcnow().date() - timedelta(days=1)
            session.add(ServiceContract(name="Northwind 2025", organization_id=northwind.id,
                                        starts_on=date(2025, 1, 1), ends_on=yesterday))
        arrivals = [Arrival(message("in-force", "buyer@parsian.example")),
                    Arrival(message("ended", "buyer@northwind.example"))]
        results = await ctx.db.run_write(lambda s: receive_batch(s, arrivals, ctx.settings, service(ctx)))
        ids = [r.ticket_id for r in results if not isinstance(r, Exception)]
        async with ctx.db.read() as session:
            requirements: dict[int, dict[str, Any]] = dict((await session.execute(
                select(Ticket.id, Ticket.requirements).where(Ticket.id.in_(ids)))).all())
        in_force, ended = (requirements[ticket_id] for ticket_id in ids)
        assert "contract customers" in in_force["rules"] and in_force["skills"].get("billing") == 3
        assert "contract customers" not in ended["rules"]
    finally:
        await ctx.db.dispose()
