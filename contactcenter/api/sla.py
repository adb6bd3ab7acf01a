"""SLA endpoints: a ticket's clocks, due times and timers; the SLA policies."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select

from contactcenter.actions import sla as actions
from contactcenter.actions.tickets import get_ticket
from contactcenter.api.framework import Api, ApiRequest
from contactcenter.api.schemas.sla import (
    ComplaintQuery,
    ComplaintRegisterOut,
    SlaClockOut,
    SlaPointOut,
    SlaPolicyIn,
    SlaPolicyOut,
    SlaPolicyPatch,
    SlaTimerOut,
    TicketSlaOut,
)
from contactcenter.db.models import SlaPolicy, SlaTimer
from contactcenter.db.types import utcnow
from contactcenter.domain.enums import Role
from contactcenter.errors import Invalid, NotFound
from contactcenter.sla import store
from contactcenter.sla.clocks import Clock
from contactcenter.sla.complaints import register
from contactcenter.sla.policies import PolicyError, parse_policy
from contactcenter.sla.service import SlaService

api = Api()


def clock_out(clock: Clock) -> SlaClockOut:
    return SlaClockOut(metric=clock.metric, cycle=clock.cycle, state=clock.state,
                       target_seconds=clock.target.total_seconds(), elapsed_seconds=clock.elapsed.total_seconds(),
                       remaining_seconds=clock.remaining.total_seconds(),
                       calendar_seconds=clock.calendar_elapsed.total_seconds(), started_at=clock.started_at,
                       stopped_at=clock.stopped_at, due_at=clock.due_at, breached=clock.breached,
                       points=[SlaPointOut(name=p.name, at=p.at) for p in clock.points])


def _service(req: ApiRequest) -> SlaService:
    return req.ctx.sla or SlaService(req.ctx.db, req.ctx.settings.sla)


@api.route("GET", "/tickets/{id}/sla", summary="A ticket's SLA: the policy, every clock with its due time and state",
           tag="sla", response=TicketSlaOut)
async def ticket_sla(req: ApiRequest) -> TicketSlaOut:
    service = _service(req)
    now = utcnow()
    async with req.ctx.db.read() as session:
        ticket = await get_ticket(session, req.path_id())
        sla = await session.run_sync(lambda s: service.ticket_sla(s, ticket.id, now))
        timers = (await session.scalars(select(SlaTimer).where(SlaTimer.ticket_id == ticket.id)
                                        .order_by(SlaTimer.due_at, SlaTimer.id))).all()
    choice = sla.choice if sla else None
    return TicketSlaOut(
        ticket_id=ticket.id, computed_at=now, policy_id=choice.policy.id if choice else None,
        policy=choice.policy.name if choice else None, contract=choice.contract if choice else None,
        flags=list(choice.flags) if choice else [], business_hours=choice.policy.business_hours if choice else False,
        clocks=[clock_out(c) for c in (sla.clocks if sla else ())],
        timers=[SlaTimerOut(metric=t.metric, cycle=t.cycle, point=t.point, due_at=t.due_at, state=t.state,
                            fired_at=t.fired_at) for t in timers])


@api.route("GET", "/sla/policies", summary="The SLA policies in the order they are tried, and whether each is valid",
           tag="sla", response=SlaPolicyOut, list_response=True)
async def list_policies(req: ApiRequest) -> list[SlaPolicyOut]:
    async with req.ctx.db.read() as session:
        rows = await session.run_sync(store.policy_rows)
    return [policy_out(req, row) for row in rows]


def _reader(req: ApiRequest) -> Callable[[str], bytes]:
    base = req.ctx.settings.sla.calendar_path()
    return lambda path: (base / path).read_bytes()


def policy_out(req: ApiRequest, row: SlaPolicy) -> SlaPolicyOut:
    error: str | None = None
    try:
        parse_policy(row.id, row.name, row.position, row.conditions, row.targets, row.calendar, row.escalation,
                     _reader(req))
    except PolicyError as exc:
        error = str(exc)
    return SlaPolicyOut(id=row.id, name=row.name, description=row.description, position=row.position,
                        conditions=row.conditions, targets=row.targets, calendar=row.calendar,
                        escalation=list(row.escalation or []), valid=error is None, error=error)


@api.route("POST", "/sla/policies", summary="Add an SLA policy (admins); open tickets are recomputed", tag="sla",
           role=Role.ADMIN, body=SlaPolicyIn, response=SlaPolicyOut, status=201,
           responses={409: "a policy of that name exists", 422: "the policy cannot be read (the reason is given)"})
async def create_policy(req: ApiRequest) -> SlaPolicyOut:
    body: SlaPolicyIn = req.body
    async with req.ctx.db.write() as session:
        row = await actions.do_create_sla_policy(session, body.model_dump(), read_file=_reader(req), actor=req.actor)
    return policy_out(req, row)


@api.route("GET", "/sla/policies/{id}", summary="One SLA policy, and whether it is valid", tag="sla",
           response=SlaPolicyOut)
async def get_policy(req: ApiRequest) -> SlaPolicyOut:
    async with req.ctx.db.read() as session:
        row = await session.get(SlaPolicy, req.path_id())
    if row is None:
        raise NotFound(f"SLA policy {req.path_id()} not found")
    return policy_out(req, row)


@api.route("PATCH", "/sla/policies/{id}", summary="Change some fields of an SLA policy (admins); open tickets are "
           "recomputed", tag="sla", role=Role.ADMIN, body=SlaPolicyPatch, response=SlaPolicyOut,
           responses={409: "another policy has that name", 422: "the policy cannot be read (the reason is given)"})
async def update_policy(req: ApiRequest) -> SlaPolicyOut:
    body: SlaPolicyPatch = req.body
    async with req.ctx.db.write() as session:
        row = await actions.do_update_sla_policy(session, req.path_id(), body.model_dump(exclude_unset=True),
                                                 read_file=_reader(req), actor=req.actor)
    return policy_out(req, row)


@api.route("PUT", "/sla/policies/{id}", summary="Replace an SLA policy (admins); open tickets are recomputed",
           tag="sla", role=Role.ADMIN, body=SlaPolicyIn, response=SlaPolicyOut,
           responses={409: "another policy has that name", 422: "the policy cannot be read (the reason is given)"})
async def replace_policy(req: ApiRequest) -> SlaPolicyOut:
    body: SlaPolicyIn = req.body
    async with req.ctx.db.write() as session:
        row = await actions.do_replace_sla_policy(session, req.path_id(), body.model_dump(), read_file=_reader(req),
                                                  actor=req.actor)
    return policy_out(req, row)


@api.route("DELETE", "/sla/policies/{id}", summary="Delete an SLA policy (admins); open tickets are recomputed",
           tag="sla", role=Role.ADMIN, responses={409: "a service contract uses the policy"})
async def delete_policy(req: ApiRequest) -> dict[str, bool]:
    async with req.ctx.db.write() as session:
        await actions.do_delete_sla_policy(session, req.path_id(), actor=req.actor)
    return {"ok": True}


@api.route("GET", "/complaints/register", summary="The complaint register: open and closed complaints, time to "
           "resolve, by organization and product (supervisors)", tag="sla", role=Role.SUPERVISOR,
           query=ComplaintQuery, response=ComplaintRegisterOut, responses={422: "since is after until"})
async def complaint_register(req: ApiRequest) -> ComplaintRegisterOut:
    query: ComplaintQuery = req.query
    if query.since and query.until and query.since > query.until:
        raise Invalid("since is after until")
    async with req.ctx.db.read() as session:
        found = await session.run_sync(lambda s: register(s, query.since, query.until))
    return ComplaintRegisterOut.model_validate(found)
