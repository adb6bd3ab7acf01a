"""Canned-response variables (pure): ``{{customer.name}}`` and friends, filled in for one ticket."""

from __future__ import annotations

import re
from collections.abc import Mapping

VARIABLES = ("customer.name", "customer.first_name", "customer.email", "agent.name", "agent.first_name",
             "ticket.number", "ticket.subject", "ticket.channel")
_VARIABLE = re.compile(r"\{\{\s*([a-z_]+\.[a-z_]+)\s*\}\}")


def fill(body: str, values: Mapping[str, str]) -> tuple[str, list[str]]:
    """``body`` with every known variable replaced; unknown ones stay as written and are listed."""
    unknown: list[str] = []

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in values:
            return values[name]
        if name not in unknown:
            unknown.append(name)
        return match.group(0)

    return _VARIABLE.sub(one, body), unknown


def first_name(name: str) -> str:
    return name.split()[0] if name.split() else ""
