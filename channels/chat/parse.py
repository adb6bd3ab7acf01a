"""Chat frames -> values and InboundMessage; visitor tokens and host-signed identities. Pure: no I/O.

Everything a visitor's browser can get wrong is decided here, so it is tested without a server.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from channels.base import InboundMessage, ThreadHints
from contactcenter.domain.enums import IdentityKind
from contactcenter.domain.identities import Address, AddressError, normalize_email
from contactcenter.settings import ChatSettings, WebformSettings

CHANNEL = "chat"
CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
VISITOR_ID = re.compile(r"^[a-z0-9-]{8,80}$")
MAX_NAME = 200
MAX_EMAIL = 320
MAX_USER_ID = 200


class FrameError(ValueError):
    """A frame the server cannot use; ``code`` goes into the error frame sent back."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


# --- visitor tokens ------------------------------------------------------------------------------

def _mac(secret: bytes, purpose: str, value: str) -> str:
    return hmac.new(secret, f"{purpose}\n{value}".encode(), hashlib.sha256).hexdigest()[:32]


def new_visitor_id() -> str:
    return "v-" + secrets.token_hex(16)


def sign_visitor(secret: bytes, visitor_id: str) -> str:
    """The visitor's token: its id and a MAC by our secret key (the cookie and localStorage value)."""
    return f"{visitor_id}.{_mac(secret, 'chat-visitor', visitor_id)}"


def read_visitor(secret: bytes, token: str) -> str | None:
    """The visitor id of a token we signed, or None for anything else."""
    visitor_id, _, mac = token.partition(".")
    if not VISITOR_ID.match(visitor_id) or len(mac) != 32:
        return None
    return visitor_id if hmac.compare_digest(mac, _mac(secret, "chat-visitor", visitor_id)) else None


def verified_visitor_id(secret: bytes, user_id: str) -> str:
    """The visitor id of a user the host site vouches for: the same on every device."""
    return "u-" + _mac(secret, "chat-user", user_id)


# --- identities signed by the host site ----------------------------------------------------------

@dataclass(frozen=True, slots=True)
class VerifiedIdentity:
    user_id: str
    email: str | None
    name: str


def identity_payload(user_id: str, email: str, name: str, expires: int) -> bytes:
    """The bytes the host site signs: the four values joined by newlines (email and name may be empty)."""
    return "\n".join((user_id, email, name, str(expires))).encode()


def sign_identity(secret: str, user_id: str, email: str, name: str, expires: int) -> str:
    """What the host site computes (shown here for its developers and for tests)."""
    return hmac.new(secret.encode(), identity_payload(user_id, email, name, expires), hashlib.sha256).hexdigest()


def read_identity(raw: Any, secret: str, now: datetime) -> VerifiedIdentity:
    """Check a host-signed identity {user_id, email, name, expires, signature}; raise FrameError if not valid."""
    if not secret:
        raise FrameError("identity_refused", "this server does not accept verified identities")
    if not isinstance(raw, Mapping):
        raise FrameError("bad_identity", "identity must be an object")
    user_id, email, name, signature = (raw.get(k, "") for k in ("user_id", "email", "name", "signature"))
    expires = raw.get("expires")
    if not (isinstance(user_id, str) and isinstance(email, str) and isinstance(name, str)
            and isinstance(signature, str)) or not isinstance(expires, int) or isinstance(expires, bool):
        raise FrameError("bad_identity", "identity needs user_id, email, name, signature (strings), expires (int)")
    if not user_id or len(user_id) > MAX_USER_ID or len(name) > MAX_NAME or len(email) > MAX_EMAIL \
            or "\x00" in user_id + name + email:
        raise FrameError("bad_identity", "identity values are empty or too long")
    expected = sign_identity(secret, user_id, email, name, expires)
    if not hmac.compare_digest(expected, signature.lower()):
        raise FrameError("bad_identity", "identity signature does not match")
    if expires < now.timestamp():
        raise FrameError("identity_expired", "identity has expired; sign a fresh one")
    try:
        normalized = normalize_email(email) if email else None
    except AddressError:
        raise FrameError("bad_identity", "identity e-mail is not valid") from None
    return VerifiedIdentity(user_id, normalized, name.strip())


# --- frames --------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Prechat:
    name: str
    email: str | None
    topic: str | None


@dataclass(frozen=True, slots=True)
class Hello:
    token: str | None
    last_seen: int
    prechat: Prechat | None
    identity: Any
    language: str | None


