"""Supervisor reports through the real application (relay stopped, so the figures are the ones written here):
every report's definition on a small known data set, CSV export, ranges, time zones and refusals."""

from __future__ import annotations

import csv
import io
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from conftest import Staff, create_staff
from sqlalchemy import update

from channels.base import InboundMessage
from contactcenter.actions.audit import SYSTEM, Actor
from contactcenter.actions.kb import do_create_article, do_record_deflection
from contactcenter.actions.tickets import do_reply, do_update_ticket
from contactcenter.app import create_app
from contactcenter.context import CTX, Context
from contactcenter.db.models import (
    AuditEvent,
    Organization,
    Product,
    ServiceContract,
    SlaTicket,
    SlaTimer,
    Survey,
    Ticket,
)
from contactcenter.db.types import utcnow
from contactcenter.domain.enums import IdentityKind, Role, TicketStatus
from contactcenter.domain.identities import Address
from contactcenter.intake import intake
from contactcenter.settings import Settings

Client = TestClient[Any, Any]
DAY = date(2026, 3, 10)  # tickets are moved to this day, 09:30 UTC (13:00 in Tehran)
AT = datetime.fromisoformat("2026-03-10T09:30:00+00:00")


@pytest.fixture
async def quiet(aiohttp_client: Callable[..., Awaitable[Client]], settings: Settings) -> Client:
    return await aiohttp_client(create_app(settings, relay=False))


async def ticket(ctx: Context, key: str, channel: str, *, org: int | None = None, complaint: bool = False,
                 at: datetime = AT) -> int:
    msg = InboundMessage(channel=channel, external_id=key, sender=Address(IdentityKind.EMAIL, f"{key}@c.example"),
                         received_at=utcnow(), text="Help", subject=f"Help {key}", language="en")
    ticket_id = (await intake(ctx.db, ctx.store, ctx.settings, msg)).ticket_id
    async with ctx.db.write() as session:
        await session.execute(update(Ticket).where(Ticket.id == ticket_id).values(
            created_at=at, organization_id=org, type="complaint" if complaint else "question"))
    return ticket_id


async def get(client: Client, staff: Staff, name: str, **query: str) -> dict[str, Any]:
    params = {"since": "2026-03-01", "until": "2026-03-31", **query}
    response = await client.get(f"/api/v1/reports/{name}", params=params, headers=staff.headers)
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    assert body["report"] == name and body["since"] == params["since"] and body["until"] == params["until"]
    assert {c["key"] for c in body["columns"]} >= set().union(*(r.keys() for r in body["rows"]))
    return body


async def test_volume_by_channel_and_hour_in_a_time_zone(quiet: Client) -> None:
    ctx = quiet.app[CTX]
    boss = await create_staff(ctx, Role.SUPERVISOR)
    await ticket(ctx, "v1", "email")
    await ticket(ctx, "v2", "email", at=AT + timedelta(hours=1))
    await ticket(ctx, "v3", "sms")
    await ticket(ctx, "v4", "sms", at=datetime.fromisoformat("2026-04-01T00:30:00+00:00"))  # out of range (UTC)
    body = await get(quiet, boss, "volume", tz="UTC")
    counts = {(r["channel"], r["hour"]): r["tickets"] for r in body["rows"] if r["tickets"]}
    assert counts == {("email", 9): 1, ("email", 10): 1, ("sms", 9): 1}
    assert len(body["rows"]) == 48  # every hour of each channel that has tickets
    assert body["summary"]["tickets"] == 3 and body["summary"]["by_channel"] == {"email": 2, "sms": 1}
    tehran = await get(quiet, boss, "volume", tz="Asia/Tehran")  # +03:30: 09:30 UTC is 13:00
    assert {(r["channel"], r["hour"]) for r in tehran["rows"] if r["tickets"]} == {
        ("email", 13), ("email", 14), ("sms", 13)}
    assert tehran["summary"]["tickets"] == 3
    # 2026-04-01 00:30 UTC is still 31 March in New York (20:30, summer time since 8 March)
    new_york = await get(quiet, boss, "volume", tz="America/New_York")
    assert new_york["summary"]["tickets"] == 4 and new_york["summary"]["by_hour"][20] == 1


