"""SLA attainment and breach rate per metric, and complaint rates per 1,000 tickets."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from contactcenter.db.models import Organization, Product, ServiceContract, SlaTicket, SlaTimer, Ticket
from contactcenter.domain.enums import TicketType
from contactcenter.reports.table import Column, Range, Report, ratio
from contactcenter.reports.volume import in_range
from contactcenter.sla.complaints import _product as product_on

SLA_METRICS = ("first_response", "next_response", "resolution")


def sla(session: Session, span: Range) -> Report:
    """Per metric, the clocks of tickets created in the range (one breach timer per clock and cycle).

    breached: the breach timer fired. running: still pending. met: neither, and for first response and
    resolution the SLA figures say the clock was stopped (a paused clock is not met); next-response clocks
    whose breach was cancelled count as met. attainment = met / (met + breached); breach rate = breached / clocks.
    """
    rows = session.execute(
        select(SlaTimer.metric, SlaTimer.state, SlaTicket.first_response_business_seconds,
               SlaTicket.resolution_business_seconds)
        .join(Ticket, Ticket.id == SlaTimer.ticket_id)
        .outerjoin(SlaTicket, SlaTicket.ticket_id == SlaTimer.ticket_id)
        .where(SlaTimer.point == "breach", *in_range(span))).all()
    counts: dict[str, dict[str, int]] = {m: {"clocks": 0, "met": 0, "breached": 0, "running": 0, "paused": 0}
                                         for m in SLA_METRICS}
    for metric, state, first_response, resolution in rows:
        c = counts.setdefault(metric, {"clocks": 0, "met": 0, "breached": 0, "running": 0, "paused": 0})
        c["clocks"] += 1
        if state == "fired":
            c["breached"] += 1
        elif state == "pending":
            c["running"] += 1
        elif metric == "next_response" or (first_response if metric == "first_response" else resolution) is not None:
            c["met"] += 1
        else:
            c["paused"] += 1
    report = Report("sla", [Column("metric", "Metric", "string"), Column("clocks", "Clocks"),
                            Column("met", "Met in time"), Column("breached", "Breached"),
                            Column("running", "Running"), Column("paused", "Paused"),
                            Column("attainment", "Attainment", "ratio"), Column("breach_rate", "Breach rate", "ratio")])
    for metric, c in counts.items():
        report.rows.append({"metric": metric, **c, "attainment": ratio(c["met"], c["met"] + c["breached"]),
                            "breach_rate": ratio(c["breached"], c["clocks"])})
    total = {k: sum(c[k] for c in counts.values()) for k in ("clocks", "met", "breached", "running", "paused")}
    report.summary = {**total, "attainment": ratio(total["met"], total["met"] + total["breached"]),
                      "breach_rate": ratio(total["breached"], total["clocks"])}
    return report


def complaints(session: Session, span: Range) -> Report:
    """Complaints (tickets of type complaint) per 1,000 tickets created in the range, by product and organization.

    A ticket's product is that of its organization's service contract in force on the day it was created, else
    of the organization's latest contract (as the complaint register finds it); tickets without one count under
    "(no product)", tickets without an organization under "(no organization)".
    """
    rows = session.execute(select(Ticket.type, Ticket.organization_id, Ticket.created_at, Organization.name)
                           .outerjoin(Organization, Organization.id == Ticket.organization_id)
                           .where(*in_range(span))).all()
    org_ids = {r.organization_id for r in rows if r.organization_id is not None}
    contracts: dict[int, list[tuple[date, date | None, str]]] = defaultdict(list)
    for org_id, starts, ends, name in session.execute(
            select(ServiceContract.organization_id, ServiceContract.starts_on, ServiceContract.ends_on, Product.name)
            .join(Product, Product.id == ServiceContract.product_id)
            .where(ServiceContract.organization_id.in_(org_ids))):
        contracts[org_id].append((starts, ends, name))
    groups: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for r in rows:
        complaint = int(r.type == TicketType.COMPLAINT)
        product = product_on(contracts.get(r.organization_id, []), span.local(r.created_at).date())
        for key in (("product", product or "(no product)"), ("organization", r.name or "(no organization)")):
            groups[key][0] += 1
            groups[key][1] += complaint
    report = Report("complaints", [Column("dimension", "By", "string"), Column("name", "Name", "string"),
                                   Column("tickets", "Tickets"), Column("complaints", "Complaints"),
                                   Column("per_1000", "Complaints per 1,000 tickets", "number")])
    for (dimension, name), (tickets, found) in sorted(groups.items(), key=lambda g: (g[0][0] != "product",
                                                                                       -g[1][1], g[0][1])):
        report.rows.append({"dimension": dimension, "name": name, "tickets": tickets, "complaints": found,
                            "per_1000": round(found * 1000 / tickets, 2)})
    found_all = sum(1 for r in rows if r.type == TicketType.COMPLAINT)
    report.summary = {"tickets": len(rows), "complaints": found_all,
                      "per_1000": round(found_all * 1000 / len(rows), 2) if rows else None}
    return report
