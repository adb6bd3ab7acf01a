"""The customer's side in a real browser: the web form suggests an article while they type, the chat widget
reaches an agent who accepts the offer and answers in the console, and a chat answered from the knowledge base
is solved or sent to an agent by the customer's "did this help?"."""

from __future__ import annotations

import re
from typing import Any

from e2e_support import Server, browser, seed_article, seed_staff, server, shot, sign_in
from playwright.async_api import expect
from sqlalchemy import select

from contactcenter.actions.audit import SYSTEM
from contactcenter.actions.customer_signin import do_request_magic_link, signin_url
from contactcenter.actions.kb import do_create_article
from contactcenter.actions.tickets import ticket_tags
from contactcenter.db.models import KbDeflection, Ticket
from contactcenter.db.types import utcnow
from tests.waiting import eventually

__all__ = ["browser", "server"]  # fixtures


async def test_web_form_suggestions_then_a_live_chat_with_an_agent(server: Server, browser: Any) -> None:
    ctx = server.ctx
    await seed_article(ctx)
    await seed_staff(ctx, "chat@e2e.example", "Nima Agent")
    agent = await browser.new_page()
    await sign_in(agent, f"{server.url}/console", "chat@e2e.example")
    await agent.select_option("#presence", "available")
    await expect(agent.locator("#live-state")).to_have_text("")

    customer = await browser.new_page()
    await customer.goto(f"{server.url}/contact")
    await customer.fill("#subject", "I forgot my password")
    box = customer.locator("#kb-suggestion")
    await expect(box).to_contain_text("Reset your password", timeout=10000)
    await box.locator(".kb-more").click()  # the article, rendered and sanitized by the server
    await expect(box.locator(".kb-body strong")).to_have_text("Settings → Security")
    await shot(customer, "webform-suggestion")
    await box.locator(".kb-yes").click()
    await expect(box.locator(".kb-thanks")).to_be_visible()
    async def deflections() -> list[KbDeflection]:  # the page posts the feedback in the background
        async with ctx.db.read() as session:
            return list((await session.scalars(select(KbDeflection))).all())
    assert [(d.channel, d.helpful) for d in await eventually(deflections)] == [("webform", True)]

    # Not answered by the article: the customer chats instead.
    await customer.goto(f"{server.url}/chat")
    await customer.click(".ccchat-open")
    await customer.fill(".ccchat-prechat input[type=text], .ccchat-prechat input:not([type])", "Reza")
    await customer.click(".ccchat-prechat button[type=submit]")
    await customer.fill(".ccchat-form textarea", "Hello, my order 1234 has not arrived.")
    await customer.click(".ccchat-form button[type=submit]")

    offer = agent.locator(".offer").first
    await expect(offer).to_contain_text("chat", timeout=15000)
    await offer.locator("button.accept").click()
    await expect(agent.locator("#timeline .message.inbound")).to_contain_text("order 1234")
    await agent.fill("#compose-text", "Hi Reza, I am checking order 1234 now.")
    await agent.keyboard.press("Control+Enter")

    await expect(customer.locator(".ccchat-theirs .ccchat-text").last).to_have_text(
        "Hi Reza, I am checking order 1234 now.", timeout=10000)
    await shot(customer, "chat-widget-answer")
    # The visitor writes again: the console shows it without a reload.
    await customer.fill(".ccchat-form textarea", "Thank you!")
    await customer.click(".ccchat-form button[type=submit]")
    await expect(agent.locator("#timeline .message.inbound").last).to_have_text(re.compile("Thank you!"),
                                                                                timeout=10000)
    await shot(agent, "console-chat")


async def test_my_tickets_after_a_magic_link(server: Server, browser: Any) -> None:
    ctx = server.ctx
    customer = await browser.new_page()
    await customer.goto(f"{server.url}/contact")
    await customer.fill("#email", "mina@customers.example")
    await customer.fill("#subject", "Invoice copy")
    await customer.fill("#message", "Please send me a copy of my last invoice.")
    await customer.click("form button[type=submit]")
    await customer.wait_for_url(re.compile(r"/t/"))

    await customer.goto(f"{server.url}/my")
    await expect(customer.locator("#my-signin")).to_be_visible()  # not signed in yet
    async with ctx.db.write() as session:
        link = await do_request_magic_link(session, "mina@customers.example", ctx.secret, 15, utcnow())
        assert link is not None
    await customer.goto(signin_url(server.url, ctx.secret, link))  # what the e-mail links to
    await expect(customer).to_have_url(f"{server.url}/my")
    await expect(customer.locator("#my-tickets")).to_contain_text("Invoice copy")
    await customer.locator("#my-tickets a").first.click()
    await expect(customer.locator("#my-messages")).to_contain_text("copy of my last invoice")
    await shot(customer, "my-ticket")
    await customer.goto(f"{server.url}/my?lang=fa")
    await expect(customer.locator("h1")).to_have_text("تیکت‌های من")
    await customer.click("#my-signout")
    await expect(customer.locator("#my-signin")).to_be_visible()