async def test_response_times_sla_and_agents(quiet: Client) -> None:
    ctx = quiet.app[CTX]
    boss = await create_staff(ctx, Role.SUPERVISOR)
    agent = await create_staff(ctx, Role.AGENT, "ann@agents.example")
    first = await ticket(ctx, "r1", "email")
    second = await ticket(ctx, "r2", "email")
    third = await ticket(ctx, "r3", "chat")
    async with ctx.db.write() as session:
        as_agent = Actor.user(agent.user_id, Role.AGENT)
        for ticket_id in (first, second):
            await do_update_ticket(session, ticket_id, {"assignee_id": agent.user_id}, actor=SYSTEM)
            await do_reply(session, ticket_id, "On it", actor=as_agent)
        await do_update_ticket(session, first, {"status": TicketStatus.SOLVED}, actor=as_agent)
        session.add_all([
            SlaTicket(ticket_id=first, first_response_business_seconds=100, first_response_calendar_seconds=200,
                      resolution_business_seconds=1000, resolution_calendar_seconds=4000),
            SlaTicket(ticket_id=second, first_response_business_seconds=300, first_response_calendar_seconds=600),
        ])
        for ticket_id, metric, state in ((first, "first_response", "cancelled"), (first, "resolution", "cancelled"),
                                         (second, "first_response", "fired"), (second, "resolution", "pending"),
                                         (third, "first_response", "cancelled")):
            session.add(SlaTimer(ticket_id=ticket_id, metric=metric, cycle=0, point="breach", due_at=AT,
                                 state=state))
    times = await get(quiet, boss, "response-times")
    rows = {(r["channel"], r["metric"], r["time"]): r for r in times["rows"]}
    assert rows[("email", "first_response", "business")] | {} == {
        "channel": "email", "metric": "first_response", "time": "business", "count": 2, "median": 200.0,
        "p90": 300.0, "mean": 200.0}
    assert rows[("email", "resolution", "calendar")]["count"] == 1
    assert rows[("email", "resolution", "calendar")]["median"] == 4000.0
    assert rows[("chat", "first_response", "calendar")]["count"] == 0  # no reply, no SLA figure
    assert times["summary"]["first_response_calendar"]["count"] == 2

    sla = await get(quiet, boss, "sla")
    by_metric = {r["metric"]: r for r in sla["rows"]}
    # first response: r1 met, r2 breached, r3's breach cancelled without a figure (paused): not met
    assert {k: by_metric["first_response"][k] for k in ("clocks", "met", "breached", "paused")} == {
        "clocks": 3, "met": 1, "breached": 1, "paused": 1}
    assert by_metric["first_response"]["attainment"] == 0.5
    assert by_metric["first_response"]["breach_rate"] == round(1 / 3, 4)
    assert by_metric["resolution"]["met"] == 1 and by_metric["resolution"]["running"] == 1
    assert by_metric["next_response"]["clocks"] == 0 and by_metric["next_response"]["attainment"] is None

    people = await get(quiet, boss, "agents")
    ann = next(r for r in people["rows"] if r["agent_id"] == agent.user_id)
    assert (ann["tickets"], ann["solved"], ann["replies"]) == (2, 1, 2)
    assert ann["median_first_response"] == 400.0 and ann["median_resolution_business"] == 1000.0


async def test_complaints_per_thousand_by_product_and_organization(quiet: Client) -> None:
    ctx = quiet.app[CTX]
    boss = await create_staff(ctx, Role.SUPERVISOR)
    async with ctx.db.write() as session:
        acme, other = Organization(name="Acme"), Organization(name="Other")
        gold = Product(name="Gold")
        session.add_all([acme, other, gold])
        await session.flush()
        session.add(ServiceContract(name="Acme gold", organization_id=acme.id, product_id=gold.id,
                                    starts_on=date(2026, 1, 1)))
    acme_id, other_id = acme.id, other.id
    await ticket(ctx, "c1", "email", org=acme_id, complaint=True)
    await ticket(ctx, "c2", "email", org=acme_id)
    await ticket(ctx, "c3", "email", org=other_id)
    await ticket(ctx, "c4", "email", org=other_id)
    await ticket(ctx, "c5", "email")
    body = await get(quiet, boss, "complaints")
    rows = {(r["dimension"], r["name"]): (r["tickets"], r["complaints"], r["per_1000"]) for r in body["rows"]}
    assert rows == {("product", "Gold"): (2, 1, 500.0), ("product", "(no product)"): (3, 0, 0.0),
                    ("organization", "Acme"): (2, 1, 500.0), ("organization", "Other"): (2, 0, 0.0),
                    ("organization", "(no organization)"): (1, 0, 0.0)}
    assert body["summary"] == {"tickets": 5, "complaints": 1, "per_1000": 200.0}


