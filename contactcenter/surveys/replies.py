"""SMS survey replies: a customer's SMS that is just a digit 1-5, soon after a survey, is the rating.

This is a step of the core, not of the SMS channel (channels only translate): ``IntakeQueue.submit`` asks its
``takers`` before a message becomes a ticket message. This one takes a message when its channel is ``sms``,
its text is one digit 1-5 (spaces around allowed, no attachments), the sender's identity belongs to a contact
with a survey sent on that channel within ``surveys.sms_reply_window_hours``, and that survey may still be
answered, and that contact has no active ticket on the channel (a digit in a conversation that goes on answers
that conversation). The latest such survey gets the rating. Anything else goes on to intake as usual.
A redelivery of the same SMS (same external id) is recognized by ``surveys.reply_ref`` and changes nothing.
"""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from channels.base import InboundMessage
from contactcenter.actions.surveys import can_change, do_answer_survey
from contactcenter.db.engine import Database
from contactcenter.db.models import ContactIdentity, Survey, Ticket
from contactcenter.db.types import utcnow
from contactcenter.intake import IntakeResult
from contactcenter.settings import SurveySettings

DIGIT = re.compile(r"\s*([1-5])\s*")
CHANNELS = ("sms",)
ACTIVE = ("new", "open", "pending", "on-hold")


class SmsRatings:
    def __init__(self, db: Database, settings: SurveySettings) -> None:
        self.db = db
        self.settings = settings

    async def take(self, msg: InboundMessage) -> IntakeResult | None:
        match = DIGIT.fullmatch(msg.text or "")
        sender = msg.sender
        if (msg.channel not in CHANNELS or match is None or msg.attachments or sender is None
                or not self.settings.enabled):
            return None
        now = utcnow()
        since = now - timedelta(hours=self.settings.sms_reply_window_hours)
        ref = f"{msg.channel}:{msg.external_id}"
        async with self.db.read() as session:
            survey_id = await session.scalar(
                select(Survey.id).join(ContactIdentity, ContactIdentity.contact_id == Survey.contact_id)
                .where(ContactIdentity.kind == sender.kind, ContactIdentity.value == sender.value,
                       Survey.channel == msg.channel, Survey.sent_at >= since)
                .order_by(Survey.sent_at.desc(), Survey.id.desc()).limit(1))
        if survey_id is None:
            return None
        async with self.db.write() as session:
            survey = await session.get(Survey, survey_id, with_for_update=True)
            if survey is None:
                return None
            duplicate = survey.reply_ref == ref
            if not duplicate and await session.scalar(select(Ticket.id).where(
                    Ticket.contact_id == survey.contact_id, Ticket.channel == msg.channel,
                    Ticket.status.in_(ACTIVE), Ticket.merged_into_id.is_(None)).limit(1)) is not None:
                return None
            if not duplicate:
                if not can_change(survey, now, self.settings.change_days):
                    return None
                await do_answer_survey(session, survey, int(match.group(1)), None, now=now,
                                       change_days=self.settings.change_days, ref=ref)
            result = IntakeResult(ticket_id=survey.ticket_id, message_id=survey.message_id or 0,
                                  contact_id=survey.contact_id, created_ticket=False, duplicate=duplicate,
                                  thread_reason="survey rating")
        return result
