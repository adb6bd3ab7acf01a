"""The customers' help pages: published articles by category, search, and one article.

Server-rendered with the web form's templates and stylesheet (no script needed). Only published
articles are shown here, whoever asks; staff read internal ones through the API.
"""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import select

from channels.webform.pages import render
from contactcenter.context import CTX
from contactcenter.db.models import KbArticle
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
    if raw.isdigit() and len(raw) <= 9:
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


def setup_help(app: web.Application) -> None:
    """Add the help pages (they use the web form's template environment, set up before)."""
    app.router.add_get("/help", help_index)
    app.router.add_get("/help/{id}", help_article)
