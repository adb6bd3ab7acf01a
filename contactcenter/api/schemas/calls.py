"""Phone calls: the call log and agents' call-backs."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from contactcenter.api.schemas.base import Strict


class CallbackIn(Strict):
    """Call a customer back. Give a ticket (its contact's phone is called) or a number, or both."""

    ticket_id: int | None = Field(None, ge=1, le=2**31 - 1, description="log the call on this ticket")
    to: str | None = Field(None, max_length=40, description="the number to call; default: the ticket "
                                                            "contact's first phone number")


class CallOut(BaseModel):
    """One call of the call log (read from a ``calls`` row)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    call_sid: str
    direction: Literal["inbound", "outbound"]
    from_number: str
    to_number: str
    contact_id: int | None
    ticket_id: int | None
    user_id: int | None = Field(description="the agent who started a call-back")
    topic: str | None
    status: str = Field(description="Twilio's last call status")
    outcome: str | None = Field(description="answered, voicemail, missed or abandoned once the call ended")
    duration: int | None = Field(description="seconds")
    recording_url: str | None
    created_at: datetime
    ended_at: datetime | None
