"""Web form and portal submissions -> InboundMessage, or a list of field errors. Pure: no I/O.

The HTTP layer (``routes.py``) reads the request with bounded buffers and hands the field values
and uploaded files to these functions; everything a customer can get wrong is decided here, so it
can be tested without a server.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from channels.base import InboundAttachment, InboundMessage, ThreadHints
from contactcenter.domain.enums import IdentityKind
from contactcenter.domain.identities import Address, AddressError, normalize_email, normalize_phone
from contactcenter.settings import WebformSettings

CHANNEL = "webform"
MAX_NAME = 200
MAX_SUBJECT = 500
MAX_MESSAGE = 50_000
MAX_EMAIL = 320
MAX_PHONE = 40
MAX_FILENAME = 200
SUBMISSION_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
HONEYPOT_FIELD = "website"
TEXT_FIELDS = ("name", "email", "phone", "subject", "message", "topic")

# Extensions refused whatever type the browser declares: things that run when opened.
BLOCKED_EXTENSIONS = frozenset({
    "exe", "dll", "com", "bat", "cmd", "scr", "msi", "msp", "pif", "cpl", "jar", "js", "jse", "vbs", "vbe",
    "wsf", "wsh", "ps1", "psm1", "sh", "bash", "hta", "lnk", "reg", "html", "htm", "xhtml", "shtml", "svg",
    "svgz", "php", "py", "pl", "apk", "app", "dmg", "iso", "elf", "so", "dylib",
})
# When the browser declares nothing useful (empty or application/octet-stream), the type is read from the
# extension; a file must then still pass the same checks as any other.
EXTENSION_TYPES = {
    "pdf": "application/pdf", "png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg",
    "jfif": "image/jpeg", "gif": "image/gif", "webp": "image/webp", "txt": "text/plain", "log": "text/plain",
    "csv": "text/csv",
    "zip": "application/zip",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}
# Zero-width (non-)joiners are kept in names: Persian writes with them.
_KEEP_FORMAT_CHARS = frozenset({"\u200c", "\u200d"})
_WINDOWS_RESERVED = str.maketrans({c: "_" for c in '<>:"/\\|?*'})


@dataclass(frozen=True, slots=True)
class FieldError:
    """A problem with one field, worded for the person who filled in the form."""

    field: str
    message: str


@dataclass(frozen=True, slots=True)
class Upload:
    """A file as received: the name and type the client declared, and its bytes."""

    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class ContactForm:
    """The text fields of a contact-form submission, as typed."""

    name: str = ""
    email: str = ""
    phone: str = ""
    subject: str = ""
    message: str = ""
    topic: str = ""
    honeypot: str = ""

    @classmethod
    def from_fields(cls, fields: Mapping[str, str | None]) -> ContactForm:
        def get(key: str) -> str:
            return fields.get(key) or ""
        return cls(name=get("name"), email=get("email"), phone=get("phone"), subject=get("subject"),
                   message=get("message"), topic=get("topic"), honeypot=get(HONEYPOT_FIELD))

    def values(self) -> dict[str, str]:
        """The fields to show again in a form that had errors (the honeypot is not echoed)."""
        return {key: getattr(self, key) for key in TEXT_FIELDS}


# --- cleaning ------------------------------------------------------------------------------------

def _valid_unicode(value: str) -> str:
    """Replace lone surrogates (possible in JSON input) so the text can be stored in any database."""
    return value.encode("utf-8", "replace").decode("utf-8")


_LINE_BREAKS = re.compile("[\t\r\n]")
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f]")  # Unicode category Cc, exactly
_CONTROLS_BUT_TAB_NEWLINE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean_line(value: str) -> str:
    """A single-line field: no control characters, outer whitespace trimmed."""
    return _CONTROLS.sub("", _LINE_BREAKS.sub(" ", _valid_unicode(value))).strip()


def clean_text(value: str) -> str:
    """A multi-line field: line ends normalized, control characters except tab and newline removed."""
    value = _valid_unicode(value).replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROLS_BUT_TAB_NEWLINE.sub("", value).strip()


def sanitize_filename(raw: str) -> str:
    """A safe file name: no folders, control or direction-override characters; Unicode (Persian) kept."""
    name = unicodedata.normalize("NFC", _valid_unicode(raw)).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if c in _KEEP_FORMAT_CHARS or unicodedata.category(c)[0] != "C")
    name = " ".join(name.translate(_WINDOWS_RESERVED).split()).strip(" .")
    if not name:
        return "attachment"
    if len(name) > MAX_FILENAME:
        stem, dot, ext = name.rpartition(".")
        if dot and 0 < len(ext) <= 16:
            name = stem[: MAX_FILENAME - len(ext) - 1].rstrip(" .") + "." + ext
        else:
            name = name[:MAX_FILENAME].rstrip(" .")
    return name


def scoped_external_id(scope: str, submission_id: str) -> str:
    """The dedupe key: the client's submission id, scoped so two senders never share one.

    The id is chosen by the client (a hidden form field, an Idempotency-Key header). Without the
    scope, someone reusing another person's id would have their message dropped as a duplicate
    and be told that person's ticket number.
    """
    digest = hashlib.sha256(scope.encode()).hexdigest()[:16]
    return f"{submission_id}@{digest}"


# --- attachments ---------------------------------------------------------------------------------

def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _extension(filename: str) -> str:
    stem, dot, ext = filename.rpartition(".")
    return ext.lower() if dot and stem else ""


def sniff(data: bytes) -> str | None:
    """The type the first bytes prove, for the formats we check; None when nothing is recognized."""
    head = data[:64]
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "application/zip"
    if head.startswith(b"MZ"):
        return "application/x-msdownload"
    if head.startswith(b"\x7fELF"):
        return "application/x-elf"
    if head[:4] in (b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe",
                    b"\xca\xfe\xba\xbe"):
        return "application/x-mach-binary"
    if head.startswith(b"#!"):
        return "text/x-script"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<!doctype html", b"<html", b"<script", b"<svg", b"<?xml", b"<head", b"<body",
                        b"<iframe")):
        return "text/html"
    return None


# Declared type -> the sniffed types that may carry it. Types listed here must prove themselves.
_COMPATIBLE: dict[str, frozenset[str]] = {
    "image/png": frozenset({"image/png"}),
    "image/jpeg": frozenset({"image/jpeg"}),
    "image/gif": frozenset({"image/gif"}),
    "image/webp": frozenset({"image/webp"}),
    "application/pdf": frozenset({"application/pdf"}),
    "application/zip": frozenset({"application/zip"}),
    "application/x-zip-compressed": frozenset({"application/zip"}),
}
_ZIP_CONTAINERS = ("application/vnd.openxmlformats-officedocument.", "application/vnd.oasis.opendocument.",
                   "application/epub+zip")


def _compatible(declared: str) -> frozenset[str] | None:
    if declared in _COMPATIBLE:
        return _COMPATIBLE[declared]
    if declared.startswith(_ZIP_CONTAINERS) or declared.endswith("+zip"):
        return frozenset({"application/zip"})
    if declared.startswith("image/"):
        return frozenset()  # an image type we cannot verify: refused rather than trusted
    return None


def check_upload(upload: Upload, settings: WebformSettings) -> InboundAttachment | str:
    """The attachment to store, or why it is refused.

    The declared type must be allowed; images, PDF and ZIP-based documents must start with their
    magic bytes; and no file may be recognizably an executable or an HTML page, whatever its name.
    """
    filename = sanitize_filename(upload.filename)
    if len(upload.data) > settings.max_attachment_bytes:
        return f"{filename} is larger than {size_label(settings.max_attachment_bytes)}"
    if not upload.data:
        return f"{filename} is empty"
    extension = _extension(filename)
    if extension in BLOCKED_EXTENSIONS:
        return f"{filename}: files of type .{extension} are not accepted"
    declared = _media_type(upload.content_type)
    if declared in ("", "application/octet-stream"):
        declared = EXTENSION_TYPES.get(extension, declared)
    allowed = {_media_type(t) for t in settings.allowed_attachment_types}
    if not declared or declared not in allowed:
        return f"{filename}: this type of file ({declared or 'unknown'}) is not accepted"
    found = sniff(upload.data)
    expected = _compatible(declared)
    if expected is not None and found not in expected:
        return f"{filename}: the content is not a valid {declared} file"
    if expected is None and found is not None:
        return f"{filename}: the content does not match its type {declared}"
    if declared.startswith("text/") and b"\x00" in upload.data:
        return f"{filename}: the content is not text"
    return InboundAttachment(filename=filename, content_type=declared, data=upload.data)


def check_uploads(uploads: Sequence[Upload], settings: WebformSettings) -> tuple[list[InboundAttachment],
                                                                                 list[FieldError]]:
    if len(uploads) > settings.max_attachments:
        return [], [FieldError("attachments", f"attach at most {settings.max_attachments} files")]
    attachments: list[InboundAttachment] = []
    errors: list[FieldError] = []
    for upload in uploads:
        checked = check_upload(upload, settings)
        if isinstance(checked, str):
            errors.append(FieldError("attachments", checked))
        else:
            attachments.append(checked)
    return attachments, errors


def size_label(n: int) -> str:
    """A human size for messages: 10 MB, 512 KB, 300 bytes."""
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):g} MB"
    if n >= 1024:
        return f"{n / 1024:g} KB"
    return f"{n} bytes"


# --- submissions ---------------------------------------------------------------------------------

def _raw(fields: Mapping[str, str | None], attachments: Sequence[InboundAttachment]) -> bytes:
    """What was submitted, for replay and audit: the fields and the files' names, types and sizes."""
    payload = {**fields, "attachments": [
        {"filename": a.filename, "content_type": a.content_type, "size": len(a.data)} for a in attachments]}
    return json.dumps(payload, ensure_ascii=False, sort_keys=True).encode()


