"""The routing policy and the requirement rules, without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from contactcenter.domain.enums import Presence, Priority, TicketType
from contactcenter.settings import RoutingRule, load_settings
from routing.board import AgentBoard
from routing.policy import (
    AgentView,
    Need,
    RingStep,
    Strategy,
    WaitingTicket,
    choose_agent,
    effective_rank,
    ineligible_because,
    is_eligible,
    order_waiting,
    relax,
    ring_for,
)
from routing.requirements import Requirements, derive

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def agent(agent_id: int, *, skills: dict[str, int] | None = None, presence: Presence = Presence.AVAILABLE,
          languages: tuple[str, ...] = ("en", "fa"), capacity: dict[str, int] | None = None,
          load: dict[str, int] | None = None, idle_minutes: float = 0,
          last_offered_minutes: float | None = None, wrap_up_minutes: float | None = None) -> AgentView:
    return AgentView(
        id=agent_id, presence=presence, skills=skills or {}, languages=frozenset(languages),
        capacity=capacity or {"email": 10, "chat": 3, "voice": 1, "messaging": 5}, load=load or {},
        idle_since=NOW - timedelta(minutes=idle_minutes),
        last_offered_at=None if last_offered_minutes is None else NOW - timedelta(minutes=last_offered_minutes),
        wrap_up_until=None if wrap_up_minutes is None else NOW + timedelta(minutes=wrap_up_minutes))


BILLING = Need(skills={"billing": 2}, language="fa", channel_class="chat")


def test_every_reason_to_refuse_an_agent() -> None:
    assert ineligible_because(agent(1, skills={"billing": 3}), BILLING, NOW) is None
    assert ineligible_because(agent(1, skills={"billing": 3}, presence=Presence.BUSY), BILLING, NOW) == "presence busy"
    assert ineligible_because(agent(1, skills={"billing": 3}, wrap_up_minutes=1), BILLING, NOW) == "wrap-up"
    assert ineligible_because(agent(1, skills={"billing": 3}, load={"chat": 3}), BILLING, NOW) \
        == "no free chat capacity"
    assert ineligible_because(agent(1, skills={"billing": 3}, load={"voice": 1}), BILLING, NOW) == "on a call"
    assert is_eligible(agent(1, skills={"billing": 3}, load={"voice": 1}), BILLING, NOW, voice_blocks=False)
    assert ineligible_because(agent(1, skills={"billing": 3}, languages=("en",)), BILLING, NOW) \
        == "does not speak fa"
    assert ineligible_because(agent(1, skills={"billing": 1}), BILLING, NOW) == "billing below level 2"
    assert ineligible_because(agent(1), BILLING, NOW) == "billing below level 2"


def test_best_match_prefers_higher_levels_then_longest_idle_then_lowest_id() -> None:
    agents = [agent(1, skills={"billing": 2}, idle_minutes=50), agent(2, skills={"billing": 5}, idle_minutes=1),
              agent(3, skills={"billing": 5}, idle_minutes=9), agent(4, skills={"billing": 5}, idle_minutes=9)]
    choice = choose_agent(agents, BILLING, NOW)
    assert choice.agent_id == 3 and [c.agent_id for c in choice.candidates] == [3, 4, 2, 1]
    assert choice.eligible == 4 and choice.explain()["strategy"] == "best_match"
    assert choose_agent(list(reversed(agents)), BILLING, NOW).agent_id == 3  # the input order does not matter


def test_least_occupied_and_round_robin() -> None:
    busy = agent(1, skills={"billing": 5}, load={"email": 5})
    free = agent(2, skills={"billing": 2}, load={"email": 1})
    assert choose_agent([busy, free], BILLING, NOW, strategy=Strategy.LEAST_OCCUPIED).agent_id == 2
    recent = agent(1, skills={"billing": 2}, last_offered_minutes=1)
    long_ago = agent(2, skills={"billing": 2}, last_offered_minutes=30)
    never = agent(3, skills={"billing": 2})
    assert choose_agent([recent, long_ago, never], BILLING, NOW, strategy=Strategy.ROUND_ROBIN).agent_id == 3
    assert choose_agent([recent, long_ago], BILLING, NOW, strategy=Strategy.ROUND_ROBIN).agent_id == 2


def test_nobody_fits() -> None:
    choice = choose_agent([agent(1, skills={"technical": 5})], BILLING, NOW)
    assert choice.agent_id is None and choice.eligible == 0 and choice.candidates == ()
    assert choose_agent([agent(1, skills={"billing": 5})], BILLING, NOW, exclude=frozenset({1})).agent_id is None


def test_waiting_order_priority_then_sla_then_age_with_aging() -> None:
    def ticket(ticket_id: int, priority: Priority, waited: float, due_in: float | None = None) -> WaitingTicket:
        return WaitingTicket(ticket_id, priority, NOW - timedelta(minutes=waited),
                             None if due_in is None else NOW + timedelta(minutes=due_in))

    tickets = [ticket(1, Priority.NORMAL, 5), ticket(2, Priority.URGENT, 1), ticket(3, Priority.NORMAL, 5, due_in=30),
               ticket(4, Priority.NORMAL, 8), ticket(5, Priority.LOW, 1)]
    assert [t.id for t in order_waiting(tickets, NOW, aging_minutes=0)] == [2, 3, 4, 1, 5]
    # With aging every 10 minutes a low-priority ticket that waited 25 minutes is treated as high.
    starving = ticket(6, Priority.LOW, 25)
    assert effective_rank(starving, NOW, 10) == Priority.HIGH.rank
    assert [t.id for t in order_waiting([*tickets, starving], NOW, aging_minutes=10)][:2] == [2, 6]
    assert effective_rank(ticket(7, Priority.LOW, 10_000), NOW, 10) == Priority.URGENT.rank  # capped


def test_overflow_steps_relax_in_order() -> None:
    need = Need(skills={"billing": 4, "vip": 2}, language="fa", channel_class="email", optional=frozenset({"vip"}))
    steps = (RingStep(after=60, lower_levels=2), RingStep(after=120, drop_optional=True),
             RingStep(after=300, group="general"), RingStep(after=600, any_agent=True, any_language=True))
    assert [ring_for(s, steps) for s in (0, 59, 60, 200, 300, 10_000)] == [0, 0, 1, 2, 3, 4]
    assert relax(need, steps, 0) == need
    assert dict(relax(need, steps, 1).skills) == {"billing": 2, "vip": 1}
    assert dict(relax(need, steps, 2).skills) == {"billing": 2}
    assert dict(relax(need, steps, 3).skills) == {"general": 1}
    last = relax(need, steps, 4)
    assert dict(last.skills) == {} and last.language == "" and last.channel_class == "email"


def test_requirements_from_topic_rules_tier_and_complaints() -> None:
    rules = load_settings(environ={}).routing.rules  # the examples shipped in config/default.toml
    plain = derive(channel="webform", language="en", topic_skill="general", text="How do I change my address?",
                   rules=rules)
    assert plain.skills == {"general": 1} and plain.priority == Priority.NORMAL and plain.rules == ()
    # Persian keywords match whatever keyboard typed them: Arabic yeh/kaf and a ZWNJ.
    refund = derive(channel="webform", language="fa", text="پول من دو بار كسر شده", rules=rules)
    assert refund.skills == {"billing": 2} and refund.rules == ("refunds and double charges",)
    login = derive(channel="telegram", language="fa", topic_skill="general", text="رمز عبورم کار نمی‌کند",
                   rules=rules)
    assert login.skills == {"general": 1, "technical": 1} and login.optional == ("technical",)
    gold = derive(channel="email", language="en", text="hello", tier="gold", rules=rules)
    assert gold.priority == Priority.HIGH
    angry = derive(channel="email", language="en", topic_skill="billing", text="This is unacceptable!", rules=rules)
    assert angry.type == TicketType.COMPLAINT and angry.priority == Priority.HIGH
    assert list(angry.skills) == ["complaints", "billing"]  # the complaints team first
    assert Requirements.from_dict(angry.to_dict()) == angry


def test_a_rule_needs_a_condition_and_all_of_them() -> None:
    bare = RoutingRule(name="no condition", skill="billing")
    both = RoutingRule(name="gold and refund", keywords=("refund",), tier="gold", skill="billing", level=3)
    assert derive(channel="email", language="en", text="refund", rules=[bare]).skills == {}
    assert derive(channel="email", language="en", text="refund", rules=[both]).skills == {}
    assert derive(channel="email", language="en", text="refund please", tier="gold", rules=[both]).skills \
        == {"billing": 3}


agents_strategy = st.builds(
    lambda i, levels, presence, load, cap: agent(i, skills=levels, presence=presence,
                                                 load={"chat": load}, capacity={"chat": cap}),
    st.integers(1, 50), st.dictionaries(st.sampled_from(["billing", "technical", "general"]), st.integers(1, 5)),
    st.sampled_from(list(Presence)), st.integers(0, 4), st.integers(0, 4))


@given(st.lists(agents_strategy, max_size=30, unique_by=lambda a: a.id), st.sampled_from(list(Strategy)))
def test_the_choice_is_always_eligible_and_the_board_agrees(agents: list[AgentView], strategy: Strategy) -> None:
    need = Need(skills={"billing": 2}, language="en", channel_class="chat")
    choice = choose_agent(agents, need, NOW, strategy=strategy)
    eligible = [a for a in agents if is_eligible(a, need, NOW)]
    assert choice.eligible == len(eligible)
    if choice.agent_id is None:
        assert not eligible
    else:
        chosen = next(a for a in agents if a.id == choice.agent_id)
        assert is_eligible(chosen, need, NOW) and chosen.load["chat"] < chosen.capacity["chat"]
    board = AgentBoard()
    board.replace_all(agents)
    assert board.choose(need, NOW, strategy=strategy, voice_blocks=True).agent_id == choice.agent_id
