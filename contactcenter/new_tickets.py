"""What the tickets an intake batch opens start with: routing requirements (topic, text, organization), the first
overflow ring, and their SLA clocks (docs/intake.md "A new ticket")."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from channels.base import InboundMessage
from contactcenter.settings import Settings
from contactcenter.sla import store as sla_store
from contactcenter.sla.policies import Facts, Policy
from routing.requirements import Requirements, derive

if TYPE_CHECKING:
    from contactcenter.sla.service import SlaService, TicketSla


class NewTickets:
    """The terms of one batch's new tickets, read once for all of them: each organization's tier and contracts
    (routing asks whether one is in force; the SLA policies choose by them) and, with the SLA service, its
    policies."""

    def __init__(self, session: Session, settings: Settings, sla: SlaService | None, now: datetime,
                 organization_ids: Iterable[int | None]) -> None:
        self.settings = settings
        self.sla = sla
        self.now = now
        self.policies: list[Policy] = []
        if sla is not None:  # before the terms are read (sla.store.lock_terms)
            sla_store.lock_terms(session, shared=True)
            self.policies = sla.policies(session)
        self.tiers, self.contracts = sla_store.organization_terms(session, organization_ids)

    def needs(self, msg: InboundMessage, language: str, organization_id: int | None) -> Requirements:
        """A new ticket's routing requirements, priority and type (from its topic, text and organization)."""
        topic = self.settings.webform.topic(msg.topic) if msg.topic else None
        tier = self.tiers.get(organization_id, "")
        has_contract = any(c.in_force(self.now.date()) for c in self.contracts.get(organization_id, ()))
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
