"""What the tickets an intake batch opens start with: routing requirements (topic, text, organization), the first
overflow ring, and their SLA clocks (docs/intake.md "A new ticket")."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, or_, select
from sqlalchemy.orm import Session

from channels.base import InboundMessage
from contactcenter.db.keys import KeyedSelect
from contactcenter.db.models import Organization, ServiceContract
from contactcenter.settings import Settings
from contactcenter.sla import store as sla_store
from contactcenter.sla.policies import Facts
from routing.requirements import Requirements, derive

if TYPE_CHECKING:
    from contactcenter.sla.service import SlaService, TicketSla

_IN_FORCE = (select(ServiceContract.id).where(
    ServiceContract.organization_id == Organization.id, ServiceContract.starts_on <= bindparam("today"),
    or_(ServiceContract.ends_on.is_(None), ServiceContract.ends_on >= bindparam("today"))).exists())
_ORGANIZATIONS = KeyedSelect(select(Organization.id, Organization.tier, _IN_FORCE), (Organization.id,))


class NewTickets:
    """The terms of one batch's new tickets, read once for all of them: each organization's tier and whether a
    contract is in force (routing); with the SLA service, its policies and the organizations' contracts (clocks)."""

    def __init__(self, session: Session, settings: Settings, sla: SlaService | None, now: datetime,
                 organization_ids: Iterable[int | None]) -> None:
        self.settings = settings
        self.sla = sla
        self.now = now
        ids = set(organization_ids) - {None}
        rows = _ORGANIZATIONS.rows(session.connection(), ((org_id,) for org_id in ids), {"today": now.date()})
        self.organizations: dict[int | None, tuple[str, bool]] = {
            org_id: (tier, bool(contract)) for org_id, tier, contract in rows}
        if sla is not None:
            sla_store.lock_terms(session, shared=True)
            self.policies = sla.policies(session)
            self.tiers, self.contracts = sla_store.organization_terms(session, ids)

    def needs(self, msg: InboundMessage, language: str, organization_id: int | None) -> Requirements:
        """A new ticket's routing requirements, priority and type (from its topic, text and organization)."""
        topic = self.settings.webform.topic(msg.topic) if msg.topic else None
        tier, has_contract = self.organizations.get(organization_id, ("", False))
        return derive(channel=msg.channel, language=language, topic_skill=topic.skill if topic else "",
                      topic_type=topic.type if topic else "question",
                      topic_priority=topic.priority if topic else "normal", text=f"{msg.subject}\n{msg.text}",
                      tier=tier, has_contract=has_contract, rules=self.settings.routing.rules)

    def first_ring(self, queue: str | None) -> datetime | None:
        """When a new ticket's first overflow step applies (the router keeps it up to date from then on)."""
        steps = self.settings.routing.steps(queue)
        return self.now + timedelta(seconds=steps[0].after) if steps and self.settings.routing.enabled else None

    def clocks(self, needs: Requirements, channel: str, organization_id: int | None,
               received: Sequence[datetime]) -> TicketSla | None:
        """Its SLA clocks, started over the customer's messages ``received`` in this batch (None: no SLA service)."""
        if self.sla is None:
            return None
        facts = Facts(needs.priority.value, needs.type.value, channel, self.tiers.get(organization_id, ""),
                      frozenset(), tuple(self.contracts.get(organization_id, ())))
        return self.sla.start_clocks(self.policies, facts, received, self.now)
