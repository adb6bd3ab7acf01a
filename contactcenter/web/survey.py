"""The survey page behind the link in a survey message: ``GET /survey/{token}`` shows the question (and the answer
given so far), ``POST /survey/{token}`` (a plain form, no script) records it. The token is the credential: a page
that cannot name it cannot post an answer."""

from __future__ import annotations

from aiohttp import web

from channels.webform.pages import html_errors, render
from contactcenter.actions.surveys import can_change, do_answer_survey
from contactcenter.api.schemas.surveys import MAX_COMMENT
from contactcenter.context import CTX
from contactcenter.db.models import Survey, Ticket
from contactcenter.db.types import utcnow
from contactcenter.errors import Conflict, NotFound
from contactcenter.surveys.lookup import survey_by_token

TEXT = {
    "en": {"title": "How did we do?", "question": "How satisfied are you with our answer to request #{ticket}?",
           "bad": "bad", "great": "great", "comment": "Anything to add? (optional)", "send": "Send",
           "thanks": "Thank you for your answer.", "change": "You can change it within {days:g} days.",
           "closed": "This answer can no longer be changed.", "pick": "Choose a rating from 1 to 5.",
           "missing": "This link is not valid (it may have been cut short).", "missing_title": "Link not valid"},
    "fa": {"title": "نظر شما", "question": "از پاسخ ما به درخواست شماره #{ticket} چقدر راضی هستید؟",
           "bad": "بد", "great": "عالی", "comment": "توضیح بیشتر (اختیاری)", "send": "ارسال",
           "thanks": "از پاسخ شما سپاسگزاریم.", "change": "تا {days:g} روز می‌توانید آن را تغییر دهید.",
           "closed": "این پاسخ دیگر قابل تغییر نیست.", "pick": "یک امتیاز از ۱ تا ۵ انتخاب کنید.",
           "missing": "این پیوند معتبر نیست.", "missing_title": "پیوند نامعتبر"},
}


def _lang(ticket: Ticket | None) -> str:
    return "fa" if ticket is not None and (ticket.language or "").startswith("fa") else "en"


def _page(request: web.Request, survey: Survey, ticket: Ticket, *, status: int = 200, error: str = "",
          thanks: bool = False) -> web.Response:
    lang = _lang(ticket)
    days = request.app[CTX].settings.surveys.change_days
    return render(request, "survey.html", status=status, t=TEXT[lang], lang=lang, rtl=lang == "fa",
                  ticket=ticket.id, rating=survey.rating, comment=survey.comment, error=error, thanks=thanks,
                  open=can_change(survey, utcnow(), days), days=days, action=request.path, max_comment=MAX_COMMENT)


def _missing(request: web.Request) -> web.Response:
    t = TEXT["en"]
    return render(request, "webform_message.html", status=404, title=t["missing_title"], text=t["missing"],
                  link="/help", link_text="Help")


@html_errors
async def survey_page(request: web.Request) -> web.StreamResponse:
    try:
        async with request.app[CTX].db.read() as session:
            survey, ticket = await survey_by_token(session, request.match_info["token"])
    except NotFound:
        return _missing(request)
    return _page(request, survey, ticket)


@html_errors
async def survey_answer(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CTX]
    form = await request.post()
    raw, comment = str(form.get("rating", "")), str(form.get("comment", ""))[:MAX_COMMENT].replace("\x00", "")
    try:
        async with ctx.db.write() as session:
            survey, ticket = await survey_by_token(session, request.match_info["token"], lock=True)
            if raw not in ("1", "2", "3", "4", "5"):
                return _page(request, survey, ticket, status=422, error=TEXT[_lang(ticket)]["pick"])
            try:
                await do_answer_survey(session, survey, int(raw), comment, now=utcnow(),
                                       change_days=ctx.settings.surveys.change_days)
            except Conflict:
                return _page(request, survey, ticket, status=409, error=TEXT[_lang(ticket)]["closed"])
    except NotFound:
        return _missing(request)
    return _page(request, survey, ticket, thanks=True)


def setup_survey_pages(app: web.Application) -> None:
    app.router.add_get("/survey/{token}", survey_page)
    app.router.add_post("/survey/{token}", survey_answer)
