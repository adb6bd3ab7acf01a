"""Outbound mail: agent replies and acknowledgements, handed to the configured SMTP relay (aiosmtplib).

Every header value passes through ``_one_line`` and the standard library's SMTP policy, which refuses CR
and LF in header values: no value we put in a header can add another header.
"""

from __future__ import annotations

import email.policy
import email.utils
import logging
import re
from datetime import UTC
from email.message import EmailMessage

import aiosmtplib

from channels.base import MaybeSent, OutboundMessage, Receipt
from channels.email.message_ids import make_message_id, reply_address
from contactcenter.domain.enums import DeliveryStatus, IdentityKind
from contactcenter.settings import EmailSettings

log = logging.getLogger(__name__)
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\u0085]+")
_TAG = re.compile(r"\[#\d{1,9}\]")
MAX_REFERENCES = 10


class DeliveryDeferred(Exception):
    """The relay could not take the mail now (4xx, connection refused): the outbox retries with backoff."""


def _one_line(value: str) -> str:
    """A header value on one line: CR, LF and every other control character become a space."""
    return " ".join(_CONTROL.sub(" ", value).split())


def reply_subject(subject: str, ticket_id: int) -> str:
    """``Re: [#12] subject``: the tag threads replies from participants even without our headers."""
    subject = _one_line(_TAG.sub("", subject)).strip()
    while subject.lower().startswith(("re:", "aw:", "sv:", "fw:", "fwd:")):
        subject = subject.split(":", 1)[1].strip()
    return f"Re: [#{ticket_id}] {subject}".strip()[:400]


def _quote(text: str) -> str:
    return "\n".join(f"> {line}" if line else ">" for line in text.strip().splitlines())


