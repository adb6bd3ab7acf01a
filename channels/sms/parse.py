"""Twilio's inbound SMS/MMS webhook form -> InboundMessage. Pure: no database, no network."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from channels.base import InboundMessage, ThreadHints
from contactcenter.domain.enums import DeliveryStatus, IdentityKind
from contactcenter.domain.identities import Address, AddressError, normalize_phone

CHANNEL = "sms"
MAX_MEDIA = 10  # Twilio sends at most 10 media per MMS

# Twilio message statuses -> ours. Inbound-only statuses (receiving, received) are not delivery reports.
STATUSES: dict[str, DeliveryStatus] = {
    "accepted": DeliveryStatus.SENT, "scheduled": DeliveryStatus.SENT, "queued": DeliveryStatus.SENT,
    "sending": DeliveryStatus.SENT, "sent": DeliveryStatus.SENT, "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.DELIVERED, "undelivered": DeliveryStatus.FAILED, "failed": DeliveryStatus.FAILED,
    "canceled": DeliveryStatus.FAILED,
}


class SmsParseError(ValueError):
    """A signed request we cannot turn into a message (it is kept raw for a replay)."""


@dataclass(frozen=True, slots=True)
class SmsPolicy:
    """The configured rules the parser applies (from [sms])."""

    region: str = "IR"
    idle_gap: timedelta | None = None
    reopen_solved: bool = False
    stop_keywords: tuple[str, ...] = ()
    start_keywords: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class StatusReport:
    """One delivery report (StatusCallback) of a message we sent."""

    sid: str
    provider_status: str  # Twilio's word: sent, delivered, undelivered, ...
    status: DeliveryStatus
    error: str | None


def _keyword(text: str) -> str:
    """The text as a keyword: case-folded, compatibility-normalized, without spaces and punctuation around it."""
    folded = unicodedata.normalize("NFKC", text).strip().strip(".!?؟,،;:'\"()[]").strip().casefold()
    return folded.replace("ي", "ی").replace("ك", "ک")  # Arabic yeh/kaf typed on Arabic keyboards


def keyword_action(text: str, policy: SmsPolicy) -> tuple[Literal["stop", "start"], str] | None:
    """("stop" | "start", the keyword) when the whole message is an opt-out or opt-in keyword."""
    word = _keyword(text)
    if not word or len(word) > 40:
        return None
    for action, keywords in (("stop", policy.stop_keywords), ("start", policy.start_keywords)):
        if any(_keyword(k) == word for k in keywords):
            return action, word  # type: ignore[return-value]
    return None


def parse_inbound(form: Mapping[str, str], policy: SmsPolicy, received_at: datetime,
                  raw: bytes = b"") -> InboundMessage:
    """Build the InboundMessage of an inbound SMS/MMS webhook (fields as Twilio posts them)."""
    sid = (form.get("MessageSid") or form.get("SmsSid") or "").strip()
    if not sid or len(sid) > 64:
        raise SmsParseError("no MessageSid")
    sender = form.get("From", "")
    try:
        phone = normalize_phone(sender, policy.region)
    except AddressError as exc:
        raise SmsParseError(f"From is not a phone number: {exc}") from None
    text = form.get("Body", "")
    metadata: dict[str, str] = {"to": form.get("To", "")[:40]}
    try:
        media_count = min(int(form.get("NumMedia", "0") or 0), MAX_MEDIA)
    except ValueError:
        media_count = 0
    kinds = []
    for i in range(media_count):
        url, kind = form.get(f"MediaUrl{i}", ""), form.get(f"MediaContentType{i}", "")
        if url:
            metadata[f"media_{i}_url"] = url[:1000]
            metadata[f"media_{i}_type"] = kind[:120]
            kinds.append(kind or "file")
    if kinds:
        metadata["media_count"] = str(len(kinds))
    if form.get("NumSegments"):
        metadata["segments"] = form["NumSegments"][:4]
    action = keyword_action(text, policy)
    if action is not None:
        metadata["keyword"] = action[0]
    if not text.strip() and kinds:
        text = f"[MMS: {', '.join(kinds)}]"
    metadata = {key: value.replace("\x00", "\ufffd") for key, value in metadata.items()}  # JSON columns refuse NUL
    return InboundMessage(
        channel=CHANNEL, external_id=sid, sender=Address(IdentityKind.PHONE, phone), received_at=received_at,
        text=text, recipient=metadata["to"], metadata=metadata, raw=raw,
        hints=ThreadHints(conversation_key=phone, idle_gap=policy.idle_gap, reopen_solved=policy.reopen_solved))


def parse_status(form: Mapping[str, str]) -> StatusReport | None:
    """The delivery report in a StatusCallback request; None when it is not one we track."""
    sid = (form.get("MessageSid") or form.get("SmsSid") or "").strip()
    provider_status = (form.get("MessageStatus") or form.get("SmsStatus") or "").strip().lower()
    status = STATUSES.get(provider_status)
    if not sid or len(sid) > 64 or status is None:
        return None
    code, text = form.get("ErrorCode", ""), form.get("ErrorMessage", "")
    error = f"Twilio error {code}{': ' + text if text else ''}"[:500] if code else None
    return StatusReport(sid, provider_status, status, error)
