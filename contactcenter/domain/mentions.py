"""@mentions in internal notes (pure): ``@sara`` names the agent whose e-mail starts ``sara@``."""

from __future__ import annotations

import re

# Not after a letter or digit, so "sara@example.com" in a note mentions nobody.
_MENTION = re.compile(r"(?<![\w@])@([A-Za-z0-9][A-Za-z0-9._+-]{0,63})")


def mention_handles(text: str) -> list[str]:
    """The handles named in ``text``, lower-cased, in order of first appearance, each once."""
    seen: dict[str, None] = {}
    for match in _MENTION.finditer(text):
        seen.setdefault(match.group(1).rstrip(".-").lower(), None)
    return [handle for handle in seen if handle]


def handle_of(email: str) -> str:
    """An agent's handle: the part of their e-mail address before the ``@``, lower-cased."""
    return email.rpartition("@")[0].lower()
