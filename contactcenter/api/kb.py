"""Knowledge-base endpoints.

Public (no sign-in): list, read and search published articles. Staff also see internal articles;
admins see drafts and write: create, edit, publish, delete, version history, review of learned
phrasings. Agents get suggestions for a ticket and tell which article answered it (learning).
"""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web
from sqlalchemy import func, select

from channels.webform.limits import client_ip
from contactcenter.actions import kb as actions
from contactcenter.api.framework import Api, ApiRequest, error_response
from contactcenter.api.schemas.kb import (
    ArticleIn,
    ArticleList,
    ArticleListQuery,
    ArticleOut,
    ArticlePatch,
    ArticleSummary,
    DeflectionQuery,
    DeflectionReport,
    DeflectionRow,
    FeedbackIn,
    LearnedPhrasingList,
    LearnedPhrasingOut,
    LearnedQuery,
    PreviewIn,
    PreviewOut,
    ReviewIn,
    SearchHit,
    SearchQuery,
    SearchResult,
    Suggestions,
    SuggestQuery,
    UsedArticleIn,
    UsedArticleOut,
    VersionList,
    VersionOut,
)
from contactcenter.db.models import KbArticle, KbArticleVersion, KbDeflection, KbLearnedPhrasing
from contactcenter.db.types import utcnow
from contactcenter.domain.enums import Role
from contactcenter.errors import NotFound
from kb.confidence import confident_answer, raised_for_tuned
from kb.markdown import render
from kb.ranker import Hit

api = Api()


def article_out(article: KbArticle) -> ArticleOut:
    return ArticleOut(id=article.id, title=article.title, body=article.body, html=render(article.body),
                      language=article.language, category=article.category, tags=list(article.tags),
                      status=article.status,
                      phrasings=list(article.phrasings), related=list(article.related), version=article.version,
                      created_at=article.created_at, updated_at=article.updated_at)


def learned_out(row: KbLearnedPhrasing) -> LearnedPhrasingOut:
    return LearnedPhrasingOut(id=row.id, article_id=row.article_id, text=row.text, ticket_id=row.ticket_id,
                              status=row.status, created_at=row.created_at)


def hit_out(hit: Hit) -> SearchHit:
    return SearchHit(id=int(str(hit.id)), title=hit.title, score=hit.score, snippet=hit.snippet)


def _visible(req: ApiRequest) -> tuple[str, ...]:
    """Statuses the caller may read: the public published ones, staff also internal, admins everything."""
    if req.principal is None:
        return ("published",)
    if req.role.at_least(Role.ADMIN):
        return ("draft", "internal", "published")
    return ("internal", "published")


# --- reading (public) ----------------------------------------------------------------------------

@api.route("GET", "/kb/articles", summary="Articles by category and language (the public sees published ones)",
           tag="kb", role=None, query=ArticleListQuery, response=ArticleList)
async def list_articles(req: ApiRequest) -> ArticleList:
    q: ArticleListQuery = req.query
    visible = _visible(req)
    query = select(KbArticle).where(KbArticle.status.in_(visible))
    if q.status is not None:
        query = query.where(KbArticle.status == q.status)
    if q.category is not None:
        query = query.where(KbArticle.category == q.category)
    if q.language is not None:
        query = query.where(KbArticle.language == q.language)
    async with req.ctx.db.read() as session:
        rows = (await session.scalars(query.order_by(KbArticle.category, KbArticle.title, KbArticle.id)
                                      .limit(q.limit))).all()
    return ArticleList(items=[ArticleSummary(id=a.id, title=a.title, language=a.language, category=a.category,
                                             tags=list(a.tags), status=a.status,
                                             updated_at=a.updated_at) for a in rows])


@api.route("GET", "/kb/articles/{id}", summary="One article with its body rendered to safe HTML", tag="kb",
           role=None, response=ArticleOut)
async def get_article(req: ApiRequest) -> ArticleOut:
    article_id = req.path_id()
    async with req.ctx.db.read() as session:
        article = await session.get(KbArticle, article_id)
        if article is None or article.status not in _visible(req):
            raise NotFound(f"article {article_id} not found")
        return article_out(article)


@api.route("GET", "/kb/search", summary="Search articles (Persian and English); scores are 0..1", tag="kb",
           role=None, query=SearchQuery, response=SearchResult)
