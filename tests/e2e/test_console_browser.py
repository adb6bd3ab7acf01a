"""The agent console in a real browser: sign in, accept an offer, answer with a suggested article; the customer
reads the answer on the ticket's portal page. And the Persian console: right to left, Jalali dates."""

from __future__ import annotations

import re
from typing import Any

from e2e_support import Server, browser, seed_article, seed_staff, server, shot, sign_in
from playwright.async_api import expect
from sqlalchemy import select

from contactcenter.db.models import KbLearnedPhrasing, Message

__all__ = ["browser", "server"]  # fixtures


async def test_agent_accepts_an_offer_and_answers_with_a_suggested_article(server: Server, browser: Any) -> None:
    ctx = server.ctx
    await seed_staff(ctx, "agent@e2e.example", "Sara Agent")
    article_id = await seed_article(ctx)

    customer = await browser.new_page()
    await customer.goto(f"{server.url}/contact")
    await customer.fill("#name", "Reza Customer")
    await customer.fill("#email", "reza@customers.example")
    await customer.fill("#subject", "I forgot my password")
    await customer.fill("#message", "I cannot log in because I forgot my password. How do I reset it?")
    await customer.click("form button[type=submit]")
    await customer.wait_for_url(re.compile(r"/t/"))
    portal_url = customer.url

    agent = await browser.new_page()
    await sign_in(agent, f"{server.url}/console", "agent@e2e.example")
    await expect(agent.locator("#nav-mine")).to_be_visible()
    await agent.select_option("#presence", "available")  # the router now offers the waiting ticket
    offer = agent.locator(".offer").first
    await expect(offer).to_be_visible(timeout=15000)
    await expect(offer.locator(".countdown")).to_have_text(re.compile(r"\d+ s left"))
    await expect(offer.locator(".offer-subject")).to_have_text("I forgot my password")
    await shot(agent, "console-offer")
    await offer.locator("button.accept").click()

    await expect(agent.locator("#ticket-subject")).to_contain_text("I forgot my password")
    await expect(agent.locator("#ticket-assignee")).to_have_text("Sara Agent")
    await expect(agent.locator("#timeline .message.inbound")).to_contain_text("How do I reset it?")
    await expect(agent.locator("#customer-panel")).to_contain_text("reza@customers.example")
    suggestion = agent.locator(f"#kb-panel li[data-article='{article_id}']")
    await expect(suggestion).to_contain_text("Reset your password")
    await suggestion.locator("button.insert-article").click()
    await expect(agent.locator("#compose-text")).to_have_value(re.compile(r"Settings → Security"))
    await expect(agent.locator("#compose-article")).to_contain_text("Reset your password")
    await shot(agent, "console-ticket-with-article")
    await agent.click("#compose-send")
    await expect(agent.locator("#timeline .message.outbound")).to_contain_text("Reset password", timeout=10000)

    # The customer reads the answer on the ticket's own page.
    for _ in range(50):
        await customer.goto(portal_url)
        if await customer.get_by_text("Settings → Security").count():
            break
        await customer.wait_for_timeout(200)
    await expect(customer.get_by_text("Settings → Security").first).to_be_visible()
    await shot(customer, "customer-portal-answer")

    async with ctx.db.read() as session:
        replies = (await session.scalars(select(Message).where(Message.direction == "out",
                                                               Message.internal.is_(False)))).all()
        learned = (await session.scalars(select(KbLearnedPhrasing))).all()
    assert len(replies) == 1 and "Reset password" in replies[0].text
    assert [p.article_id for p in learned] == [article_id]  # the reply named its article


async def test_two_agents_see_each_other_on_the_same_ticket(server: Server, browser: Any) -> None:
    ctx = server.ctx
    await seed_staff(ctx, "one@e2e.example", "Agent One")
    await seed_staff(ctx, "two@e2e.example", "Agent Two")
    customer = await browser.new_page()
    await customer.goto(f"{server.url}/contact")
    await customer.fill("#email", "c2@customers.example")
    await customer.fill("#subject", "Where is my parcel")
    await customer.fill("#message", "It has not arrived yet.")
    await customer.click("form button[type=submit]")
    await customer.wait_for_url(re.compile(r"/t/"))

    one, two = await browser.new_page(), await browser.new_page()
    await sign_in(one, f"{server.url}/console", "one@e2e.example")
    await sign_in(two, f"{server.url}/console", "two@e2e.example")
    await one.click("#nav-open")
    await one.locator("#ticket-list tbody tr").first.click()
    ticket_url = one.url
    await two.goto(ticket_url)
    await expect(one.locator("#viewers")).to_contain_text("Agent Two")
    await two.click("#mode-note")
    await two.type("#compose-text", "@one please check the courier")
    await expect(one.locator("#viewers")).to_contain_text("Agent Two is typing")
    await two.click("#compose-send")
    await expect(one.locator("#timeline .message.internal")).to_contain_text("@one please check", timeout=10000)
    await expect(one.locator(".toast")).to_contain_text("Agent Two mentioned you")
    await shot(one, "console-collision-and-mention")
    await two.close()
    await expect(one.locator("#viewers")).not_to_contain_text("Agent Two")


async def test_the_persian_console_reads_right_to_left_with_jalali_dates(server: Server, browser: Any) -> None:
    ctx = server.ctx
    await seed_staff(ctx, "fa@e2e.example", "سارا", available=False)
    customer = await browser.new_page()
    await customer.goto(f"{server.url}/contact")
    await customer.fill("#email", "ali@customers.example")
    await customer.fill("#subject", "سفارش من نرسیده است")
    await customer.fill("#message", "سلام، سفارش من هنوز نرسیده است.")
    await customer.click("form button[type=submit]")
    await customer.wait_for_url(re.compile(r"/t/"))

    page = await browser.new_page()
    await page.goto(f"{server.url}/console?lang=fa")
    assert await page.evaluate("document.documentElement.dir") == "rtl"
    await expect(page.locator("#login h1")).to_have_text("ورود")
    await sign_in(page, f"{server.url}/console", "fa@e2e.example")  # the cookie keeps Persian
    assert await page.evaluate("document.documentElement.dir") == "rtl"
    await expect(page.locator("#nav-mine")).to_have_text("صف من")
    await page.click("#nav-open")
    row = page.locator("#ticket-list tbody tr").first
    await expect(row).to_contain_text("سفارش من نرسیده است")
    # Jalali (Solar Hijri) year in Persian digits: 2026 is 1404/1405.
    await expect(row.locator("td").last).to_have_text(re.compile("۱۴۰[۴۵]"))
    width = await page.evaluate("window.innerWidth")
    sidebar = await page.locator(".sidebar").bounding_box()
    assert sidebar is not None and sidebar["x"] > width / 2  # the side bar moved to the right
    await shot(page, "console-persian-list")
    await row.click()
    await expect(page.locator("#compose-send")).to_contain_text("ارسال")
    await shot(page, "console-persian-ticket")
