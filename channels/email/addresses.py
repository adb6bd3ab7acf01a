"""Strict sender parsing: exactly one readable mailbox in exactly one From header, or a reason to refuse.

CPython's ``email.utils`` parsers have accepted crafted headers in ways that let one address pass for
another (CVE-2023-27043). We parse with ``email.headerregistry`` and refuse whenever it reports a defect
that means the header could be read in more than one way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email import errors, policy
from typing import Any

from channels.email.charsets import decode_header, fix_8bit
from contactcenter.domain.identities import AddressError, normalize_email

# Defects that mean "not one clear mailbox". ObsoleteHeaderDefect (e.g. a period in an unquoted name) is harmless.
_FATAL = (errors.InvalidHeaderDefect, errors.NonASCIILocalPartDefect, errors.HeaderMissingRequiredValue,
          errors.NonPrintableDefect)
# Common and harmless: an encoded display name inside quotes ("=?utf-8?b?...?=" <a@b>); we decode it ourselves.
_HARMLESS = re.compile(r"encoded word inside quoted string|whitespace after encoded-word")


class SenderError(ValueError):
    """The sender cannot be identified unambiguously; the message says why."""


@dataclass(frozen=True, slots=True)
class Mailbox:
    address: str  # normalized: lower-cased local@domain, IDN domains in ASCII
    name: str


def _ascii_domain(domain: str) -> str:
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        raise SenderError(f"the domain {domain!r} is not a valid host name") from None


def parse_mailbox(value: str, header: str = "From") -> Mailbox:
    """One mailbox from a raw header value (as in the message, RFC 2047 words still encoded)."""
    value = fix_8bit(value).replace("\r", "").replace("\n", "")
    if len(value) > 2000:
        raise SenderError(f"the {header} header is too long")
    try:
        parsed = policy.default.header_factory(header, value)
    except Exception as exc:  # the parser itself fails on some malformed values (e.g. "foo@")
        raise SenderError(f"the {header} header cannot be read ({type(exc).__name__})") from None
    fatal = [d for d in parsed.defects if isinstance(d, _FATAL) and not _HARMLESS.search(str(d))]
    if fatal:
        raise SenderError(f"the {header} header is ambiguous or malformed: {fatal[0]}")
    addresses: tuple[Any, ...] = getattr(parsed, "addresses", ())
    if len(addresses) != 1:
        raise SenderError(f"the {header} header names {len(addresses)} mailboxes, not one")
    mailbox = addresses[0]
    if not mailbox.username or not mailbox.domain:
        raise SenderError(f"the {header} header has no complete address")
    try:
        address = normalize_email(f"{mailbox.username}@{_ascii_domain(mailbox.domain)}")
    except AddressError:
        raise SenderError(f"the {header} address is not a plain mailbox address") from None
    name = decode_header(mailbox.display_name or "")[:200]
    if "@" in name and address not in name.lower():
        name = ""  # a name that shows another address would mislead the agent reading it
    return Mailbox(address, name)


def parse_sender(from_values: list[str]) -> Mailbox:
    """The sender of a message from all its From header values."""
    if not from_values:
        raise SenderError("no From header")
    if len(from_values) > 1:
        raise SenderError(f"{len(from_values)} From headers: ambiguous sender")
    return parse_mailbox(from_values[0])


def recipient_matches(address: str, support_addresses: tuple[str, ...], plus_addressing: bool) -> bool:
    """Whether an RCPT address is one of ours (support+anything@domain too, with plus-addressing)."""
    local, at, domain = address.strip().strip("<>").lower().rpartition("@")
    if not at or not local:
        return False
    for support in support_addresses:
        s_local, _, s_domain = support.lower().rpartition("@")
        if domain == s_domain and (local == s_local or (plus_addressing and local.startswith(s_local + "+"))):
            return True
    return False
