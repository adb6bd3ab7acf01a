"""Sign-in, sessions, passwords and API tokens."""

from __future__ import annotations

from datetime import datetime

from pydantic import (
    BaseModel,
    Field,
)

from contactcenter.api.schemas.base import LanguageCode, Strict
from contactcenter.domain.enums import Role


class LoginIn(Strict):
    email: str = Field(max_length=320)
    password: str = Field(max_length=1024)


class UserOut(BaseModel):
    id: int
    email: str
    name: str
    role: Role


class LoginOut(BaseModel):
    user: UserOut
    csrf_token: str


class PasswordIn(Strict):
    current_password: str = Field(max_length=1024)
    new_password: str = Field(min_length=10, max_length=1024)


class TokenIn(Strict):
    name: str = Field(min_length=1, max_length=120)
    expires_in_days: int | None = Field(None, ge=0, le=3650,
                                        description="lifetime in days; 0: until revoked; left out: the server default")


class TokenOut(BaseModel):
    id: int
    name: str
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None
    expires_at: datetime | None = None
    token: str | None = Field(None, description="the secret; shown only when the token is created")


class InviteIn(Strict):
    email: str = Field(min_length=3, max_length=320)
    name: str = Field(min_length=1, max_length=200)
    role: Role = Role.AGENT
    languages: list[LanguageCode] = Field(default_factory=lambda: ["en"], max_length=20)
    send_email: bool = Field(True, description="e-mail the link to the person (it is in this answer either way)")


class InviteOut(BaseModel):
    user: UserOut
    expires_at: datetime
    invite_url: str = Field(description="the single-use link; only in this answer")
    email_sent: bool


class InviteAcceptIn(Strict):
    token: str = Field(min_length=10, max_length=200)
    password: str = Field(min_length=10, max_length=1024)