async def search_articles(req: ApiRequest) -> SearchResult:
    q: SearchQuery = req.query
    hits = await req.ctx.kb.search(req.ctx.db, q.q, k=q.k, language=q.language, staff=req.principal is not None)
    return SearchResult(items=[hit_out(h) for h in hits])


# --- writing (admins) ----------------------------------------------------------------------------

@api.route("POST", "/kb/articles", summary="Create an article", tag="kb", role=Role.ADMIN, body=ArticleIn,
           response=ArticleOut, status=201)
async def create_article(req: ApiRequest) -> ArticleOut:
    body: ArticleIn = req.body
    async with req.ctx.db.write() as session:
        article = await actions.do_create_article(session, **body.model_dump(), actor=req.actor)
        return article_out(article)


@api.route("PATCH", "/kb/articles/{id}", summary="Edit an article (each change is a new version)", tag="kb",
           role=Role.ADMIN, body=ArticlePatch, response=ArticleOut)
async def update_article(req: ApiRequest) -> ArticleOut:
    body: ArticlePatch = req.body
    async with req.ctx.db.write() as session:
        article = await actions.do_update_article(session, req.path_id(), body.model_dump(exclude_unset=True),
                                                  actor=req.actor)
        return article_out(article)


@api.route("POST", "/kb/articles/{id}/publish", summary="Publish an article", tag="kb", role=Role.ADMIN,
           response=ArticleOut)
async def publish_article(req: ApiRequest) -> ArticleOut:
    async with req.ctx.db.write() as session:
        article = await actions.do_update_article(session, req.path_id(), {"status": "published"}, actor=req.actor)
        return article_out(article)


@api.route("DELETE", "/kb/articles/{id}", summary="Delete an article with its history", tag="kb", role=Role.ADMIN)
async def delete_article(req: ApiRequest) -> dict[str, bool]:
    async with req.ctx.db.write() as session:
        await actions.do_delete_article(session, req.path_id(), actor=req.actor)
    return {"ok": True}


@api.route("POST", "/kb/preview", summary="A Markdown body rendered and sanitized as an article shows it", tag="kb",
           role=Role.ADMIN, body=PreviewIn, response=PreviewOut)
async def preview_body(req: ApiRequest) -> PreviewOut:
    body: PreviewIn = req.body
    return PreviewOut(html=render(body.body))


@api.route("GET", "/kb/articles/{id}/versions", summary="An article's version history, newest first", tag="kb",
           role=Role.ADMIN, response=VersionList)
async def article_versions(req: ApiRequest) -> VersionList:
    article_id = req.path_id()
    async with req.ctx.db.read() as session:
        await actions.get_article(session, article_id)
        rows = (await session.scalars(select(KbArticleVersion).where(KbArticleVersion.article_id == article_id)
                                      .order_by(KbArticleVersion.version.desc()))).all()
    return VersionList(items=[VersionOut(version=v.version, title=v.title, body=v.body, language=v.language,
                                         category=v.category, tags=list(v.tags), status=v.status,
                                         phrasings=list(v.phrasings), related=list(v.related),
                                         actor_id=v.actor_id, created_at=v.created_at) for v in rows])


@api.route("GET", "/kb/phrasings", summary="Learned phrasings (customers' questions) for review", tag="kb",
           role=Role.ADMIN, query=LearnedQuery, response=LearnedPhrasingList)
async def learned_phrasings(req: ApiRequest) -> LearnedPhrasingList:
    q: LearnedQuery = req.query
    async with req.ctx.db.read() as session:
        rows = (await session.scalars(select(KbLearnedPhrasing).where(KbLearnedPhrasing.status == q.status)
                                      .order_by(KbLearnedPhrasing.id).limit(q.limit))).all()
    return LearnedPhrasingList(items=[learned_out(r) for r in rows])


@api.route("POST", "/kb/phrasings/{id}/review", summary="Approve (adds it to the article) or reject a learned "
           "phrasing", tag="kb", role=Role.ADMIN, body=ReviewIn, response=LearnedPhrasingOut,
           responses={409: "already reviewed"})
async def review_phrasing(req: ApiRequest) -> LearnedPhrasingOut:
    body: ReviewIn = req.body
    async with req.ctx.db.write() as session:
        row = await actions.do_review_phrasing(session, req.path_id(), approve=body.approve, actor=req.actor)
        return learned_out(row)


