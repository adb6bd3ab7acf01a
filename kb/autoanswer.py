"""Self-service on messaging channels: answer a new ticket with an article when the match is confident.

Subscribed to ``TicketCreated`` (after commit, at least once). For a channel of ``[kb]
auto_answer_channels`` whose ``thresholds`` value is at most 1, the customer's first message is
searched in the ticket's language; when ``confident_answer`` passes, a reply is queued on the ticket
(delivered by the usual delivery worker) with the article's title and snippet, a link to its help page
and a "did this help?" link. The reply's ``external_id`` (``kb-answer:<ticket>``) is unique per
channel, so a redelivered event answers once. The ticket is routed as usual meanwhile; the link
solves it as deflected (``contactcenter/web/help.py``).
"""

from __future__ import annotations

import hashlib
import hmac
import logging

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from contactcenter.actions.audit import SYSTEM, record
from contactcenter.actions.tickets import do_reply
from contactcenter.db.engine import Database
from contactcenter.db.models import Message, Ticket
from contactcenter.errors import ActionError
from contactcenter.events import Event, TicketCreated
from contactcenter.settings import KbSettings
from kb.confidence import confident_answer
from kb.library import ArticleLibrary

log = logging.getLogger(__name__)

__all__ = ["AutoAnswerer", "helped_signature"]


def helped_signature(secret: bytes, ticket_id: int, article_id: int) -> str:
    """The signature of a "did this help?" link: only the customer who got the answer has it."""
    message = f"kb-helped:{ticket_id}:{article_id}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()[:32]


class AutoAnswerer:
    """Answers new tickets with an article above the channel's confidence threshold."""

    def __init__(self, db: Database, library: ArticleLibrary, settings: KbSettings, base_url: str,
                 secret: bytes) -> None:
        self.db, self.library, self.settings, self.base_url, self.secret = db, library, settings, base_url, secret

    async def on_ticket_created(self, event: Event) -> None:
        assert isinstance(event, TicketCreated)
        threshold = self.settings.threshold(event.channel)
        if event.channel not in self.settings.auto_answer_channels or threshold > 1:
            return
        async with self.db.read() as session:
            ticket = await session.get(Ticket, event.ticket_id)
            first = await session.scalar(select(Message.text).where(Message.ticket_id == event.ticket_id,
                                                                    Message.direction == "in")
                                         .order_by(Message.id).limit(1))
        if ticket is None or not (first or ticket.subject):
            return
        hits = await self.library.search(self.db, f"{ticket.subject}\n{first or ''}", k=3, language=ticket.language)
        best = confident_answer(hits, threshold, self.settings.auto_answer_margin)
        if best is None:
            return
        article_id = int(str(best.id))
        page = f"{self.base_url}/help/{article_id}"
        helped = f"{page}/helped/{ticket.id}/{helped_signature(self.secret, ticket.id, article_id)}"
        if (ticket.language or "").startswith("fa"):
            text = (f"شاید این مطلب پاسخ شما باشد: {best.title}\n\n{best.snippet}\n\nمتن کامل: {page}\n"
                    f"اگر مشکل حل شد، این پیوند را باز کنید: {helped}\nوگرنه همکاران ما به‌زودی پاسخ می‌دهند.")
        else:
            text = (f"This article may answer your question: {best.title}\n\n{best.snippet}\n\n"
                    f"Read it: {page}\nDid this help? If so, open {helped}\n"
                    "Otherwise one of our team will answer you soon.")
        try:
            async with self.db.write() as session:
                message = await do_reply(session, ticket.id, text, actor=SYSTEM)
                message.external_id = f"kb-answer:{ticket.id}"
                record(session, SYSTEM, "kb.auto_answered", "ticket", ticket.id,
                       {"article_id": article_id, "score": best.score}, ticket_id=ticket.id)
                await session.flush()
        except IntegrityError:
            log.debug("ticket %s was already answered from the knowledge base", ticket.id)
        except ActionError as exc:  # closed or merged meanwhile: nothing to answer
            log.info("no knowledge-base answer for ticket %s: %s", ticket.id, exc)
