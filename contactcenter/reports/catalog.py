"""The reports by name, as ``GET /api/v1/reports/{name}`` serves them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from contactcenter.reports.agents import agents
from contactcenter.reports.feedback import deflection, satisfaction
from contactcenter.reports.service import complaints, sla
from contactcenter.reports.table import Range, Report
from contactcenter.reports.volume import response_times, volume


@dataclass(frozen=True, slots=True)
class Entry:
    name: str
    title: str
    build: Callable[[Session, Range], Report]


REPORTS: dict[str, Entry] = {e.name: e for e in (
    Entry("volume", "Tickets by channel and hour of day", volume),
    Entry("response-times", "First response and resolution times", response_times),
    Entry("sla", "SLA attainment and breach rate", sla),
    Entry("complaints", "Complaints per 1,000 tickets", complaints),
    Entry("satisfaction", "Customer satisfaction", satisfaction),
    Entry("deflection", "Self-service deflection", deflection),
    Entry("agents", "Per-agent figures", agents),
)}
