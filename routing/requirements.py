"""A ticket's routing requirements, derived from what arrived with it. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from contactcenter.domain.enums import Priority, TicketType


@dataclass(frozen=True, slots=True)
class Requirements:
    """What an agent needs to take the ticket: skills with minimum levels, a language, the channel."""

    skills: dict[str, int] = field(default_factory=dict)
    language: str = "en"
    channel: str = ""
    priority: Priority = Priority.NORMAL
    type: TicketType = TicketType.QUESTION

    @property
    def queue(self) -> str | None:
        """The primary skill, used as the ticket's queue."""
        return next(iter(self.skills), None)

    def to_dict(self) -> dict[str, Any]:
        return {"skills": dict(self.skills), "language": self.language, "channel": self.channel,
                "priority": self.priority.value, "type": self.type.value}


def derive(*, channel: str, language: str, topic_skill: str = "", topic_type: str = "question",
           topic_priority: str = "normal") -> Requirements:
    """Requirements for a new ticket. Complaints are at least high priority and need the complaints skill."""
    ticket_type = TicketType(topic_type)
    priority = Priority(topic_priority)
    skills: dict[str, int] = {topic_skill: 1} if topic_skill else {}
    if ticket_type == TicketType.COMPLAINT:
        priority = max(priority, Priority.HIGH, key=lambda p: p.rank)
        skills.setdefault("complaints", 1)
    return Requirements(skills=skills, language=language, channel=channel, priority=priority, type=ticket_type)