async def test_satisfaction_and_deflection(quiet: Client) -> None:
    ctx = quiet.app[CTX]
    boss = await create_staff(ctx, Role.SUPERVISOR)
    agent = await create_staff(ctx, Role.AGENT, "bea@agents.example")
    ids = [await ticket(ctx, f"s{i}", channel) for i, channel in enumerate(("email", "email", "sms"))]
    async with ctx.db.write() as session:
        contact_ids = [(await session.get(Ticket, i)).contact_id for i in ids]  # type: ignore[union-attr]
        for n, (ticket_id, contact_id, channel, rating) in enumerate(zip(ids, contact_ids, ("email", "email", "sms"),
                                                                         (5, 3, None), strict=True)):
            session.add(Survey(ticket_id=ticket_id, contact_id=contact_id, channel=channel, token_hash=f"h{n}",
                               nonce="n", due_at=AT, sent_at=AT, user_id=agent.user_id if n < 2 else None,
                               rating=rating, answered_at=AT if rating else None))
        article = await do_create_article(session, title="Reset", body="How", language="en", actor=SYSTEM)
        for helpful in (True, True, False):
            deflection = await do_record_deflection(session, article.id, "chat", helpful)
            deflection.created_at = AT
        session.add(AuditEvent(actor_kind="system", action="kb.auto_answered", object_type="ticket",
                               object_id=ids[0], ticket_id=ids[0], created_at=AT))
    happy = await get(quiet, boss, "satisfaction")
    rows = {(r["dimension"], r["name"]): r for r in happy["rows"]}
    assert rows[("channel", "email")]["responses"] == 2 and rows[("channel", "email")]["average"] == 4.0
    assert rows[("agent", "Agent")]["agent_id"] == agent.user_id and rows[("agent", "Agent")]["r5"] == 1
    assert ("channel", "sms") not in rows  # sent, never answered
    assert happy["summary"]["sent"] == 3 and happy["summary"]["responses"] == 2
    assert happy["summary"]["distribution"] == {"1": 0, "2": 0, "3": 1, "4": 0, "5": 1}
    assert happy["summary"]["response_rate"] == round(2 / 3, 4)

    helped = await get(quiet, boss, "deflection")
    assert {r["channel"]: (r["offered"], r["answers"], r["helpful"], r["rate"]) for r in helped["rows"]} == {
        "chat": (0, 3, 2, round(2 / 3, 4)), "email": (1, 0, 0, None)}


async def test_csv_list_and_refusals(quiet: Client) -> None:
    ctx = quiet.app[CTX]
    boss = await create_staff(ctx, Role.SUPERVISOR)
    agent = await create_staff(ctx, Role.AGENT)
    await ticket(ctx, "x1", "=cmd")  # a channel name a spreadsheet would run as a formula
    response = await quiet.get("/api/v1/reports/volume", params={"since": "2026-03-10", "until": "2026-03-10",
                                                                 "tz": "UTC", "format": "csv"}, headers=boss.headers)
    assert response.status == 200 and response.content_type == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="volume-2026-03-10-2026-03-10.csv"'
    rows = list(csv.reader(io.StringIO(await response.text())))
    assert rows[0] == ["channel", "hour", "tickets"] and len(rows) == 25
    assert rows[10] == ["'=cmd", "9", "1"]

    listed = await (await quiet.get("/api/v1/reports", headers=boss.headers)).json()
    assert [r["name"] for r in listed] == ["volume", "response-times", "sla", "complaints", "satisfaction",
                                           "deflection", "agents"]
    for name in [r["name"] for r in listed]:  # every report answers on an empty range, as JSON and CSV
        for fmt in ("json", "csv"):
            answer = await quiet.get(f"/api/v1/reports/{name}", params={"format": fmt}, headers=boss.headers)
            assert answer.status == 200, (name, fmt, await answer.text())
    assert (await quiet.get("/api/v1/reports/volume", headers=agent.headers)).status == 403
    assert (await quiet.get("/api/v1/reports/nope", headers=boss.headers)).status == 404
    for bad in ({"since": "2026-03-02", "until": "2026-03-01"}, {"since": "yesterday"}, {"tz": "Mars/Olympus"},
                {"format": "xls"}, {"since": "2020-01-01", "until": "2026-01-01"}, {"colour": "red"}):
        answer = await quiet.get("/api/v1/reports/volume", params=bad, headers=boss.headers)
        assert answer.status == 422, (bad, await answer.text())
