"""The customers' help pages: published articles by category, search, and one article.

Server-rendered with the web form's templates and stylesheet (no script needed). Only published
articles are shown here, whoever asks; staff read internal ones through the API.
"""

from __future__ import annotations

import hmac

from aiohttp import web
from sqlalchemy import select

from channels.webform.pages import render
from contactcenter.actions.audit import Actor
from contactcenter.actions.kb import do_auto_answer_feedback
from contactcenter.context import CTX
from contactcenter.db.models import KbArticle, Ticket
from contactcenter.errors import NotFound
from kb.autoanswer import helped_signature
from kb.markdown import render as render_markdown

MAX_QUERY = 300


async def help_index(request: web.Request) -> web.Response:
    """``/help``: every published article grouped by category, or search results for ``?q=``."""
    ctx = request.app[CTX]
    query = request.query.get("q", "").strip()[:MAX_QUERY]
    hits = await ctx.kb.search(ctx.db, query, k=10) if query else []
    categories: dict[str, list[KbArticle]] = {}
    if not query:
        async with ctx.db.read() as session:
            rows = (await session.scalars(select(KbArticle).where(KbArticle.status == "published")
                                          .order_by(KbArticle.category, KbArticle.title, KbArticle.id))).all()
        for article in rows:
            categories.setdefault(article.category or "General", []).append(article)
    return render(request, "help_index.html", noindex=False, query=query, hits=hits, categories=categories)


async def help_article(request: web.Request) -> web.Response:
    """``/help/{id}``: one published article, its body rendered and sanitized, with related articles."""
    ctx = request.app[CTX]
    raw = request.match_info["id"]
    article = None
    related: list[KbArticle] = []
    if raw.isdecimal() and len(raw) <= 9:
        async with ctx.db.read() as session:
            article = await session.get(KbArticle, int(raw))
            if article is not None and article.related:
                related = list((await session.scalars(
                    select(KbArticle).where(KbArticle.id.in_(article.related), KbArticle.status == "published")
                    .order_by(KbArticle.title))).all())
    if article is None or article.status != "published":
        return render(request, "webform_message.html", status=404, title="Article not found",
                      text="There is no such article (it may have been removed).", link="/help",
                      link_text="All help articles")
    rtl = article.language in ("fa", "ar", "ur", "he")
    return render(request, "help_article.html", noindex=False, article=article, html=render_markdown(article.body),
                  related=related, rtl=rtl)


async def _helped_target(request: web.Request) -> tuple[int, int] | None:
    """(ticket id, article id) of a "did this help?" link whose signature is right, else None."""
    article_raw, ticket_raw = request.match_info["id"], request.match_info["ticket"]
    if not (article_raw.isdecimal() and ticket_raw.isdecimal() and len(article_raw) <= 9 and len(ticket_raw) <= 9):
        return None
    article_id, ticket_id = int(article_raw), int(ticket_raw)
    expected = helped_signature(request.app[CTX].secret, ticket_id, article_id)
    return (ticket_id, article_id) if hmac.compare_digest(expected, request.match_info["sig"]) else None


def _not_found(request: web.Request) -> web.Response:
    return render(request, "webform_message.html", status=404, title="Link not valid",
                  text="This link is not valid (it may have been cut short).", link="/help",
                  link_text="All help articles")


async def helped_page(request: web.Request) -> web.Response:
    """``GET`` of a "did this help?" link: a button to confirm (link previewers must not solve tickets)."""
    if await _helped_target(request) is None:
        return _not_found(request)
    return render(request, "help_helped.html", action=request.path)


async def helped_confirm(request: web.Request) -> web.Response:
    """The customer answers: "yes" solves the ticket (tag ``deflected``), "no" sends it to an agent now; once."""
    target = await _helped_target(request)
    if target is None:
        return _not_found(request)
    ticket_id, article_id = target
    helpful = (await request.post()).get("helpful", "yes") != "no"
    ctx = request.app[CTX]
    try:
        async with ctx.db.write() as session:
            ticket = await session.get(Ticket, ticket_id)
            if ticket is None:
                return _not_found(request)
            await do_auto_answer_feedback(session, ticket_id, article_id, helpful,
                                          actor=Actor.contact(ticket.contact_id))
    except NotFound:
        return _not_found(request)
    if not helpful:
        return render(request, "webform_message.html", title="Thank you",
                      text="One of our team will answer you soon.", link="/help", link_text="All help articles")
    return render(request, "webform_message.html", title="Thank you",
                  text="We are glad it helped. Your request is marked as solved; write again any time.",
                  link="/help", link_text="All help articles")


def setup_help(app: web.Application) -> None:
    """Add the help pages (they use the web form's template environment, set up before)."""
    app.router.add_get("/help", help_index)
    app.router.add_get("/help/{id}", help_article)
    app.router.add_get("/help/{id}/helped/{ticket}/{sig}", helped_page)
    app.router.add_post("/help/{id}/helped/{ticket}/{sig}", helped_confirm)
