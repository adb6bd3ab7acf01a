"""A Telegram ``Update`` (JSON) -> what to do with it. Pure: python-telegram-bot's ``Update.de_json`` reads
the payload; no database, no network.

Outcomes: a customer ``InboundMessage``; a ``ButtonPress`` (callback query) kept as a channel event;
``Ignored`` (group chats, update kinds we do not handle), acknowledged; ``Unparsed``, kept raw for a replay.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from telegram import Message, Update

from channels.base import InboundMessage, ThreadHints
from contactcenter.domain.enums import IdentityKind
from contactcenter.domain.identities import Address, AddressError, normalize_phone

CHANNEL = "telegram"
PRIVATE = "private"


@dataclass(frozen=True, slots=True)
class TelegramPolicy:
    """The configured rules the parser applies (from [telegram])."""

    ignore_group_chats: bool = True
    idle_gap: timedelta | None = None
    reopen_solved: bool = True
    region: str = "IR"


@dataclass(frozen=True, slots=True)
class ButtonPress:
    """A callback query: a customer pressed an inline button."""

    id: str
    ref: str | None  # "<chat id>:<message id>" of the message that carried the button
    data: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Ignored:
    reason: str
    update_id: int | None = None
    kind: str = ""


@dataclass(frozen=True, slots=True)
class Unparsed:
    reason: str


@dataclass(frozen=True, slots=True)
class Incoming:
    """A customer message, and the phone number Telegram vouches for when the user shared their own contact."""

    message: InboundMessage
    verified_phone: Address | None = None


Outcome = Incoming | ButtonPress | Ignored | Unparsed
KNOWN_IGNORED = ("inline_query", "chosen_inline_result", "shipping_query", "pre_checkout_query", "poll",
                 "poll_answer", "my_chat_member", "chat_member", "chat_join_request", "chat_boost",
                 "removed_chat_boost", "message_reaction", "message_reaction_count", "business_connection",
                 "business_message", "edited_business_message", "deleted_business_messages", "purchased_paid_media",
                 "channel_post", "edited_channel_post")


def parse_update(data: Any, policy: TelegramPolicy, raw: bytes = b"") -> Outcome:
    """Read one update as Telegram posts it to a webhook (or returns it from getUpdates)."""
    if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
        return Unparsed("not a Telegram update: no integer update_id")
    try:
        return _outcome(data, policy, raw)
    except Exception as exc:  # hostile or malformed input of any shape: kept raw, never a 500
        return Unparsed(f"cannot read it: {type(exc).__name__}: {exc}"[:500])


def _outcome(data: dict[str, Any], policy: TelegramPolicy, raw: bytes) -> Outcome:
    update = Update.de_json(data, None)
    if update.message is not None:
        return _message(update, update.message, policy, raw, edited=False)
    if update.edited_message is not None:
        return _message(update, update.edited_message, policy, raw, edited=True)
    if update.callback_query is not None:
        query = update.callback_query
        ref = None
        payload: dict[str, Any] = {"update_id": update.update_id, "from": query.from_user.id,
                                   "data": query.data, "chat_instance": query.chat_instance}
        if query.message is not None:
            ref = f"{query.message.chat.id}:{query.message.message_id}"
            payload["chat_id"] = query.message.chat.id
        if query.inline_message_id:
            payload["inline_message_id"] = query.inline_message_id
        if query.game_short_name:
            payload["game_short_name"] = query.game_short_name
        return ButtonPress(query.id, ref, query.data or "", payload)
    kind = next((k for k in KNOWN_IGNORED if data.get(k) is not None),
                next((k for k in data if k != "update_id"), "empty"))
    return Ignored(f"update kind {kind!r} is not handled", update.update_id, kind)


def _placeholder(message: Message, metadata: dict[str, str]) -> str:
    """What a message without text shows as its text (its files are in the metadata)."""
    if message.photo:
        return "[photo]"
    if message.document:
        return f"[document: {metadata.get('document_name') or 'file'}]"
    if message.voice:
        return f"[voice note, {metadata.get('voice_duration', '?')} s]"
    if message.contact:
        return f"[shared contact: {message.contact.phone_number}]"
    if message.location:
        return f"[location: {message.location.latitude}, {message.location.longitude}]"
    return "[message without text]"


def _message(update: Update, message: Message, policy: TelegramPolicy, raw: bytes, *, edited: bool) -> Outcome:
    chat, user = message.chat, message.from_user
    if user is None or user.is_bot:
        return Ignored("no human sender", update.update_id, "message")
    if chat.type != PRIVATE and policy.ignore_group_chats:
        return Ignored(f"{chat.type} chats are ignored", update.update_id, "message")
    ref = f"{chat.id}:{message.message_id}"
    metadata: dict[str, str] = {"update_id": str(update.update_id), "chat_id": str(chat.id),
                                "message_id": str(message.message_id), "chat_type": chat.type}
    if user.username:
        metadata["username"] = user.username
    text = message.text or message.caption or ""
    if message.text and (message.text == "/start" or message.text.startswith("/start ")):
        metadata["start_payload"] = message.text[len("/start"):].strip()[:64]
    if message.photo:
        largest = max(message.photo, key=lambda p: p.width * p.height)
        metadata.update(photo_file_id=largest.file_id, photo_size=str(largest.file_size or ""))
    if message.document:
        metadata.update(document_file_id=message.document.file_id,
                        document_name=(message.document.file_name or "")[:255],
                        document_type=message.document.mime_type or "")
    if message.voice:
        # to_dict: the plain seconds (the attribute is turning into a timedelta in PTB 23)
        metadata.update(voice_file_id=message.voice.file_id,
                        voice_duration=str(message.voice.to_dict().get("duration", "")),
                        voice_type=message.voice.mime_type or "")
    verified: Address | None = None
    if message.contact:
        metadata["contact_phone"] = message.contact.phone_number[:40]
        # Telegram vouches for the number only when users share their own contact (request_contact button).
        if message.contact.user_id == user.id:
            try:
                verified = Address(IdentityKind.PHONE, normalize_phone(message.contact.phone_number, policy.region))
            except AddressError:
                verified = None
    if edited:
        metadata["edit_of"] = ref
        stamp = int((message.edit_date or message.date).timestamp())
        external_id, received_at = f"{ref}:edit:{stamp}", message.edit_date or message.date
    else:
        external_id, received_at = ref, message.date
    metadata = {key: value.replace("\x00", "\ufffd") for key, value in metadata.items()}  # JSON columns refuse NUL
    msg = InboundMessage(
        channel=CHANNEL, external_id=external_id, sender=Address(IdentityKind.TELEGRAM, str(user.id)),
        sender_name=user.full_name[:200], received_at=_aware(received_at),
        text=text or _placeholder(message, metadata), metadata=metadata, raw=raw,
        other_addresses=(verified,) if verified else (),
        hints=ThreadHints(conversation_key=str(chat.id), idle_gap=policy.idle_gap,
                          reopen_solved=policy.reopen_solved))
    return Incoming(msg, verified)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)  # Telegram times are UTC
