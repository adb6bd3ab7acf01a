"""Self-service on messaging channels: answer a new ticket with an article when the match is confident.

Subscribed to ``TicketCreated`` as a batch subscriber that runs *before* the router (``app.py``). For a
channel of ``[kb] auto_answer_channels`` whose ``thresholds`` value is at most 1, the customer's first
message is searched in the ticket's language; when ``confident_answer`` passes, a reply is queued on the
ticket with the article's title and snippet, a link to its help page and "did this help?" — inline buttons
on Telegram (``kb:y|n:<ticket>:<article>:<signature>`` callback data), a link elsewhere. A ``kb_auto_answers``
row (``UNIQUE(ticket_id)``) makes a redelivered event answer once.

With ``answer_hold_seconds`` > 0 the reply sets the ticket to pending (waiting on the customer), which the
router does not offer: "yes" solves it as deflected, "no" opens it (routed at once), a new customer message
opens it (intake), and ``HoldSweeper`` opens it when the wait is over. See docs/kb.md.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from contactcenter.actions.audit import SYSTEM, Actor, record
from contactcenter.actions.kb import do_auto_answer_feedback, do_release_held_answers
from contactcenter.actions.tickets import do_reply
from contactcenter.db.engine import Database
from contactcenter.db.models import ChannelEvent, KbAutoAnswer, Message, Ticket
from contactcenter.db.types import utcnow
from contactcenter.domain.enums import TicketStatus
from contactcenter.errors import ActionError
from contactcenter.events import ChannelEventRecorded, Event, TicketCreated
from contactcenter.ops.repeat import Repeater
from contactcenter.relay import Relay
from contactcenter.settings import KbSettings
from kb.confidence import confident_answer, raised_for_tuned
from kb.library import ArticleLibrary

log = logging.getLogger(__name__)

__all__ = ["AutoAnswerer", "HoldSweeper", "button_data", "helped_signature", "parse_button_data"]

_BUTTON_RE = re.compile(r"kb:([yn]):(\d{1,12}):(\d{1,12}):([0-9a-f]{32})")


def helped_signature(secret: bytes, ticket_id: int, article_id: int) -> str:
    """The signature of a "did this help?" link or button: only the customer who got the answer has it."""
    message = f"kb-helped:{ticket_id}:{article_id}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()[:32]


def button_data(secret: bytes, ticket_id: int, article_id: int, helpful: bool) -> str:
    """Callback data of a "did this help?" button (at most 59 characters: Telegram allows 64 bytes)."""
    return f"kb:{'y' if helpful else 'n'}:{ticket_id}:{article_id}:{helped_signature(secret, ticket_id, article_id)}"


def parse_button_data(secret: bytes, data: str) -> tuple[int, int, bool] | None:
    """(ticket, article, helpful) of a signed "did this help?" button, else None (not ours, or forged)."""
    match = _BUTTON_RE.fullmatch(data)
    if match is None:
        return None
    ticket_id, article_id = int(match[2]), int(match[3])
    if not hmac.compare_digest(helped_signature(secret, ticket_id, article_id), match[4]):
        return None
    return ticket_id, article_id, match[1] == "y"


class AutoAnswerer:
    """Answers new tickets with an article above the channel's confidence threshold."""

    def __init__(self, db: Database, library: ArticleLibrary, settings: KbSettings, base_url: str,
                 secret: bytes) -> None:
        self.db, self.library, self.settings, self.base_url, self.secret = db, library, settings, base_url, secret

    def subscribe(self, relay: Relay) -> None:
        """Answer new tickets (a batch subscriber: subscribe it before the router, so a held ticket is
        pending before the router reads it) and take "did this help?" button presses."""
        relay.subscribe_batch((TicketCreated.topic,), "kb-auto-answer", self.on_tickets_created)
        relay.subscribe(ChannelEventRecorded.topic, "kb-answer-buttons", self.on_channel_event)

    async def on_tickets_created(self, events: list[Event]) -> None:
        for event in events:
            await self.on_ticket_created(event)

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
        if ticket is None or not (first or ticket.subject) or ticket.assignee_id is not None \
                or ticket.status not in (TicketStatus.NEW, TicketStatus.OPEN):
            return  # gone, empty, or an agent already has it
        question = f"{ticket.subject}\n{first or ''}"
        hits = await self.library.search(self.db, question, k=3, language=ticket.language)
        if self.library.tuned_for(question):
            threshold = raised_for_tuned(threshold, self.settings.tuned_threshold)
        best = confident_answer(hits, threshold, self.settings.auto_answer_margin)
        if best is None:
            return
        article_id = int(str(best.id))
        page = f"{self.base_url}/help/{article_id}"
        persian = (ticket.language or "").startswith("fa")
        buttons: list[list[str]] = []
        if ticket.channel == "telegram":
            yes, no = ("بله، مشکل حل شد", "نه، با همکاران کار دارم") if persian else \
                ("Yes, it helped", "No, I need an agent")
            buttons = [[yes, button_data(self.secret, ticket.id, article_id, True)],
                       [no, button_data(self.secret, ticket.id, article_id, False)]]
            ask = "آیا این پاسخ کمک کرد؟" if persian else "Did this help?"
        else:
            helped = f"{page}/helped/{ticket.id}/{helped_signature(self.secret, ticket.id, article_id)}"
            ask = f"آیا این پاسخ کمک کرد؟ {helped}" if persian else f"Did this help? Tell us: {helped}"
        if persian:
            text = (f"شاید این مطلب پاسخ شما باشد: {best.title}\n\n{best.snippet}\n\nمتن کامل: {page}\n{ask}\n"
                    "وگرنه همکاران ما به‌زودی پاسخ می‌دهند.")
        else:
            text = (f"This article may answer your question: {best.title}\n\n{best.snippet}\n\nRead it: {page}\n"
                    f"{ask}\nOtherwise one of our team will answer you soon.")
        hold = self.settings.answer_hold_seconds
        try:
            async with self.db.write() as session:
                message = await do_reply(session, ticket.id, text, actor=SYSTEM,
                                         status=TicketStatus.PENDING if hold > 0 else None)
                message.external_id = f"kb-answer:{ticket.id}"
                if buttons:
                    message.meta = {**(message.meta or {}), "buttons": buttons}
                await session.flush()
                session.add(KbAutoAnswer(ticket_id=ticket.id, article_id=article_id, message_id=message.id,
                                         channel=ticket.channel, score=best.score,
                                         hold_until=utcnow() + timedelta(seconds=hold) if hold > 0 else None))
                record(session, SYSTEM, "kb.auto_answered", "ticket", ticket.id,
                       {"article_id": article_id, "score": best.score, "hold_seconds": hold}, ticket_id=ticket.id)
                await session.flush()
        except IntegrityError:
            log.debug("ticket %s was already answered from the knowledge base", ticket.id)
        except ActionError as exc:  # closed or merged meanwhile: nothing to answer
            log.info("no knowledge-base answer for ticket %s: %s", ticket.id, exc)

    async def on_channel_event(self, event: Event) -> None:
        """A "did this help?" button pressed (any channel's callback whose data is ours and signed)."""
        assert isinstance(event, ChannelEventRecorded)
        if event.kind != "callback":
            return
        async with self.db.read() as session:
            stored = await session.get(ChannelEvent, event.event_id)
            if stored is None or not stored.value.startswith("kb:"):
                return
            parsed = parse_button_data(self.secret, stored.value)
            if parsed is None:
                log.warning("a %s button with unsigned or forged knowledge-base data was ignored", event.channel)
                return
            ticket_id, article_id, helpful = parsed
            ticket = await session.get(Ticket, ticket_id)
            chat = str((stored.payload or {}).get("chat_id", ""))
            if ticket is None or ticket.channel != event.channel or (
                    chat and ticket.conversation_key and chat != ticket.conversation_key):
                log.warning("a knowledge-base button for ticket %s came from elsewhere; ignored", ticket_id)
                return
        try:
            async with self.db.write() as session:
                await do_auto_answer_feedback(session, ticket_id, article_id, helpful,
                                              actor=Actor.contact(ticket.contact_id))
        except ActionError as exc:
            log.info("knowledge-base button for ticket %s not taken: %s", ticket_id, exc)


class HoldSweeper:
    """Routes automatically answered tickets whose wait for the customer is over (every few seconds)."""

    def __init__(self, db: Database, settings: KbSettings) -> None:
        self.db, self.settings = db, settings
        self._timer = Repeater("kb-hold-sweeper", self.sweep, settings.hold_check_interval, log=log,
                               failure="knowledge-base hold sweep failed; retrying")

    async def sweep(self) -> list[int]:
        """One round: the ids of the tickets opened (routed)."""
        opened: list[int] = []
        while True:
            async with self.db.write() as session:
                ended, batch = await do_release_held_answers(session, utcnow(), limit=100)
            opened += batch
            if ended < 100:
                return opened

    def start(self) -> None:
        self._timer.start()

    async def stop(self) -> None:
        await self._timer.stop()
