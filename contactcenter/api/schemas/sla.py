"""A ticket's SLA clocks and the SLA policies."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field

from contactcenter.api.schemas.base import Patch, Strict
from contactcenter.sla.clocks import ClockState, Metric


class SlaPointOut(BaseModel):
    name: str = Field(description='"warn-75%", "warn-15m"... or "breach"')
    at: datetime | None = Field(description="when the clock reaches it; null while paused or once met")


class SlaClockOut(BaseModel):
    metric: Metric
    cycle: int = Field(description="0 for first response and resolution; 1, 2... for next-response cycles")
    state: ClockState
    target_seconds: float
    elapsed_seconds: float = Field(description="business time run so far")
    remaining_seconds: float
    calendar_seconds: float = Field(description="real time from start to stop (or now)")
    started_at: datetime
    stopped_at: datetime | None
    due_at: datetime | None = Field(description="the breach moment; null while paused or when met in time")
    breached: bool
    points: list[SlaPointOut]


class SlaTimerOut(BaseModel):
    metric: str
    cycle: int
    point: str
    due_at: datetime
    state: str = Field(description="pending, fired or cancelled")
    fired_at: datetime | None


class TicketSlaOut(BaseModel):
    ticket_id: int
    computed_at: datetime
    policy_id: int | None
    policy: str | None = Field(description="the policy chosen (first match); null when none matches")
    contract: str | None = Field(description="the service contract in force that chose the policy")
    flags: list[str] = Field(description='e.g. "contract_expired": fell back from an ended contract')
    business_hours: bool
    clocks: list[SlaClockOut]
    timers: list[SlaTimerOut] = Field(description="stored warnings and breaches, with whether they fired")


class SlaPolicyOut(BaseModel):
    id: int
    name: str
    description: str
    position: int
    conditions: dict[str, Any]
    targets: dict[str, Any]
    calendar: dict[str, Any]
    escalation: list[Any]
    valid: bool
    error: str | None = Field(description="why the engine ignores this policy, when it does")


class SlaPolicyIn(Strict):
    """A whole policy (PUT replaces every field). Checked like the engine reads it: 422 names the problem."""

    name: str = Field(min_length=1, max_length=120)
    description: str = Field("", max_length=5000)
    position: int = Field(0, ge=-1_000_000, le=1_000_000, description="policies are tried in ascending order")
    conditions: dict[str, Any] = Field(default_factory=dict,
                                       description="priority, type, channel, organization_tier, contract, tags")
    targets: dict[str, Any] = Field(default_factory=dict, description="first_response_minutes, next_response_minutes,"
                                    " resolution_minutes, warn_percent, warn_before_minutes")
    calendar: dict[str, Any] = Field(default_factory=dict, description="see docs/sla.md; {} is around the clock")
    escalation: list[dict[str, Any]] = Field(default_factory=list, max_length=50,
                                             description="steps {at, action, queue?, metrics?}")


class SlaPolicyPatch(Patch):
    """Some fields of a policy; each one given is replaced whole (``conditions``, ``targets``, ``calendar`` and
    ``escalation`` too). The result is checked like a whole policy."""

    name: str | None = Field(None, min_length=1, max_length=120)
    description: str | None = Field(None, max_length=5000)
    position: int | None = Field(None, ge=-1_000_000, le=1_000_000)
    conditions: dict[str, Any] | None = None
    targets: dict[str, Any] | None = None
    calendar: dict[str, Any] | None = None
    escalation: list[dict[str, Any]] | None = Field(None, max_length=50)


class ComplaintQuery(Strict):
    since: date | None = Field(None, description="complaints created on or after this date (UTC)")
    until: date | None = Field(None, description="complaints created on or before this date (UTC)")


class ComplaintGroupOut(BaseModel):
    name: str
    open: int
    closed: int
    median_resolution_business_seconds: float | None
    median_resolution_calendar_seconds: float | None


class ComplaintOut(BaseModel):
    ticket_id: int
    subject: str
    status: str
    organization: str | None
    product: str | None = Field(description="the product of the organization's service contract, when it has one")
    created_at: datetime
    solved_at: datetime | None
    resolution_business_seconds: int | None
    resolution_calendar_seconds: int | None
    breaches: int


class ComplaintRegisterOut(BaseModel):
    totals: ComplaintGroupOut
    by_organization: list[ComplaintGroupOut]
    by_product: list[ComplaintGroupOut]
    complaints: list[ComplaintOut] = Field(description="the newest 200 complaints")
