"""Sign-in, sessions, passwords and API tokens."""

from __future__ import annotations

from datetime import datetime

from pydantic import (
    BaseModel,
    Field,
)

from contactcenter.api.schemas.base import Strict
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


class TokenOut(BaseModel):
    id: int
    name: str
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None
    token: str | None = Field(None, description="the secret; shown only when the token is created")
