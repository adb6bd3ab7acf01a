"""Offers, transfers, requirement overrides and the routing explanation."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from contactcenter.api.schemas.agents import SkillLevels, SkillName
from contactcenter.api.schemas.base import LanguageCode, Strict
from contactcenter.domain.enums import OfferStatus


class OfferOut(BaseModel):
    id: int
    ticket_id: int
    user_id: int
    status: OfferStatus
    ring: int
    reason: dict[str, Any] = Field(description="why this agent: strategy, candidates with scores, the need")
    created_at: datetime
    expires_at: datetime | None
    decided_at: datetime | None


class OfferQuery(Strict):
    status: OfferStatus | None = OfferStatus.PENDING
    user_id: int | None = Field(None, ge=1, le=2**31 - 1,
                                description="another agent's offers (supervisors); default: mine")


class RejectIn(Strict):
    reason: str = Field("", max_length=500)


class TransferIn(Strict):
    to_user_id: int | None = Field(None, ge=1, le=2**31 - 1)
    to_skill: SkillName | None = None
    note: str = Field("", max_length=20_000, description="an internal note left on the ticket")


class RequirementsIn(Strict):
    skills: SkillLevels = Field(description="skill name -> minimum level 1..5; the first one is the queue")
    language: LanguageCode | None = None


class RoutingOut(BaseModel):
    """Where a ticket stands in routing, and every offer made for it."""

    ticket_id: int
    requirements: dict[str, Any]
    need_now: dict[str, Any] = Field(description="the requirements after the overflow steps reached so far")
    waiting_since: datetime | None
    ring: int
    next_ring_at: datetime | None
    assignee_id: int | None
    offers: list[OfferOut]
