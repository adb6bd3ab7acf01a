"""The server's knowledge base with the embeddings extra: articles embedded in the background, then searches
ranked semantically (skipped without the extra)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from conftest import create_staff

from contactcenter.app import create_app
from contactcenter.context import CTX
from contactcenter.domain.enums import Role
from contactcenter.settings import Settings
from tests.unit.test_kb_embeddings import HAS_EXTRA

pytestmark = pytest.mark.skipif(not HAS_EXTRA, reason="the embeddings extra is not installed "
                                                       "(pip install -e '.[embeddings]')")
Client = TestClient[Any, Any]
CARD = {"title": "When will my card arrive?", "language": "en", "status": "published",
        "body": "Cards arrive within 5 working days.", "phrasings": ["I am still waiting on my card"]}
PASSWORD = {"title": "Resetting your password", "language": "en", "status": "published",
            "body": "Use the link on the sign-in page.", "phrasings": ["I forgot my password"]}


async def test_articles_are_embedded_once_and_searches_use_them(
        aiohttp_client: Callable[..., Awaitable[Client]], settings: Settings) -> None:
    client = await aiohttp_client(create_app(settings.with_overrides({"kb": {"embeddings": "auto"}})))
    ctx = client.app[CTX]
    admin = await create_staff(ctx, Role.ADMIN)
    for article in (CARD, PASSWORD):
        assert (await client.post("/api/v1/kb/articles", json=article, headers=admin.headers)).status == 201
    query = {"q": "the plastic has not shown up in the post"}
    await ctx.kb.ready(ctx.db)
    hits = (await (await client.get("/api/v1/kb/search", params=query)).json())["items"]
    assert ctx.kb._public.semantic is not None
    assert ctx.kb._public.with_semantic(None).search(query["q"], 2) == []  # no word in common
    assert hits[0]["title"] == CARD["title"] and hits[0]["score"] > 2 * hits[1]["score"]
    embedded = ctx.kb._cache
    assert embedded is not None and len(embedded) == 4  # two titles, two phrasings
