"""The agents a router knows, indexed by skill so that a decision looks at few of them.

The board is a cache: every decision it suggests is checked against the database (under the routing
lock) before an offer is written, so a stale board can cost an extra look but never a wrong offer.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from routing.policy import AgentView, Choice, Need, Strategy, choose_agent


class AgentBoard:
    def __init__(self) -> None:
        self._agents: dict[int, AgentView] = {}
        self._by_skill: dict[str, set[int]] = {}

    def __len__(self) -> int:
        return len(self._agents)

    def get(self, agent_id: int) -> AgentView | None:
        return self._agents.get(agent_id)

    def put(self, agent: AgentView) -> None:
        """Add or replace one agent."""
        self.remove(agent.id)
        self._agents[agent.id] = agent
        for skill in agent.skills:
            self._by_skill.setdefault(skill, set()).add(agent.id)

    def remove(self, agent_id: int) -> None:
        old = self._agents.pop(agent_id, None)
        if old is not None:
            for skill in old.skills:
                self._by_skill.get(skill, set()).discard(agent_id)

    def replace_all(self, agents: Iterable[AgentView]) -> None:
        self._agents.clear()
        self._by_skill.clear()
        for agent in agents:
            self.put(agent)

    def candidates(self, need: Need) -> Iterable[AgentView]:
        """The agents that have every skill the need names (all of them when it names none)."""
        if not need.skills:
            return self._agents.values()
        sets = sorted((self._by_skill.get(skill, set()) for skill in need.skills), key=len)
        ids = set.intersection(*sets) if len(sets) > 1 else sets[0]
        return [self._agents[i] for i in ids]

    def choose(self, need: Need, now: datetime, *, strategy: Strategy, voice_blocks: bool,
               exclude: frozenset[int] = frozenset()) -> Choice:
        return choose_agent(self.candidates(need), need, now, strategy=strategy, voice_blocks=voice_blocks,
                            exclude=exclude)
