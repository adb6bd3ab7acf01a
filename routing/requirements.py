"""A ticket's routing requirements, derived from what arrived with it and the rules in config. Pure."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from contactcenter.domain.enums import Priority, TicketType
from contactcenter.settings import RoutingRule
from kb.normalize import tokens


@dataclass(frozen=True, slots=True)
class Requirements:
    """What an agent needs to take the ticket: skills with minimum levels, a language, the channel."""

    skills: dict[str, int] = field(default_factory=dict)  # the first one is the ticket's queue
    language: str = "en"
    channel: str = ""
    priority: Priority = Priority.NORMAL
    type: TicketType = TicketType.QUESTION
    optional: tuple[str, ...] = ()  # skills an overflow step may drop
    rules: tuple[str, ...] = ()  # the rules that matched, for the explanation
    overridden: bool = False  # set by a supervisor: not derived again

    @property
    def queue(self) -> str | None:
        """The primary skill, used as the ticket's queue."""
        return next(iter(self.skills), None)

    def to_dict(self) -> dict[str, Any]:
        return {"skills": dict(self.skills), "language": self.language, "channel": self.channel,
                "priority": self.priority.value, "type": self.type.value, "optional": list(self.optional),
                "rules": list(self.rules), "overridden": self.overridden}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Requirements:
        return cls(skills={str(k): int(v) for k, v in dict(data.get("skills") or {}).items()},
                   language=str(data.get("language") or ""), channel=str(data.get("channel") or ""),
                   priority=Priority(data.get("priority") or "normal"),
                   type=TicketType(data.get("type") or "question"),
                   optional=tuple(data.get("optional") or ()), rules=tuple(data.get("rules") or ()),
                   overridden=bool(data.get("overridden")))


def _phrase(text: str) -> str:
    return " " + " ".join(tokens(text)) + " "


@functools.lru_cache(maxsize=4096)
def _keyword(keyword: str) -> str:
    """A rule's keyword as it is looked for in a ``_phrase`` ("" when it has no word: it never matches).

    Rules are few and fixed, and each new ticket checks every keyword: normalized once, not per ticket."""
    words = tokens(keyword)
    return " " + " ".join(words) if words else ""


def _mentions(words: str, keyword: str) -> bool:
    """The keyword starts at a word boundary; its last word may go on (refund: refunds, رمز عبور: رمز عبورم)."""
    phrase = _keyword(keyword)
    return bool(phrase) and phrase in words


def rule_matches(rule: RoutingRule, *, text: str, channel: str, tier: str, has_contract: bool,
                 ticket_type: TicketType) -> bool:
    """Every condition the rule gives holds (a rule with no condition never matches)."""
    conditions = [
        not rule.keywords or any(_mentions(text, k) for k in rule.keywords),
        not rule.tier or rule.tier == tier,
        not rule.contract or has_contract,
        not rule.channel or rule.channel == channel,
        not rule.type or rule.type == ticket_type.value,
    ]
    given = bool(rule.keywords or rule.tier or rule.contract or rule.channel or rule.type)
    return given and all(conditions)


def derive(*, channel: str, language: str, topic_skill: str = "", topic_type: str = "question",
           topic_priority: str = "normal", text: str = "", tier: str = "", has_contract: bool = False,
           rules: Sequence[RoutingRule] = ()) -> Requirements:
    """Requirements for a new ticket: the chosen topic, then every matching rule in order.

    Complaints are at least high priority and need the complaints skill, however they were recognized.
    """
    ticket_type = TicketType(topic_type)
    priority = Priority(topic_priority)
    skills: dict[str, int] = {topic_skill: 1} if topic_skill else {}
    optional: list[str] = []
    matched: list[str] = []
    words = _phrase(text) if any(r.keywords for r in rules) else ""
    for rule in rules:
        if not rule_matches(rule, text=words, channel=channel, tier=tier, has_contract=has_contract,
                            ticket_type=ticket_type):
            continue
        matched.append(rule.name)
        if rule.set_type:
            ticket_type = TicketType(rule.set_type)
        if rule.priority:
            priority = max(priority, Priority(rule.priority), key=lambda p: p.rank)
        if rule.skill:
            skills[rule.skill] = max(skills.get(rule.skill, 0), rule.level)
            if rule.optional and rule.skill != topic_skill:
                optional.append(rule.skill)
            elif rule.skill in optional:
                optional.remove(rule.skill)
    if ticket_type == TicketType.COMPLAINT:
        priority = max(priority, Priority.HIGH, key=lambda p: p.rank)
        if "complaints" not in skills:  # the complaints team comes first
            skills = {"complaints": 1, **skills}
    return Requirements(skills=skills, language=language, channel=channel, priority=priority, type=ticket_type,
                        optional=tuple(dict.fromkeys(optional)), rules=tuple(matched))
