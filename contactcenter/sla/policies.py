"""SLA policies: read from their stored JSON, and the first-match choice for a ticket. Pure.

A policy row has ``conditions`` (every key given must match; an empty table matches everything), ``targets``
(minutes per metric, warning points), a ``calendar`` (see ``calendar_spec``) and an ``escalation`` ladder. Policies
are tried by ``position``; the first match wins. The policy of a service contract in force for the ticket's
organization (and channel) wins over the ordinary order, except for a complaint whose first match is a policy
that names ticket types (the complaint policy). When none of the organization's contracts is in force (ended or not
started yet), policies that only a contract or a tier could grant are skipped (the ticket falls back to the default)
and the choice is flagged.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from contactcenter.domain.enums import TicketType
from contactcenter.sla.calendar import BusinessCalendar, CalendarError
from contactcenter.sla.calendar_spec import parse_calendar
from contactcenter.sla.clocks import Targets

CONDITION_KEYS = frozenset({"priority", "type", "channel", "organization_tier", "contract", "tags"})
ACTIONS = frozenset({"notify_assignee", "notify_supervisor", "raise_priority", "reroute", "notify_customer"})
# A complaint's breach always escalates: these steps are added to its ladder when missing.
COMPLAINT_BREACH_STEPS = ("notify_supervisor", "raise_priority")


class PolicyError(ValueError):
    """A policy cannot be read."""


@dataclass(frozen=True, slots=True)
class Step:
    """One rung of an escalation ladder: at a clock point (e.g. "breach", "warn-75%"), do ``action``."""

    at: str
    action: str
    queue: str = ""  # for reroute: the queue (escalation group / senior skill queue) to move the ticket to
    metrics: tuple[str, ...] = ()  # empty: every metric


@dataclass(frozen=True)
class Policy:
    id: int
    name: str
    position: int
    conditions: Mapping[str, Any]
    targets: Targets
    calendar: BusinessCalendar
    escalation: tuple[Step, ...] = ()
    business_hours: bool = False

    def ladder(self, ticket_type: str) -> tuple[Step, ...]:
        """The escalation steps for a ticket of ``ticket_type``; complaints always escalate on breach."""
        steps = list(self.escalation)
        if ticket_type == TicketType.COMPLAINT:
            have = {s.action for s in steps if s.at == "breach" and not s.metrics}
            steps += [Step("breach", action) for action in COMPLAINT_BREACH_STEPS if action not in have]
        return tuple(steps)


@dataclass(frozen=True, slots=True)
class Contract:
    """A service contract of the ticket's organization."""

    name: str
    policy_id: int | None
    starts_on: date
    ends_on: date | None
    channels: tuple[str, ...] = ()
    support_hours: str = ""  # e.g. "Sa-We 08:00-17:00 Asia/Tehran"; empty: the policy's hours

    def in_force(self, today: date) -> bool:
        return self.starts_on <= today and (self.ends_on is None or today <= self.ends_on)


@dataclass(frozen=True, slots=True)
class Facts:
    """What a policy condition can look at."""

    priority: str
    type: str
    channel: str
    organization_tier: str = ""
    tags: frozenset[str] = frozenset()
    contracts: tuple[Contract, ...] = ()


@dataclass(frozen=True, slots=True)
class Choice:
    policy: Policy
    contract: str | None = None  # the contract in force that chose the policy
    contract_expired: bool = False  # no contract of the organization is in force (ended or not started): fell back
    flags: tuple[str, ...] = field(default=())
    hours: BusinessCalendar | None = None  # the contract's support hours, when they replace the policy's

    @property
    def calendar(self) -> BusinessCalendar:
        """The calendar the clocks run on: the contract's support hours (with the policy's holidays) or the
        policy's own."""
        return self.hours or self.policy.calendar


@functools.lru_cache(maxsize=256)
def parse_support_hours(text: str) -> BusinessCalendar:
    """A contract's support hours: "DAYS HH:MM-HH:MM[ HH:MM-HH:MM...] ZONE", e.g. "Sa-We 08:00-17:00 Asia/Tehran"
    (the zone may be left out: UTC). Raises CalendarError."""
    parts = text.replace(",", " ").split()
    if len(parts) < 2:
        raise CalendarError(f"support hours {text!r}: use DAYS HH:MM-HH:MM ZONE")
    zone = parts[-1] if ":" not in parts[-1] else "UTC"
    hours = [p for p in parts[1:] if ":" in p]
    return parse_calendar({"business_hours": True, "timezone": zone, "days": parts[0], "hours": hours})


def _contract_hours(contract: Contract | None, policy: Policy) -> tuple[BusinessCalendar | None, tuple[str, ...]]:
    """The contract's support hours for a business-hours policy it granted (24/7 policies stay 24/7)."""
    if contract is None or not contract.support_hours.strip() or not policy.business_hours:
        return None, ()
    try:
        return parse_support_hours(contract.support_hours.strip()).with_holidays(policy.calendar.holidays), ()
    except CalendarError:
        return None, ("support_hours_unreadable",)


def parse_policy(
    row_id: int, name: str, position: int, conditions: Mapping[str, Any] | None, targets: Mapping[str, Any] | None,
    calendar: Mapping[str, Any] | None, escalation: Sequence[Mapping[str, Any]] | None = None,
    read_file: Callable[[str], bytes] | None = None,
) -> Policy:
    """A policy from its stored JSON; raises PolicyError naming the policy and the problem."""
    try:
        return _parse_policy(row_id, name, position, conditions, targets, calendar, escalation, read_file)
    except PolicyError:
        raise
    except CalendarError as exc:
        raise PolicyError(f"policy {name!r}: {exc}") from None
    except (TypeError, ValueError, AttributeError) as exc:  # a value of the wrong shape somewhere in the JSON
        raise PolicyError(f"policy {name!r}: cannot read it ({exc})") from None


