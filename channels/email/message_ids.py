"""Signed references to our tickets: in our outbound Message-IDs and in an optional reply address.

A reply that carries one of these was written by someone who received our mail, so it threads to the
ticket without any further check. The signature (HMAC-SHA256 with a key derived from the server secret,
truncated to 80 bits) makes guessing a reference to another ticket impractical.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass

_MESSAGE_ID = re.compile(r"^cc\.(\d{1,12})\.(\d{1,12})\.([a-z2-7]{16})@", re.ASCII)
_TOKEN = re.compile(r"\+t(\d{1,12})\.([a-z2-7]{16})@", re.ASCII)
_IDS = re.compile(r"<([^<>\s]{1,250})>")


@dataclass(frozen=True, slots=True)
class SignedRef:
    ticket_id: int
    message_id: int  # 0: not a stored message (e.g. an acknowledgement)


def _signature(secret: bytes, purpose: str, *values: int) -> str:
    key = hmac.new(secret, f"email-{purpose}".encode(), hashlib.sha256).digest()
    digest = hmac.new(key, ".".join(map(str, values)).encode(), hashlib.sha256).digest()
    return base64.b32encode(digest[:10]).decode().lower()


def make_message_id(secret: bytes, ticket_id: int, message_id: int, domain: str) -> str:
    """Our Message-ID for a message on a ticket (without angle brackets)."""
    return f"cc.{ticket_id}.{message_id}.{_signature(secret, 'mid', ticket_id, message_id)}@{domain}"


def read_message_id(secret: bytes, value: str) -> SignedRef | None:
    """The ticket and message a Message-ID of ours names, if its signature is right."""
    match = _MESSAGE_ID.match(value.strip().strip("<>"))
    if match is None:
        return None
    ticket_id, message_id = int(match[1]), int(match[2])
    if not hmac.compare_digest(match[3], _signature(secret, "mid", ticket_id, message_id)):
        return None
    return SignedRef(ticket_id, message_id)


def reply_address(secret: bytes, ticket_id: int, support_address: str) -> str:
    """support+t<ticket>.<signature>@domain: a Reply-To that names the ticket (needs plus-addressing)."""
    local, _, domain = support_address.partition("@")
    return f"{local}+t{ticket_id}.{_signature(secret, 'reply', ticket_id)}@{domain}"


def read_reply_address(secret: bytes, address: str) -> int | None:
    """The ticket a reply address of ours names, if its signature is right."""
    match = _TOKEN.search(address.lower())
    if match is None:
        return None
    ticket_id = int(match[1])
    return ticket_id if hmac.compare_digest(match[2], _signature(secret, "reply", ticket_id)) else None


def message_id_list(value: str, limit: int = 50) -> list[str]:
    """The <id> tokens of an In-Reply-To or References header, in order, without brackets."""
    return _IDS.findall(value)[:limit]
