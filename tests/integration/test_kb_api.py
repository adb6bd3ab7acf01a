"""The knowledge base over the API: admin writes with history, public and staff reads, search, suggestions
for tickets and learning from agents' answers."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import timedelta
from functools import partial
from typing import Any

from aiohttp.test_utils import TestClient
from conftest import Staff, create_staff
from sqlalchemy import select, update

from channels.base import InboundMessage, ThreadHints
from contactcenter.actions.agents import do_create_agent, do_set_presence
from contactcenter.actions.audit import SYSTEM
from contactcenter.app import create_app
from contactcenter.context import CTX
from contactcenter.db.models import AuditEvent, KbAutoAnswer, KbDeflection, Message, Offer, Ticket
from contactcenter.db.types import utcnow
from contactcenter.domain.enums import IdentityKind, Presence, Role
from contactcenter.domain.identities import Address
from contactcenter.events import TicketCreated
from contactcenter.intake import intake
from contactcenter.settings import Settings
from kb.autoanswer import AutoAnswerer, HoldSweeper
from tests import waiting

eventually = partial(waiting.eventually, what="the relay did not get there")

Client = TestClient[Any, Any]
V1 = "/api/v1"
ZWNJ = "\u200c"


async def call(client: Client, method: str, path: str, staff: Staff | None = None, status: int = 200,
               **kwargs: Any) -> Any:
    response = await client.request(method, V1 + path, headers=staff.headers if staff else {}, **kwargs)
    assert response.status == status, await response.text()
    return await response.json()


FA_CARD = {"title": "کارت بانکی من کی می‌رسد؟", "language": "fa", "category": "کارت", "status": "published",
           "body": "کارت‌ها ظرف **۵ روز کاری** ارسال می‌شوند.\n\nکد رهگیری پیامک می‌شود.",
           "phrasings": ["هنوز کارتم نرسیده", "كارتم كجاست"]}
EN_CARD = {"title": "When will my card arrive?", "language": "en", "category": "cards", "status": "published",
           "body": "Cards arrive within 5 working days. <script>alert(1)</script> [track](javascript:alert(1))",
           "phrasings": ["I am still waiting on my card", "card not delivered yet"]}
EN_REFUND = {"title": "Getting a refund", "language": "en", "category": "billing", "status": "internal",
             "body": "Refunds go back to the original card within 10 days.", "phrasings": ["I want my money back"]}


async def test_articles_write_read_search_and_history(client: Client, admin: Staff, agent: Staff) -> None:
    fa = await call(client, "POST", "/kb/articles", admin, 201, json=FA_CARD)
    en = await call(client, "POST", "/kb/articles", admin, 201, json=EN_CARD | {"related": [fa["id"]]})
    refund = await call(client, "POST", "/kb/articles", admin, 201, json=EN_REFUND)
    draft = await call(client, "POST", "/kb/articles", admin, 201,
                       json={"title": "Card fees draft", "language": "en", "body": "card fees"})
    assert draft["status"] == "draft" and en["related"] == [fa["id"]]
    assert "<script" not in en["html"] and "href=\"javascript" not in en["html"]
    assert "&lt;script&gt;" in en["html"]  # raw HTML in Markdown is shown as text
    assert "<strong>۵ روز کاری</strong>" in fa["html"]
    # The editor's preview renders a body exactly as the article will show it; admins only.
    preview = await call(client, "POST", "/kb/preview", admin, json={"body": EN_CARD["body"]})
    assert preview["html"] == en["html"]
    await call(client, "POST", "/kb/preview", agent, 403, json={"body": "x"})
    await call(client, "POST", "/kb/preview", admin, 422, json={"body": "x" * 100_001})

    # Writes need an admin; bad input is 422, unknown ids 404 or 422.
    await call(client, "POST", "/kb/articles", agent, 403, json=EN_CARD)
    await call(client, "POST", "/kb/articles", None, 401, json=EN_CARD)
    await call(client, "POST", "/kb/articles", admin, 422, json=EN_CARD | {"status": "secret"})
    await call(client, "POST", "/kb/articles", admin, 422, json=EN_CARD | {"related": [987654]})
    await call(client, "PATCH", "/kb/articles/987654", admin, 404, json={"title": "x"})
    await call(client, "PATCH", f"/kb/articles/{en['id']}", admin, 422, json={"related": [en["id"]]})
    await call(client, "PATCH", f"/kb/articles/{en['id']}", admin, 422, json={"title": None})

    # The public reads published articles only; staff also internal ones; admins drafts too.
    public = await call(client, "GET", "/kb/articles")
    assert {a["id"] for a in public["items"]} == {fa["id"], en["id"]}
    staff = await call(client, "GET", "/kb/articles", agent)
    assert {a["id"] for a in staff["items"]} == {fa["id"], en["id"], refund["id"]}
    every = await call(client, "GET", "/kb/articles", admin)
    assert len(every["items"]) == 4
    await call(client, "GET", f"/kb/articles/{refund['id']}", None, 404)
    await call(client, "GET", f"/kb/articles/{draft['id']}", agent, 404)
    await call(client, "GET", "/kb/articles/abc", None, 404)
    assert (await call(client, "GET", "/kb/articles", params={"category": "کارت"}))["items"][0]["id"] == fa["id"]

    # Search: Persian spelled with Arabic letters and no ZWNJ finds the Persian article.
    found = await call(client, "GET", "/kb/search", params={"q": "كارتها كي ميرسند"})
    assert found["items"][0]["id"] == fa["id"] and 0 < found["items"][0]["score"] <= 1
    assert found["items"][0]["snippet"]
    found = await call(client, "GET", "/kb/search", params={"q": "money back", "language": "en"})
    assert found["items"] == []  # internal: not for the public
    found = await call(client, "GET", "/kb/search", agent, params={"q": "money back"})
    assert found["items"][0]["id"] == refund["id"]
    await call(client, "GET", "/kb/search", None, 422, params={"q": ""})

    # Edit, publish, history; the search follows the change.
    edited = await call(client, "PATCH", f"/kb/articles/{draft['id']}", admin,
                        json={"title": "Card fees", "phrasings": ["fee for my card", "Fee for my  card"]})
    assert (edited["version"], edited["phrasings"]) == (2, ["fee for my card"])
    same = await call(client, "PATCH", f"/kb/articles/{draft['id']}", admin, json={"title": "Card fees"})
    assert same["version"] == 2
    published = await call(client, "POST", f"/kb/articles/{draft['id']}/publish", admin)
    assert (published["status"], published["version"]) == ("published", 3)
    versions = await call(client, "GET", f"/kb/articles/{draft['id']}/versions", admin)
    assert [(v["version"], v["title"], v["status"]) for v in versions["items"]] == [
        (3, "Card fees", "published"), (2, "Card fees", "draft"), (1, "Card fees draft", "draft")]
    found = await call(client, "GET", "/kb/search", params={"q": "what is the fee for my card"})
    assert found["items"][0]["id"] == draft["id"]

    # Delete: gone from reads, search and other articles' related lists.
    await call(client, "DELETE", f"/kb/articles/{fa['id']}", admin)
    await call(client, "GET", f"/kb/articles/{fa['id']}", admin, 404)
    assert (await call(client, "GET", f"/kb/articles/{en['id']}"))["related"] == []
    found = await call(client, "GET", "/kb/search", params={"q": "کارتم کجاست"})
    assert all(item["id"] != fa["id"] for item in found["items"])
    await call(client, "DELETE", f"/kb/articles/{fa['id']}", admin, 404)

    async with client.app[CTX].db.read() as session:
        actions = (await session.scalars(select(AuditEvent.action).where(AuditEvent.object_type == "kb_article")
                                         .order_by(AuditEvent.id))).all()
    assert actions.count("kb_article.create") == 4 and "kb_article.delete" in actions


async def _ticket(client: Client, text: str, subject: str, external_id: str) -> int:
    ctx = client.app[CTX]
    result = await intake(ctx.db, ctx.store, ctx.settings, InboundMessage(
        channel="webform", external_id=external_id, sender=Address(IdentityKind.EMAIL, "sara@example.com"),
        received_at=utcnow(), text=text, subject=subject))
    return result.ticket_id


async def test_suggestions_in_the_ticket_language_and_learning(client: Client, admin: Staff, agent: Staff) -> None:
    fa = await call(client, "POST", "/kb/articles", admin, 201, json=FA_CARD)
    en = await call(client, "POST", "/kb/articles", admin, 201, json=EN_CARD)
    await call(client, "POST", "/kb/articles", admin, 201, json=EN_REFUND)

    fa_ticket = await _ticket(client, f"سلام، کارت{ZWNJ}ام هنوز نرسیده است", "کارت", "kb-1")
    suggestions = await call(client, "GET", f"/tickets/{fa_ticket}/suggestions", agent)
    assert suggestions["language"] == "fa"
    assert [s["id"] for s in suggestions["items"]] == [fa["id"]]  # only Persian articles for a Persian ticket
    assert suggestions["items"][0]["snippet"]

    en_ticket = await _ticket(client, "Hello, my card has not arrived and I want my money back", "Card", "kb-2")
    suggestions = await call(client, "GET", f"/tickets/{en_ticket}/suggestions", agent)
    assert suggestions["language"] == "en" and 1 <= len(suggestions["items"]) <= 3
    assert en["id"] in [s["id"] for s in suggestions["items"]]
    await call(client, "GET", "/tickets/987654/suggestions", agent, 404)
    await call(client, "GET", f"/tickets/{en_ticket}/suggestions", None, 401)

    # The agent answered with the article: the question is kept once, for review.
    used = await call(client, "POST", f"/tickets/{en_ticket}/kb-used", agent, json={"article_id": en["id"]})
    learned = used["learned"]
    assert learned["text"] == "Hello, my card has not arrived and I want my money back"
    assert learned["status"] == "pending" and learned["ticket_id"] == en_ticket
    again = await call(client, "POST", f"/tickets/{en_ticket}/kb-used", agent, json={"article_id": en["id"]})
    assert again["learned"] is None
    await call(client, "POST", f"/tickets/{en_ticket}/kb-used", agent, 422, json={"article_id": 987654})
    # A question already among the phrasings is not learned again.
    known = await _ticket(client, "I am still waiting on my card", "", "kb-3")
    assert (await call(client, "POST", f"/tickets/{known}/kb-used", agent,
                       json={"article_id": en["id"]}))["learned"] is None

    pending = await call(client, "GET", "/kb/phrasings", admin)
    assert [p["id"] for p in pending["items"]] == [learned["id"]]
    await call(client, "GET", "/kb/phrasings", agent, 403)
    reviewed = await call(client, "POST", f"/kb/phrasings/{learned['id']}/review", admin, json={"approve": True})
    assert reviewed["status"] == "approved"
    await call(client, "POST", f"/kb/phrasings/{learned['id']}/review", admin, 409, json={"approve": False})
    article = await call(client, "GET", f"/kb/articles/{en['id']}")
    assert article["phrasings"][-1] == learned["text"] and article["version"] == 2


async def test_a_reply_with_an_article_learns_the_question(client: Client, admin: Staff, agent: Staff) -> None:
    fa = await call(client, "POST", "/kb/articles", admin, 201, json=FA_CARD)
    ticket = await _ticket(client, "کارت من گم شده، کی کارت جدید می‌رسد؟", "کارت", "kb-4")
    await call(client, "POST", f"/tickets/{ticket}/replies", agent, 422,
               json={"text": "پاسخ", "article_id": 987654})
    await call(client, "POST", f"/tickets/{ticket}/replies", agent, 201,
               json={"text": "کارت ظرف ۵ روز می‌رسد.", "article_id": fa["id"]})
    pending = await call(client, "GET", "/kb/phrasings", admin)
    assert [(p["article_id"], p["text"], p["ticket_id"]) for p in pending["items"]] == [
        (fa["id"], "کارت من گم شده، کی کارت جدید می‌رسد؟", ticket)]
    rejected = await call(client, "POST", f"/kb/phrasings/{pending['items'][0]['id']}/review", admin,
                          json={"approve": False})
    assert rejected["status"] == "rejected"
    assert (await call(client, "GET", f"/kb/articles/{fa['id']}"))["phrasings"] == FA_CARD["phrasings"]
    # The same question again stays rejected: it is not offered for review a second time.
    await call(client, "POST", f"/tickets/{ticket}/replies", agent, 201, json={"text": "x", "article_id": fa["id"]})
    assert (await call(client, "GET", "/kb/phrasings", admin))["items"] == []


async def test_self_service_suggests_above_the_channel_threshold_and_records_deflection(
        client: Client, admin: Staff, supervisor: Staff, agent: Staff) -> None:
    fa = await call(client, "POST", "/kb/articles", admin, 201, json=FA_CARD)
    en = await call(client, "POST", "/kb/articles", admin, 201, json=EN_CARD)
    await call(client, "POST", "/kb/articles", admin, 201, json=EN_REFUND | {"status": "published"})

    typed = await call(client, "GET", "/kb/suggest", params={"q": "I am still waiting on my card"})
    assert [i["id"] for i in typed["items"]] == [en["id"]]
    typed = await call(client, "GET", "/kb/suggest", params={"q": "هنوز کارتم نرسيده", "language": "fa"})
    assert [i["id"] for i in typed["items"]] == [fa["id"]]
    # Below the threshold nothing is offered: an unrelated question, or half of one word.
    assert (await call(client, "GET", "/kb/suggest", params={"q": "what is the weather in Paris"}))["items"] == []
    assert (await call(client, "GET", "/kb/suggest", params={"q": "I"}))["items"] == []
    # SMS never answers automatically by default, nor does a channel without a threshold.
    for channel in ("sms", "fax"):
        found = await call(client, "GET", "/kb/suggest", params={"q": "I am still waiting on my card",
                                                                  "channel": channel})
        assert found["items"] == []
    await call(client, "GET", "/kb/suggest", None, 422, params={"q": "card", "channel": "NOT A CHANNEL!"})

    await call(client, "POST", "/kb/feedback", None, 201, json={"article_id": en["id"], "helpful": True})
    await call(client, "POST", "/kb/feedback", None, 201, json={"article_id": en["id"], "helpful": True})
    await call(client, "POST", "/kb/feedback", None, 201,
               json={"article_id": fa["id"], "helpful": False, "channel": "chat"})
    await call(client, "POST", "/kb/feedback", None, 201, json={"article_id": fa["id"], "helpful": False})
    await call(client, "POST", "/kb/feedback", None, 422, json={"article_id": 987654, "helpful": True})
    report = await call(client, "GET", "/kb/deflections", supervisor)
    assert report["items"] == [
        {"channel": "chat", "helpful": 0, "not_helpful": 1, "rate": 0.0},
        {"channel": "webform", "helpful": 2, "not_helpful": 1, "rate": 0.6667},
    ]
    await call(client, "GET", "/kb/deflections", agent, 403)
    # Deleting an article keeps its deflection figures.
    await call(client, "DELETE", f"/kb/articles/{en['id']}", admin)
    assert (await call(client, "GET", "/kb/deflections", supervisor))["items"][1]["helpful"] == 2


async def test_the_contact_form_loads_the_suggestion_script(client: Client) -> None:
    page = await (await client.get("/contact")).text()
    assert 'id="kb-suggestion"' in page and '<script src="/static/kb-suggest.js" defer></script>' in page
    script = await client.get("/static/kb-suggest.js")
    assert script.status == 200
    assert "/api/v1/kb/suggest?channel=webform" in await script.text()


async def test_help_pages_show_published_articles_only(client: Client, admin: Staff) -> None:
    fa = await call(client, "POST", "/kb/articles", admin, 201, json=FA_CARD)
    en = await call(client, "POST", "/kb/articles", admin, 201, json=EN_CARD | {"related": [fa["id"]]})
    internal = await call(client, "POST", "/kb/articles", admin, 201, json=EN_REFUND)
    index = await client.get("/help")
    assert index.status == 200
    page = await index.text()
    assert f'href="/help/{fa["id"]}"' in page and f'href="/help/{en["id"]}"' in page
    assert f'href="/help/{internal["id"]}"' not in page and "<h2 dir=\"auto\">کارت</h2>" in page
    found = await (await client.get("/help", params={"q": "كارتم كجاست"})).text()
    assert f'href="/help/{fa["id"]}"' in found
    nothing = await (await client.get("/help", params={"q": "money back"})).text()
    assert "No article matches" in nothing
    article = await client.get(f"/help/{en['id']}")
    body = await article.text()
    assert article.status == 200 and "<h1>When will my card arrive?</h1>" in body
    assert "<script>" not in body and "&lt;script&gt;" in body and f'href="/help/{fa["id"]}"' in body
    assert 'dir="rtl"' in await (await client.get(f"/help/{fa['id']}")).text()
    for missing in (str(internal["id"]), "987654", "abc", "99999999999999999999"):
        assert (await client.get(f"/help/{missing}")).status == 404


async def _chat_ticket(client: Client, text: str, visitor: str) -> int:
    ctx = client.app[CTX]
    result = await intake(ctx.db, ctx.store, ctx.settings, InboundMessage(
        channel="chat", external_id=f"chat-{visitor}", sender=Address(IdentityKind.CHAT, visitor),
        received_at=utcnow(), text=text, hints=ThreadHints(conversation_key=f"conv-{visitor}")))
    return result.ticket_id


async def _kb_answer(client: Client, ticket_id: int) -> Message | None:
    async with client.app[CTX].db.read() as session:
        found: Message | None = await session.scalar(select(Message).where(
            Message.ticket_id == ticket_id, Message.external_id == f"kb-answer:{ticket_id}"))
        return found


async def test_a_new_chat_is_answered_with_a_confident_article_and_can_be_deflected(
        client: Client, admin: Staff, supervisor: Staff, agent: Staff) -> None:
    en = await call(client, "POST", "/kb/articles", admin, 201, json=EN_CARD)
    await call(client, "POST", "/kb/articles", admin, 201, json=EN_REFUND | {"status": "published"})
    unsure = await _chat_ticket(client, "hello, is anybody there?", "v2")
    ticket = await _chat_ticket(client, "I am still waiting on my card", "v1")
    answer = await eventually(lambda: _kb_answer(client, ticket))
    assert "When will my card arrive?" in answer.text and f"/help/{en['id']}" in answer.text
    # Below the threshold nothing is sent; a redelivered event answers no second time.
    ctx = client.app[CTX]
    answerer = AutoAnswerer(ctx.db, ctx.kb, ctx.settings.kb, ctx.settings.base_url, ctx.secret)
    for ticket_id in (unsure, ticket):
        await answerer.on_ticket_created(TicketCreated(ticket_id=ticket_id, channel="chat"))
    assert await _kb_answer(client, unsure) is None
    assert len(await _audit(client, "kb.auto_answered")) == 1
    link = re.search(r"(/help/\d+/helped/\d+/[0-9a-f]+)", answer.text)
    assert link is not None
    page = await client.get(link.group(1))
    page_text = await page.text()
    assert page.status == 200 and 'method="post"' in page_text
    assert page_text.count('name="helpful"') == 2 and page_text.count("<form") == 1
    async with client.app[CTX].db.read() as session:
        assert (await session.get(Ticket, ticket)).status != "solved"  # a GET (link preview) changes nothing
    for _ in range(2):
        confirmed = await client.post(link.group(1))
        assert confirmed.status == 200
    detail = await call(client, "GET", f"/tickets/{ticket}", agent)
    assert detail["status"] == "solved" and "deflected" in detail["tags"]
    report = await call(client, "GET", "/kb/deflections", supervisor)
    assert report["items"] == [{"channel": "chat", "helpful": 1, "not_helpful": 0, "rate": 1.0}]
    forged = link.group(1)[:-4] + "0000"
    assert (await client.post(forged)).status == 404
    assert (await client.get(forged)).status == 404


async def _audit(client: Client, action: str) -> list[str]:
    async with client.app[CTX].db.read() as session:
        return list((await session.scalars(select(AuditEvent.action).where(AuditEvent.action == action))).all())


async def _ticket_row(client: Client, ticket_id: int) -> Ticket:
    async with client.app[CTX].db.read() as session:
        ticket = await session.get(Ticket, ticket_id)
        assert ticket is not None
        return ticket


async def _offers(client: Client, ticket_id: int) -> int:
    async with client.app[CTX].db.read() as session:
        return len((await session.scalars(select(Offer).where(Offer.ticket_id == ticket_id))).all())


async def _available_agent(client: Client) -> None:
    async with client.app[CTX].db.write() as session:
        user = await do_create_agent(session, email="hold@example.com", name="Hold", role=Role.AGENT, password=None,
                                     languages=["en", "fa"], capacity={"chat": 5, "email": 5}, actor=SYSTEM)
        await do_set_presence(session, user.id, Presence.AVAILABLE, actor=SYSTEM)


async def test_an_answered_ticket_waits_for_the_customer_before_routing(client: Client, admin: Staff) -> None:
    await call(client, "POST", "/kb/articles", admin, 201, json=EN_CARD)
    await _available_agent(client)
    routed = await _chat_ticket(client, "hello, is anybody there?", "v-routed")  # no answer: routed at once
    held = await _chat_ticket(client, "I am still waiting on my card", "v-held")
    answer = await eventually(lambda: _kb_answer(client, held))
    assert await eventually(lambda: _offers(client, routed)) == 1
    await client.app[CTX].relay.drain()
    assert (await _ticket_row(client, held)).status == "pending" and await _offers(client, held) == 0
    # "No": the ticket is opened and offered to the agent; a second answer changes nothing.
    link = re.search(r"(/help/\d+/helped/\d+/[0-9a-f]+)", answer.text)
    assert link is not None
    for _ in range(2):
        assert (await client.post(link.group(1), data={"helpful": "no"})).status == 200
    assert await eventually(lambda: _offers(client, held)) == 1
    assert (await _ticket_row(client, held)).status == "open"
    async with client.app[CTX].db.read() as session:
        [deflection] = (await session.scalars(select(KbDeflection))).all()
    assert (deflection.channel, deflection.helpful) == ("chat", False)


async def test_the_wait_ends_by_itself_and_a_new_message_ends_it_too(client: Client, admin: Staff) -> None:
    await call(client, "POST", "/kb/articles", admin, 201, json=EN_CARD)
    ctx = client.app[CTX]
    first = await _chat_ticket(client, "I am still waiting on my card", "v-wait1")
    second = await _chat_ticket(client, "card not delivered yet", "v-wait2")
    for ticket_id in (first, second):
        await eventually(lambda ticket_id=ticket_id: _kb_answer(client, ticket_id))
    sweeper = HoldSweeper(ctx.db, ctx.settings.kb)
    assert await sweeper.sweep() == []  # not due yet
    # The customer of the second ticket writes again: intake opens it, the wait no longer matters.
    await intake(ctx.db, ctx.store, ctx.settings, InboundMessage(
        channel="chat", external_id="chat-v-wait2-again", sender=Address(IdentityKind.CHAT, "v-wait2"),
        received_at=utcnow(), text="it did not help", hints=ThreadHints(conversation_key="conv-v-wait2")))
    assert (await _ticket_row(client, second)).status == "open"
    async with ctx.db.write() as session:
        await session.execute(update(KbAutoAnswer).values(hold_until=utcnow() - timedelta(seconds=1)))
    assert await sweeper.sweep() == [first]
    assert (await _ticket_row(client, first)).status == "open"
    assert await sweeper.sweep() == []
    assert len(await _audit(client, "kb.answer_timed_out")) == 2


async def test_without_a_hold_the_answered_ticket_is_routed_at_once(
        aiohttp_client: Callable[..., Awaitable[Client]], settings: Settings) -> None:
    client = await aiohttp_client(create_app(settings.with_overrides({"kb": {"answer_hold_seconds": 0}})))
    admin = await create_staff(client.app[CTX], Role.ADMIN)
    await call(client, "POST", "/kb/articles", admin, 201, json=EN_CARD)
    ticket = await _chat_ticket(client, "I am still waiting on my card", "v-nohold")
    await eventually(lambda: _kb_answer(client, ticket))
    assert (await _ticket_row(client, ticket)).status == "open"
