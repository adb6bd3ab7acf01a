"""Choosing an SLA policy: first match, contracts, expired contracts, complaints, the demo policies."""

from __future__ import annotations

import tomllib
from datetime import date, timedelta
from pathlib import Path

import pytest

from contactcenter.sla.policies import Contract, Facts, Policy, PolicyError, Step, choose, parse_policy

DEMO = Path(__file__).parents[2] / "config" / "demo" / "demo.toml"
TODAY = date(2026, 11, 23)


def demo_policies() -> list[Policy]:
    data = tomllib.loads(DEMO.read_text())
    return [parse_policy(i, p["name"], p["position"], p["conditions"], p["targets"], p["calendar"],
                         p.get("escalation")) for i, p in enumerate(data["sla_policies"], start=1)]


GOLD = Contract("Parsian gold support 2026", 2, date(2026, 1, 1), date(2027, 3, 20), ("email", "telegram"))
OLD = Contract("Parsian 2025", 2, date(2025, 1, 1), date(2025, 12, 31))


def facts(**kw: object) -> Facts:
    values: dict[str, object] = {"priority": "normal", "type": "question", "channel": "email"}
    values.update(kw)
    return Facts(**values)  # type: ignore[arg-type]


def test_demo_policies_parse_with_their_calendars() -> None:
    complaints, gold, default = demo_policies()
    assert complaints.targets.first_response == timedelta(minutes=30) and not complaints.business_hours
    assert gold.calendar.week[5] == ((480, 750), (810, 1020))  # Saturday, split shift
    assert gold.calendar.week[3] == ()  # Thursday closed
    assert default.conditions == {}


def test_first_match_by_position() -> None:
    policies = demo_policies()
    assert choose(policies, facts(), TODAY).policy.name == "Default"  # type: ignore[union-attr]
    assert choose(policies, facts(type="complaint"), TODAY).policy.name == "Complaints"  # type: ignore[union-attr]
    assert choose(policies, facts(organization_tier="gold"), TODAY).policy.name == "Gold contract"  # type: ignore[union-attr]


def test_contract_in_force_grants_its_policy_on_its_channels() -> None:
    policies = demo_policies()
    chosen = choose(policies, facts(contracts=(GOLD,)), TODAY)
    assert chosen is not None and chosen.policy.name == "Gold contract" and chosen.contract == GOLD.name
    by_sms = choose(policies, facts(channel="sms", contracts=(GOLD,)), TODAY)
    assert by_sms is not None and by_sms.policy.name == "Default" and by_sms.contract is None


def test_complaint_of_a_contract_customer_gets_the_complaint_policy() -> None:
    chosen = choose(demo_policies(), facts(type="complaint", contracts=(GOLD,)), TODAY)
    assert chosen is not None and chosen.policy.name == "Complaints"


def test_expired_contract_falls_back_to_the_default_and_flags() -> None:
    chosen = choose(demo_policies(), facts(organization_tier="gold", contracts=(OLD,)), TODAY)
    assert chosen is not None and chosen.policy.name == "Default"
    assert chosen.contract_expired and chosen.flags == ("contract_expired",)
    renewed = choose(demo_policies(), facts(organization_tier="gold", contracts=(OLD, GOLD)), TODAY)
    assert renewed is not None and renewed.policy.name == "Gold contract" and not renewed.contract_expired


def test_a_contract_not_started_yet_falls_back_and_flags() -> None:
    later = Contract("Gold 2027", GOLD.policy_id, date(2027, 1, 1), None)
    chosen = choose(demo_policies(), facts(organization_tier="gold", contracts=(later,)), TODAY)
    assert chosen is not None and chosen.policy.name == "Default" and chosen.contract is None
    assert chosen.contract_expired and chosen.flags == ("contract_not_started",)
    both = choose(demo_policies(), facts(organization_tier="gold", contracts=(later, OLD)), TODAY)
    assert both is not None and both.flags == ("contract_expired", "contract_not_started")


def test_a_contract_for_other_channels_grants_nothing_here_but_is_no_fallback() -> None:
    email_only = Contract("Gold e-mail", GOLD.policy_id, GOLD.starts_on, None, channels=("email",))
    on_chat = choose(demo_policies(), facts(organization_tier="gold", channel="chat", contracts=(email_only,)), TODAY)
    assert on_chat is not None and on_chat.contract is None and on_chat.flags == ("contract_not_for_channel",)
    assert not on_chat.contract_expired  # tier policies still apply: the organization is a customer in force
    on_email = choose(demo_policies(), facts(organization_tier="gold", channel="email", contracts=(email_only,)),
                      TODAY)
    assert on_email is not None and on_email.contract == "Gold e-mail" and on_email.flags == ()


