"""Satisfaction surveys: answered by customers through the link's token (no sign-in); read by staff per ticket."""

from __future__ import annotations

from sqlalchemy import select

from contactcenter.actions.surveys import can_change, do_answer_survey
from contactcenter.actions.tickets import get_ticket
from contactcenter.api.framework import Api, ApiRequest
from contactcenter.api.schemas.surveys import SurveyAnswerIn, SurveyOut, TicketSurveyOut
from contactcenter.db.models import Survey, Ticket
from contactcenter.db.types import utcnow
from contactcenter.errors import NotFound
from contactcenter.surveys.lookup import survey_by_token

api = Api()


def survey_out(survey: Survey, ticket: Ticket, change_days: float) -> SurveyOut:
    return SurveyOut(ticket_id=ticket.id, subject=ticket.subject, language=ticket.language, rating=survey.rating,
                     comment=survey.comment, answered_at=survey.answered_at,
                     can_change=can_change(survey, utcnow(), change_days))


@api.route("GET", "/surveys/{token}", summary="A satisfaction survey, by its link's token", tag="surveys",
           role=None, response=SurveyOut, responses={404: "no such survey"})
async def get_survey(req: ApiRequest) -> SurveyOut:
    async with req.ctx.db.read() as session:
        survey, ticket = await survey_by_token(session, req.request.match_info["token"])
        return survey_out(survey, ticket, req.ctx.settings.surveys.change_days)


@api.route("POST", "/surveys/{token}", summary="Answer a satisfaction survey (1-5, optional comment)", tag="surveys",
           role=None, body=SurveyAnswerIn, response=SurveyOut,
           responses={404: "no such survey", 409: "answered more than surveys.change_days ago: not changed"})
async def answer_survey(req: ApiRequest) -> SurveyOut:
    body: SurveyAnswerIn = req.body
    change_days = req.ctx.settings.surveys.change_days
    async with req.ctx.db.write() as session:
        survey, ticket = await survey_by_token(session, req.request.match_info["token"], lock=True)
        await do_answer_survey(session, survey, body.rating, body.comment, now=utcnow(), change_days=change_days)
        return survey_out(survey, ticket, change_days)


@api.route("GET", "/tickets/{id}/survey", summary="A ticket's satisfaction survey: when sent, the rating and comment",
           tag="surveys", response=TicketSurveyOut, responses={404: "no such ticket, or it has no survey"})
async def ticket_survey(req: ApiRequest) -> TicketSurveyOut:
    async with req.ctx.db.read() as session:
        ticket = await get_ticket(session, req.path_id())
        survey = await session.scalar(select(Survey).where(Survey.ticket_id == ticket.id))
        if survey is None:
            raise NotFound(f"ticket {ticket.id} has no survey")
        return TicketSurveyOut(ticket_id=ticket.id, channel=survey.channel, agent_id=survey.user_id,
                               due_at=survey.due_at, sent_at=survey.sent_at, rating=survey.rating,
                               comment=survey.comment, answered_at=survey.answered_at)
