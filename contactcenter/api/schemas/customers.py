"""A customer's own side: sign-in link requests and "my tickets"."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, Field, StringConstraints

from contactcenter.api.schemas.base import Strict, folded

Email = Annotated[str, BeforeValidator(folded),
                  StringConstraints(max_length=320, pattern=r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")]


class MagicLinkIn(Strict):
    email: Email


class AcceptedOut(BaseModel):
    status: str = Field(description='always "accepted": whether the address is known is not said')


class MyTicketOut(BaseModel):
    id: int
    number: int
    subject: str
    status: str
    channel: str
    created_at: datetime
    last_message_at: datetime
    portal_url: str = Field(description="the page of this ticket for the signed-in customer (/my/tickets/{id})")


class MyMessageOut(BaseModel):
    id: int
    direction: str = Field(description='"in" from the customer, "out" from us')
    author: str = Field(description='"you", "agent" or "system"')
    channel: str
    text: str
    created_at: datetime


class MyTicketDetailOut(MyTicketOut):
    messages: list[MyMessageOut] = Field(description="public messages only, oldest first (internal notes never)")
