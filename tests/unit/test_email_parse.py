"""The pure parts of the e-mail channel: parsing, sender identity, signed references, loops, headers out."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from channels.base import OutboundMessage
from channels.email.addresses import SenderError, parse_mailbox, parse_sender, recipient_matches
from channels.email.charsets import decode_bytes, decode_header
from channels.email.message_ids import make_message_id, read_message_id, read_reply_address, reply_address
from channels.email.parse import Accepted, Refused, Report, parse_mail
from channels.email.quotes import split_reply
from channels.email.sender import EmailSender
from contactcenter.domain.enums import IdentityKind
from contactcenter.domain.identities import Address
from contactcenter.settings import EmailSettings

CORPORA = Path(__file__).resolve().parent.parent.parent.parent / "shared" / "corpora" / "mail"
SETTINGS = EmailSettings()
KEY = b"unit-test-key"
NOW = datetime(2026, 11, 23, tzinfo=UTC)


def parse(raw: bytes, **kwargs: object) -> Accepted | Report | Refused:
    return parse_mail(raw, SETTINGS, KEY, received_at=NOW, mail_from="a@example.org", **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(("value", "address", "name"), [
    ("Ana <Ana@Example.COM>", "ana@example.com", "Ana"),
    ('"=?utf-8?b?2YXYqtis2LEg2LPZiNmC?=" <shop@example.ir>', "shop@example.ir", "متجر سوق"),
    ('"boss@bank.example" <eve@evil.example>', "eve@evil.example", ""),  # a name showing another address
    ("a@b.com (comment eve@evil.com)", "a@b.com", ""),
])
def test_sender_is_read_strictly(value: str, address: str, name: str) -> None:
    mailbox = parse_mailbox(value)
    assert (mailbox.address, mailbox.name) == (address, name)


@pytest.mark.parametrize("value", [
    "alice@example.org)<bob@example.org>",  # CVE-2023-27043 shape
    "bob@x.org <eve@y.org>", "Joe <joe@x.org> <k@y.org>", "Bob <bob@x.org>, Eve <eve@y.org>", "foo@",
    '"" (Mail Delivery System)', "Ana <ana@exa mple.com>", "undisclosed-recipients:;", "Jörg <jörg@x.de>",
])
def test_ambiguous_senders_are_refused(value: str) -> None:
    with pytest.raises(SenderError):
        parse_mailbox(value)


def test_two_from_headers_are_refused() -> None:
    with pytest.raises(SenderError, match="2 From headers"):
        parse_sender(["a@example.org", "b@example.org"])


def test_recipients_with_plus_addressing() -> None:
    ours = ("support@example.com",)
    assert recipient_matches("<Support@Example.com>", ours, True)
    assert recipient_matches("support+t12.abc@example.com", ours, True)
    assert not recipient_matches("support+x@example.com", ours, False)
    assert not recipient_matches("support@example.com.evil.org", ours, True)
    assert not recipient_matches("supportx@example.com", ours, True)


def test_signed_references_verify_and_forgeries_do_not() -> None:
    mid = make_message_id(KEY, 12, 34, "example.com")
    ref = read_message_id(KEY, f"<{mid}>")
    assert ref is not None and (ref.ticket_id, ref.message_id) == (12, 34)
    assert read_message_id(b"other key", mid) is None
    assert read_message_id(KEY, mid.replace("cc.12.", "cc.13.")) is None
    token = reply_address(KEY, 7, "support@example.com")
    assert read_reply_address(KEY, token) == 7 and read_reply_address(b"x", token) is None


def test_charsets_and_encoded_words() -> None:
    assert decode_bytes("Привет".encode("koi8-r"), "KOI8-R") == "Привет"
    assert decode_bytes("你好𠀀".encode("gb18030"), "gb2312") == "你好𠀀"
    assert decode_bytes("سلام".encode("cp1256"), "windows-1256") == "سلام"
    assert decode_bytes("日本語".encode("iso2022_jp"), "ISO-2022-JP") == "日本語"
    assert decode_bytes(b"caf\xe9", "us-ascii") == "café"
    assert decode_bytes(b"\xff\xfe", "x-unknown") == "ÿþ"
    assert decode_header("=?utf-8?q?a?= =?utf-8?q?b?=") == "ab"
    assert decode_header("=?ks_c_5601-1987?B?x9GxuQ==?=") == "한국"
    assert decode_header("Hi=?utf-8?q?=0D=0ABcc=3A_x?=") == "Hi Bcc: x"  # control characters never survive


def test_html_only_mail_gets_text_and_sanitized_html() -> None:
    raw = (b"From: a@example.org\r\nSubject: x\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
           b"<p>Hello <b>there</b></p><script>alert(1)</script><img src=cid:logo onerror=x>"
           b"<div class=gmail_quote>On Monday, Bob wrote:<blockquote>old</blockquote></div>")
    parsed = parse(raw)
    assert isinstance(parsed, Accepted)
    assert parsed.message.text == "Hello there"
    assert parsed.message.html and "<script" not in parsed.message.html and "onerror" not in parsed.message.html
    assert "old" in parsed.message.html  # the full original stays available


def test_bounds_on_parts_and_links() -> None:
    parts = b"".join(b"--b\r\nContent-Type: application/octet-stream\r\n\r\nx\r\n" for _ in range(500))
    raw = b"From: a@example.org\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" + parts + b"--b--\r\n"
    parsed = parse(raw)
    assert isinstance(parsed, Accepted)
    assert len(parsed.message.attachments) < SETTINGS.max_parts and "parts" in parsed.message.metadata["limits"]
    links = b"<a href='http://x.example/'>x</a>" * (SETTINGS.max_links + 1)
    parsed = parse(b"From: a@example.org\r\nContent-Type: text/html\r\n\r\n" + links)
    assert isinstance(parsed, Accepted) and parsed.message.html is None and parsed.message.text


def test_uuencoded_files_become_attachments_and_broken_ones_stay_text() -> None:
    import binascii
    encoded = binascii.b2a_uu(b"hello").decode().rstrip("\n")
    parsed = parse(f"From: a@example.org\r\n\r\nSee:\r\nbegin 644 note.txt\r\n{encoded}\r\n`\r\nend\r\n".encode())
    assert isinstance(parsed, Accepted)
    assert [(a.filename, a.data) for a in parsed.message.attachments] == [("note.txt", b"hello")]
    # a line with non-ASCII characters (found by test_parser_properties) is not uuencode: the text stays as it is
    raw = "From: a@example.org\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nbegin 644 x.bin\r\nMسلام\r\nend\r\n"
    parsed = parse(raw.encode())
    assert isinstance(parsed, Accepted) and not parsed.message.attachments and "سلام" in parsed.message.text


def test_signed_and_encrypted_mail_are_kept_as_attachments() -> None:
    if not CORPORA.is_dir():
        pytest.skip("../shared/corpora/mail is not here")
    parsed = parse((CORPORA / "django-helpdesk" / "pgp.eml").read_bytes())
    assert isinstance(parsed, Accepted)
    assert any(a.content_type.startswith("application/pgp") for a in parsed.message.attachments)


def test_quoted_history_is_hidden_but_the_original_kept() -> None:
    text = "Thanks!\n\nOn Mon, 1 Jan 2024 at 10:00, Support <support@example.com> wrote:\n> Hello\n> there"
    assert split_reply(text) == ("Thanks!", True)
    raw = f"From: a@example.org\r\nSubject: Re\r\nContent-Type: text/plain\r\n\r\n{text}".encode()
    parsed = parse(raw)
    assert isinstance(parsed, Accepted)
    assert parsed.message.text == "Thanks!" and b"> Hello" in parsed.message.raw


def test_loops_and_reports() -> None:
    ours = b"From: a@example.org\r\nX-Loop: support@example.com\r\n\r\nhi"
    assert isinstance(parse(ours), Refused)
    own = b"From: Support <support@example.com>\r\n\r\nhi"
    assert isinstance(parse(own), Refused)
    auto = parse(b"From: a@example.org\r\nPrecedence: bulk\r\n\r\nhi")
    assert isinstance(auto, Accepted) and auto.automatic == "Precedence: bulk"
    mid = make_message_id(KEY, 3, 9, "example.com")
    report = (b"From: MAILER-DAEMON@mx.example\r\nSubject: Undelivered Mail Returned to Sender\r\n"
              b"Content-Type: multipart/report; report-type=delivery-status; boundary=r\r\n\r\n--r\r\n"
              b"Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\n"
              b"Final-Recipient: rfc822; x@y.example\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n--r\r\n"
              b"Content-Type: text/rfc822-headers\r\n\r\nMessage-ID: <" + mid.encode() + b">\r\n\r\n--r--\r\n")
    parsed = parse(report, )
    assert isinstance(parsed, Report) and [(r.ticket_id, r.message_id) for r in parsed.refs] == [(3, 9)]
    assert "Status: 5.1.1" in parsed.report.reason


def test_no_header_value_can_add_a_header() -> None:
    sender = EmailSender(EmailSettings(from_name="Support\r\nBcc: x@evil.example"), KEY)
    message = OutboundMessage(message_id=5, ticket_id=2, channel="email",
                              to=(Address(IdentityKind.EMAIL, "c@example.org"),),
                              subject="Hi\r\nBcc: victim@example.org\nX-Evil: 1", text="Answer",
                              language="en\r\nX-Evil: 2", thread_ids=("a@b\r\nX-Evil: 3",))
    raw = sender.build(message, "c@example.org\r\nBcc: y@evil.example").as_bytes()
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert b"\r\nBcc:" not in head and b"\r\nX-Evil:" not in head
