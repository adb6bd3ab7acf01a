"""Relay subscriber of ``portal.magic_link``: e-mails the sign-in link through the e-mail channel's sender.

Idempotent: a link already sent, used or expired is not sent again. A temporary SMTP failure raises, so the relay
retries with backoff; a permanent refusal is recorded in the audit row. The token is rebuilt here from the row's
nonce and the server key (it is stored nowhere) and never logged.
"""

from __future__ import annotations

import logging

from channels.email.sender import EmailSender
from contactcenter.actions.audit import SYSTEM, record
from contactcenter.actions.customer_signin import signin_url
from contactcenter.db.engine import Database
from contactcenter.db.models import Contact, MagicLink
from contactcenter.db.types import utcnow
from contactcenter.events import Event, MagicLinkRequested
from contactcenter.relay import Relay

log = logging.getLogger(__name__)

TEXT = {
    "en": ("Your sign-in link", "Hello,\n\nOpen this link to see your requests:\n\n{url}\n\n"
           "It works once, for {minutes:g} minutes. If you did not ask for it, ignore this e-mail.\n"),
    "fa": ("پیوند ورود شما", "سلام،\n\nبرای دیدن درخواست‌های خود این پیوند را باز کنید:\n\n{url}\n\n"
           "این پیوند یک بار و تا {minutes:g} دقیقه کار می‌کند. اگر آن را نخواسته‌اید، این ایمیل را نادیده بگیرید.\n"),
}


class MagicLinkMailer:
    def __init__(self, db: Database, sender: EmailSender, base_url: str, secret: bytes, minutes: float) -> None:
        self.db = db
        self.sender = sender
        self.base_url = base_url
        self.secret = secret
        self.minutes = minutes

    def subscribe(self, relay: Relay) -> None:
        relay.subscribe(MagicLinkRequested.topic, "portal-magic-link", self.on_requested)

    async def on_requested(self, event: Event) -> None:
        assert isinstance(event, MagicLinkRequested)
        async with self.db.read() as session:
            link = await session.get(MagicLink, event.link_id)
            contact = await session.get(Contact, link.contact_id) if link is not None else None
        if link is None or link.sent_at is not None or link.used_at is not None or link.expires_at <= utcnow():
            return
        lang = "fa" if contact is not None and (contact.language or "").startswith("fa") else "en"
        subject, body = TEXT[lang]
        mail = self.sender.build_notice(link.email, subject, body.format(
            url=signin_url(self.base_url, self.secret, link), minutes=self.minutes), lang)
        error = await self.sender.deliver(mail, [link.email])
        async with self.db.write() as session:
            # The contact row locked as erasure locks it: a contact erased while the mail was out gets no new
            # audit row (its error could quote the address), and an erasure that comes later scrubs this one.
            owner = await session.get(Contact, link.contact_id, with_for_update=True)
            if owner is None or owner.erased_at is not None:
                return
            stored = await session.get(MagicLink, link.id)
            if stored is not None:
                stored.sent_at = utcnow()
            record(session, SYSTEM, "portal.magic_link_sent", "contact", link.contact_id,
                   {"link_id": link.id, "error": error})
        if error is not None:
            log.warning("sign-in link %s not delivered: %s", link.id, error)