# --- agents: suggestions and learning -------------------------------------------------------------

@api.route("GET", "/tickets/{id}/suggestions", summary="The best articles for a ticket, in its language",
           tag="kb", response=Suggestions)
async def ticket_suggestions(req: ApiRequest) -> Suggestions:
    async with req.ctx.db.read() as session:
        ticket, text = await actions.customer_question(session, req.path_id())
    settings = req.ctx.settings.kb
    hits = await req.ctx.kb.search(req.ctx.db, f"{ticket.subject}\n{text}", k=settings.suggestions,
                                   language=ticket.language, staff=True)
    return Suggestions(ticket_id=ticket.id, language=ticket.language,
                       items=[hit_out(h) for h in hits if h.score >= settings.min_score])


@api.route("POST", "/tickets/{id}/kb-used", summary="An agent answered the ticket with an article: its question "
           "is kept as a phrasing awaiting review (a reply can say so with article_id)", tag="kb", body=UsedArticleIn,
           response=UsedArticleOut)
async def article_used(req: ApiRequest) -> UsedArticleOut:
    body: UsedArticleIn = req.body
    if not req.ctx.settings.kb.learn_phrasings:
        return UsedArticleOut(learned=None)
    async with req.ctx.db.write() as session:
        row = await actions.do_learn_from_answer(session, req.path_id(), body.article_id,
                                                 max_chars=req.ctx.settings.kb.max_phrasing_chars, actor=req.actor)
        return UsedArticleOut(learned=learned_out(row) if row else None)


# --- self-service ----------------------------------------------------------------------------------

@api.route("GET", "/kb/suggest", summary="Articles to offer a customer while they type (nothing below the "
           "channel's confidence threshold)", tag="kb", role=None, query=SuggestQuery, response=SearchResult)
async def suggest(req: ApiRequest) -> SearchResult:
    q: SuggestQuery = req.query
    settings = req.ctx.settings.kb
    threshold = settings.threshold(q.channel)
    if threshold > 1:
        return SearchResult(items=[])
    hits = await req.ctx.kb.search(req.ctx.db, q.q, k=3, language=q.language)
    if req.ctx.kb.tuned_for(q.q):
        threshold = raised_for_tuned(threshold, settings.tuned_threshold)
    best = confident_answer(hits, threshold, settings.auto_answer_margin)
    return SearchResult(items=[hit_out(best)] if best else [])


@api.route("POST", "/kb/feedback", summary="A customer's answer to \"did this help?\" (helpful: deflected)",
           tag="kb", role=None, body=FeedbackIn, status=201, responses={429: "too many answers from this address"})
async def feedback(req: ApiRequest) -> dict[str, bool] | web.Response:
    body: FeedbackIn = req.body
    limiter, ip = req.ctx.limits.kb_feedback_ip, client_ip(req.request)
    if limiter.blocked(ip):
        return error_response(429, "too_many_requests", "too many answers; try again later",
                              headers={"Retry-After": str(limiter.retry_after(ip))})
    limiter.hit(ip)
    async with req.ctx.db.write() as session:
        await actions.do_record_deflection(session, body.article_id, body.channel, body.helpful)
    return {"ok": True}


@api.route("GET", "/kb/deflections", summary="Self-service answers per channel: how often an article helped",
           tag="kb", role=Role.SUPERVISOR, query=DeflectionQuery, response=DeflectionReport)
async def deflections(req: ApiRequest) -> DeflectionReport:
    q: DeflectionQuery = req.query
    since = utcnow() - timedelta(days=q.days)
    async with req.ctx.db.read() as session:
        rows = (await session.execute(
            select(KbDeflection.channel, KbDeflection.helpful, func.count())
            .where(KbDeflection.created_at >= since).group_by(KbDeflection.channel, KbDeflection.helpful))).all()
    counts: dict[str, list[int]] = {}
    for channel, helpful, n in rows:
        counts.setdefault(channel, [0, 0])[0 if helpful else 1] += int(n)
    return DeflectionReport(days=q.days, items=[
        DeflectionRow(channel=c, helpful=h, not_helpful=nh, rate=round(h / (h + nh), 4))
        for c, (h, nh) in sorted(counts.items())])
