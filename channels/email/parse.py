"""Raw mail bytes -> InboundMessage, a delivery report, or a refusal with its reason. Pure: no I/O.

The message is parsed with the lenient ``compat32`` policy (it never raises on broken structure) and every
header is decoded here (``charsets``), so any charset a sender declares, or fails to declare, comes out
as text. The sender alone is parsed strictly (``addresses``). Work is bounded: parts, nesting depth,
text length, attachment size and HTML links all have limits (``[email]`` settings).
"""

from __future__ import annotations

import binascii
import email.parser
import email.policy
import email.utils
import hashlib
import json
import mimetypes
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message

from channels.base import InboundAttachment, InboundMessage, ThreadHints
from channels.email import CHANNEL
from channels.email.addresses import Mailbox, SenderError, parse_sender
from channels.email.charsets import decode_bytes, decode_header, fix_8bit
from channels.email.html_text import MAX_HTML_CHARS, html_to_text
from channels.email.loops import DeliveryReport, automatic_reason, delivery_report, first, is_own_loop
from channels.email.message_ids import SignedRef, message_id_list, read_message_id, read_reply_address
from channels.email.quotes import split_reply
from channels.webform.parse import sanitize_filename
from contactcenter.domain.enums import IdentityKind
from contactcenter.domain.identities import Address
from contactcenter.sanitize import sanitize_html
from contactcenter.settings import EmailSettings

_PARSER = email.parser.BytesParser(policy=email.policy.compat32)
_TAG = re.compile(r"\[#(\d{1,9})\]")
_LINKS = re.compile(r"<a[\s>]", re.I)
_UUENCODE = re.compile(r"^begin [0-7]{3,4} ([^\r\n]{1,255})\r?\n(.*?)^end\s*$", re.M | re.S)
MAX_REFERENCES = 20


@dataclass(frozen=True, slots=True)
class Accepted:
    message: InboundMessage
    automatic: str  # why it is automatic mail, "" for a person's


@dataclass(frozen=True, slots=True)
class Report:
    report: DeliveryReport
    refs: tuple[SignedRef, ...]  # our messages it reports on (signature verified)


@dataclass(frozen=True, slots=True)
class Refused:
    reason: str


Parsed = Accepted | Report | Refused


@dataclass
class _Body:
    texts: list[str] = field(default_factory=list)
    htmls: list[str] = field(default_factory=list)
    forwarded: list[str] = field(default_factory=list)
    attachments: list[InboundAttachment] = field(default_factory=list)
    inline: dict[str, str] = field(default_factory=dict)  # content-id -> file name
    parts: int = 0
    notes: list[str] = field(default_factory=list)


def headers_of(msg: Message) -> dict[str, list[str]]:
    """Raw header values by lower-cased name, in order (encoded words and 8-bit bytes left as they came)."""
    found: dict[str, list[str]] = {}
    for name, value in msg.raw_items():
        found.setdefault(name.strip().lower(), []).append(str(value))
    return found


def _payload(part: Message) -> bytes:
    try:
        data = part.get_payload(decode=True)
    except Exception:  # a broken transfer encoding: keep what is there
        data = None
    if isinstance(data, bytes):
        return data
    raw = part.get_payload()
    return raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""


def _filename(part: Message, index: int) -> str:
    try:
        name = part.get_filename() or part.get_param("name") or ""
    except Exception:
        name = ""
    if isinstance(name, tuple):  # an RFC 2231 value the library could not collapse
        name = email.utils.collapse_rfc2231_value(name)
    name = decode_header(str(name)) if name else ""
    if not name:
        kind = part.get_content_type()
        extension = ".eml" if kind == "message/rfc822" else (mimetypes.guess_extension(kind) or ".bin")
        name = f"part-{index}{extension}"
    return sanitize_filename(name)


def _attach(body: _Body, name: str, content_type: str, data: bytes, settings: EmailSettings) -> None:
    if len(data) > settings.max_attachment_bytes:
        body.notes.append(f"{name}: larger than {settings.max_attachment_bytes} bytes, kept in the raw message")
        return
    body.attachments.append(InboundAttachment(filename=name, content_type=content_type[:120], data=data))


