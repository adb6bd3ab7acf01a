"""Twilio Voice parameters, outcomes and TwiML (pure)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest

from channels.voice import twiml
from channels.voice.parse import (
    ParamError,
    callback_message,
    caller,
    final_outcome,
    menu_choice,
    needs_callback,
    status_update,
    transcription_message,
    voicemail_message,
)
from contactcenter.settings import load_settings

SETTINGS = load_settings(environ={})
NOW = datetime(2026, 11, 23, tzinfo=UTC)
SID = "CA" + "a" * 32


def test_caller_numbers() -> None:
    address = caller("09121234567", "IR")
    assert address is not None and address.value == "+989121234567"
    for withheld in ("", "anonymous", "client:agent-1", "sip:x@y", "+266696687"):
        assert caller(withheld, "IR") is None


def test_menu_choice() -> None:
    topics = ("general", "billing")
    assert menu_choice("2", topics) == "billing"
    for digits in ("", "0", "3", "12", "*", "x"):
        assert menu_choice(digits, topics) is None


def test_status_updates_and_outcomes() -> None:
    update = status_update({"CallSid": SID, "CallStatus": "completed", "CallDuration": "12", "SequenceNumber": "4"})
    assert (update.sequence, update.rank, update.duration, update.final) == ("4", 4, 12, True)
    no_seq = status_update({"CallSid": SID, "CallStatus": "ringing"})
    assert no_seq.sequence == "status:ringing" and not no_seq.final
    for bad in ({"CallStatus": "completed"}, {"CallSid": SID, "CallStatus": "boom"},
                {"CallSid": SID, "CallStatus": "completed", "SequenceNumber": "-1"},
                {"CallSid": "x", "CallStatus": "busy"}):
        with pytest.raises(ParamError):
            status_update(bad)
    assert final_outcome("inbound", "completed", "connect", "answered") == "answered"
    assert final_outcome("inbound", "no-answer", "new", None) == "missed"
    assert final_outcome("inbound", "completed", "voicemail", None) == "missed"
    assert final_outcome("inbound", "completed", "menu", None) == "abandoned"
    assert final_outcome("outbound", "busy", "dialing", None) == "missed"
    assert final_outcome("outbound", "completed", "connect", None) == "answered"
    assert needs_callback("inbound", "missed", None) and needs_callback("inbound", "abandoned", None)
    assert not needs_callback("inbound", "missed", 5) and not needs_callback("outbound", "missed", None)
    assert not needs_callback("inbound", "voicemail", None)


def test_messages_of_a_call() -> None:
    address = caller("+989121234567", "IR")
    assert address is not None
    back = callback_message(SID, address.value, address, "missed", "billing", None, NOW)
    assert back.external_id == f"{SID}:callback" and back.hints.conversation_key == f"call:{SID}"
    params = {"RecordingUrl": "https://api.twilio.com/x/RE1", "RecordingSid": "RE" + "1" * 32,
              "RecordingDuration": "9"}
    voicemail = voicemail_message(SID, params, address, None, NOW)
    assert voicemail is not None and voicemail.external_id == f"recording:RE{'1' * 32}"
    assert voicemail_message(SID, {**params, "RecordingDuration": "0"}, address, None, NOW) is None
    assert voicemail_message(SID, {**params, "RecordingUrl": "javascript:alert(1)"}, address, None, NOW) is None
    done = {"TranscriptionStatus": "completed", "TranscriptionText": "hi", "TranscriptionSid": "TR" + "2" * 32}
    assert transcription_message(SID, done, address, NOW) is not None
    assert transcription_message(SID, {**done, "TranscriptionStatus": "failed"}, address, NOW) is None


def test_twiml_documents_are_xml_with_the_expected_verbs() -> None:
    topics = [t for t in SETTINGS.webform.topics]
    menu = ET.fromstring(twiml.menu(SETTINGS.voice, topics, "https://x/menu", welcome=True))  # noqa: S314
    assert [child.tag for child in menu] == ["Gather", "Redirect"]
    gather = menu[0]
    assert len(gather.findall("Say")) == 2 * (1 + len(topics))
    voicemail = ET.fromstring(twiml.voicemail(SETTINGS.voice, "closed", "https://x/rec", "https://x/tr"))  # noqa: S314
    assert [child.tag for child in voicemail] == ["Say", "Say", "Record", "Say", "Say", "Hangup"]
    assert voicemail.find("Record").get("maxLength") == "120"  # type: ignore[union-attr]
    queue = ET.fromstring(twiml.enqueue(SETTINGS.voice, "cc-general", "https://x/q"))  # noqa: S314
    assert queue.find("Enqueue").text == "cc-general"  # type: ignore[union-attr]
    dial = ET.fromstring(twiml.connect_agent(SETTINGS.voice, "agent-3"))  # noqa: S314
    assert dial.find("Dial/Client").text == "agent-3"  # type: ignore[union-attr]
