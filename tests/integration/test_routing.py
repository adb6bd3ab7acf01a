"""The router against a real database: offers and their reasons, capacity, order, rejection, expiry,
overflow rings, presence and wrap-up. Events go through the real outbox relay (``drain``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from channels.base import InboundMessage
from contactcenter.actions.agents import do_create_agent, do_create_skill, do_set_presence
from contactcenter.actions.audit import SYSTEM, Actor
from contactcenter.actions.routing import do_accept_offer, do_reject_offer
from contactcenter.actions.tickets import do_update_ticket
from contactcenter.app import build_context
from contactcenter.context import Context
from contactcenter.db.models import AuditEvent, Offer, OutboxEvent, SlaPolicy, Ticket, User
from contactcenter.db.types import utcnow
from contactcenter.domain.enums import IdentityKind, OfferStatus, Presence, Priority, Role, TicketStatus
from contactcenter.domain.identities import Address
from contactcenter.events import AgentChanged, TicketCreated
from contactcenter.intake import intake
from contactcenter.settings import Settings


@pytest.fixture
async def routed(settings: Settings) -> AsyncIterator[Context]:
    """A context whose e-mail-class offers wait for an answer (30 s) instead of being assigned at once."""
    context = build_context(settings.with_overrides({"routing": {
        "offer_timeout": {"email": 30, "chat": 30, "voice": 20, "messaging": 60}, "missed_offers_to_away": 2}}))
    async with context.db.write() as session:
        for name in ("billing", "technical", "general", "complaints"):
            await do_create_skill(session, name=name, actor=SYSTEM)
    yield context
    await context.db.dispose()


async def make_agent(ctx: Context, name: str, skills: dict[str, int], *, capacity: dict[str, int] | None = None,
                     languages: tuple[str, ...] = ("en", "fa"), available: bool = True) -> int:
    async with ctx.db.write() as session:
        user = await do_create_agent(session, email=f"{name}@agents.example", name=name, role=Role.AGENT,
                                     password=None, languages=list(languages), capacity=capacity or {},
                                     skills=skills, actor=SYSTEM)
        if available:
            await do_set_presence(session, user.id, Presence.AVAILABLE, actor=SYSTEM)
    await ctx.relay.drain()
    return user.id


async def arrived(ctx: Context, key: str, *, topic: str | None = "billing", text: str = "My card was charged",
                  channel: str = "webform", language: str = "en") -> int:
    """A new ticket stored by intake, its events not relayed yet."""
    sender = Address(IdentityKind.EMAIL, f"{key}@customers.example")
    msg = InboundMessage(channel=channel, external_id=key, sender=sender, received_at=utcnow(), text=text,
                         subject=f"Request {key}", topic=topic, language=language)
    return (await intake(ctx.db, ctx.store, ctx.settings, msg)).ticket_id


async def new_ticket(ctx: Context, key: str, **message: Any) -> int:
    """A new ticket, routed (its events relayed)."""
    ticket_id = await arrived(ctx, key, **message)
    await ctx.relay.drain()
    return ticket_id


async def offers(ctx: Context, ticket_id: int) -> list[Offer]:
    async with ctx.db.read() as session:
        return list((await session.scalars(select(Offer).where(Offer.ticket_id == ticket_id)
                                           .order_by(Offer.id))).all())


async def ticket(ctx: Context, ticket_id: int) -> Ticket:
    async with ctx.db.read() as session:
        found = await session.get(Ticket, ticket_id)
        assert found is not None
        return found


async def as_agent(ctx: Context, user_id: int, action: Any, *args: Any) -> Any:
    async with ctx.db.write() as session:
        result = await action(session, *args, actor=Actor.user(user_id, Role.AGENT))
    await ctx.relay.drain()
    return result


async def test_a_new_ticket_is_offered_to_the_best_agent_with_the_reasons(routed: Context) -> None:
    junior = await make_agent(routed, "junior", {"billing": 2})
    senior = await make_agent(routed, "senior", {"billing": 5, "general": 1})
    await make_agent(routed, "techie", {"technical": 5})
    ticket_id = await new_ticket(routed, "t1")
    [offer] = await offers(routed, ticket_id)
    assert (offer.user_id, offer.status, offer.ring) == (senior, OfferStatus.PENDING, 0)
    assert offer.expires_at is not None
    assert offer.reason["strategy"] == "best_match" and offer.reason["eligible"] == 2
    assert [c["agent_id"] for c in offer.reason["candidates"]] == [senior, junior]
    assert offer.reason["need"] == {"skills": {"billing": 1}, "language": "en", "channel_class": "email"}
    async with routed.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(OutboxEvent)
                                    .where(OutboxEvent.topic == "offer.made")) == 1
        assert await session.scalar(select(AuditEvent.action).where(AuditEvent.ticket_id == ticket_id)
                                    .order_by(AuditEvent.id.desc()).limit(1)) == "ticket.offered"
    # Accepting assigns it; a second answer is refused.
    await as_agent(routed, senior, do_accept_offer, offer.id)
    assert (await ticket(routed, ticket_id)).assignee_id == senior
    with pytest.raises(Exception, match="already accepted"):
        await as_agent(routed, senior, do_accept_offer, offer.id)


async def test_email_is_assigned_at_once_by_default(settings: Settings) -> None:
    ctx = build_context(settings)
    try:
        async with ctx.db.write() as session:
            await do_create_skill(session, name="billing", actor=SYSTEM)
        agent_id = await make_agent(ctx, "mailer", {"billing": 1})
        ticket_id = await new_ticket(ctx, "m1")
        assert (await ticket(ctx, ticket_id)).assignee_id == agent_id
        [offer] = await offers(ctx, ticket_id)
        assert offer.status == OfferStatus.ACCEPTED and offer.expires_at is None
    finally:
        await ctx.db.dispose()


async def test_an_agent_becoming_free_and_a_new_ticket_in_one_batch_give_one_offer(settings: Settings) -> None:
    # The batch's "agent available" event hands the new ticket out first; its own "created" event, handled
    # later in the same transaction, must not offer it again from facts read before.
    ctx = build_context(settings)
    try:
        async with ctx.db.write() as session:
            await do_create_skill(session, name="billing", actor=SYSTEM)
        agent_id = await make_agent(ctx, "late", {"billing": 1}, available=False)
        async with ctx.db.write() as session:
            await do_set_presence(session, agent_id, Presence.AVAILABLE, actor=SYSTEM)
        ticket_id = await arrived(ctx, "both")
        await ctx.relay.drain()  # both events in one batch: the presence change first
        assert [(o.user_id, o.status) for o in await offers(ctx, ticket_id)] == [(agent_id, OfferStatus.ACCEPTED)]
    finally:
        await ctx.db.dispose()


async def test_a_free_agent_is_not_given_a_ticket_whose_creation_the_router_has_not_read(routed: Context) -> None:
    # Subscribers before the router (an automatic answer) may still hold a new ticket: until the router reads
    # its creation, an agent who becomes free must not take it from the database.
    agent_id = await make_agent(routed, "eager", {"billing": 1}, available=False)
    ticket_id = await arrived(routed, "early")
    async with routed.db.write() as session:
        await do_set_presence(session, agent_id, Presence.AVAILABLE, actor=SYSTEM)
    assert routed.router is not None
    await routed.router.on_events([AgentChanged(user_id=agent_id, fields=("presence",))])
    assert not await offers(routed, ticket_id) and (await ticket(routed, ticket_id)).waiting_since is None
    await routed.router.on_events([TicketCreated(ticket_id=ticket_id, channel="webform")])
    assert [o.user_id for o in await offers(routed, ticket_id)] == [agent_id]
    assert (await ticket(routed, ticket_id)).waiting_since is not None


async def test_tickets_made_while_routing_was_off_are_queued_by_the_first_timer_round(routed: Context) -> None:
    agent_id = await make_agent(routed, "later", {"billing": 1}, available=False)
    ticket_id = await arrived(routed, "old")
    async with routed.db.write() as session:  # as if its creation was never relayed to a router
        await session.execute(update(Ticket).where(Ticket.id == ticket_id)
                              .values(created_at=utcnow() - timedelta(hours=1)))
        await do_set_presence(session, agent_id, Presence.AVAILABLE, actor=SYSTEM)
    assert routed.router is not None
    await routed.router.tick()
    assert (await ticket(routed, ticket_id)).waiting_since is not None
    await routed.router.on_events([AgentChanged(user_id=agent_id, fields=("presence",))])
    assert [o.user_id for o in await offers(routed, ticket_id)] == [agent_id]


async def test_capacity_is_never_exceeded_and_freed_capacity_takes_the_most_urgent(routed: Context) -> None:
    agent_id = await make_agent(routed, "solo", {"billing": 3}, capacity={"email": 2}, available=False)
    tickets = [await new_ticket(routed, f"c{i}") for i in range(4)]
    async with routed.db.write() as session:  # the third becomes urgent while nobody is there
        await do_update_ticket(session, tickets[2], {"priority": Priority.URGENT}, actor=SYSTEM)
        await do_set_presence(session, agent_id, Presence.AVAILABLE, actor=SYSTEM)
    await routed.relay.drain()
    offered = {o.ticket_id for t in tickets for o in await offers(routed, t)}
    assert offered == {tickets[2], tickets[0]}  # the urgent one, then the longest waiting
    for t in sorted(offered):
        await as_agent(routed, agent_id, do_accept_offer, (await offers(routed, t))[0].id)
    assert routed.router is not None
    await routed.router.tick()
    assert not await offers(routed, tickets[1])  # full: nothing more
    async with routed.db.write() as session:
        await do_update_ticket(session, tickets[2], {"status": TicketStatus.SOLVED}, actor=SYSTEM)
    await routed.relay.drain()
    [offer] = await offers(routed, tickets[1])
    assert offer.user_id == agent_id and not await offers(routed, tickets[3])


async def test_what_changed_behind_the_board_is_read_before_offering(routed: Context) -> None:
    # Changes committed elsewhere (another process, a direct update) reach the router's board only with their
    # events; until the router has read them it must still not offer work to an agent who left or is full.
    best = await make_agent(routed, "best", {"billing": 5}, capacity={"email": 1})
    other = await make_agent(routed, "other", {"billing": 1}, capacity={"email": 5})
    async with routed.db.write() as session:
        await session.execute(update(User).where(User.id == best).values(presence=Presence.AWAY))
    first, second = await arrived(routed, "b1"), await arrived(routed, "b2")  # one relay batch with both
    await routed.relay.drain()
    assert [o.user_id for o in await offers(routed, first)] == [other]
    assert [o.user_id for o in await offers(routed, second)] == [other]
    elsewhere = await arrived(routed, "b3")
    async with routed.db.write() as session:  # back, but given a ticket by hand: full
        await session.execute(update(User).where(User.id == best).values(presence=Presence.AVAILABLE))
        await session.execute(update(Ticket).where(Ticket.id == elsewhere).values(assignee_id=best))
    third = await arrived(routed, "b4")
    await routed.relay.drain()
    assert [o.user_id for o in await offers(routed, third)] == [other]


async def test_rejection_and_expiry_go_to_the_next_agent_and_missed_offers_set_away(routed: Context) -> None:
    first = await make_agent(routed, "first", {"billing": 5})
    second = await make_agent(routed, "second", {"billing": 4})
    ticket_id = await new_ticket(routed, "r1")
    [offer] = await offers(routed, ticket_id)
    assert offer.user_id == first
    await as_agent(routed, first, do_reject_offer, offer.id, "busy with a call")
    latest = (await offers(routed, ticket_id))[-1]
    assert (latest.user_id, latest.status) == (second, OfferStatus.PENDING)
    # The second agent lets two offers time out in a row: away.
    async with routed.db.write() as session:
        await do_set_presence(session, first, Presence.BUSY, actor=SYSTEM)
    for key in ("r2", None):
        async with routed.db.write() as session:
            await session.execute(update(Offer).where(Offer.status == OfferStatus.PENDING)
                                  .values(expires_at=utcnow() - timedelta(seconds=1)))
        assert routed.router is not None
        await routed.router.tick()
        await routed.relay.drain()
        if key:
            [other] = await offers(routed, await new_ticket(routed, key))
            assert other.user_id == second
    async with routed.db.read() as session:
        user = await session.get(User, second)
        assert user is not None and user.presence == Presence.AWAY
    statuses = [o.status for o in await offers(routed, ticket_id)]
    assert statuses == [OfferStatus.REJECTED, OfferStatus.EXPIRED]


async def test_overflow_steps_reach_the_fallback_group_and_alert(routed: Context) -> None:
    helper = await make_agent(routed, "generalist", {"general": 2})
    ticket_id = await new_ticket(routed, "o1", topic="billing")
    assert not await offers(routed, ticket_id)
    waiting = await ticket(routed, ticket_id)
    assert waiting.next_ring_at is not None and waiting.ring == 0
    async with routed.db.write() as session:  # 11 minutes later: past the "general" step (600 s)
        await session.execute(update(Ticket).where(Ticket.id == ticket_id).values(
            waiting_since=utcnow() - timedelta(minutes=11), next_ring_at=utcnow() - timedelta(seconds=1)))
    assert routed.router is not None
    await routed.router.tick()
    [offer] = await offers(routed, ticket_id)
    assert offer.user_id == helper and offer.ring == 3
    assert offer.reason["need"]["skills"] == {"general": 1}
    async with routed.db.read() as session:
        escalated = (await session.scalars(select(AuditEvent.changes).where(
            AuditEvent.ticket_id == ticket_id, AuditEvent.action == "ticket.escalated"))).all()
        assert [e["ring"] for e in escalated] == [[0, 3]]
        assert await session.scalar(select(func.count()).select_from(OutboxEvent)
                                    .where(OutboxEvent.topic == "routing.escalated")) == 1


async def test_an_agent_going_offline_hands_back_chats_and_wraps_up(routed: Context) -> None:
    leaving = await make_agent(routed, "leaving", {"general": 5})
    staying = await make_agent(routed, "staying", {"general": 1})
    chat = await new_ticket(routed, "chat1", topic="general", channel="chat")
    mail = await new_ticket(routed, "mail1", topic="general")
    for t in (chat, mail):
        [offer] = await offers(routed, t)
        assert offer.user_id == leaving
        await as_agent(routed, leaving, do_accept_offer, offer.id)
    async with routed.db.write() as session:
        await do_set_presence(session, leaving, Presence.OFFLINE, actor=SYSTEM)
    await routed.relay.drain()
    assert (await ticket(routed, mail)).assignee_id == leaving  # e-mail stays with its owner
    handed = await ticket(routed, chat)
    assert handed.assignee_id is None
    assert (await offers(routed, chat))[-1].user_id == staying
    await as_agent(routed, staying, do_accept_offer, (await offers(routed, chat))[-1].id)
    # Solving the chat starts the wrap-up: no new chat for the agent until it ends.
    async with routed.db.write() as session:
        await do_update_ticket(session, chat, {"status": TicketStatus.SOLVED}, actor=SYSTEM)
    await routed.relay.drain()
    async with routed.db.read() as session:
        user = await session.get(User, staying)
        assert user is not None and user.wrap_up_until is not None
    next_chat = await new_ticket(routed, "chat2", topic="general", channel="chat")
    assert not await offers(routed, next_chat)
    async with routed.db.write() as session:
        await session.execute(update(User).where(User.id == staying).values(wrap_up_until=utcnow()))
    assert routed.router is not None
    await routed.router.tick()
    assert (await offers(routed, next_chat))[-1].user_id == staying


async def test_a_free_agent_takes_the_ticket_whose_sla_breach_comes_first(routed: Context) -> None:
    async with routed.db.write() as session:
        session.add_all([SlaPolicy(name="VIP", position=1, conditions={"tags": ["vip"]}, calendar={},
                                   targets={"first_response_minutes": 5}),
                         SlaPolicy(name="Default", position=2, conditions={}, calendar={},
                                   targets={"first_response_minutes": 60})])
    agent = await make_agent(routed, "Sara", {"billing": 3}, available=False)
    older = await new_ticket(routed, "sla-old")
    younger = await new_ticket(routed, "sla-young")
    async with routed.db.write() as session:
        await do_update_ticket(session, younger, {"tags": ["vip"]}, actor=SYSTEM)
    await routed.relay.drain()
    async with routed.db.write() as session:
        await do_set_presence(session, agent, Presence.AVAILABLE, actor=SYSTEM)
    await routed.relay.drain()
    (first,), (second,) = await offers(routed, younger), await offers(routed, older)
    assert first.id < second.id  # same priority; the older ticket waited longer but its breach comes later


async def test_a_free_agent_finds_the_first_sla_breach_beyond_the_longest_waiting(settings: Settings) -> None:
    # Only `candidates` tickets per queue and priority are read by waiting time; the one whose SLA breach
    # comes first is read by its own index range even when many tickets waited longer.
    ctx = build_context(settings.with_overrides({"routing": {"candidates": 3}}))
    try:
        async with ctx.db.write() as session:
            await do_create_skill(session, name="billing", actor=SYSTEM)
            session.add_all([SlaPolicy(name="VIP", position=1, conditions={"tags": ["vip"]}, calendar={},
                                       targets={"first_response_minutes": 5}),
                             SlaPolicy(name="Default", position=2, conditions={}, calendar={},
                                       targets={"first_response_minutes": 60})])
        agent = await make_agent(ctx, "Omid", {"billing": 3}, available=False)
        waited = [await new_ticket(ctx, f"long-{i}") for i in range(5)]
        urgent = await new_ticket(ctx, "vip-late")
        async with ctx.db.write() as session:
            await do_update_ticket(session, urgent, {"tags": ["vip"]}, actor=SYSTEM)
        await ctx.relay.drain()
        assert (await ticket(ctx, urgent)).sla_due_at is not None
        async with ctx.db.write() as session:
            await do_set_presence(session, agent, Presence.AVAILABLE, actor=SYSTEM)
        await ctx.relay.drain()
        offered = sorted([(o.id, o.ticket_id) for t in [*waited, urgent] for o in await offers(ctx, t)])
        assert offered[0][1] == urgent
    finally:
        await ctx.db.dispose()
