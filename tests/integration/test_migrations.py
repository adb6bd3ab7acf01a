"""The migrations build exactly the schema the models describe (several authors add revisions)."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from contactcenter.context import Context
from contactcenter.db.models import Base


def _not_search_index(diff: Any) -> bool:
    """ticket_search is created by hand per dialect (FTS5 or tsvector) and is not an ORM model."""
    return "ticket_search" not in repr(diff)


async def test_the_migrated_database_matches_the_models(ctx: Context) -> None:
    async with ctx.db.engine.connect() as conn:
        diffs = await conn.run_sync(lambda c: compare_metadata(MigrationContext.configure(c), Base.metadata))
    assert [d for d in diffs if _not_search_index(d)] == []
