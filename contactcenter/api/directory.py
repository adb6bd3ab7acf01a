"""Directory endpoints: organizations, products and service contracts.

Everyone signed in reads; supervisors and admins write. SLA policies have their own endpoints (``api/sla.py``,
``/sla/policies``); a contract names one by ``sla_policy_id``.
"""

from __future__ import annotations

from datetime import date
from typing import Any, TypeVar

from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from contactcenter.actions import directory as actions
from contactcenter.api.framework import Api, ApiRequest
from contactcenter.api.schemas.directory import (
    ContractIn,
    ContractOut,
    ContractPage,
    ContractPatch,
    ContractQuery,
    DirectoryQuery,
    OrganizationDetail,
    OrganizationIn,
    OrganizationOut,
    OrganizationPage,
    OrganizationPatch,
    ProductIn,
    ProductOut,
    ProductPage,
    ProductPatch,
)
from contactcenter.api.tickets import decode_cursor, encode_cursor
from contactcenter.db.models import Organization, Product, ServiceContract
from contactcenter.db.types import utcnow
from contactcenter.domain.enums import Role
from contactcenter.errors import NotFound

api = Api()
R = TypeVar("R", Organization, Product, ServiceContract)


def today() -> date:
    """Contracts are judged by the UTC calendar day."""
    return utcnow().date()


def organization_out(org: Organization) -> OrganizationOut:
    return OrganizationOut(id=org.id, name=org.name, tier=org.tier, domains=list(org.domains or []),
                           notes=org.notes, created_at=org.created_at)


def product_out(product: Product) -> ProductOut:
    return ProductOut(id=product.id, name=product.name, code=product.code, description=product.description)


def contract_out(contract: ServiceContract, on: date | None = None) -> ContractOut:
    return ContractOut(id=contract.id, name=contract.name, organization_id=contract.organization_id,
                       product_id=contract.product_id, sla_policy_id=contract.sla_policy_id,
                       starts_on=contract.starts_on, ends_on=contract.ends_on,
                       support_hours=contract.support_hours, channels=list(contract.channels or []),
                       active=actions.contract_active(contract.starts_on, contract.ends_on, on or today()))


async def _page(session: AsyncSession, query: Select[R], model: type[R], limit: int,
                cursor: str | None) -> tuple[list[R], str | None]:
    """One page in id order, and the cursor of the next one."""
    if cursor:
        query = query.where(model.id > decode_cursor(cursor))
    rows = list((await session.scalars(query.order_by(model.id).limit(limit + 1))).all())
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, encode_cursor(rows[-1].id) if more else None


async def _get(session: AsyncSession, model: type[R], row_id: int, label: str) -> Any:
    row = await session.get(model, row_id)
    if row is None:
        raise NotFound(f"{label} {row_id} not found")
    return row


async def organization_detail(session: AsyncSession, org: Organization) -> OrganizationDetail:
    contracts = (await session.scalars(
        select(ServiceContract).where(ServiceContract.organization_id == org.id)
        .order_by(ServiceContract.starts_on.desc(), ServiceContract.id.desc()))).all()
    on = today()
    return OrganizationDetail(**organization_out(org).model_dump(),
                              contracts=[contract_out(c, on) for c in contracts],
                              contact_count=await actions.count_contacts(session, org.id))


# --- organizations -------------------------------------------------------------------------------

@api.route("GET", "/organizations", summary="Organizations in id order (filter by name with q)",
           tag="directory", query=DirectoryQuery, response=OrganizationPage)
async def list_organizations(req: ApiRequest) -> OrganizationPage:
    q: DirectoryQuery = req.query
    query = select(Organization)
    if q.q and q.q.strip():
        query = query.where(Organization.name.icontains(q.q.strip(), autoescape=True))
    async with req.ctx.db.read() as session:
        rows, cursor = await _page(session, query, Organization, q.limit, q.cursor)
    return OrganizationPage(items=[organization_out(o) for o in rows], next_cursor=cursor)


@api.route("POST", "/organizations", summary="Create an organization", tag="directory", role=Role.SUPERVISOR,
           body=OrganizationIn, response=OrganizationDetail, status=201,
           responses={409: "name or e-mail domain already taken"})
async def create_organization(req: ApiRequest) -> OrganizationDetail:
    body: OrganizationIn = req.body
    async with req.ctx.db.write() as session:
        org = await actions.do_create_organization(session, name=body.name, tier=body.tier,
                                                   domains=body.domains, notes=body.notes, actor=req.actor)
        return await organization_detail(session, org)


@api.route("GET", "/organizations/{id}", summary="An organization with its contracts and contact count",
           tag="directory", response=OrganizationDetail)
async def get_organization(req: ApiRequest) -> OrganizationDetail:
    async with req.ctx.db.read() as session:
        org = await _get(session, Organization, req.path_id(), "organization")
        return await organization_detail(session, org)


@api.route("PATCH", "/organizations/{id}", summary="Change an organization's name, tier, domains or notes",
           tag="directory", role=Role.SUPERVISOR, body=OrganizationPatch, response=OrganizationDetail,
           responses={409: "name or e-mail domain already taken"})
