"""Telegram updates -> outcomes, on the recorded corpus and on hand-made updates. Pure."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from channels.telegram.parse import ButtonPress, Ignored, Incoming, TelegramPolicy, Unparsed, parse_update
from contactcenter.domain.enums import IdentityKind

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpora" / "webhooks"
POLICY = TelegramPolicy()
EXPECTED = {
    "callback_query_object_inline.json": Unparsed,  # a CallbackQuery object, not an Update
    "message_object_photo_caption_entities_url.json": Unparsed,  # a Message object, not an Update
    "message_private_text_link_preview.json": Incoming,
    "message_reaction_emoji.json": Ignored,
    "my_chat_member_bot_blocked.json": Ignored,
    "supergroup_reply_bot_command_thread.json": Ignored,
    "unknown_update_kind.json": Ignored,
    "callback_query_with_message.json": ButtonPress,
}


def corpus() -> list[Path]:
    files = sorted(CORPUS.glob("telegram_*/*.json"))
    if not files:
        pytest.skip(f"no Telegram corpus under {CORPUS}")
    return files


def load(name: str) -> Any:
    return json.loads(next(p for p in corpus() if p.name == name).read_text())


def test_every_corpus_file_has_the_expected_outcome() -> None:
    for path in corpus():
        outcome = parse_update(json.loads(path.read_text()), POLICY, path.read_bytes())
        assert isinstance(outcome, EXPECTED[path.name]), (path.name, outcome)


def test_a_private_text_message() -> None:
    outcome = parse_update(load("message_private_text_link_preview.json"), POLICY)
    assert isinstance(outcome, Incoming)
    msg = outcome.message
    assert msg.external_id == "218485655:6557" and msg.text == "hello there" and msg.sender_name == "Waffle"
    assert msg.sender is not None and (msg.sender.kind, msg.sender.value) == (IdentityKind.TELEGRAM, "218485655")
    assert msg.hints.conversation_key == "218485655" and msg.metadata["update_id"] == "892252934"
    assert msg.received_at.tzinfo is not None


def test_a_photo_keeps_its_caption_and_the_largest_file_id() -> None:
    photo = load("message_object_photo_caption_entities_url.json")
    outcome = parse_update({"update_id": 10, "message": photo}, POLICY)
    assert isinstance(outcome, Incoming)
    assert outcome.message.text == "www.example.com"
    assert outcome.message.metadata["photo_file_id"] == photo["photo"][-1]["file_id"]


def test_group_chats_can_be_taken() -> None:
    data = load("supergroup_reply_bot_command_thread.json")
    outcome = parse_update(data, TelegramPolicy(ignore_group_chats=False))
    assert isinstance(outcome, Incoming) and outcome.message.hints.conversation_key == "-1001293752024"


def test_callback_query_is_a_button_press() -> None:
    outcome = parse_update(load("callback_query_with_message.json"), POLICY)
    assert isinstance(outcome, ButtonPress)
    assert (outcome.id, outcome.ref, outcome.data) == ("query-id", "1:1", "query-data")


def private(message: dict[str, Any], update_id: int = 1, kind: str = "message") -> dict[str, Any]:
    base = {"message_id": 9, "date": 1700000000, "chat": {"id": 42, "type": "private", "first_name": "Ann"},
            "from": {"id": 42, "is_bot": False, "first_name": "Ann"}}
    return {"update_id": update_id, kind: {**base, **message}}


def test_start_payload_document_voice_and_edits() -> None:
    start = parse_update(private({"text": "/start ref-abc"}), POLICY)
    assert isinstance(start, Incoming) and start.message.metadata["start_payload"] == "ref-abc"
    doc = parse_update(private({"document": {"file_id": "D1", "file_unique_id": "u", "file_name": "bill.pdf",
                                             "mime_type": "application/pdf"}}), POLICY)
    assert isinstance(doc, Incoming) and doc.message.text == "[document: bill.pdf]"
    assert doc.message.metadata["document_file_id"] == "D1"
    voice = parse_update(private({"voice": {"file_id": "V1", "file_unique_id": "v", "duration": 4}}), POLICY)
    assert isinstance(voice, Incoming) and voice.message.metadata["voice_file_id"] == "V1"
    edit = parse_update(private({"text": "fixed", "edit_date": 1700000100}, 2, "edited_message"), POLICY)
    assert isinstance(edit, Incoming)
    assert edit.message.external_id == "42:9:edit:1700000100" and edit.message.metadata["edit_of"] == "42:9"


def test_only_the_users_own_contact_is_a_verified_phone() -> None:
    own = parse_update(private({"contact": {"phone_number": "+989121234567", "first_name": "Ann", "user_id": 42}}),
                       POLICY)
    assert isinstance(own, Incoming) and own.verified_phone is not None
    assert own.verified_phone.value == "+989121234567" and own.message.other_addresses == (own.verified_phone,)
    other = parse_update(private({"contact": {"phone_number": "+989121234567", "first_name": "Bob", "user_id": 7}}),
                         POLICY)
    assert isinstance(other, Incoming) and other.verified_phone is None and other.message.other_addresses == ()


@pytest.mark.parametrize("data", [None, [], {"update_id": "1"}, {"message": {}}, {"update_id": 1, "message": 5}])
def test_garbage_is_unparsed_not_an_error(data: Any) -> None:
    assert isinstance(parse_update(data, POLICY), Unparsed)


def test_out_of_range_dates_and_nul_in_file_names_are_handled() -> None:
    assert isinstance(parse_update(private({"text": "x", "date": 10**20}), POLICY), Unparsed)
    doc = parse_update(private({"document": {"file_id": "D", "file_unique_id": "u", "file_name": "a\x00b"}}), POLICY)
    assert isinstance(doc, Incoming) and doc.message.metadata["document_name"] == "a\ufffdb"
