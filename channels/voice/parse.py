"""Twilio Voice webhook parameters -> values, call outcomes and InboundMessages. Pure: no I/O."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from channels.base import InboundMessage, ThreadHints
from contactcenter.domain.enums import IdentityKind
from contactcenter.domain.identities import Address, AddressError, normalize_phone

CHANNEL = "voice"
SID = re.compile(r"^[A-Za-z]{2}[A-Za-z0-9]{1,62}$")
FINAL = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})
NOT_REACHED = frozenset({"busy", "no-answer", "failed", "canceled"})
# Order of the statuses when Twilio sends no SequenceNumber.
STATUS_RANK = {"queued": 0, "initiated": 1, "ringing": 2, "in-progress": 3, "answered": 3,
               "completed": 9, "busy": 9, "no-answer": 9, "failed": 9, "canceled": 9}
CALLBACK_OUTCOMES = frozenset({"missed", "abandoned"})


class ParamError(ValueError):
    """A webhook without the parameters it must carry."""


def sid(params: Mapping[str, str], name: str = "CallSid") -> str:
    value = params.get(name, "")
    if not SID.match(value):
        raise ParamError(f"{name} is missing or malformed")
    return value


def caller(number: str, region: str) -> Address | None:
    """The caller's phone identity; None for withheld numbers, SIP or client identities."""
    if not number or number.startswith(("client:", "sip:")) or not any(c.isdigit() for c in number):
        return None
    try:
        return Address(IdentityKind.PHONE, normalize_phone(number, region))
    except AddressError:
        return None


def menu_choice(digits: str, topics: tuple[str, ...]) -> str | None:
    """The topic of a pressed digit (1 = the first topic), or None for anything else."""
    if len(digits) == 1 and digits.isdecimal() and 1 <= int(digits) <= len(topics):
        return topics[int(digits) - 1]
    return None


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """One call status callback."""

    call_sid: str
    sequence: str  # the dedupe key within the call: SequenceNumber, else the status
    rank: int  # callbacks can arrive out of order: a lower rank never overwrites a higher one
    status: str
    duration: int | None
    direction: str  # inbound | outbound
    from_number: str
    to_number: str

    @property
    def final(self) -> bool:
        return self.status in FINAL


def status_update(params: Mapping[str, str]) -> StatusUpdate:
    call_sid = sid(params)
    status = params.get("CallStatus", "")
    if status not in STATUS_RANK:
        raise ParamError("CallStatus is missing or unknown")
    seq = params.get("SequenceNumber", "")
    if seq and (not seq.isdecimal() or len(seq) > 9):
        raise ParamError("SequenceNumber must be a number")
    raw_duration = params.get("CallDuration", "") or params.get("Duration", "")
    duration = int(raw_duration) if raw_duration.isdecimal() and len(raw_duration) < 9 else None
    direction = "inbound" if params.get("Direction", "inbound") == "inbound" else "outbound"
    rank = int(seq) if seq else STATUS_RANK[status] * 1000
    return StatusUpdate(call_sid, seq or f"status:{status}", rank, status, duration, direction,
                        params.get("From", "")[:64], params.get("To", "")[:64])


def final_outcome(direction: str, status: str, stage: str, outcome: str | None) -> str:
    """How a finished call ended. An outcome set during the call (answered, voicemail, abandoned) stands.

    Inbound: not reached (busy, no-answer, failed, canceled) or offered voicemail but left none -> missed;
    hung up in the menu or the queue -> abandoned. Outbound: completed -> answered, otherwise missed.
    """
    if outcome:
        return outcome
    if direction == "outbound":
        return "answered" if status == "completed" else "missed"
    if status in NOT_REACHED or stage == "voicemail":
        return "missed"
    return "abandoned"


def needs_callback(direction: str, outcome: str | None, ticket_id: int | None) -> bool:
    """An inbound call that nobody answered and that left no voicemail gets a call-back ticket."""
    return direction == "inbound" and outcome in CALLBACK_OUTCOMES and ticket_id is None


def _hints(call_sid: str) -> ThreadHints:
    return ThreadHints(conversation_key=f"call:{call_sid}")


def callback_message(call_sid: str, from_number: str, address: Address, outcome: str, topic: str | None,
                     duration: int | None, at: datetime) -> InboundMessage:
    """A missed or abandoned call as a ticket asking for a call-back."""
    what = "Missed call" if outcome == "missed" else "Abandoned call"
    text = f"{what} from {from_number}. Please call back."
    if duration:
        text += f" The caller waited {duration} s."
    return InboundMessage(channel=CHANNEL, external_id=f"{call_sid}:callback", sender=address, received_at=at,
                          text=text, subject=f"{what} from {from_number}: call back", hints=_hints(call_sid),
                          topic=topic, metadata={"call_sid": call_sid, "outcome": outcome, "callback": "requested"})


def voicemail_message(call_sid: str, params: Mapping[str, str], address: Address, topic: str | None,
                      at: datetime) -> InboundMessage | None:
    """The voicemail of a Record action, or None when nothing was recorded."""
    url, recording = params.get("RecordingUrl", ""), params.get("RecordingSid", "")
    duration = params.get("RecordingDuration", "0")
    if not url.startswith("https://") or not SID.match(recording) or not duration.isdecimal() or int(duration) <= 0:
        return None
    number = address.value
    return InboundMessage(
        channel=CHANNEL, external_id=f"recording:{recording}", sender=address, received_at=at,
        text=f"Voicemail from {number} ({duration} s): {url[:400]}", subject=f"Voicemail from {number}",
        hints=_hints(call_sid), topic=topic,
        metadata={"call_sid": call_sid, "recording_sid": recording, "recording_url": url[:400],
                  "recording_duration": duration, "outcome": "voicemail"})


def transcription_message(call_sid: str, params: Mapping[str, str], address: Address,
                          at: datetime) -> InboundMessage | None:
    """The transcript of a voicemail, added to the voicemail's ticket; None unless one was made."""
    text = params.get("TranscriptionText", "").strip()
    transcription = params.get("TranscriptionSid", "")
    if params.get("TranscriptionStatus") != "completed" or not text or not SID.match(transcription):
        return None
    return InboundMessage(
        channel=CHANNEL, external_id=f"transcription:{transcription}", sender=address, received_at=at,
        text=f"Voicemail transcript: {text[:20_000]}", hints=_hints(call_sid),
        metadata={"call_sid": call_sid, "recording_sid": params.get("RecordingSid", "")[:64],
                  "transcription_sid": transcription})
