"""Relay subscribers of the surveys.

- ``ticket.changed`` (status): a solved ticket gets its survey scheduled (``survey.due`` written for later).
- ``survey.due``: the survey becomes a queued message of the ticket; the delivery worker sends it on its channel.
- ``channel.event`` (a Telegram button press ``survey:<id>:<n>``): the rating, when the button was pressed by the
  survey's own contact.

Each is idempotent: the survey row (UNIQUE ticket_id, ``sent_at``, ``reply_ref``) says what was done.
"""

from __future__ import annotations

import logging
import re

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from contactcenter.actions.surveys import do_answer_survey, do_schedule_survey, do_send_survey
from contactcenter.db.engine import Database
from contactcenter.db.models import ChannelEvent, ContactIdentity, Survey, Ticket
from contactcenter.db.types import utcnow
from contactcenter.domain.enums import IdentityKind
from contactcenter.errors import ActionError
from contactcenter.events import ChannelEventRecorded, Event, SurveyDue, TicketChanged
from contactcenter.relay import Relay
from contactcenter.settings import Settings

log = logging.getLogger(__name__)
BUTTON = re.compile(r"survey:(\d{1,10}):([1-5])")


class SurveyWorker:
    def __init__(self, db: Database, settings: Settings, secret: bytes) -> None:
        self.db = db
        self.settings = settings
        self.secret = secret

    def subscribe(self, relay: Relay) -> None:
        relay.subscribe(TicketChanged.topic, "survey-schedule", self.on_ticket_changed)
        relay.subscribe(SurveyDue.topic, "survey-send", self.on_survey_due)
        relay.subscribe(ChannelEventRecorded.topic, "survey-buttons", self.on_channel_event)

    async def on_ticket_changed(self, event: Event) -> None:
        assert isinstance(event, TicketChanged)
        if "status" not in event.fields:
            return
        try:
            async with self.db.write() as session:
                ticket = await session.get(Ticket, event.ticket_id)
                if ticket is not None:
                    await do_schedule_survey(session, ticket, self.settings.surveys, self.secret, utcnow())
        except IntegrityError:  # another process scheduled it at the same moment
            log.debug("survey of ticket %s scheduled concurrently", event.ticket_id)

    async def on_survey_due(self, event: Event) -> None:
        assert isinstance(event, SurveyDue)
        async with self.db.write() as session:
            await do_send_survey(session, event.survey_id, self.settings.base_url, self.secret, utcnow())

    async def on_channel_event(self, event: Event) -> None:
        assert isinstance(event, ChannelEventRecorded)
        if event.channel != "telegram" or event.kind != "callback":
            return
        async with self.db.write() as session:
            pressed = await session.get(ChannelEvent, event.event_id)
            match = BUTTON.fullmatch(pressed.value) if pressed is not None else None
            if pressed is None or match is None:
                return
            survey = await session.get(Survey, int(match.group(1)), with_for_update=True)
            ref = f"telegram:{pressed.key}"
            if survey is None or survey.channel != "telegram" or survey.reply_ref == ref:
                return
            presser = str((pressed.payload or {}).get("from"))
            owner = await session.scalar(select(ContactIdentity.contact_id).where(
                ContactIdentity.kind == IdentityKind.TELEGRAM, ContactIdentity.value == presser))
            if owner != survey.contact_id:
                log.info("survey button of survey %s pressed by someone else: ignored", survey.id)
                return
            try:
                await do_answer_survey(session, survey, int(match.group(2)), None, now=utcnow(),
                                       change_days=self.settings.surveys.change_days, ref=ref)
            except ActionError as exc:
                log.info("survey %s button not taken: %s", survey.id, exc)
