"""The pure web-form parser: field rules, addresses, attachments (type + magic bytes), file names."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from channels.base import InboundMessage
from channels.webform.parse import (
    ContactForm,
    FieldError,
    Upload,
    check_upload,
    is_honeypot_filled,
    parse_contact,
    parse_reply,
    sanitize_filename,
    scoped_external_id,
    sniff,
)
from contactcenter.domain.enums import IdentityKind
from contactcenter.domain.identities import Address
from contactcenter.settings import Topic, WebformSettings

NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n"
EXE = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 32
HTML = b"<!DOCTYPE html><html><script>alert(1)</script></html>"
SETTINGS = WebformSettings(
    max_attachments=2, max_attachment_bytes=1000,
    allowed_attachment_types=("image/png", "image/jpeg", "application/pdf", "text/plain", "application/zip",
                              "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    topics=(Topic("general", "General question", "پرسش عمومی"),
            Topic("complaint", "Complaint", "شکایت", skill="complaints", type="complaint", priority="high")))


def form(**values: str) -> ContactForm:
    base = {"name": "Sara Ahmadi", "email": "Sara@Example.COM", "message": "My order has not arrived."}
    return ContactForm.from_fields({**base, **values})


def parse(f: ContactForm, uploads: list[Upload] | None = None, submission_id: str = "sub-1"
          ) -> InboundMessage | list[FieldError]:
    return parse_contact(f, uploads or [], SETTINGS, submission_id=submission_id, now=NOW)


def ok(result: InboundMessage | list[FieldError]) -> InboundMessage:
    assert isinstance(result, InboundMessage), result
    return result


def fields(result: InboundMessage | list[FieldError]) -> dict[str, str]:
    assert isinstance(result, list), result
    return {e.field: e.message for e in result}


def test_email_only_submission() -> None:
    msg = ok(parse(form(subject="  Late order ", topic="general")))
    assert msg.channel == "webform"
    assert msg.sender == Address(IdentityKind.EMAIL, "sara@example.com")
    assert msg.other_addresses == ()
    assert msg.sender_name == "Sara Ahmadi"
    assert msg.subject == "Late order"
    assert msg.topic == "general"
    assert msg.received_at == NOW
    assert msg.metadata == {"form": "contact"}
    assert msg.external_id == scoped_external_id("email:sara@example.com", "sub-1")


def test_email_and_phone_phone_becomes_other_address() -> None:
    msg = ok(parse(form(phone="0912 345 6789")))
    assert msg.sender.kind == IdentityKind.EMAIL
    assert msg.other_addresses == (Address(IdentityKind.PHONE, "+989123456789"),)


def test_phone_only_with_persian_digits() -> None:
    msg = ok(parse(form(email="", phone="۰۹۱۲۳۴۵۶۷۸۹")))
    assert msg.sender == Address(IdentityKind.PHONE, "+989123456789")
    assert msg.other_addresses == ()


def test_needs_email_or_phone() -> None:
    assert "email" in fields(parse(form(email="", phone="")))


def test_invalid_addresses_are_field_errors() -> None:
    errors = fields(parse(form(email="not-an-address", phone="12")))
    assert set(errors) == {"email", "phone"}


def test_message_required_and_lengths() -> None:
    errors = fields(parse(form(message="   \n ", name="n" * 201, subject="s" * 501)))
    assert set(errors) == {"message", "name", "subject"}
    assert "at most 200" in errors["name"]
    assert "message" in fields(parse(form(message="x" * 50_001)))
    assert ok(parse(form(message="x" * 50_000))).text == "x" * 50_000


def test_unknown_topic_and_bad_submission_id() -> None:
    assert set(fields(parse(form(topic="nope"), submission_id="has space"))) == {"topic", "submission_id"}


def test_text_is_cleaned_but_persian_kept() -> None:
    msg = ok(parse(form(name="سارا\x00 احمدی\n", message="سلام\r\nمی‌خواهم\x07 بپرسم\x00", subject="a\tb")))
    assert msg.sender_name == "سارا احمدی"
    assert msg.text == "سلام\nمی‌خواهم بپرسم"
    assert msg.subject == "a b"


def test_lone_surrogates_do_not_survive() -> None:
    msg = ok(parse(form(message="bad \ud800 char")))
    msg.text.encode("utf-8")


def test_raw_has_fields_and_file_metadata_not_bytes() -> None:
    msg = ok(parse(form(topic="complaint"), [Upload("shot.png", "image/png", PNG)]))
    raw = json.loads(msg.raw)
    assert raw["email"] == "Sara@Example.COM"
    assert raw["topic"] == "complaint"
    assert raw["attachments"] == [{"filename": "shot.png", "content_type": "image/png", "size": len(PNG)}]
    assert "honeypot" not in raw and "website" not in raw
    assert b"PNG" not in msg.raw


def test_same_submission_id_different_sender_gets_different_key() -> None:
    a = ok(parse(form(email="a@example.com")))
    b = ok(parse(form(email="b@example.com")))
    again = ok(parse(form(email="A@example.com ", name="other")))
    assert a.external_id != b.external_id
    assert a.external_id == again.external_id


def test_honeypot() -> None:
    assert is_honeypot_filled(ContactForm.from_fields({"website": "http://spam"}))
    assert not is_honeypot_filled(ContactForm.from_fields({"website": "  "}))


@pytest.mark.parametrize(("data", "expected"), [
    (PNG, "image/png"), (b"\xff\xd8\xff\xe0JFIF", "image/jpeg"), (b"GIF89a...", "image/gif"),
    (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"), (PDF, "application/pdf"), (b"PK\x03\x04rest", "application/zip"),
    (EXE, "application/x-msdownload"), (b"\x7fELF\x02", "application/x-elf"), (HTML, "text/html"),
    (b"\xef\xbb\xbf  <html>", "text/html"), (b"#!/bin/sh\n", "text/x-script"), (b"hello", None),
])
def test_sniff(data: bytes, expected: str | None) -> None:
    assert sniff(data) == expected


@pytest.mark.parametrize(("upload", "accepted"), [
    (Upload("a.png", "image/png", PNG), True),
    (Upload("a.pdf", "application/pdf", PDF), True),
    (Upload("notes.txt", "text/plain; charset=utf-8", "سلام".encode()), True),
    (Upload("r.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", b"PK\x03\x04x"),
     True),
    (Upload("r.pdf", "application/octet-stream", PDF), True),  # type read from the extension
    (Upload("evil.png", "image/png", EXE), False),  # a renamed .exe declared as an image
    (Upload("page.png", "image/png", HTML), False),  # an HTML page declared as an image
    (Upload("fake.pdf", "application/pdf", b"just text"), False),
    (Upload("a.gif", "image/gif", b"GIF89a"), False),  # type not allowed here
    (Upload("x.txt", "text/plain", PDF), False),  # content is something else than declared
    (Upload("x.txt", "text/plain", HTML), False),
    (Upload("x.txt", "text/plain", b"a\x00b"), False),
    (Upload("run.exe", "text/plain", b"hello"), False),  # blocked extension
    (Upload("empty.txt", "text/plain", b""), False),
    (Upload("big.txt", "text/plain", b"x" * 1001), False),
])
def test_check_upload(upload: Upload, accepted: bool) -> None:
    result = check_upload(upload, SETTINGS)
    assert isinstance(result, str) != accepted, result


def test_check_upload_normalizes_type_and_name() -> None:
    result = check_upload(Upload("C:\\Users\\me\\قبض\u200cها.PDF", "Application/PDF", PDF), SETTINGS)
    assert not isinstance(result, str)
    assert result.filename == "قبض\u200cها.PDF"
    assert result.content_type == "application/pdf"


def test_too_many_attachments() -> None:
    uploads = [Upload(f"{i}.png", "image/png", PNG) for i in range(3)]
    assert "at most 2" in fields(parse(form(), uploads))["attachments"]


def test_attachment_errors_are_reported_per_file() -> None:
    errors = parse(form(), [Upload("ok.png", "image/png", PNG), Upload("evil.png", "image/png", EXE)])
    assert isinstance(errors, list)
    assert [e.field for e in errors] == ["attachments"]
    assert "evil.png" in errors[0].message


@pytest.mark.parametrize(("raw", "expected"), [
    ("../../etc/passwd", "passwd"),
    ("C:\\temp\\report.pdf", "report.pdf"),
    ("a\x00b\x1fc.txt", "abc.txt"),
    ("invoice\u202egpj.exe", "invoicegpj.exe"),  # right-to-left override removed
    ("گزارش ماهانه.pdf", "گزارش ماهانه.pdf"),
    ("  .hidden  ", "hidden"),
    ("..", "attachment"),
    ("", "attachment"),
    ('a<b>:"c|?*.txt', "a_b___c___.txt"),
])
def test_sanitize_filename(raw: str, expected: str) -> None:
    assert sanitize_filename(raw) == expected


def test_sanitize_filename_keeps_extension_when_truncating() -> None:
    name = sanitize_filename("ب" * 300 + ".pdf")
    assert len(name) <= 200
    assert name.endswith(".pdf")


def test_reply() -> None:
    msg = parse_reply("  thanks!\r\nstill broken ", [], SETTINGS, portal_token="tok" * 10,
                      submission_id="r1", now=NOW)
    assert isinstance(msg, InboundMessage)
    assert msg.text == "thanks!\nstill broken"
    assert msg.hints.portal_token == "tok" * 10
    assert msg.sender is None  # the portal link identifies the customer
    other = parse_reply("thanks", [], SETTINGS, portal_token="other" * 6, submission_id="r1", now=NOW)
    assert isinstance(other, InboundMessage)
    assert other.external_id != msg.external_id
    errors = parse_reply(" ", [], SETTINGS, portal_token="t" * 30, submission_id="r1", now=NOW)
    assert isinstance(errors, list) and errors[0].field == "message"
