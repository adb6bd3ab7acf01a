"""The customer's side in a real browser: the web form suggests an article while they type, and the chat
widget reaches an agent who accepts the offer and answers in the console."""

from __future__ import annotations

import re
from typing import Any

from e2e_support import Server, browser, seed_article, seed_staff, server, shot, sign_in
from playwright.async_api import expect

from contactcenter.actions.customer_signin import do_request_magic_link, signin_url
from contactcenter.db.types import utcnow

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
    await shot(customer, "webform-suggestion")

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
