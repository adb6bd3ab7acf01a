"""Agents, skills, capacity and presence."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import (
    BaseModel,
    Field,
    StringConstraints,
)

from contactcenter.api.schemas.base import ChannelName, LanguageCode, Patch, Strict
from contactcenter.domain.enums import Presence, Role

SkillName = Annotated[str, StringConstraints(min_length=1, max_length=80, pattern=r"^[\w-]+$")]
Capacity = dict[ChannelName, Annotated[int, Field(ge=0, le=1000)]]
SkillLevels = dict[SkillName, Annotated[int, Field(ge=1, le=5)]]


class AgentOut(BaseModel):
    id: int
    email: str
    name: str
    role: Role
    is_active: bool
    languages: list[str]
    capacity: dict[str, int]
    presence: Presence
    presence_changed_at: datetime | None
    skills: dict[str, int]


class AgentQuery(Strict):
    role: Role | None = None
    active: bool | None = Field(None, description="only active (true) or deactivated (false) users")


class AgentIn(Strict):
    email: str = Field(max_length=320)
    name: str = Field(min_length=1, max_length=200)
    role: Role = Role.AGENT
    password: str | None = Field(None, min_length=10, max_length=1024)
    languages: list[LanguageCode] = Field(default_factory=lambda: ["en"], max_length=20)
    capacity: Capacity = Field(default_factory=dict,
                               description="per channel, e.g. {\"email\": 10, \"chat\": 3}")
    skills: SkillLevels = Field(default_factory=dict, description="skill name -> level 1..5")


class AgentPatch(Patch):
    name: str | None = Field(None, min_length=1, max_length=200)
    role: Role | None = Field(None, description="admins only")
    is_active: bool | None = Field(None,
                                   description="admins only; false ends sessions and revokes API tokens")
    languages: list[LanguageCode] | None = Field(None, max_length=20)
    capacity: Capacity | None = Field(None, description="per channel, e.g. {\"email\": 10, \"chat\": 3}")
    skills: SkillLevels | None = Field(None, description="skill name -> level 1..5; replaces all skills")


class PresenceIn(Strict):
    presence: Presence


class SkillIn(Strict):
    name: SkillName
    description: str = Field("", max_length=2000)


class SkillPatch(Patch):
    description: str | None = Field(None, max_length=2000)


class SkillOut(BaseModel):
    id: int
    name: str
    description: str
