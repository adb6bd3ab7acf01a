"""Satisfaction surveys: scheduled when a ticket is solved, sent once as a message on its channel, answered 1-5.

Writers take the caller's session and never commit (see docs/reports.md#satisfaction-surveys).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from contactcenter.actions.audit import SYSTEM, Actor, record
from contactcenter.db.models import Message, Survey, Ticket
from contactcenter.domain.enums import AuthorKind, DeliveryStatus, Direction, TicketStatus
from contactcenter.errors import Conflict, Invalid
from contactcenter.events import ReplyQueued, SurveyDue, emit
from contactcenter.link_tokens import link_token, new_nonce, token_hash
from contactcenter.settings import SurveySettings

PURPOSE = "survey"
DONE = (TicketStatus.SOLVED.value, TicketStatus.CLOSED.value)
RATINGS = range(1, 6)

QUESTION = {
    "en": "How did we do with your request #{ticket}?",
    "fa": "از پاسخ ما به درخواست شماره #{ticket} چقدر راضی بودید؟",
}
LINK = {"en": "Rate us from 1 (bad) to 5 (great): {url}", "fa": "از ۱ (بد) تا ۵ (عالی) امتیاز دهید: {url}"}
SMS = {"en": "Reply with a number from 1 (bad) to 5 (great).", "fa": "با یک عدد از ۱ (بد) تا ۵ (عالی) پاسخ دهید."}
BUTTONS = {"en": "Tap a rating: 1 (bad) to 5 (great).", "fa": "امتیاز خود را انتخاب کنید: ۱ (بد) تا ۵ (عالی)."}


def survey_url(base_url: str, secret: bytes, survey: Survey) -> str:
    return f"{base_url}/survey/{link_token(secret, PURPOSE, survey.nonce)}"


def survey_text(language: str, channel: str, ticket_id: int, url: str) -> str:
    """The question as the channel carries it: a link, a digit to reply with (SMS), buttons (Telegram)."""
    lang = "fa" if (language or "").startswith("fa") else "en"
    question = QUESTION[lang].format(ticket=ticket_id)
    if channel == "sms":
        return f"{question} {SMS[lang]}"
    if channel == "telegram":
        return f"{question}\n{BUTTONS[lang]}"
    return f"{question}\n\n{LINK[lang].format(url=url)}"


def survey_buttons(survey_id: int) -> list[list[str]]:
    """Telegram inline buttons: (label, callback data) 1..5."""
    return [["★" * n, f"survey:{survey_id}:{n}"] for n in RATINGS]


async def do_schedule_survey(session: AsyncSession, ticket: Ticket, settings: SurveySettings, secret: bytes,
                             now: datetime) -> Survey | None:
    """A solved ticket gets its survey ``delay_seconds`` later (a ticket solved again before it was sent moves the
    moment). Tickets on other channels, merged ones and ones already surveyed get none."""
    if (not settings.enabled or ticket.status not in DONE or ticket.channel not in settings.channels
            or ticket.merged_into_id is not None):
        return None
    due = now + timedelta(seconds=settings.delay_seconds)
    survey = await session.scalar(select(Survey).where(Survey.ticket_id == ticket.id))
    if survey is not None:
        if survey.sent_at is not None:
            return None
        survey.due_at = due
        survey.user_id = ticket.assignee_id
    else:
        nonce = new_nonce()
        survey = Survey(ticket_id=ticket.id, contact_id=ticket.contact_id, user_id=ticket.assignee_id,
                        channel=ticket.channel, nonce=nonce, token_hash=token_hash(secret, PURPOSE, nonce),
                        created_at=now, due_at=due, comment="")
        session.add(survey)
        await session.flush()
        record(session, SYSTEM, "survey.scheduled", "survey", survey.id, {"due_at": due.isoformat()},
               ticket_id=ticket.id)
    emit(session, SurveyDue(survey_id=survey.id), not_before=due)
    return survey


async def do_send_survey(session: AsyncSession, survey_id: int, base_url: str, secret: bytes,
                         now: datetime) -> Message | None:
    """Queue the survey as a public message of the ticket (author ``system``): the delivery worker sends it on the
    ticket's channel. Nothing when it was sent already, is not due yet, or the ticket was reopened."""
    survey = await session.get(Survey, survey_id, with_for_update=True)
    if survey is None or survey.sent_at is not None or survey.due_at > now + timedelta(seconds=1):
        return None
    ticket = await session.get(Ticket, survey.ticket_id)
    if ticket is None or ticket.status not in DONE or ticket.merged_into_id is not None:
        return None
    meta: dict[str, object] = {"survey_id": survey.id}
    if survey.channel == "telegram":
        meta["buttons"] = survey_buttons(survey.id)
    message = Message(ticket_id=ticket.id, direction=Direction.OUTBOUND, author_kind=AuthorKind.SYSTEM,
                      channel=ticket.channel, internal=False, subject=ticket.subject,
                      text=survey_text(ticket.language, ticket.channel, ticket.id,
                                       survey_url(base_url, secret, survey)),
                      delivery_status=DeliveryStatus.QUEUED, external_id=f"survey:{survey.id}", thread_reason="survey",
                      meta=meta, created_at=now)
    session.add(message)
    await session.flush()
    survey.sent_at = now
    survey.message_id = message.id
    record(session, SYSTEM, "survey.sent", "survey", survey.id, {"channel": survey.channel}, ticket_id=ticket.id)
    emit(session, ReplyQueued(ticket_id=ticket.id, message_id=message.id))
    return message


def can_change(survey: Survey, now: datetime, change_days: float) -> bool:
    first = survey.first_answered_at
    return first is None or now - first <= timedelta(days=change_days)


async def do_answer_survey(session: AsyncSession, survey: Survey, rating: int, comment: str | None, *,
                           now: datetime, change_days: float, ref: str | None = None) -> Survey:
    """Record the rating (and comment, when given). A later answer replaces it for ``change_days`` after the first;
    after that it is refused (409)."""
    if rating not in RATINGS:
        raise Invalid("rating must be a whole number from 1 to 5")
    if survey.sent_at is None:
        raise Conflict("this survey was not sent")
    if not can_change(survey, now, change_days):
        raise Conflict("this survey was answered and can no longer be changed")
    before = survey.rating
    survey.rating = rating
    if comment is not None:
        survey.comment = comment
    survey.answered_at = now
    survey.first_answered_at = survey.first_answered_at or now
    if ref is not None:
        survey.reply_ref = ref
    record(session, Actor.contact(survey.contact_id), "survey.answered", "survey", survey.id,
           {"rating": [before, rating], "via": ref.split(":", 1)[0] if ref else "link"}, ticket_id=survey.ticket_id)
    return survey
