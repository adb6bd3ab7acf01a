"""Load the demo data from config/demo/demo.toml (once; a second run changes nothing)."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from datetime import date
from typing import Any

from sqlalchemy import select

from channels.base import InboundMessage
from contactcenter.actions.audit import SYSTEM
from contactcenter.actions.kb import do_create_article
from contactcenter.auth import do_create_user
from contactcenter.db.engine import Database
from contactcenter.db.models import (
    AgentSkill,
    Organization,
    Product,
    ServiceContract,
    Skill,
    SlaPolicy,
)
from contactcenter.db.types import utcnow
from contactcenter.domain.enums import IdentityKind, Role
from contactcenter.domain.identities import Address, normalize_email, normalize_phone
from contactcenter.intake import receive
from contactcenter.paths import config_dir
from contactcenter.settings import Settings


def read_demo() -> dict[str, Any]:
    return tomllib.loads((config_dir() / "demo" / "demo.toml").read_text("utf-8"))


async def load_demo(db: Database, settings: Settings, out: Callable[[str], None] = print) -> bool:
    """Insert the demo data unless it is there already; print every demo login. Returns whether it loaded."""
    data = read_demo()
    async with db.write() as session:
        first_org = data["organizations"][0]["name"]
        if await session.scalar(select(Organization.id).where(Organization.name == first_org)) is not None:
            out("demo data is already loaded")
            _print_logins(data, out)
            return False
        orgs = {o["name"]: Organization(name=o["name"], tier=o["tier"], domains=o.get("domains", []))
                for o in data["organizations"]}
        products = {p["name"]: Product(name=p["name"], code=p.get("code"), description=p.get("description", ""))
                    for p in data["products"]}
        policies = {p["name"]: SlaPolicy(name=p["name"], description=p.get("description", ""),
                                         conditions=p.get("conditions", {}), targets=p["targets"],
                                         calendar=p.get("calendar", {}), position=p.get("position", 0),
                                         escalation=p.get("escalation", []))
                    for p in data["sla_policies"]}
        skills = {s["name"]: Skill(name=s["name"], description=s.get("description", "")) for s in data["skills"]}
        session.add_all([*orgs.values(), *products.values(), *policies.values(), *skills.values()])
        await session.flush()
        for c in data["contracts"]:
            session.add(ServiceContract(
                name=c["name"], organization_id=orgs[c["organization"]].id, product_id=products[c["product"]].id,
                sla_policy_id=policies[c["sla_policy"]].id, starts_on=_date(c["starts_on"]),
                ends_on=_date(c.get("ends_on")), support_hours=c.get("support_hours", ""),
                channels=c.get("channels", [])))
        for u in data["users"]:
            user = await do_create_user(session, email=u["email"], name=u["name"], role=Role(u["role"]),
                                        password=u["password"], actor=SYSTEM, languages=u.get("languages"))
            user.capacity = u.get("capacity", {})
            session.add_all([AgentSkill(user_id=user.id, skill_id=skills[name].id, level=level)
                             for name, level in u.get("skills", {}).items()])
        for a in data["kb_articles"]:
            await do_create_article(session, title=a["title"], body=a["body"].strip(), language=a["language"],
                                    category=a.get("category", ""), tags=a.get("tags", []),
                                    status=a.get("status", "draft"), phrasings=a.get("phrasings", []),
                                    actor=SYSTEM)
        for number, t in enumerate(data.get("demo_tickets", []), start=1):
            addresses = ([Address(IdentityKind.EMAIL, normalize_email(t["email"]))] if t.get("email") else []) + \
                ([Address(IdentityKind.PHONE, normalize_phone(t["phone"]))] if t.get("phone") else [])
            await session.run_sync(receive, InboundMessage(
                channel="webform", external_id=f"demo-{number}", sender=addresses[0],
                other_addresses=tuple(addresses[1:]), received_at=utcnow(), text=t["text"], subject=t["subject"],
                sender_name=t["name"], topic=t.get("topic")), settings)
    out("demo data loaded")
    _print_logins(data, out)
    return True


def _date(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def _print_logins(data: dict[str, Any], out: Callable[[str], None]) -> None:
    out("demo logins (e-mail / password / role):")
    for u in data["users"]:
        out(f"  {u['email']:<28} {u['password']:<22} {u['role']}")