def _check_text(field: str, value: str, maximum: int, errors: list[FieldError], label: str) -> None:
    if len(value) > maximum:
        errors.append(FieldError(field, f"{label} is too long: at most {maximum:,} characters"))


def is_honeypot_filled(form: ContactForm) -> bool:
    """A field humans never see and bots fill in."""
    return bool(form.honeypot.strip())


def parse_contact(form: ContactForm, uploads: Sequence[Upload], settings: WebformSettings, *,
                  submission_id: str, now: datetime,
                  form_name: str = "contact") -> InboundMessage | list[FieldError]:
    """A contact-form submission as an InboundMessage, or every field error found."""
    errors: list[FieldError] = []
    name, subject = clean_line(form.name), clean_line(form.subject)
    message, topic_id = clean_text(form.message), clean_line(form.topic)
    email_raw, phone_raw = clean_line(form.email), clean_line(form.phone)
    _check_text("name", name, MAX_NAME, errors, "The name")
    _check_text("subject", subject, MAX_SUBJECT, errors, "The subject")
    if not message:
        errors.append(FieldError("message", "Please write your message"))
    else:
        _check_text("message", message, MAX_MESSAGE, errors, "The message")
    email: Address | None = None
    phone: Address | None = None
    if email_raw:
        try:
            if len(email_raw) > MAX_EMAIL:
                raise AddressError(email_raw)
            email = Address(IdentityKind.EMAIL, normalize_email(email_raw))
        except AddressError:
            errors.append(FieldError("email", "This is not a valid e-mail address (like name@example.com)"))
    if phone_raw:
        try:
            if len(phone_raw) > MAX_PHONE:
                raise AddressError(phone_raw)
            phone = Address(IdentityKind.PHONE, normalize_phone(phone_raw, settings.default_region))
        except AddressError:
            errors.append(FieldError("phone", "This is not a valid phone number (include the country code, "
                                              "e.g. +98 912 345 6789)"))
    if not email_raw and not phone_raw:
        errors.append(FieldError("email", "Give an e-mail address or a phone number (or both) "
                                          "so we can answer"))
    topic = None
    if topic_id:
        topic = settings.topic(topic_id)
        if topic is None:
            errors.append(FieldError("topic", "Choose one of the listed topics"))
    attachments = _check_submission(submission_id, uploads, settings, errors)
    if errors:
        return errors
    sender = email or phone
    assert sender is not None
    fields = {"name": name, "email": email_raw, "phone": phone_raw, "subject": subject, "message": message,
              "topic": topic_id, "submission_id": submission_id}
    return InboundMessage(
        channel=CHANNEL, external_id=scoped_external_id(f"{sender.kind}:{sender.value}", submission_id),
        sender=sender, other_addresses=(phone,) if email and phone else (), sender_name=name,
        received_at=now, subject=subject, text=message, topic=topic.id if topic else None,
        attachments=tuple(attachments), metadata={"form": form_name}, raw=_raw(fields, attachments))