class EmailSender:
    """Builds and sends our mail; registered for the ``email`` channel."""

    def __init__(self, settings: EmailSettings, secret: bytes) -> None:
        self.settings = settings
        self.secret = secret
        self.address = settings.sender_address
        self.domain = self.address.rpartition("@")[2] or "localhost"

    def message_id(self, ticket_id: int, message_id: int) -> str:
        return make_message_id(self.secret, ticket_id, message_id, self.domain)

    def build(self, message: OutboundMessage, to: str) -> EmailMessage:
        """The MIME message for a reply (pure: no network)."""
        s = self.settings
        mail = EmailMessage(policy=email.policy.SMTP)
        mail["From"] = email.utils.formataddr((_one_line(s.from_name), self.address))
        mail["To"] = _one_line(to)
        if s.reply_token and s.plus_addressing:
            mail["Reply-To"] = email.utils.formataddr((_one_line(s.from_name),
                                                       reply_address(self.secret, message.ticket_id, self.address)))
        mail["Subject"] = reply_subject(message.subject, message.ticket_id)
        mail["Date"] = email.utils.formatdate(localtime=False)
        mail["Message-ID"] = f"<{self.message_id(message.ticket_id, message.message_id)}>"
        thread = [_one_line(i) for i in message.thread_ids if i][-MAX_REFERENCES:]
        if thread:
            mail["In-Reply-To"] = f"<{thread[-1]}>"
            mail["References"] = " ".join(f"<{i}>" for i in thread)
        mail["X-Loop"] = self.address
        if message.language:
            mail["Content-Language"] = _one_line(message.language)[:20]
        text = message.text.strip()
        if s.quote_previous and message.quoted is not None and message.quoted.text.strip():
            when = message.quoted.sent_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
            text += f"\n\nOn {when}, {_one_line(message.quoted.author) or 'you'} wrote:\n{_quote(message.quoted.text)}"
        mail.set_content(text + "\n")
        if message.html:
            mail.add_alternative(message.html, subtype="html")
        for attachment in message.attachments:
            main, _, sub = attachment.content_type.partition("/")
            mail.add_attachment(attachment.data, maintype=main or "application", subtype=sub or "octet-stream",
                                filename=_one_line(attachment.filename))
        return mail

    def build_acknowledgement(self, ticket_id: int, subject: str, language: str, to: str, in_reply_to: str | None,
                              text: str) -> EmailMessage:
        """The automatic answer that tells a customer their ticket number."""
        mail = EmailMessage(policy=email.policy.SMTP)
        mail["From"] = email.utils.formataddr((_one_line(self.settings.from_name), self.address))
        mail["To"] = _one_line(to)
        if self.settings.reply_token and self.settings.plus_addressing:
            mail["Reply-To"] = reply_address(self.secret, ticket_id, self.address)
        mail["Subject"] = reply_subject(subject, ticket_id)
        mail["Date"] = email.utils.formatdate(localtime=False)
        mail["Message-ID"] = f"<{self.message_id(ticket_id, 0)}>"
        if in_reply_to:
            mail["In-Reply-To"] = f"<{_one_line(in_reply_to)}>"
            mail["References"] = f"<{_one_line(in_reply_to)}>"
        mail["Auto-Submitted"] = "auto-replied"
        mail["X-Loop"] = self.address
        mail["Content-Language"] = _one_line(language)[:20] or "en"
        mail.set_content(text)
        return mail

    def build_notice(self, to: str, subject: str, text: str, language: str) -> EmailMessage:
        """An automatic mail that belongs to no ticket (e.g. a sign-in link): no reply token, no thread."""
        mail = EmailMessage(policy=email.policy.SMTP)
        mail["From"] = email.utils.formataddr((_one_line(self.settings.from_name), self.address))
        mail["To"] = _one_line(to)
        mail["Subject"] = _one_line(subject)[:400]
        mail["Date"] = email.utils.formatdate(localtime=False)
        mail["Message-ID"] = email.utils.make_msgid(domain=self.domain)
        mail["Auto-Submitted"] = "auto-generated"
        mail["X-Loop"] = self.address
        mail["Content-Language"] = _one_line(language)[:20] or "en"
        mail.set_content(text)
        return mail

    async def deliver(self, mail: EmailMessage, recipients: list[str]) -> str | None:
        """Hand ``mail`` to the relay. Returns an error for a permanent refusal (5xx); raises
        DeliveryDeferred for a temporary one, so that the outbox retries later."""
        s = self.settings
        try:
            await aiosmtplib.send(
                mail, recipients=recipients, sender=self.address, hostname=s.smtp_host, port=s.smtp_port,
                use_tls=s.smtp_security == "tls", start_tls=s.smtp_security == "starttls",
                username=s.smtp_username or None, password=s.smtp_password or None, timeout=s.smtp_timeout)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            if all(code >= 500 for code in codes):
                return "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)[:2000]
            raise DeliveryDeferred(str(exc)) from exc
        except aiosmtplib.SMTPResponseException as exc:
            if exc.code >= 500:
                return f"{exc.code} {exc.message}"[:2000]
            raise DeliveryDeferred(f"{exc.code} {exc.message}") from exc
        except aiosmtplib.SMTPReadTimeoutError as exc:  # the relay may have taken the mail and not said so
            raise MaybeSent(f"the mail relay did not answer in time: {exc}") from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise DeliveryDeferred(f"{type(exc).__name__}: {exc}") from exc
        return None

    async def send(self, message: OutboundMessage) -> Receipt:
        """Send an agent reply: ``sent`` with our Message-ID, ``failed`` with the relay's reason."""
        to = next((a.value for a in message.to if a.kind == IdentityKind.EMAIL), None)
        if to is None:
            return Receipt(DeliveryStatus.FAILED, error="the contact has no e-mail address")
        mail = self.build(message, to)
        error = await self.deliver(mail, [to])
        if error is not None:
            return Receipt(DeliveryStatus.FAILED, error=error)
        return Receipt(DeliveryStatus.SENT, provider_id=self.message_id(message.ticket_id, message.message_id))
