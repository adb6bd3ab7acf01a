"""Models of the agent console's own endpoints: canned responses and @mentions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, ClassVar

from pydantic import BaseModel, Field, StringConstraints

from contactcenter.api.schemas.base import LanguageCode, Patch, Strict

Shortcut = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=1, max_length=40,
                                            pattern=r"^[\w-]+$")]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Body = Annotated[str, StringConstraints(min_length=1, max_length=20_000)]


class CannedIn(Strict):
    title: Title
    shortcut: Shortcut = Field(description="typed after \"/\" in the reply box; unique per owner")
    body: Body = Field(description="text with variables such as {{customer.name}}, {{ticket.number}}")
    language: LanguageCode | None = None
    shared: bool = Field(False, description="for the whole team (supervisors); otherwise mine only")


class CannedPatch(Patch):
    nullable: ClassVar[frozenset[str]] = frozenset({"language"})
    title: Title | None = None
    shortcut: Shortcut | None = None
    body: Body | None = None
    language: LanguageCode | None = None


class CannedOut(BaseModel):
    id: int
    title: str
    shortcut: str
    body: str
    language: str | None
    shared: bool
    editable: bool = Field(description="whether the caller may change or delete it")
    updated_at: datetime


class CannedQuery(Strict):
    language: LanguageCode | None = Field(None, description="only this language (and those without one)")


class RenderIn(Strict):
    ticket_id: int = Field(ge=1, le=2**31 - 1)


class RenderOut(BaseModel):
    text: str
    unknown_variables: list[str] = Field(description="variables left as written because nothing fills them")
    variables: list[str] = Field(description="every variable this server fills")


class MentionOut(BaseModel):
    id: int
    ticket_id: int
    message_id: int
    author_id: int | None
    author_name: str
    excerpt: str
    read: bool
    created_at: datetime


class MentionQuery(Strict):
    unread: bool = False
    limit: int = Field(50, ge=1, le=200)


class MentionsReadIn(Strict):
    up_to_id: int = Field(ge=1, le=2**31 - 1)
