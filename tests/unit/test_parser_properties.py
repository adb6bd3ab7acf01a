"""Property tests: every channel parser, fed arbitrary input, answers or raises only its documented error."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from channels.chat.parse import FrameError, read_frame, read_identity, read_visitor
from channels.email.parse import parse_mail
from channels.sms.parse import SmsParseError, SmsPolicy, parse_inbound, parse_status
from channels.telegram.parse import TelegramPolicy, parse_update
from channels.voice.parse import ParamError, caller, menu_choice, sid, status_update
from channels.webform.parse import (
    ContactForm,
    Upload,
    check_upload,
    parse_contact,
    parse_reply,
    sanitize_filename,
)
from contactcenter.settings import ChatSettings, EmailSettings, WebformSettings

NOW = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
text = st.text(max_size=300)
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text,
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
                           max_leaves=20)
TWILIO_KEYS = ["MessageSid", "SmsSid", "From", "To", "Body", "NumMedia", "MediaUrl0", "MediaContentType0",
               "MessageStatus", "ErrorCode", "CallSid", "CallStatus", "SequenceNumber", "Digits", "AccountSid"]
forms = st.dictionaries(st.sampled_from(TWILIO_KEYS) | text, text, max_size=10)


@FAST
@given(st.one_of(text, json_values.map(json.dumps)))
def test_chat_frames_are_read_or_refused_with_frame_error(raw: str) -> None:
    with contextlib.suppress(FrameError):
        read_frame(raw, ChatSettings(), WebformSettings())


@FAST
@given(json_values, text)
def test_chat_identities_and_visitor_tokens(raw: Any, token: str) -> None:
    with contextlib.suppress(FrameError):
        read_identity(raw, "identity-secret-0123456789", NOW)
    assert read_visitor(b"k" * 32, token) is None or isinstance(read_visitor(b"k" * 32, token), str)


mail_lines = st.lists(st.sampled_from([
    b"From: a@example.org", b"From: =?utf-8?b?////?= <x@y>", b"To: support@example.com", b"Subject: =?x?q?=ZZ?=",
    b"Content-Type: multipart/mixed; boundary=b", b"Content-Type: text/html; charset=klingon", b"--b", b"--b--",
    b"Content-Transfer-Encoding: base64", b"Content-Disposition: attachment; filename*=utf-8''%FF%FE",
    b"Message-ID: <a@b>", b"In-Reply-To: <<<>>>", b"Date: yesterday", b"", b"begin 644 x.bin", b"end",
    b"<html><body><p>hi</p>", b"Content-Type: message/rfc822",
]) | st.binary(max_size=80), max_size=30).map(lambda lines: b"\r\n".join(lines))


@FAST
@given(mail_lines)
def test_mail_parser_never_raises(raw: bytes) -> None:
    """Bad mail is Refused (kept for review), never an exception that would lose it."""
    parse_mail(raw, EmailSettings(), b"k" * 32, received_at=NOW, mail_from="a@example.org",
               rcpt_tos=["support@example.com"])


@FAST
@given(forms)
def test_sms_webhooks_parse_or_raise_sms_parse_error(form: dict[str, str]) -> None:
    with contextlib.suppress(SmsParseError):
        parse_inbound(form, SmsPolicy(), NOW)
    parse_status(form)


@FAST
@given(st.one_of(json_values, st.fixed_dictionaries({"update_id": st.integers()}, optional={
    "message": json_values, "edited_message": json_values, "callback_query": json_values,
    "my_chat_member": json_values})))
def test_telegram_updates_never_raise(data: Any) -> None:
    parse_update(data, TelegramPolicy(), b"")


@FAST
@given(forms, text)
@example({"Duration": "²", "SequenceNumber": "²"}, "²")  # a digit to isdigit(), not to int(): found by hypothesis
@example({}, "۲")  # a Persian digit is a decimal digit: pressing 2 on a Persian keypad app
def test_voice_parameters_parse_or_raise_param_error(params: dict[str, str], digits: str) -> None:
    for step in (lambda: sid(params), lambda: status_update(params)):
        with contextlib.suppress(ParamError):
            step()
    caller(params.get("From", ""), "IR")
    menu_choice(digits, ("general", "billing"))


@FAST
@given(st.builds(ContactForm, name=text, email=text, phone=text, subject=text, message=text, topic=text),
       st.lists(st.builds(Upload, filename=text, content_type=text, data=st.binary(max_size=64)), max_size=3),
       text)
def test_web_form_answers_a_message_or_field_errors(form: ContactForm, uploads: list[Upload], reply: str) -> None:
    settings_ = WebformSettings()
    parse_contact(form, uploads, settings_, submission_id="s-1", now=NOW)
    parse_reply(reply, uploads, settings_, portal_token="t" * 43, submission_id="s-2", now=NOW)
    for upload in uploads:
        check_upload(upload, settings_)
        name = sanitize_filename(upload.filename)
        assert "/" not in name and "\\" not in name and "\x00" not in name
