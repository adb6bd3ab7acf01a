"""The routing policy: who may take a ticket, who should, which ticket comes first. Pure functions.

Nothing here touches the database or the clock: the router (``routing/router.py``) loads the views,
passes ``now``, and stores what these functions decide together with their explanation.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from contactcenter.domain.enums import Presence, Priority


class Strategy(StrEnum):
    BEST_MATCH = "best_match"  # highest skill levels on what the ticket needs, then longest idle
    LEAST_OCCUPIED = "least_occupied"  # lowest share of capacity in use, then longest idle
    ROUND_ROBIN = "round_robin"  # whoever was offered work longest ago


@dataclass(frozen=True, slots=True)
class AgentView:
    """An agent as routing sees them at one moment."""

    id: int
    presence: Presence
    skills: Mapping[str, int]  # skill -> level 1..5
    languages: frozenset[str]
    capacity: Mapping[str, int]  # channel class -> how many tickets at once
    load: Mapping[str, int]  # channel class -> tickets assigned or offered now
    idle_since: datetime  # when they last got work or became available
    last_offered_at: datetime | None = None
    wrap_up_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class Need:
    """What a ticket needs from an agent (after any overflow relaxation)."""

    skills: Mapping[str, int] = field(default_factory=dict)  # skill -> minimum level
    language: str = ""  # "" = any
    channel_class: str = "email"
    optional: frozenset[str] = frozenset()  # skills in ``skills`` that an overflow step may drop


@dataclass(frozen=True, slots=True)
class WaitingTicket:
    id: int
    priority: Priority
    waiting_since: datetime
    sla_due: datetime | None = None


@dataclass(frozen=True, slots=True)
class Candidate:
    agent_id: int
    score: tuple[Any, ...]  # the sort key that ranked them (smaller is better)


@dataclass(frozen=True, slots=True)
class Choice:
    """The chosen agent and why: the strategy, and the best few candidates in order."""

    agent_id: int | None
    strategy: Strategy
    candidates: tuple[Candidate, ...]
    eligible: int  # how many agents could have taken it

    def explain(self) -> dict[str, Any]:
        return {"strategy": self.strategy.value, "eligible": self.eligible,
                "candidates": [{"agent_id": c.agent_id, "score": [_plain(v) for v in c.score]}
                               for c in self.candidates]}


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


# --- eligibility -------------------------------------------------------------------------------

def blocked_by_call(agent: AgentView, need: Need, *, voice_blocks: bool) -> bool:
    """An agent on a call takes nothing else (when so configured)."""
    return voice_blocks and need.channel_class != "voice" and agent.load.get("voice", 0) > 0


def free_capacity(agent: AgentView, channel_class: str) -> int:
    return agent.capacity.get(channel_class, 0) - agent.load.get(channel_class, 0)


def ineligible_because(agent: AgentView, need: Need, now: datetime, *, voice_blocks: bool = True) -> str | None:
    """Why ``agent`` cannot take a ticket with ``need`` now, or None when they can."""
    if agent.presence != Presence.AVAILABLE:
        return f"presence {agent.presence.value}"
    if agent.wrap_up_until is not None and agent.wrap_up_until > now:
        return "wrap-up"
    if free_capacity(agent, need.channel_class) <= 0:
        return f"no free {need.channel_class} capacity"
    if blocked_by_call(agent, need, voice_blocks=voice_blocks):
        return "on a call"
    if need.language and agent.languages and need.language not in agent.languages:
        return f"does not speak {need.language}"
    for skill, minimum in need.skills.items():
        if agent.skills.get(skill, 0) < minimum:
            return f"{skill} below level {minimum}"
    return None


def is_eligible(agent: AgentView, need: Need, now: datetime, *, voice_blocks: bool = True) -> bool:
    return ineligible_because(agent, need, now, voice_blocks=voice_blocks) is None


# --- choosing an agent -------------------------------------------------------------------------

def _rank(agent: AgentView, need: Need, strategy: Strategy) -> tuple[Any, ...]:
    """Sort key: smaller is better; the agent id last, so ties are broken the same way every time."""
    if strategy == Strategy.BEST_MATCH:
        match = sum(agent.skills.get(skill, 0) for skill in need.skills)
        return (-match, agent.idle_since, agent.id)
    if strategy == Strategy.LEAST_OCCUPIED:
        used = sum(agent.load.values())
        total = sum(agent.capacity.values()) or 1
        return (round(used / total, 6), agent.idle_since, agent.id)
    offered = agent.last_offered_at or datetime.min.replace(tzinfo=agent.idle_since.tzinfo)
    return (offered, agent.id)


def choose_agent(agents: Iterable[AgentView], need: Need, now: datetime, *,
                 strategy: Strategy = Strategy.BEST_MATCH, voice_blocks: bool = True,
                 exclude: frozenset[int] = frozenset(), keep: int = 5) -> Choice:
    """The best eligible agent for ``need`` (None if nobody fits), with the top ``keep`` candidates."""
    ranked = sorted((_rank(a, need, strategy), a.id) for a in agents
                    if a.id not in exclude and is_eligible(a, need, now, voice_blocks=voice_blocks))
    candidates = tuple(Candidate(agent_id, key) for key, agent_id in ranked[:keep])
    return Choice(ranked[0][1] if ranked else None, strategy, candidates, len(ranked))


# --- the order of waiting tickets --------------------------------------------------------------

def effective_rank(ticket: WaitingTicket, now: datetime, aging_minutes: float) -> int:
    """The priority rank, raised one level per ``aging_minutes`` of waiting (up to urgent): nothing starves."""
    if aging_minutes <= 0:
        return ticket.priority.rank
    waited = max(0.0, (now - ticket.waiting_since).total_seconds() / 60)
    return min(Priority.URGENT.rank, ticket.priority.rank + math.floor(waited / aging_minutes))


def queue_key(ticket: WaitingTicket, now: datetime, aging_minutes: float) -> tuple[Any, ...]:
    """Priority (with aging) first, then the SLA due time (sooner first, none last), then age."""
    due = ticket.sla_due.timestamp() if ticket.sla_due is not None else math.inf
    return (-effective_rank(ticket, now, aging_minutes), due, ticket.waiting_since, ticket.id)


def order_waiting(tickets: Iterable[WaitingTicket], now: datetime, aging_minutes: float) -> list[WaitingTicket]:
    return sorted(tickets, key=lambda t: queue_key(t, now, aging_minutes))


# --- overflow rings ----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class RingStep:
    """One overflow step: after ``after`` seconds of waiting, relax the requirements this way."""

    after: float
    lower_levels: int = 0  # minimum skill levels lowered by this much (never below 1)
    drop_optional: bool = False  # optional skills no longer needed
    group: str = ""  # the skills are replaced by this overflow group's skill
    any_agent: bool = False  # no skill needed at all
    any_language: bool = False  # the language is no longer needed either


def ring_for(waited_seconds: float, steps: Sequence[RingStep]) -> int:
    """How many steps apply after this wait (0 = the original requirements). Steps are cumulative."""
    return sum(1 for step in steps if waited_seconds >= step.after)


def relax(need: Need, steps: Sequence[RingStep], ring: int) -> Need:
    """The requirements at ``ring``: each of the first ``ring`` steps applied in order."""
    skills, language, optional = dict(need.skills), need.language, need.optional
    for step in steps[:ring]:
        if step.lower_levels:
            skills = {s: max(1, level - step.lower_levels) for s, level in skills.items()}
        if step.drop_optional:
            skills = {s: level for s, level in skills.items() if s not in optional}
            optional = frozenset()
        if step.group:
            skills, optional = {step.group: 1}, frozenset()
        if step.any_agent:
            skills, optional = {}, frozenset()
        if step.any_language:
            language = ""
    return Need(skills=skills, language=language, channel_class=need.channel_class, optional=optional)


def next_ring_at(waiting_since: datetime, steps: Sequence[RingStep], ring: int) -> datetime | None:
    """When the step after ``ring`` applies (None after the last)."""
    return waiting_since + timedelta(seconds=steps[ring].after) if ring < len(steps) else None
