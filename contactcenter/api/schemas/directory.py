"""Organizations, products and service contracts."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, ClassVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from contactcenter.api.framework import MAX_ID
from contactcenter.api.schemas.base import ChannelName, Patch, Strict, folded

Domain = Annotated[str, BeforeValidator(folded), StringConstraints(
    max_length=253, pattern=r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}$")]
Tier = Annotated[str, BeforeValidator(folded), StringConstraints(pattern=r"^[a-z0-9_-]{1,40}$")]
DirectoryName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class DirectoryQuery(Strict):
    q: str | None = Field(None, max_length=200, description="part of the name (case-insensitive)")
    limit: int = Field(50, ge=1, le=200)
    cursor: str | None = Field(None, max_length=40, description="next_cursor from the previous page")


class OrganizationIn(Strict):
    name: DirectoryName
    tier: Tier = "standard"
    domains: list[Domain] = Field(default_factory=list, max_length=50,
                                  description="e-mail domains; new contacts from them join this organization")
    notes: str = Field("", max_length=10_000)


class OrganizationPatch(Patch):
    name: DirectoryName | None = None
    tier: Tier | None = None
    domains: list[Domain] | None = Field(None, max_length=50)
    notes: str | None = Field(None, max_length=10_000)


class OrganizationOut(BaseModel):
    id: int
    name: str
    tier: str
    domains: list[str]
    notes: str
    created_at: datetime


class OrganizationPage(BaseModel):
    items: list[OrganizationOut]
    next_cursor: str | None


class ProductIn(Strict):
    name: DirectoryName
    code: str | None = Field(None, max_length=60, pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = Field("", max_length=10_000)


class ProductPatch(Patch):
    nullable: ClassVar[frozenset[str]] = frozenset({"code"})
    name: DirectoryName | None = None
    code: str | None = Field(None, max_length=60, pattern=r"^[A-Za-z0-9_.-]+$")
    description: str | None = Field(None, max_length=10_000)


class ProductOut(BaseModel):
    id: int
    name: str
    code: str | None
    description: str


class ProductPage(BaseModel):
    items: list[ProductOut]
    next_cursor: str | None


class ContractIn(Strict):
    name: DirectoryName
    organization_id: int = Field(ge=1, le=MAX_ID)
    product_id: int | None = Field(None, ge=1, le=MAX_ID)
    sla_policy_id: int | None = Field(None, ge=1, le=MAX_ID)
    starts_on: date
    ends_on: date | None = Field(None, description="last day covered; null = open-ended")
    support_hours: str = Field("", max_length=200, description='e.g. "Sa-We 08:00-17:00 Asia/Tehran"; replace the '
                               "hours of a business-hours policy the contract grants; empty: the policy's hours")
    channels: list[ChannelName] = Field(default_factory=list, max_length=20,
                                        description="the channels the contract covers; empty: all")

    @field_validator("ends_on")
    @classmethod
    def _dates_in_order(cls, value: date | None, info: ValidationInfo) -> date | None:
        starts_on = info.data.get("starts_on")
        if value is not None and starts_on is not None and value < starts_on:
            raise ValueError("ends_on must not be before starts_on")
        return value


class ContractPatch(Patch):
    nullable: ClassVar[frozenset[str]] = frozenset({"product_id", "sla_policy_id", "ends_on"})
    name: DirectoryName | None = None
    product_id: int | None = Field(None, ge=1, le=MAX_ID)
    sla_policy_id: int | None = Field(None, ge=1, le=MAX_ID)
    starts_on: date | None = None
    ends_on: date | None = None
    support_hours: str | None = Field(None, max_length=200)
    channels: list[ChannelName] | None = Field(None, max_length=20)


class ContractQuery(Strict):
    organization_id: int | None = Field(None, ge=1, le=MAX_ID)
    product_id: int | None = Field(None, ge=1, le=MAX_ID)
    active: bool | None = Field(None, description="only contracts in force today (true) or not (false)")
    limit: int = Field(50, ge=1, le=200)
    cursor: str | None = Field(None, max_length=40)


class ContractOut(BaseModel):
    id: int
    name: str
    organization_id: int
    product_id: int | None
    sla_policy_id: int | None
    starts_on: date
    ends_on: date | None
    support_hours: str
    channels: list[str]
    active: bool = Field(description="starts_on <= today (UTC) <= ends_on, or no ends_on")


class ContractPage(BaseModel):
    items: list[ContractOut]
    next_cursor: str | None


class OrganizationDetail(OrganizationOut):
    contracts: list[ContractOut]
    contact_count: int
