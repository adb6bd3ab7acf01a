"""The directory: organizations, products and service contracts (SLA policies: ``actions/sla.py``).

Every writer records an audit row and never commits. Unique names are checked first (for a clear
message) and then enforced by the database's unique constraints, which stay the lock of record.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from contactcenter.actions.audit import Actor, record
from contactcenter.actions.sla import lock_terms_to_change
from contactcenter.db.models import Base, Contact, Organization, Product, ServiceContract, SlaPolicy
from contactcenter.errors import Conflict, Invalid, NotFound
from contactcenter.events import ServiceContractChanged, emit
from contactcenter.sla.calendar import CalendarError
from contactcenter.sla.policies import parse_support_hours

T = TypeVar("T", bound=Base)


def contract_active(starts_on: date, ends_on: date | None, today: date) -> bool:
    """A contract is in force from its first day through its last day (open-ended without one)."""
    return starts_on <= today and (ends_on is None or today <= ends_on)


def _plain(value: Any) -> Any:
    """A value as it can be stored in an audit row (JSON)."""
    return value.isoformat() if isinstance(value, date) else value


def _apply(row: Base, changes: Mapping[str, Any]) -> dict[str, list[Any]]:
    """Set ``changes`` on ``row``; return ``{field: [old, new]}`` for what really changed."""
    diff = {k: [_plain(getattr(row, k)), _plain(v)] for k, v in changes.items() if getattr(row, k) != v}
    for key in diff:
        setattr(row, key, changes[key])
    return diff


async def _get(session: AsyncSession, model: type[T], row_id: int, label: str, *, lock: bool = False) -> T:
    row = await session.get(model, row_id, with_for_update=lock)
    if row is None:
        raise NotFound(f"{label} {row_id} not found")
    return row


async def _must_exist(session: AsyncSession, model: type[Base], row_id: int | None, field: str,
                      label: str) -> None:
    """A row a request body refers to must exist; otherwise the request is invalid (422), not a 404."""
    if row_id is not None and await session.get(model, row_id) is None:
        raise Invalid(f"{field}: {label} {row_id} does not exist")


async def _unique(session: AsyncSession, column: InstrumentedAttribute[Any], value: Any, own_id: int | None,
                  label: str) -> None:
    if value is None:
        return
    id_column = column.class_.id
    query = select(id_column).where(column == value)
    if own_id is not None:
        query = query.where(id_column != own_id)
    if await session.scalar(query.limit(1)) is not None:
        raise Conflict(f"{label} {value!r} is already taken")


async def _flush(session: AsyncSession, what: str) -> None:
    """Flush; a unique-constraint violation (a concurrent writer won) becomes a 409."""
    try:
        await session.flush()
    except IntegrityError:
        raise Conflict(f"{what} conflicts with an existing one (name or code already taken)") from None


# --- organizations -------------------------------------------------------------------------------

async def _domains_free(session: AsyncSession, domains: list[str], own_id: int | None) -> None:
    """An e-mail domain decides which organization new contacts join, so it may belong to one only."""
    if not domains:
        return
    # Organization.domains is a short JSON list and organizations are few: read in Python.
    for org_id, name, taken in (await session.execute(
            select(Organization.id, Organization.name, Organization.domains))).all():
        clash = sorted(set(domains) & set(taken or []))
        if org_id != own_id and clash:
            raise Conflict(f"domain {clash[0]} already belongs to organization {name!r} ({org_id})")


async def do_create_organization(session: AsyncSession, *, name: str, tier: str = "standard",
                                 domains: list[str] | None = None, notes: str = "",
                                 actor: Actor) -> Organization:
    domains = list(dict.fromkeys(domains or []))
    await _unique(session, Organization.name, name, None, "organization name")
    await _domains_free(session, domains, None)
    org = Organization(name=name, tier=tier, domains=domains, notes=notes)
    session.add(org)
    await _flush(session, "organization")
    record(session, actor, "organization.created", "organization", org.id,
           {"name": name, "tier": tier, "domains": domains})
    return org


async def do_update_organization(session: AsyncSession, org_id: int, changes: Mapping[str, Any], *,
                                 actor: Actor) -> Organization:
    """Change name, tier, domains or notes."""
    org = await _get(session, Organization, org_id, "organization", lock=True)
    changes = dict(changes)
    if "domains" in changes:
        changes["domains"] = list(dict.fromkeys(changes["domains"]))
        await _domains_free(session, changes["domains"], org.id)
    if "name" in changes:
        await _unique(session, Organization.name, changes["name"], org.id, "organization name")
    diff = _apply(org, changes)
    if diff:
        await _flush(session, "organization")
        record(session, actor, "organization.updated", "organization", org.id, diff)
    return org


async def count_contacts(session: AsyncSession, org_id: int) -> int:
    """Contacts of an organization (merged-away contacts are not counted)."""
    return int(await session.scalar(select(func.count()).select_from(Contact).where(
        Contact.organization_id == org_id, Contact.merged_into_id.is_(None))) or 0)


# --- products ------------------------------------------------------------------------------------

async def do_create_product(session: AsyncSession, *, name: str, code: str | None = None,
                            description: str = "", actor: Actor) -> Product:
    await _unique(session, Product.name, name, None, "product name")
    await _unique(session, Product.code, code, None, "product code")
    product = Product(name=name, code=code, description=description)
    session.add(product)
    await _flush(session, "product")
    record(session, actor, "product.created", "product", product.id, {"name": name, "code": code})
    return product


async def do_update_product(session: AsyncSession, product_id: int, changes: Mapping[str, Any], *,
                            actor: Actor) -> Product:
    """Change name, code or description."""
    product = await _get(session, Product, product_id, "product", lock=True)
    if "name" in changes:
        await _unique(session, Product.name, changes["name"], product.id, "product name")
    if "code" in changes:
        await _unique(session, Product.code, changes["code"], product.id, "product code")
    diff = _apply(product, changes)
    if diff:
        await _flush(session, "product")
        record(session, actor, "product.updated", "product", product.id, diff)
    return product


# --- service contracts ---------------------------------------------------------------------------

def _check_support_hours(text: str) -> None:
    """Support hours are read exactly as the SLA engine reads them: "DAYS HH:MM-HH:MM[ HH:MM-HH:MM] ZONE"."""
    if text.strip():
        try:
            parse_support_hours(text.strip())
        except CalendarError as exc:
            raise Invalid(f"support_hours: {exc} (e.g. \"Sa-We 08:00-17:00 Asia/Tehran\")") from None


def _check_dates(starts_on: date, ends_on: date | None) -> None:
    if ends_on is not None and ends_on < starts_on:
        raise Invalid(f"ends_on ({ends_on}) must not be before starts_on ({starts_on})")


async def do_create_contract(session: AsyncSession, *, name: str, organization_id: int, starts_on: date,
                             ends_on: date | None = None, product_id: int | None = None,
                             sla_policy_id: int | None = None, support_hours: str = "",
                             channels: list[str] | None = None, actor: Actor) -> ServiceContract:
    await lock_terms_to_change(session)
    _check_dates(starts_on, ends_on)
    await _must_exist(session, Organization, organization_id, "organization_id", "organization")
    await _must_exist(session, Product, product_id, "product_id", "product")
    await _must_exist(session, SlaPolicy, sla_policy_id, "sla_policy_id", "SLA policy")
    _check_support_hours(support_hours)
    contract = ServiceContract(name=name, organization_id=organization_id, product_id=product_id,
                               sla_policy_id=sla_policy_id, starts_on=starts_on, ends_on=ends_on,
                               support_hours=support_hours, channels=list(dict.fromkeys(channels or [])))
    session.add(contract)
    await session.flush()
    record(session, actor, "contract.created", "service_contract", contract.id,
           {"name": name, "organization_id": organization_id, "product_id": product_id,
            "sla_policy_id": sla_policy_id, "starts_on": starts_on.isoformat(),
            "ends_on": _plain(ends_on), "support_hours": support_hours, "channels": contract.channels})
    emit(session, ServiceContractChanged(contract_id=contract.id, organization_id=organization_id))
    return contract


async def do_update_contract(session: AsyncSession, contract_id: int, changes: Mapping[str, Any], *,
                             actor: Actor) -> ServiceContract:
    """Change name, product, SLA policy, dates, support hours or channels (not the organization)."""
    await lock_terms_to_change(session)
    contract = await _get(session, ServiceContract, contract_id, "service contract", lock=True)
    changes = dict(changes)
    if "organization_id" in changes:
        raise Invalid("a contract cannot move to another organization; end it and create a new one")
    _check_dates(changes.get("starts_on", contract.starts_on), changes.get("ends_on", contract.ends_on))
    if "product_id" in changes:
        await _must_exist(session, Product, changes["product_id"], "product_id", "product")
    if "sla_policy_id" in changes:
        await _must_exist(session, SlaPolicy, changes["sla_policy_id"], "sla_policy_id", "SLA policy")
    if "channels" in changes:
        changes["channels"] = list(dict.fromkeys(changes["channels"]))
    if "support_hours" in changes:
        _check_support_hours(changes["support_hours"])
    diff = _apply(contract, changes)
    if diff:
        await session.flush()
        record(session, actor, "contract.updated", "service_contract", contract.id, diff)
        emit(session, ServiceContractChanged(contract_id=contract.id, organization_id=contract.organization_id))
    return contract