async def _chat(browser: Any, url: str, name: str, question: str) -> Any:
    """A new visitor who opens the widget on ``url``, gives a name and asks ``question``."""
    customer = await browser.new_page()
    await customer.goto(url)
    await customer.click(".ccchat-open")
    await customer.fill(".ccchat-prechat input:not([type=email])", name)
    await customer.click(".ccchat-prechat button[type=submit]")
    await customer.fill(".ccchat-form textarea", question)
    await customer.click(".ccchat-form button[type=submit]")
    return customer


async def _ticket(server: Server, subject_part: str) -> tuple[Ticket, list[str], list[KbDeflection]]:
    async with server.ctx.db.read() as session:
        tickets = [t for t in (await session.scalars(select(Ticket))).all() if subject_part in (t.subject or "")]
        assert len(tickets) == 1, tickets
        tags = (await ticket_tags(session, [tickets[0].id]))[tickets[0].id]
        return tickets[0], tags, list((await session.scalars(select(KbDeflection))).all())


async def test_a_chat_answered_from_the_knowledge_base_is_deflected_or_sent_to_an_agent(
        server: Server, browser: Any) -> None:
    ctx = server.ctx
    await seed_article(ctx)
    async with ctx.db.write() as session:
        await do_create_article(session, title="بازیابی رمز عبور", language="fa", category="حساب", status="published",
                                body="در **تنظیمات ← امنیت** گزینهٔ *بازیابی رمز* را بزنید. پیوندی برایتان ایمیل می‌شود.",
                                phrasings=["رمز عبورم را فراموش کرده‌ام", "چطور رمزم را عوض کنم"], actor=SYSTEM)
    await seed_staff(ctx, "kb-chat@e2e.example", "Sara Agent")

    # Persian, right to left: the widget shows the article's answer with working links, and "yes" solves it.
    customer = await _chat(browser, f"{server.url}/chat?lang=fa", "مینا", "رمز عبورم را فراموش کرده‌ام")
    await expect(customer.locator(".ccchat")).to_have_attribute("dir", "rtl")
    answer = customer.locator(".ccchat-theirs .ccchat-text").last
    await expect(answer).to_contain_text("بازیابی رمز عبور", timeout=15000)
    links = answer.locator("a")
    await expect(links).to_have_count(2)  # the article, then "did this help?"
    await expect(links.first).to_have_attribute("href", re.compile(r"/help/\d+$"))
    await expect(links.first).to_have_attribute("rel", "noopener noreferrer nofollow")
    await shot(customer, "chat-kb-answer-fa")
    async with customer.context.expect_page() as opened:
        await links.last.click()
    helped = await opened.value
    await expect(helped.locator("h1")).to_contain_text("Did the article answer your question?")
    assert (await _ticket(server, "رمز عبورم"))[0].status == "pending"  # opening the page changes nothing
    await helped.click("button[value=yes]")
    await expect(helped.locator("main, body").first).to_contain_text("We are glad it helped")
    ticket, tags, deflections = await _ticket(server, "رمز عبورم")
    assert ticket.status == "solved" and "deflected" in tags
    assert [(d.channel, d.helpful) for d in deflections] == [("chat", True)]

    # English: "no" sends the chat to an agent at once, whose console is offered it.
    agent = await browser.new_page()
    await sign_in(agent, f"{server.url}/console", "kb-chat@e2e.example")
    await agent.select_option("#presence", "available")
    customer = await _chat(browser, f"{server.url}/chat", "Reza", "I forgot my password")
    answer = customer.locator(".ccchat-theirs .ccchat-text").last
    await expect(answer).to_contain_text("Reset your password", timeout=15000)
    async with customer.context.expect_page() as opened:
        await answer.locator("a").last.click()
    helped = await opened.value
    await helped.click("button[value=no]")
    await expect(helped.locator("main, body").first).to_contain_text("One of our team will answer you soon")
    await expect(agent.locator(".offer").first).to_contain_text("chat", timeout=15000)
    ticket, tags, deflections = await _ticket(server, "I forgot my password")
    assert ticket.status == "open" and "deflected" not in tags
    assert sorted((d.channel, d.helpful) for d in deflections) == [("chat", False), ("chat", True)]