def _uudecode(text: str, body: _Body, settings: EmailSettings) -> str:
    """Inline uuencoded files ("begin 644 name" ... "end") become attachments."""
    def take(match: re.Match[str]) -> str:
        data = bytearray()
        for line in match[2].splitlines():
            if not line.strip() or line.strip() == "`":
                continue
            try:  # ValueError: binascii.Error, or a line with non-ASCII characters
                data += binascii.a2b_uu(line)
            except ValueError:
                try:  # some encoders write lines one character too long
                    data += binascii.a2b_uu(line[:((ord(line[0]) - 32) & 63) * 4 // 3 + 1])
                except (ValueError, IndexError):
                    return match[0]
        name = sanitize_filename(match[1].strip())
        _attach(body, name, mimetypes.guess_type(name)[0] or "application/octet-stream", bytes(data), settings)
        return f"[attachment: {name}]"
    return _UUENCODE.sub(take, text) if "begin " in text else text


def _walk(part: Message, body: _Body, settings: EmailSettings, depth: int) -> None:
    if body.parts >= settings.max_parts:
        if "parts" not in body.notes:
            body.notes.append("parts")
        return
    body.parts += 1
    kind = part.get_content_type()
    disposition = (part.get_content_disposition() or "").lower()
    if part.is_multipart():
        children = [c for c in part.get_payload() if isinstance(c, Message)]
        if depth >= settings.max_depth:
            body.notes.append("depth")
            return
        subtype = part.get_content_subtype()
        if subtype == "alternative":
            _alternative(children, body, settings, depth)
        elif subtype == "signed" and children:
            _walk(children[0], body, settings, depth + 1)
            for index, child in enumerate(children[1:], start=1):
                _attach(body, _filename(child, body.parts + index), child.get_content_type(), _payload(child),
                        settings)
        elif subtype == "encrypted":
            _attach(body, "encrypted.asc", kind, part.as_bytes(), settings)
            body.texts.append("[encrypted message: see the attachment encrypted.asc]")
        else:
            for child in children:
                _walk(child, body, settings, depth + 1)
        return
    if kind == "message/rfc822":
        _forwarded(part, body, settings, depth)
        return
    if kind in ("text/plain", "text/html") and disposition != "attachment" and not part.get_filename():
        text = decode_bytes(_payload(part), part.get_content_charset())
        if kind == "text/plain":
            body.texts.append(_uudecode(text, body, settings))
        else:
            body.htmls.append(text)
        return
    data = _payload(part)
    if not data:
        return
    name = _filename(part, body.parts)
    content_id = str(part.get("content-id", "")).strip().strip("<>")
    if content_id:
        body.inline[content_id[:200]] = name
    _attach(body, name, kind, data, settings)


def _alternative(children: list[Message], body: _Body, settings: EmailSettings, depth: int) -> None:
    """Alternatives of one content: the plain text of one, the HTML of another, the files of all."""
    options = []
    for child in children:
        sub = _Body(parts=body.parts)
        _walk(child, sub, settings, depth + 1)
        body.parts = sub.parts
        options.append(sub)
        body.attachments += sub.attachments
        body.inline.update(sub.inline)
        body.notes += sub.notes
        body.forwarded += sub.forwarded
    body.texts += next((o.texts for o in options if o.texts), [])
    body.htmls += next((o.htmls for o in reversed(options) if o.htmls), [])


def _forwarded(part: Message, body: _Body, settings: EmailSettings, depth: int) -> None:
    """A forwarded message: kept whole as a .eml attachment, its text shown under the new text."""
    payload = part.get_payload()
    inner = payload[0] if isinstance(payload, list) and payload and isinstance(payload[0], Message) else None
    if inner is None:
        return
    try:
        data = inner.as_bytes(policy=email.policy.compat32)
    except Exception:
        data = _payload(part)
    headers = headers_of(inner)
    subject = decode_header(first(headers, "subject"))
    _attach(body, sanitize_filename(f"{subject or 'forwarded message'}.eml"), "message/rfc822", data, settings)
    if depth >= settings.max_depth:
        return
    sub = _Body(parts=body.parts)
    _walk(inner, sub, settings, depth + 1)
    body.parts = sub.parts
    body.attachments += sub.attachments
    text = "\n\n".join(sub.texts) or html_to_text("\n".join(sub.htmls))
    lines = [f"{label}: {value}" for label, key in (("From", "from"), ("Date", "date"), ("Subject", "subject"))
             if (value := decode_header(first(headers, key)))]
    body.forwarded.append("---------- Forwarded message ----------\n" + "\n".join(lines) + "\n\n" + text.strip())


def _received_at(headers: dict[str, list[str]], fallback: datetime) -> datetime:
    try:
        parsed = email.utils.parsedate_to_datetime(decode_header(first(headers, "date")))
    except (TypeError, ValueError, IndexError, OverflowError):
        return fallback
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _dedupe_key(raw: bytes, sender: str, message_id: str) -> str:
    """Stable for a redelivery; scoped to the sender so nobody can pre-empt another's Message-ID."""
    if message_id:
        return "mid:" + hashlib.sha256(f"{sender}\n{message_id}".encode()).hexdigest()
    return "raw:" + hashlib.sha256(raw).hexdigest()


def _signed_ticket(secret: bytes, ids: Sequence[str], recipients: Sequence[str]) -> int | None:
    for value in ids:
        ref = read_message_id(secret, value)
        if ref is not None:
            return ref.ticket_id
    for address in recipients:
        ticket = read_reply_address(secret, address)
        if ticket is not None:
            return ticket
    return None


def _recipients(headers: dict[str, list[str]], rcpt_tos: Sequence[str]) -> list[str]:
    values = [decode_header(v) for name in ("to", "cc", "delivered-to", "x-original-to") for v in headers.get(name, ())]
    return [*rcpt_tos, *(a for _, a in email.utils.getaddresses(values[:20]))][:60]


def _text_and_html(body: _Body, settings: EmailSettings) -> tuple[str, str | None, bool]:
    html_source = "\n".join(body.htmls)
    html: str | None = None
    if html_source and len(html_source) <= MAX_HTML_CHARS:
        if len(_LINKS.findall(html_source)) <= settings.max_links:
            html = sanitize_html(html_source)
        else:
            body.notes.append("links")
    own = "\n\n".join(t.strip() for t in body.texts if t.strip()) or html_to_text(html_source)
    new, stripped = split_reply(own)
    text = "\n\n".join(t for t in (new, *body.forwarded) if t)
    return text[: settings.max_text_chars], html, stripped


def parse_mail(raw: bytes, settings: EmailSettings, secret: bytes, *, received_at: datetime,
               mail_from: str | None = None, rcpt_tos: Sequence[str] = (), use_date: bool = False) -> Parsed:
    """Read one message. ``mail_from`` None means the envelope is unknown (an import)."""
    msg = _PARSER.parsebytes(raw)
    headers = headers_of(msg)
    own = (settings.sender_address, *settings.support_addresses)
    if is_own_loop(headers, own):
        return Refused("loop: the message carries our own X-Loop marker")
    report = delivery_report(msg, headers, mail_from)
    if report is not None:
        refs = tuple(ref for value in report.original_ids if (ref := read_message_id(secret, value)) is not None)
        return Report(report, refs)
    try:
        sender: Mailbox = parse_sender(headers.get("from", []))
    except SenderError as exc:
        return Refused(f"sender: {exc}")
    if sender.address in {a.lower() for a in own}:
        return Refused("loop: the message comes from our own address")
    body = _Body()
    _walk(msg, body, settings, 0)
    text, html, stripped = _text_and_html(body, settings)
    subject = decode_header(first(headers, "subject"))[:500]
    message_ids = message_id_list(fix_8bit(first(headers, "message-id")), 1)
    message_id = message_ids[0] if message_ids else ""
    in_reply_to = [i for v in headers.get("in-reply-to", ()) for i in message_id_list(v, MAX_REFERENCES)]
    references = [i for v in headers.get("references", ()) for i in message_id_list(v, 200)][-MAX_REFERENCES:]
    tag = _TAG.search(subject)
    automatic = automatic_reason(headers, mail_from)
    metadata = {"from": sender.address}
    if message_id:
        metadata["message_id"] = message_id[:250]
    if automatic:
        metadata["automatic"] = automatic
    if stripped:
        metadata["quoted_history"] = "hidden"
    if body.inline:
        metadata["inline_images"] = json.dumps(body.inline, ensure_ascii=False)
    if body.notes:
        metadata["limits"] = ", ".join(dict.fromkeys(body.notes))[:500]
    if use_date:
        metadata["imported"] = "yes"
    hints = ThreadHints(
        verified_ticket_id=_signed_ticket(secret, [*in_reply_to, *references], _recipients(headers, rcpt_tos)),
        in_reply_to=in_reply_to[0] if in_reply_to else None,
        references=tuple(dict.fromkeys([*references, *in_reply_to[1:]]))[-MAX_REFERENCES:],
        ticket_number=int(tag[1]) if tag else None)
    message = InboundMessage(
        channel=CHANNEL, external_id=_dedupe_key(raw, sender.address, message_id),
        sender=Address(IdentityKind.EMAIL, sender.address), sender_name=sender.name,
        received_at=_received_at(headers, received_at) if use_date else received_at,
        recipient=(rcpt_tos[0] if rcpt_tos else "")[:320], subject=subject, text=text, html=html,
        attachments=tuple(body.attachments), hints=hints, metadata=metadata, raw=raw,
        provider_id=message_id[:255] or None)
    return Accepted(message, automatic)
