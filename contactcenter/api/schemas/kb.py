"""Knowledge-base articles, search results, suggestions and learned phrasings."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from contactcenter.api.framework import MAX_ID
from contactcenter.api.schemas.base import ChannelName, LanguageCode, Patch, Strict

Status = Literal["draft", "internal", "published"]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Phrasing = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]
ArticleId = Annotated[int, Field(ge=1, le=MAX_ID)]


class ArticleIn(Strict):
    title: Title
    body: str = Field("", max_length=100_000, description="Markdown; rendered to sanitized HTML when read")
    language: LanguageCode
    category: str = Field("", max_length=120)
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    status: Status = "draft"
    phrasings: list[Phrasing] = Field(default_factory=list, max_length=1000,
                                      description="other ways customers ask this question")
    related: list[ArticleId] = Field(default_factory=list, max_length=50, description="ids of related articles")


class ArticlePatch(Patch):
    title: Title | None = None
    body: str | None = Field(None, max_length=100_000)
    language: LanguageCode | None = None
    category: str | None = Field(None, max_length=120)
    tags: list[Tag] | None = Field(None, max_length=50)
    status: Status | None = None
    phrasings: list[Phrasing] | None = Field(None, max_length=1000)
    related: list[ArticleId] | None = Field(None, max_length=50)


class PreviewIn(Strict):
    body: str = Field(max_length=100_000, description="Markdown")


class PreviewOut(BaseModel):
    html: str = Field(description="the body rendered and sanitized, as an article's ``html``")


class ArticleOut(BaseModel):
    id: int
    title: str
    body: str = Field(description="Markdown source")
    html: str = Field(description="the body rendered and sanitized")
    language: str
    category: str
    tags: list[str]
    status: Status
    phrasings: list[str]
    related: list[int]
    version: int
    created_at: datetime
    updated_at: datetime


class ArticleSummary(BaseModel):
    id: int
    title: str
    language: str
    category: str
    tags: list[str]
    status: Status
    updated_at: datetime


class ArticleListQuery(Strict):
    category: str | None = Field(None, max_length=120)
    language: LanguageCode | None = None
    status: Status | None = Field(None, description="staff only; the public sees published articles")
    limit: int = Field(100, ge=1, le=500)


class ArticleList(BaseModel):
    items: list[ArticleSummary]


class SearchQuery(Strict):
    q: str = Field(min_length=1, max_length=1000)
    language: LanguageCode | None = None
    k: int = Field(5, ge=1, le=20)


class SearchHit(BaseModel):
    id: int
    title: str
    score: float = Field(description="0..1; compare with the [kb] thresholds")
    snippet: str


class SearchResult(BaseModel):
    items: list[SearchHit]


class VersionOut(BaseModel):
    version: int
    title: str
    body: str
    language: str
    category: str
    tags: list[str]
    status: str
    phrasings: list[str]
    related: list[int]
    actor_id: int | None
    created_at: datetime


class VersionList(BaseModel):
    items: list[VersionOut]


class LearnedPhrasingOut(BaseModel):
    id: int
    article_id: int
    text: str
    ticket_id: int | None
    status: str
    created_at: datetime


class LearnedPhrasingList(BaseModel):
    items: list[LearnedPhrasingOut]


class LearnedQuery(Strict):
    status: Literal["pending", "approved", "rejected"] = "pending"
    limit: int = Field(100, ge=1, le=500)


class ReviewIn(Strict):
    approve: bool


class UsedArticleIn(Strict):
    article_id: ArticleId


class UsedArticleOut(BaseModel):
    learned: LearnedPhrasingOut | None = Field(description="the question kept for review; null when known")


class Suggestions(BaseModel):
    ticket_id: int
    language: str
    items: list[SearchHit]




class SuggestQuery(Strict):
    q: str = Field(min_length=1, max_length=1000, description="what the customer typed so far")
    channel: ChannelName = Field("webform", description="whose [kb] threshold applies")
    language: LanguageCode | None = None


class FeedbackIn(Strict):
    article_id: ArticleId
    channel: ChannelName = "webform"
    helpful: bool


class DeflectionQuery(Strict):
    days: int = Field(30, ge=1, le=3660)


class DeflectionRow(BaseModel):
    channel: str
    helpful: int
    not_helpful: int
    rate: float = Field(description="helpful / all answers to \"did this help?\"")


class DeflectionReport(BaseModel):
    days: int
    items: list[DeflectionRow]
