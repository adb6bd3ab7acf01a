"""The supervisors' wallboard."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class QueueOut(BaseModel):
    queue: str = Field(description='the routing queue (a skill name), or "any" when any agent may take it')
    skill: str | None
    channel: str
    waiting: int
    longest_wait_seconds: int


class WallboardAgentOut(BaseModel):
    id: int
    name: str
    presence: str
    load: dict[str, int] = Field(description="assigned active tickets plus pending offers, per channel class")
    capacity: dict[str, int] = Field(description="per channel class")
    wrap_up_until: datetime | None


class ClockAlertOut(BaseModel):
    ticket_id: int
    number: int
    subject: str
    priority: str
    metric: str
    due_at: datetime = Field(description="the breach moment of the clock")
    assignee_id: int | None


class BreachOut(ClockAlertOut):
    breached_at: datetime


class WallboardOut(BaseModel):
    generated_at: datetime
    queues: list[QueueOut]
    agents: list[WallboardAgentOut]
    at_risk: list[ClockAlertOut] = Field(description="a warning fired, the breach has not (most urgent first)")
    breached: list[BreachOut]
