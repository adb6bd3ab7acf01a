"""The complaint register: open and closed complaints, time to resolve, by organization and product."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from statistics import median
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from contactcenter.db.models import Organization, Product, ServiceContract, SlaTicket, Ticket
from contactcenter.domain.enums import TicketStatus, TicketType

RESOLVED = (TicketStatus.SOLVED.value, TicketStatus.CLOSED.value)
LIST_LIMIT = 200


@dataclass
class Group:
    """Counts and resolution times of one organization's or product's complaints."""

    name: str
    open: int = 0
    closed: int = 0
    business: list[int] = field(default_factory=list)
    calendar: list[int] = field(default_factory=list)

    def out(self) -> dict[str, Any]:
        return {"name": self.name, "open": self.open, "closed": self.closed,
                "median_resolution_business_seconds": median(self.business) if self.business else None,
                "median_resolution_calendar_seconds": median(self.calendar) if self.calendar else None}


def register(session: Session, since: date | None, until: date | None) -> dict[str, Any]:
    """Complaints created in [since, until] (dates in UTC; open-ended when None), newest first in ``complaints``."""
    query = (select(Ticket.id, Ticket.subject, Ticket.status, Ticket.created_at, Ticket.solved_at,
                    Ticket.organization_id, Organization.name, SlaTicket.resolution_business_seconds,
                    SlaTicket.resolution_calendar_seconds, SlaTicket.breaches)
             .outerjoin(Organization, Organization.id == Ticket.organization_id)
             .outerjoin(SlaTicket, SlaTicket.ticket_id == Ticket.id)
             .where(Ticket.type == TicketType.COMPLAINT.value, Ticket.merged_into_id.is_(None))
             .order_by(Ticket.id.desc()))
    if since is not None:
        query = query.where(Ticket.created_at >= datetime(since.year, since.month, since.day, tzinfo=UTC))
    if until is not None:
        end = datetime.combine(until, datetime.max.time(), tzinfo=UTC)
        query = query.where(Ticket.created_at <= end)
    rows = session.execute(query).all()
    org_ids = {r.organization_id for r in rows if r.organization_id is not None}
    contracts: dict[int, list[tuple[date, date | None, str]]] = {}
    for org_id, starts, ends, product_name in session.execute(
            select(ServiceContract.organization_id, ServiceContract.starts_on, ServiceContract.ends_on, Product.name)
            .join(Product, Product.id == ServiceContract.product_id)
            .where(ServiceContract.organization_id.in_(org_ids))):
        contracts.setdefault(org_id, []).append((starts, ends, product_name))
    totals = Group("all")
    by_org: dict[str, Group] = {}
    by_product: dict[str, Group] = {}
    items: list[dict[str, Any]] = []
    for r in rows:
        product = _product(contracts.get(r.organization_id, []), r.created_at.date())
        closed = r.status in RESOLVED
        calendar = r.resolution_calendar_seconds
        if calendar is None and closed and r.solved_at is not None:
            calendar = int((r.solved_at - r.created_at).total_seconds())
        for group in (totals, by_org.setdefault(r.name or "(no organization)", Group(r.name or "(no organization)")),
                      by_product.setdefault(product or "(no product)", Group(product or "(no product)"))):
            if closed:
                group.closed += 1
                if r.resolution_business_seconds is not None:
                    group.business.append(r.resolution_business_seconds)
                if calendar is not None:
                    group.calendar.append(calendar)
            else:
                group.open += 1
        if len(items) < LIST_LIMIT:
            items.append({"ticket_id": r.id, "subject": r.subject, "status": r.status, "organization": r.name,
                          "product": product, "created_at": r.created_at, "solved_at": r.solved_at,
                          "resolution_business_seconds": r.resolution_business_seconds,
                          "resolution_calendar_seconds": calendar, "breaches": r.breaches or 0})
    return {"totals": totals.out(), "by_organization": [g.out() for g in sorted(by_org.values(), key=_key)],
            "by_product": [g.out() for g in sorted(by_product.values(), key=_key)], "complaints": items}


def _product(contracts: list[tuple[date, date | None, str]], day: date) -> str | None:
    """The product of the organization's contract in force on ``day``, else of its latest contract."""
    for starts, ends, product in sorted(contracts, reverse=True, key=lambda c: c[0]):
        if starts <= day and (ends is None or day <= ends):
            return product
    return max(contracts, key=lambda c: c[0])[2] if contracts else None


def _key(group: Group) -> tuple[int, str]:
    return (-(group.open + group.closed), group.name)
