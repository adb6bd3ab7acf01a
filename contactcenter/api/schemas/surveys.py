"""Satisfaction surveys, answered by the customer through the link's token."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from contactcenter.api.schemas.base import Strict

MAX_COMMENT = 2000


class SurveyAnswerIn(Strict):
    rating: int = Field(ge=1, le=5, description="1 (bad) to 5 (great)")
    comment: str | None = Field(None, max_length=MAX_COMMENT, description="left out: the stored comment stays")


class SurveyOut(BaseModel):
    ticket_id: int
    subject: str
    language: str
    rating: int | None
    comment: str
    answered_at: datetime | None
    can_change: bool = Field(description="false once the answer can no longer be changed (surveys.change_days)")


class TicketSurveyOut(BaseModel):
    """A ticket's survey as staff see it."""

    ticket_id: int
    channel: str
    agent_id: int | None = Field(description="the ticket's assignee when it was solved")
    due_at: datetime
    sent_at: datetime | None
    rating: int | None
    comment: str
    answered_at: datetime | None
