"""Chat frames, visitor tokens and host-signed identities (pure)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from channels.chat.notices import availability, notice
from channels.chat.parse import (
    ChatText,
    FrameError,
    Hello,
    Ping,
    Typing,
    chat_message,
    new_visitor_id,
    read_frame,
    read_identity,
    read_visitor,
    sign_identity,
    sign_visitor,
    verified_visitor_id,
)
from contactcenter.settings import load_settings

SETTINGS = load_settings(environ={})
SECRET = b"server-secret"
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def frame(data: object) -> object:
    return read_frame(json.dumps(data), SETTINGS.chat, SETTINGS.webform)


def test_visitor_tokens_round_trip_and_refuse_forgeries() -> None:
    visitor = new_visitor_id()
    token = sign_visitor(SECRET, visitor)
    assert read_visitor(SECRET, token) == visitor
    assert read_visitor(b"other-secret", token) is None
    assert read_visitor(SECRET, token[:-1] + ("0" if token[-1] != "0" else "1")) is None
    other = new_visitor_id()
    assert read_visitor(SECRET, f"{other}.{token.split('.')[1]}") is None
    for junk in ("", ".", "no-dot", "UPPER.x", "v-1." + "0" * 32, "a" * 500):
        assert read_visitor(SECRET, junk) is None
    assert verified_visitor_id(SECRET, "42") == verified_visitor_id(SECRET, "42") != verified_visitor_id(SECRET, "43")


def test_frames() -> None:
    assert frame({"type": "message", "client_id": "c-1_a", "text": "  hi  "}) == ChatText("c-1_a", "hi")
    assert frame({"type": "typing", "typing": True}) == Typing(True)
    assert frame({"type": "typing", "typing": "yes"}) == Typing(False)
    assert frame({"type": "ping"}) == Ping()
    hello = frame({"type": "hello", "token": "t", "last_seen": 5, "prechat": {"name": " Sara ", "email":
                   "Sara@Example.COM", "topic": "billing"}, "language": "FA"})
    assert isinstance(hello, Hello) and hello.last_seen == 5 and hello.language == "fa"
    assert hello.prechat is not None and (hello.prechat.name, hello.prechat.email) == ("Sara", "sara@example.com")


@pytest.mark.parametrize("data", [
    "[]", '"x"', "{", '{"type": "message", "client_id": "", "text": "x"}',
    '{"type": "message", "client_id": "a b", "text": "x"}', '{"type": "message", "client_id": "a", "text": 5}',
    '{"type": "message", "client_id": "a", "text": "\\u0000"}',
    '{"type": "message", "client_id": "a", "text": "\\ud800"}',
    '{"type": "hello", "last_seen": -1}',
    '{"type": "hello", "last_seen": true}', '{"type": "hello", "token": 7}',
    '{"type": "hello", "prechat": {"name": ""}}', '{"type": "hello", "prechat": {"name": "A", "topic": "nope"}}',
    '{"type": "hello", "prechat": "A"}', '{"type": "dance"}', "[" * 100_000,
])
def test_bad_frames_raise_frame_error(data: str) -> None:
    with pytest.raises(FrameError):
        read_frame(data, SETTINGS.chat, SETTINGS.webform)


def test_identity_signed_by_the_host_site() -> None:
    secret = "host-secret"
    good = {"user_id": "42", "email": "A@B.example", "name": "Ali", "expires": int(NOW.timestamp()) + 60}
    good["signature"] = sign_identity(secret, "42", "A@B.example", "Ali", int(good["expires"]))  # type: ignore[arg-type]
    identity = read_identity(good, secret, NOW)
    assert (identity.user_id, identity.email, identity.name) == ("42", "a@b.example", "Ali")
    with pytest.raises(FrameError, match="signature"):
        read_identity({**good, "user_id": "43"}, secret, NOW)
    with pytest.raises(FrameError) as expired:
        read_identity(good, secret, datetime(2027, 1, 1, tzinfo=UTC))
    assert expired.value.code == "identity_expired"
    with pytest.raises(FrameError) as off:
        read_identity(good, "", NOW)
    assert off.value.code == "identity_refused"
    for broken in ({**good, "expires": "soon"}, {**good, "signature": None}, "token", {**good, "user_id": ""}):
        with pytest.raises(FrameError):
            read_identity(broken, secret, NOW)


def test_chat_message_scopes_the_dedupe_key_to_the_visitor() -> None:
    hello = frame({"type": "hello", "prechat": {"name": "Sara", "email": "sara@example.com", "topic": "billing"}})
    assert isinstance(hello, Hello)
    msg = chat_message("v-abc12345", ChatText("c1", "hello"), hello.prechat, None, "fa", NOW, {"chat_mode": "live"})
    assert msg.channel == "chat" and msg.external_id == "v-abc12345:c1"
    assert msg.sender is not None and (msg.sender.kind, msg.sender.value) == ("chat", "v-abc12345")
    assert msg.hints.conversation_key == "v-abc12345" and msg.topic == "billing" and msg.language == "fa"
    assert msg.other_addresses == ()  # an e-mail typed into the form is not proof: not linked
    assert msg.metadata == {"chat_mode": "live", "prechat_email": "sara@example.com"}


def test_availability_and_notices() -> None:
    assert availability(True, 2).mode == "live"
    assert availability(False, 2).reason == "closed"
    assert availability(True, 0).reason == "no_agent"
    assert "#7" in notice("en", "ticket", number=7, link="L") and "7" in notice("fa", "ticket", number=7, link="L")
