"""The contracts between channels and the core: InboundMessage, OutboundMessage, Receipt, the registry."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from contactcenter.domain.identities import Address


@dataclass(frozen=True, slots=True)
class InboundAttachment:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class ThreadHints:
    """Evidence a channel found about which conversation a message continues."""

    portal_token: str | None = None  # the ticket's private portal link token
    # A ticket named by a reference whose signature the channel verified (e.g. our signed e-mail Message-ID)
    verified_ticket_id: int | None = None
    in_reply_to: str | None = None  # provider ids of earlier messages (e-mail: Message-IDs), matched against
    references: tuple[str, ...] = ()  # the stored provider_id of this channel's messages
    ticket_number: int | None = None  # a [#123] tag, trusted only from a participant of that ticket
    conversation_key: str | None = None  # messaging: the chat/conversation this continues
    idle_gap: timedelta | None = None  # messaging: a conversation quiet this long starts a new ticket
    reopen_solved: bool = True  # False: a message on a solved ticket opens a follow-up instead of reopening it


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """A customer message from any channel, normalized. Channels build it; only intake consumes it."""

    channel: str
    external_id: str  # the dedupe key: unique per channel
    # None: the customer is identified by the thread evidence instead, i.e. a portal link (a secret only
    # the ticket's contact was given); intake refuses the message when the link matches no ticket.
    sender: Address | None
    received_at: datetime
    text: str
    sender_name: str = ""
    other_addresses: tuple[Address, ...] = ()  # further identities the sender gave (web form: e-mail + phone)
    recipient: str = ""
    subject: str = ""
    html: str | None = None  # already sanitized
    attachments: tuple[InboundAttachment, ...] = ()
    hints: ThreadHints = field(default_factory=ThreadHints)
    language: str | None = None
    topic: str | None = None  # a topic the customer chose (web form, phone menu)
    metadata: Mapping[str, str] = field(default_factory=dict)
    raw: bytes = b""  # the provider payload, kept for replay
    provider_id: str | None = None  # the provider's own id of this message (e-mail: Message-ID), for replies


@dataclass(frozen=True, slots=True)
class OutboundAttachment:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class QuotedMessage:
    """The message a reply answers, for channels that quote it (e-mail)."""

    text: str
    author: str
    sent_at: datetime


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """A reply to send on a ticket's channel."""

    message_id: int
    ticket_id: int
    channel: str
    to: tuple[Address, ...]
    subject: str
    text: str
    html: str | None = None
    conversation_key: str | None = None
    language: str = ""
    # provider ids of the ticket's earlier messages, oldest first (e-mail: In-Reply-To and References)
    thread_ids: tuple[str, ...] = ()
    quoted: QuotedMessage | None = None
    attachments: tuple[OutboundAttachment, ...] = ()
    buttons: tuple[tuple[str, str], ...] = ()  # (label, data) choices offered with the message, where supported


@dataclass(frozen=True, slots=True)
class Receipt:
    """What the provider answered for a send."""

    status: str  # a DeliveryStatus value: sent, delivered or failed
    provider_id: str | None = None
    error: str | None = None


class MaybeSent(Exception):
    """The request reached the provider but its answer did not come back (a read timeout, a connection
    dropped after sending, a long text cut off after its first part): the customer may have the message.
    The delivery worker marks the reply failed for an agent to check instead of sending it again."""


class Sender(Protocol):
    """Sends outbound messages for one channel. Raise ``MaybeSent`` when the message may have gone out;
    any other exception means it surely did not, and the send is retried."""

    async def send(self, message: OutboundMessage) -> Receipt: ...


class ChannelRegistry:
    """Which sender serves which channel. Built in app.py; tests can swap entries."""

    def __init__(self) -> None:
        self._senders: dict[str, Sender] = {}

    def register(self, channel: str, sender: Sender) -> None:
        self._senders[channel] = sender

    def sender(self, channel: str) -> Sender | None:
        return self._senders.get(channel)

    @property
    def channels(self) -> tuple[str, ...]:
        return tuple(sorted(self._senders))
