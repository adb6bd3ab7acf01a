"""Outbound webhook endpoints and their deliveries."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from contactcenter.api.schemas.base import Patch, Strict


class WebhookIn(Strict):
    url: str = Field(min_length=8, max_length=2000, description="http:// or https:// URL; public addresses only")
    events: list[str] = Field(min_length=1, max_length=50, description="event kinds, e.g. ticket.created")
    description: str = Field("", max_length=500)
    secret: str | None = Field(None, min_length=16, max_length=200,
                               description="HMAC key; generated (and shown once) when left out")


class WebhookPatch(Patch):
    url: str | None = Field(None, min_length=8, max_length=2000)
    events: list[str] | None = Field(None, min_length=1, max_length=50)
    description: str | None = Field(None, max_length=500)
    is_active: bool | None = None


class WebhookOut(BaseModel):
    id: int
    url: str
    events: list[str]
    description: str
    is_active: bool
    created_at: datetime
    secret: str | None = Field(None, description="the signing secret; only in the answer that created it")


class DeliveryOut(BaseModel):
    id: int
    uid: str
    topic: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


class EventKindsOut(BaseModel):
    events: list[str]
