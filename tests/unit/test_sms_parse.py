"""Twilio SMS: the signature vectors, keyword detection, inbound and status parsing, threading rules. Pure."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from multidict import MultiDict
from twilio.request_validator import RequestValidator

from channels.sms.parse import SmsParseError, SmsPolicy, keyword_action, parse_inbound, parse_status
from contactcenter.domain.delivery import advances, furthest
from contactcenter.domain.enums import DeliveryStatus, IdentityKind, TicketStatus
from contactcenter.domain.threading import FoundTicket, decide

VECTORS = Path(__file__).resolve().parents[2].parent / "shared" / "corpora" / "webhooks" / \
    "twilio_signature_vectors.json"
POLICY = SmsPolicy(region="IR", stop_keywords=("STOP", "UNSUBSCRIBE", "لغو", "توقف"), start_keywords=("START", "شروع"))
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def vectors() -> list[dict[str, object]]:
    if not VECTORS.exists():
        pytest.skip(f"{VECTORS} is not there (the shared corpora sit beside the project)")
    return list(json.loads(VECTORS.read_text())["cases"])


def test_every_signature_vector_passes_and_a_changed_one_fails() -> None:
    data = json.loads(VECTORS.read_text()) if VECTORS.exists() else None
    cases = vectors()
    assert data is not None
    validator = RequestValidator(data["auth_token"])
    for case in cases:
        if "json_body" in case:
            params: object = case["json_body"]
        elif "params_multi" in case:
            params = MultiDict([(k, v) for k, v in case["params_multi"]])  # type: ignore[attr-defined]
        else:
            params = case["params"]
        assert validator.validate(case["url"], params, case["signature"]), case["url"]
        assert not validator.validate(case["url"] + "&x=1", params, case["signature"])
        assert not RequestValidator("other-token").validate(case["url"], params, case["signature"])


@pytest.mark.parametrize(("text", "expected"), [
    ("STOP", ("stop", "stop")), ("  stop! ", ("stop", "stop")), ("Unsubscribe.", ("stop", "unsubscribe")),
    ("لغو", ("stop", "لغو")), (" توقف ", ("stop", "توقف")), ("start", ("start", "start")), ("شروع", ("start", "شروع")),
    ("stop sending me these", None), ("", None), ("stopp", None),
])
def test_keywords_match_the_whole_message(text: str, expected: tuple[str, str] | None) -> None:
    assert keyword_action(text, POLICY) == expected


def test_an_mms_records_its_media_and_normalizes_the_sender() -> None:
    form = {"MessageSid": "MM123", "From": "09121234567", "To": "+15005550006", "Body": "", "NumMedia": "2",
            "MediaUrl0": "https://api.twilio.com/m/0", "MediaContentType0": "image/jpeg",
            "MediaUrl1": "https://api.twilio.com/m/1", "MediaContentType1": "application/pdf"}
    msg = parse_inbound(form, POLICY, NOW, b"raw")
    assert msg.channel == "sms" and msg.external_id == "MM123"
    assert msg.sender is not None and msg.sender.kind == IdentityKind.PHONE and msg.sender.value == "+989121234567"
    assert msg.hints.conversation_key == "+989121234567"
    assert msg.metadata["media_count"] == "2"
    assert msg.metadata["media_1_url"] == "https://api.twilio.com/m/1"
    assert msg.metadata["media_0_type"] == "image/jpeg"
    assert msg.text == "[MMS: image/jpeg, application/pdf]"
    assert msg.raw == b"raw"


@pytest.mark.parametrize("form", [{"From": "+15005550006"}, {"MessageSid": "SM1", "From": "not a number"},
                                  {"MessageSid": "SM1"}])
def test_a_request_without_sid_or_phone_cannot_be_parsed(form: dict[str, str]) -> None:
    with pytest.raises(SmsParseError):
        parse_inbound(form, POLICY, NOW)


def test_status_reports_map_to_our_statuses() -> None:
    report = parse_status({"MessageSid": "SM1", "MessageStatus": "undelivered", "ErrorCode": "30003"})
    assert report is not None and report.status == DeliveryStatus.FAILED and report.error == "Twilio error 30003"
    assert parse_status({"MessageSid": "SM1", "MessageStatus": "received"}) is None
    assert parse_status({"MessageStatus": "sent"}) is None


def test_delivery_status_never_goes_back() -> None:
    assert advances("queued", "sent") and advances("sent", "delivered") and advances("failed", "delivered")
    assert not advances("delivered", "sent") and not advances("delivered", "failed")
    assert not advances("sent", "sent") and not advances("delivered", "bogus")
    assert furthest(["sent", "delivered", "sent"]) == "delivered" and furthest([]) is None


def test_idle_gap_and_reopen_rules() -> None:
    gap = timedelta(hours=72)
    active = FoundTicket(5, TicketStatus.OPEN, None, "conversation", NOW - timedelta(hours=1))
    assert decide(active, NOW, timedelta(days=7), idle_gap=gap).ticket_id == 5
    quiet = FoundTicket(5, TicketStatus.OPEN, None, "conversation", NOW - timedelta(hours=73))
    decision = decide(quiet, NOW, timedelta(days=7), idle_gap=gap)
    assert decision.ticket_id is None and decision.follow_up_of == 5 and "quiet" in decision.reason
    solved = FoundTicket(5, TicketStatus.SOLVED, NOW - timedelta(hours=2), "conversation", NOW - timedelta(hours=2))
    assert decide(solved, NOW, timedelta(days=7)).reopen
    no_reopen = decide(solved, NOW, timedelta(days=7), idle_gap=gap, reopen_solved=False)
    assert no_reopen.ticket_id is None and no_reopen.follow_up_of == 5