def _parse_policy(
    row_id: int, name: str, position: int, conditions: Mapping[str, Any] | None, targets: Mapping[str, Any] | None,
    calendar: Mapping[str, Any] | None, escalation: Sequence[Mapping[str, Any]] | None,
    read_file: Callable[[str], bytes] | None,
) -> Policy:
    for label, value, kind in (("conditions", conditions, Mapping), ("targets", targets, Mapping),
                               ("calendar", calendar, Mapping), ("escalation", escalation, list | tuple)):
        if value is not None and not isinstance(value, kind):
            raise PolicyError(f"policy {name!r}: {label} has the wrong shape")
    conditions = dict(conditions or {})
    unknown = set(conditions) - CONDITION_KEYS
    if unknown:
        raise PolicyError(f"policy {name!r}: unknown condition(s) {sorted(unknown)}")
    for key, value in conditions.items():
        allowed = (str, bool) if key == "contract" else (str,)
        if not all(isinstance(v, allowed) for v in _as_list(value)):
            raise PolicyError(f"policy {name!r}: condition {key} takes a text or a list of texts")
    cal = parse_calendar(calendar, read_file)
    return Policy(row_id, name, position, {k: _as_list(v) if k != "contract" else v for k, v in conditions.items()},
                  parse_targets(name, targets or {}), cal, parse_ladder(name, escalation or ()),
                  bool(calendar and calendar.get("business_hours")))


def parse_targets(name: str, values: Mapping[str, Any]) -> Targets:
    def minutes(key: str) -> timedelta | None:
        value = values.get(key)
        if value is None:
            return None
        if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
            raise PolicyError(f"policy {name!r}: {key} must be a number of minutes >= 0")
        return timedelta(minutes=value)

    percent = values.get("warn_percent", [75])
    before = values.get("warn_before_minutes", [15])
    try:
        return Targets(minutes("first_response_minutes"), minutes("next_response_minutes"),
                       minutes("resolution_minutes"), tuple(int(p) for p in _as_list(percent)),
                       tuple(timedelta(minutes=float(m)) for m in _as_list(before)))
    except (TypeError, ValueError):
        raise PolicyError(f"policy {name!r}: warn_percent and warn_before_minutes are lists of numbers") from None


def parse_ladder(name: str, steps: Iterable[Mapping[str, Any]]) -> tuple[Step, ...]:
    out: list[Step] = []
    for raw in steps:
        if not isinstance(raw, Mapping):
            raise PolicyError(f"policy {name!r}: an escalation step is a table {{at, action, queue, metrics}}")
        action = str(raw.get("action", ""))
        if action not in ACTIONS:
            raise PolicyError(f"policy {name!r}: unknown escalation action {action!r}; use {sorted(ACTIONS)}")
        if action == "reroute" and not raw.get("queue"):
            raise PolicyError(f"policy {name!r}: a reroute step needs a queue")
        out.append(Step(str(raw.get("at", "breach")), action, str(raw.get("queue", "")),
                        tuple(str(m) for m in _as_list(raw.get("metrics", [])))))
    return tuple(out)


def matches(policy: Policy, facts: Facts, *, contract: Contract | None) -> bool:
    """Whether every condition of ``policy`` holds for ``facts``."""
    for key, wanted in policy.conditions.items():
        if key == "contract":
            if isinstance(wanted, bool):
                if wanted != (contract is not None):
                    return False
            elif contract is None or contract.name not in _as_list(wanted):
                return False
        elif key == "tags":
            if not facts.tags & set(wanted):
                return False
        elif getattr(facts, key) not in wanted:
            return False
    return True


def contract_flags(facts: Facts, today: date) -> tuple[str, ...]:
    """Why no contract applies to a ticket of an organization that has contracts (empty when it has none): one is
    in force but lists other channels (``contract_not_for_channel``); else none is in force because one has ended
    (``contract_expired``) and/or one starts later (``contract_not_started``)."""
    if any(c.in_force(today) for c in facts.contracts):
        return ("contract_not_for_channel",)
    flags = []
    if any(c.ends_on is not None and c.ends_on < today for c in facts.contracts):
        flags.append("contract_expired")
    if any(c.starts_on > today for c in facts.contracts):
        flags.append("contract_not_started")
    return tuple(flags)


def choose(policies: Sequence[Policy], facts: Facts, today: date) -> Choice | None:
    """The policy for a ticket (None when no policy matches)."""
    ordered = sorted(policies, key=lambda p: (p.position, p.id))
    by_id = {p.id: p for p in ordered}
    usable = [c for c in facts.contracts if c.in_force(today) and (not c.channels or facts.channel in c.channels)]
    contract = usable[0] if usable else None
    flags = contract_flags(facts, today) if contract is None else ()
    expired = bool(flags) and "contract_not_for_channel" not in flags  # no contract in force: fall back
    first: Policy | None = None
    for policy in ordered:
        if expired and ({"contract", "organization_tier"} & set(policy.conditions)):
            continue
        if matches(policy, facts, contract=contract):
            first = policy
            break
    granted = by_id.get(contract.policy_id) if contract is not None and contract.policy_id is not None else None
    if granted is not None and (first is None or facts.type != TicketType.COMPLAINT or
                                "type" not in first.conditions):
        hours, more = _contract_hours(contract, granted)
        return Choice(granted, contract.name if contract else None, expired, flags + more, hours)
    if first is None:
        return None
    hours, more = _contract_hours(contract if first is granted else None, first)
    return Choice(first, contract.name if contract and first is granted else None, expired, flags + more, hours)


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, list | tuple | set | frozenset):
        return list(value)
    return [value]
