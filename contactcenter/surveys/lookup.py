"""Finding a survey by the token of its link (only the token's hash is stored)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from contactcenter.auth import hash_secret
from contactcenter.db.models import Survey, Ticket
from contactcenter.errors import NotFound
from contactcenter.link_tokens import looks_like_token


async def survey_by_token(session: AsyncSession, token: str, *, lock: bool = False) -> tuple[Survey, Ticket]:
    """The sent survey and its ticket; 404 for anything else (no hint whether a token ever existed)."""
    if looks_like_token(token):
        query = select(Survey).where(Survey.token_hash == hash_secret(token))
        survey = await session.scalar(query.with_for_update() if lock else query)
        if survey is not None and survey.sent_at is not None:
            ticket = await session.get(Ticket, survey.ticket_id)
            if ticket is not None:
                return survey, ticket
    raise NotFound("no such survey (the link may have been cut short)")