async def update_organization(req: ApiRequest) -> OrganizationDetail:
    body: OrganizationPatch = req.body
    async with req.ctx.db.write() as session:
        org = await actions.do_update_organization(session, req.path_id(),
                                                   body.model_dump(exclude_unset=True), actor=req.actor)
        return await organization_detail(session, org)


# --- products ------------------------------------------------------------------------------------

@api.route("GET", "/products", summary="Products in id order (filter by name or code with q)",
           tag="directory", query=DirectoryQuery, response=ProductPage)
async def list_products(req: ApiRequest) -> ProductPage:
    q: DirectoryQuery = req.query
    query = select(Product)
    if q.q and q.q.strip():
        text = q.q.strip()
        query = query.where(or_(Product.name.icontains(text, autoescape=True), Product.code == text))
    async with req.ctx.db.read() as session:
        rows, cursor = await _page(session, query, Product, q.limit, q.cursor)
    return ProductPage(items=[product_out(p) for p in rows], next_cursor=cursor)


@api.route("POST", "/products", summary="Create a product", tag="directory", role=Role.SUPERVISOR,
           body=ProductIn, response=ProductOut, status=201, responses={409: "name or code already taken"})
async def create_product(req: ApiRequest) -> ProductOut:
    body: ProductIn = req.body
    async with req.ctx.db.write() as session:
        product = await actions.do_create_product(session, name=body.name, code=body.code,
                                                  description=body.description, actor=req.actor)
        return product_out(product)


@api.route("GET", "/products/{id}", summary="A product", tag="directory", response=ProductOut)
async def get_product(req: ApiRequest) -> ProductOut:
    async with req.ctx.db.read() as session:
        return product_out(await _get(session, Product, req.path_id(), "product"))


@api.route("PATCH", "/products/{id}", summary="Change a product's name, code or description", tag="directory",
           role=Role.SUPERVISOR, body=ProductPatch, response=ProductOut,
           responses={409: "name or code already taken"})
async def update_product(req: ApiRequest) -> ProductOut:
    body: ProductPatch = req.body
    async with req.ctx.db.write() as session:
        product = await actions.do_update_product(session, req.path_id(), body.model_dump(exclude_unset=True),
                                                  actor=req.actor)
        return product_out(product)


# --- service contracts ---------------------------------------------------------------------------

@api.route("GET", "/service-contracts", summary="Service contracts in id order, by organization, product or "
           "whether they are in force today", tag="directory", query=ContractQuery, response=ContractPage)
async def list_contracts(req: ApiRequest) -> ContractPage:
    q: ContractQuery = req.query
    on = today()
    query = select(ServiceContract)
    if q.organization_id is not None:
        query = query.where(ServiceContract.organization_id == q.organization_id)
    if q.product_id is not None:
        query = query.where(ServiceContract.product_id == q.product_id)
    if q.active is not None:
        in_force = (ServiceContract.starts_on <= on) & \
            (ServiceContract.ends_on.is_(None) | (ServiceContract.ends_on >= on))
        query = query.where(in_force if q.active else ~in_force)
    async with req.ctx.db.read() as session:
        rows, cursor = await _page(session, query, ServiceContract, q.limit, q.cursor)
    return ContractPage(items=[contract_out(c, on) for c in rows], next_cursor=cursor)


@api.route("POST", "/service-contracts", summary="Create a service contract for an organization; its "
           "organization's open tickets are recomputed by the SLA engine", tag="directory", role=Role.SUPERVISOR,
           body=ContractIn, response=ContractOut, status=201,
           responses={422: "unknown organization, product or SLA policy; dates out of order; unreadable hours"})
async def create_contract(req: ApiRequest) -> ContractOut:
    body: ContractIn = req.body
    async with req.ctx.db.write() as session:
        contract = await actions.do_create_contract(
            session, name=body.name, organization_id=body.organization_id, product_id=body.product_id,
            sla_policy_id=body.sla_policy_id, starts_on=body.starts_on, ends_on=body.ends_on,
            support_hours=body.support_hours, channels=body.channels, actor=req.actor)
        return contract_out(contract)


@api.route("GET", "/service-contracts/{id}", summary="A service contract", tag="directory",
           response=ContractOut)
async def get_contract(req: ApiRequest) -> ContractOut:
    async with req.ctx.db.read() as session:
        return contract_out(await _get(session, ServiceContract, req.path_id(), "service contract"))


@api.route("PATCH", "/service-contracts/{id}", tag="directory",
           summary="Change a contract's name, product, SLA policy, dates, support hours or channels; its "
           "organization's open tickets are recomputed by the SLA engine", role=Role.SUPERVISOR, body=ContractPatch,
           response=ContractOut,
           responses={422: "unknown product or SLA policy; dates out of order; unreadable hours"})
async def update_contract(req: ApiRequest) -> ContractOut:
    body: ContractPatch = req.body
    async with req.ctx.db.write() as session:
        contract = await actions.do_update_contract(session, req.path_id(),
                                                    body.model_dump(exclude_unset=True), actor=req.actor)
        return contract_out(contract)
