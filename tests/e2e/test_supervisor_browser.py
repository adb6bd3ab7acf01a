"""The supervisor's wallboard in a real browser: an SLA breach appears live, without reloading the page."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from e2e_support import Server, browser, seed_staff, server, shot, sign_in
from playwright.async_api import expect

from contactcenter.db.models import SlaPolicy, Ticket
from contactcenter.domain.enums import Role

__all__ = ["browser", "server"]  # fixtures


async def test_a_breach_appears_on_the_wallboard_live(server: Server, browser: Any) -> None:
    ctx = server.ctx
    await seed_staff(ctx, "boss@e2e.example", "Mina Supervisor", Role.SUPERVISOR)
    async with ctx.db.write() as session:
        session.add(SlaPolicy(name="Fast", position=1, conditions={}, calendar={"business_hours": False},
                              targets={"first_response_minutes": 60}))
    page = await browser.new_page()
    await sign_in(page, f"{server.url}/wallboard", "boss@e2e.example")
    await expect(page.locator("#wall-breached")).to_have_text("None.")

    customer = await browser.new_page()
    await customer.goto(f"{server.url}/contact")
    await customer.fill("#email", "late@customers.example")
    await customer.fill("#subject", "Nobody answers")
    await customer.fill("#message", "I have been waiting for days.")
    await customer.click("form button[type=submit]")
    await customer.wait_for_url(re.compile(r"/t/"))
    await expect(page.locator("#wall-queues")).to_contain_text("webform", timeout=10000)  # live: it waits
    await expect(page.locator(".tile-waiting .tile-value")).to_have_text("1")

    assert ctx.sla is not None
    async with ctx.db.read() as session:
        ticket = await session.get(Ticket, 1)
        assert ticket is not None
        created = ticket.created_at
    await ctx.relay.drain()  # the SLA clocks of the new ticket are set
    await ctx.sla.tick(created + timedelta(minutes=61))  # the first response is late now
    breached = page.locator("#wall-breached")
    await expect(breached).to_contain_text("Nobody answers", timeout=10000)
    await expect(breached.locator(".clock").first).to_have_text(re.compile(r"breached .* ago"))
    await expect(page.locator(".tile-breached")).to_have_class(re.compile("bad"))
    await shot(page, "wallboard-breach")

    # An action from the wallboard: raise the priority.
    await breached.locator("select").first.select_option("urgent")
    await expect(page.locator(".toast")).to_contain_text("Saved")


async def test_agents_may_not_open_the_wallboard(server: Server, browser: Any) -> None:
    await seed_staff(server.ctx, "agent@e2e.example", "Agent")
    page = await browser.new_page()
    await sign_in(page, f"{server.url}/wallboard", "agent@e2e.example")
    await expect(page.locator(".card.error")).to_contain_text("supervisor")


async def test_reports_show_a_chart_a_table_and_a_csv_link_in_both_languages(server: Server, browser: Any) -> None:
    await seed_staff(server.ctx, "boss@e2e.example", "Mina Supervisor", Role.SUPERVISOR)
    customer = await browser.new_page()
    await customer.goto(f"{server.url}/contact")
    await customer.fill("#email", "volume@customers.example")
    await customer.fill("#subject", "A question")
    await customer.fill("#message", "How late are you open?")
    await customer.click("form button[type=submit]")
    await customer.wait_for_url(re.compile(r"/t/"))

    page = await browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await sign_in(page, f"{server.url}/reports", "boss@e2e.example")
    await page.select_option("#report-name", "volume")
    await page.click(".report-form button[type=submit]")
    await expect(page.locator("#report-table")).to_be_visible(timeout=10000)
    await expect(page.locator("#report-chart svg rect").first).to_be_visible()
    href = await page.locator("#report-csv").get_attribute("href")
    assert href is not None and href.startswith("/api/v1/reports/volume?") and "format=csv" in href
    csv = await page.request.get(f"{server.url}{href}")
    assert csv.status == 200 and "text/csv" in csv.headers["content-type"]
    await shot(page, "reports-volume")
    await page.goto(f"{server.url}/reports?lang=fa#report=agents")
    await expect(page.locator("h1")).to_have_text("گزارش‌ها")
    assert await page.evaluate("document.documentElement.dir") == "rtl"
    await expect(page.locator("#report-table, #report .empty").first).to_be_visible(timeout=10000)
    await shot(page, "reports-persian")
    assert errors == []
