"""Composite-key lookups (db.keys: key_in, KeyedSelect) find the right rows and, on SQLite, search the index."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from contactcenter.context import Context
from contactcenter.db.keys import KeyedSelect, key_in
from contactcenter.db.models import ContactIdentity, Message
from contactcenter.domain.enums import IdentityKind
from contactcenter.domain.identities import Address
from contactcenter.intake import intake
from tests.integration.test_intake import message


async def test_key_in_matches_exactly_the_given_keys(ctx: Context) -> None:
    for external_id, channel in [("a", "webform"), ("b", "webform"), ("a", "sms"), ("c", "sms")]:
        sender = Address(IdentityKind.PHONE, "+989120000002") if channel == "sms" else None
        await intake(ctx.db, ctx.store, ctx.settings, message(external_id, sender, channel=channel))
    wanted = {("webform", "a"), ("sms", "c"), ("sms", "b"), ("telegram", "a")}
    async with ctx.db.read() as session:
        found = (await session.execute(select(Message.channel, Message.external_id)
                                       .where(key_in((Message.channel, Message.external_id), wanted)))).all()
        none = (await session.execute(select(Message.id).where(key_in((Message.channel, Message.external_id), []))))
        assert sorted(tuple(row) for row in found) == [("sms", "c"), ("webform", "a")]
        assert none.all() == []


async def test_key_in_is_an_index_search_on_sqlite(ctx: Context) -> None:
    if not ctx.db.is_sqlite:
        pytest.skip("PostgreSQL plans row values well either way; the rewrite is for SQLite")
    condition = key_in((ContactIdentity.kind, ContactIdentity.value), [("email", "a@x.example"), ("phone", "+1")])
    statement = select(ContactIdentity.contact_id).where(condition)
    compiled = statement.compile(ctx.db.engine, compile_kwargs={"literal_binds": True})
    async with ctx.db.read() as session:
        plan = " ".join(str(row[-1]) for row in await session.execute(text(f"EXPLAIN QUERY PLAN {compiled}")))
    assert "SEARCH" in plan and "SCAN" not in plan, plan


async def test_a_keyed_select_built_once_finds_exactly_the_given_keys(ctx: Context) -> None:
    for external_id, channel in [("a", "webform"), ("b", "webform"), ("a", "sms"), ("c", "sms")]:
        sender = Address(IdentityKind.PHONE, "+989120000002") if channel == "sms" else None
        await intake(ctx.db, ctx.store, ctx.settings, message(external_id, sender, channel=channel))
    lookup = KeyedSelect(select(Message.channel, Message.external_id), (Message.channel, Message.external_id))
    wanted = {("webform", "a"), ("sms", "c"), ("sms", "b"), ("telegram", "a")}

    def run(session: Session) -> tuple[list[tuple[str, str]], list[tuple[str, str]], list[tuple[str, str]]]:
        connection = session.connection()
        return ([tuple(r) for r in lookup.rows(connection, wanted)], [tuple(r) for r in lookup.rows(connection, [])],
                [tuple(r) for r in lookup.rows(session, [("sms", "a")])])

    found, none, again = await ctx.db.run_write(run)
    assert sorted(found) == [("sms", "c"), ("webform", "a")]
    assert none == [] and again == [("sms", "a")]