@dataclass(frozen=True, slots=True)
class ChatText:
    client_id: str
    text: str


@dataclass(frozen=True, slots=True)
class Typing:
    typing: bool


@dataclass(frozen=True, slots=True)
class Ping:
    pass


Frame = Hello | ChatText | Typing | Ping


def _str(data: Mapping[str, Any], key: str, limit: int) -> str:
    value = data.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise FrameError("bad_frame", f"{key} must be a string")
    if "\x00" in value:
        raise FrameError("bad_frame", f"{key} must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise FrameError("bad_frame", f"{key} must be valid Unicode (no lone surrogates)") from None
    if len(value) > limit:
        raise FrameError("too_long", f"{key} is longer than {limit} characters")
    return value


def read_prechat(raw: Any, webform: WebformSettings) -> Prechat:
    if not isinstance(raw, Mapping):
        raise FrameError("bad_prechat", "prechat must be an object")
    name = _str(raw, "name", MAX_NAME).strip()
    email_raw = _str(raw, "email", MAX_EMAIL).strip()
    topic = _str(raw, "topic", 80).strip() or None
    if not name:
        raise FrameError("bad_prechat", "please tell us your name")
    try:
        email = normalize_email(email_raw) if email_raw else None
    except AddressError:
        raise FrameError("bad_prechat", "this e-mail address does not look right") from None
    if topic is not None and webform.topic(topic) is None:
        raise FrameError("bad_prechat", "unknown topic")
    return Prechat(name, email, topic)


def read_frame(text: str, settings: ChatSettings, webform: WebformSettings) -> Frame:
    """One text frame from the visitor; raise FrameError for anything that is not a valid frame."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        raise FrameError("bad_frame", "frames are JSON objects") from None
    if not isinstance(data, dict):
        raise FrameError("bad_frame", "frames are JSON objects")
    kind = data.get("type")
    if kind == "message":
        client_id = data.get("client_id")
        if not isinstance(client_id, str) or not CLIENT_ID.match(client_id):
            raise FrameError("bad_frame", "client_id: 1 to 64 letters, digits, '-' or '_'")
        body = _str(data, "text", settings.max_message_chars).strip()
        if not body:
            raise FrameError("bad_frame", "text is empty")
        return ChatText(client_id, body)
    if kind == "typing":
        return Typing(data.get("typing") is True)
    if kind == "ping":
        return Ping()
    if kind == "hello":
        token = data.get("token")
        last_seen = data.get("last_seen", 0)
        if token is not None and not isinstance(token, str):
            raise FrameError("bad_frame", "token must be a string")
        if not isinstance(last_seen, int) or isinstance(last_seen, bool) or last_seen < 0:
            raise FrameError("bad_frame", "last_seen must be a message id (0 for none)")
        prechat = read_prechat(data["prechat"], webform) if data.get("prechat") is not None else None
        language = _str(data, "language", 8).strip().lower() or None
        return Hello(token or None, min(last_seen, 2**31 - 1), prechat, data.get("identity"), language)
    raise FrameError("bad_frame", "unknown frame type")


def chat_message(visitor_id: str, text: ChatText, prechat: Prechat | None, identity: VerifiedIdentity | None,
                 language: str | None, received_at: datetime, metadata: Mapping[str, str]) -> InboundMessage:
    """The InboundMessage of one visitor message. Its dedupe key is the client id scoped to the visitor,
    so a message resent after a reconnect is stored once."""
    name = (identity.name if identity and identity.name else "") or (prechat.name if prechat else "")
    others: tuple[Address, ...] = ()
    meta = dict(metadata)
    if identity is not None:
        meta["verified_user_id"] = identity.user_id
        if identity.email:
            others = (Address(IdentityKind.EMAIL, identity.email),)
    if prechat is not None and prechat.email:
        meta["prechat_email"] = prechat.email  # not proven: kept on the message, not linked to the contact
    return InboundMessage(
        channel=CHANNEL, external_id=f"{visitor_id}:{text.client_id}", sender=Address(IdentityKind.CHAT, visitor_id),
        received_at=received_at, text=text.text, sender_name=name, other_addresses=others,
        hints=ThreadHints(conversation_key=visitor_id), language=language if language in ("en", "fa", "ar") else None,
        topic=prechat.topic if prechat else None, metadata=meta,
        raw=json.dumps({"client_id": text.client_id, "text": text.text}, ensure_ascii=False).encode())