def test_conditions_on_priority_channel_and_tags() -> None:
    urgent = parse_policy(7, "Urgent VIP chat", 0, {"priority": ["urgent"], "channel": "chat", "tags": ["vip", "x"]},
                          {"first_response_minutes": 5}, None)
    policies = [urgent, *demo_policies()]
    hit = facts(priority="urgent", channel="chat", tags=frozenset({"vip"}))
    assert choose(policies, hit, TODAY).policy is urgent  # type: ignore[union-attr]
    assert choose(policies, facts(priority="urgent", channel="chat"), TODAY).policy.name == "Default"  # type: ignore[union-attr]
    assert choose([urgent], facts(), TODAY) is None


def test_complaints_always_escalate_on_breach() -> None:
    policy = parse_policy(1, "p", 1, {}, {"resolution_minutes": 60}, None,
                          [{"at": "warn-75%", "action": "notify_assignee"}])
    assert policy.ladder("question") == (Step("warn-75%", "notify_assignee"),)
    assert policy.ladder("complaint") == (Step("warn-75%", "notify_assignee"), Step("breach", "notify_supervisor"),
                                          Step("breach", "raise_priority"))


def test_bad_policies_are_refused_with_their_name() -> None:
    with pytest.raises(PolicyError, match=r"'p'.*unknown condition"):
        parse_policy(1, "p", 1, {"colour": "red"}, {}, None)
    with pytest.raises(PolicyError, match="minutes"):
        parse_policy(1, "p", 1, {}, {"first_response_minutes": "soon"}, None)
    with pytest.raises(PolicyError, match="escalation action"):
        parse_policy(1, "p", 1, {}, {}, None, [{"action": "shout"}])
    with pytest.raises(PolicyError, match="queue"):
        parse_policy(1, "p", 1, {}, {}, None, [{"action": "reroute"}])
    with pytest.raises(PolicyError, match="time zone"):
        parse_policy(1, "p", 1, {}, {}, {"business_hours": True, "timezone": "Nowhere/Else"})


@pytest.mark.parametrize(("conditions", "targets", "calendar", "escalation"), [
    ({"tags": [{"a": 1}]}, {}, None, None),
    ({"priority": [1]}, {}, None, None),
    ([], {}, None, None),
    ({}, {"warn_percent": [{}]}, None, None),
    ({}, {}, {"business_hours": True, "days": 5}, None),
    ({}, {}, {"business_hours": True, "hours": "08:00"}, None),
    ({}, {}, "always", None),
    ({}, {}, None, ["notify"]),
    ({}, {}, {"business_hours": True, "week": {"mo": [3]}}, None),
])
def test_json_of_the_wrong_shape_is_a_policy_error(conditions: object, targets: object, calendar: object,
                                                   escalation: object) -> None:
    with pytest.raises(PolicyError, match="'p'"):
        parse_policy(1, "p", 1, conditions, targets, calendar, escalation)  # type: ignore[arg-type]


def test_contract_support_hours_replace_the_policys_hours() -> None:
    policies = demo_policies()
    contract = Contract(GOLD.name, 2, GOLD.starts_on, GOLD.ends_on, GOLD.channels, "Sa-We 08:00-17:00 Asia/Tehran")
    chosen = choose(policies, facts(contracts=(contract,)), TODAY)
    assert chosen is not None and chosen.policy.name == "Gold contract"
    assert chosen.calendar.week[5] == ((480, 1020),)  # no lunch break: the contract's hours
    assert chosen.policy.calendar.week[5] == ((480, 750), (810, 1020))
    unreadable = Contract(GOLD.name, 2, GOLD.starts_on, GOLD.ends_on, GOLD.channels, "whenever")
    fallback = choose(policies, facts(contracts=(unreadable,)), TODAY)
    assert fallback is not None and fallback.calendar is fallback.policy.calendar
    assert fallback.flags == ("support_hours_unreadable",)
    around_the_clock = Contract(GOLD.name, 1, GOLD.starts_on, GOLD.ends_on, (), "Sa-We 08:00-17:00 Asia/Tehran")
    complaints = choose(policies, facts(contracts=(around_the_clock,)), TODAY)
    assert complaints is not None and complaints.policy.name == "Complaints" and complaints.calendar.always_open
