"""Automatic mail: auto-replies, lists, our own mail coming back, and delivery reports (bounces). Pure.

- An automatic message (Auto-Submitted other than "no", Precedence bulk/junk/list, X-Autoreply, list
  headers, a null envelope sender) is still stored, but never answered automatically.
- A delivery report (multipart/report; report-type=delivery-status, or a mailer-daemon/postmaster sender
  with a returned message) does not open a ticket: it marks our original message as failed.
- A message carrying our own X-Loop marker is refused: it is our own mail coming back.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import Message

from channels.email.charsets import decode_bytes, decode_header
from channels.email.message_ids import message_id_list

_DAEMONS = re.compile(r"^(mailer-daemon|postmaster|mail-daemon|mailerdaemon|bounces?|mdaemon)([+-].*)?@", re.I)
_DAEMON_NAMES = re.compile(r"mail delivery (system|subsystem)|mailer-daemon|postmaster", re.I)
_BOUNCE_SUBJECT = re.compile(r"undeliver|delivery (status notification|failure|has failed)|returned mail|"
                             r"failure notice|mail delivery failed|nondeliverable|non remis|unzustellbar", re.I)
_STATUS = re.compile(r"^(Status|Diagnostic-Code|Action|Final-Recipient)[ \t]*:[ \t]*(.{1,300})$", re.I | re.M)

Headers = Mapping[str, Sequence[str]]


def first(headers: Headers, name: str) -> str:
    values = headers.get(name.lower())
    return values[0] if values else ""


def automatic_reason(headers: Headers, mail_from: str | None) -> str:
    """Why a message is automatic ("" for a person's mail). ``mail_from`` None: envelope unknown (imports)."""
    auto = first(headers, "auto-submitted").strip().lower()
    if auto and not auto.startswith("no"):
        return f"Auto-Submitted: {auto[:40]}"
    precedence = first(headers, "precedence").strip().lower()
    if precedence in ("bulk", "junk", "list", "auto_reply"):
        return f"Precedence: {precedence}"
    for name in ("x-autoreply", "x-autorespond", "x-auto-response-suppress"):
        value = first(headers, name).strip().lower()
        if value and not (name == "x-auto-response-suppress" and value in ("none", "")):
            return f"{name}: {value[:40]}"
    for name in ("list-id", "list-unsubscribe", "x-mailing-list"):
        if first(headers, name):
            return f"mailing list ({name})"
    if mail_from is not None and mail_from.strip("<> ") == "":
        return "null envelope sender"
    return ""


def is_own_loop(headers: Headers, own_addresses: Sequence[str]) -> bool:
    """Whether the message carries the X-Loop marker we put on our own mail."""
    loops = " ".join(headers.get("x-loop", ())).lower()
    return any(address and address.lower() in loops for address in own_addresses)


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    original_ids: tuple[str, ...]  # Message-IDs the report is about (ours when we sent them)
    reason: str


def _from_daemon(headers: Headers, mail_from: str | None) -> bool:
    sender = decode_header(first(headers, "from"))
    return bool(_DAEMONS.search(sender.strip("<> ").split("<")[-1]) or _DAEMON_NAMES.search(sender)
                or (mail_from is not None and _DAEMONS.match(mail_from.strip("<> "))))


def delivery_report(msg: Message, headers: Headers, mail_from: str | None) -> DeliveryReport | None:
    """The report, when the message is a bounce or delivery status notification; else None."""
    content_type = msg.get_content_type()
    report = (content_type == "multipart/report"
              and str(msg.get_param("report-type", "") or "").lower() == "delivery-status")
    null_sender = mail_from is not None and mail_from.strip("<> ") == ""
    subject = decode_header(first(headers, "subject"))
    if not report and not ((_from_daemon(headers, mail_from) or null_sender) and _BOUNCE_SUBJECT.search(subject)):
        return None
    ids: list[str] = []
    reasons: list[str] = []
    parts = list(msg.walk())[:50] if msg.is_multipart() else [msg]
    for part in parts:
        kind = part.get_content_type()
        if kind == "message/rfc822":
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                ids += message_id_list(str(inner[0].get("message-id", "")))
        elif kind in ("text/rfc822-headers", "message/delivery-status"):
            body = part.get_payload(decode=True)
            if not isinstance(body, bytes):
                payload = part.get_payload()
                text = "\n".join(str(p) for p in payload) if isinstance(payload, list) else str(payload)
            else:
                text = decode_bytes(body, "utf-8")
            for line in text.splitlines():
                if line.lower().startswith("message-id:"):
                    ids += message_id_list(line)
            reasons += [f"{m[1]}: {m[2].strip()}" for m in _STATUS.finditer(text)][:6]
    for name in ("x-original-message-id", "in-reply-to", "references"):
        for value in headers.get(name, ()):
            ids += message_id_list(value)
    reason = "; ".join(dict.fromkeys(reasons)) or subject or "delivery failed"
    return DeliveryReport(tuple(dict.fromkeys(ids)), reason[:1000])