def _check_submission(submission_id: str, uploads: Sequence[Upload], settings: WebformSettings,
                      errors: list[FieldError]) -> list[InboundAttachment]:
    """The checks every submission gets: its id's shape and its files. Adds to ``errors``."""
    if not SUBMISSION_ID.match(submission_id):
        errors.append(FieldError("submission_id", "The form is damaged; reload the page and try again"))
    attachments, attachment_errors = check_uploads(uploads, settings)
    errors += attachment_errors
    return attachments


def parse_reply(text: str, uploads: Sequence[Upload], settings: WebformSettings, *,
                portal_token: str, submission_id: str, now: datetime,
                form_name: str = "portal") -> InboundMessage | list[FieldError]:
    """A reply written on a ticket's portal page. Its portal token both threads it and identifies the
    customer, so it has no sender address: intake takes the contact of the ticket the token names."""
    errors: list[FieldError] = []
    message = clean_text(text)
    if not message:
        errors.append(FieldError("message", "Please write your message"))
    else:
        _check_text("message", message, MAX_MESSAGE, errors, "The message")
    attachments = _check_submission(submission_id, uploads, settings, errors)
    if errors:
        return errors
    scope = "portal:" + hashlib.sha256(portal_token.encode()).hexdigest()
    return InboundMessage(
        channel=CHANNEL, external_id=scoped_external_id(scope, submission_id), sender=None, received_at=now,
        text=message, attachments=tuple(attachments), hints=ThreadHints(portal_token=portal_token),
        metadata={"form": form_name},
        raw=_raw({"message": message, "submission_id": submission_id}, attachments))
