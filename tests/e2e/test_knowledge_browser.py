"""The knowledge base's administration in a real browser: an admin writes a Persian article (previewed before it
is saved), publishes it, edits it, restores an older version, reviews the questions learned from agents' answers
and deletes; agents may not open the page."""

from __future__ import annotations

import re
from typing import Any

from e2e_support import Server, browser, seed_article, seed_staff, server, shot, sign_in
from playwright.async_api import expect
from sqlalchemy import select

from contactcenter.actions.audit import SYSTEM
from contactcenter.actions.kb import do_learn_phrasing
from contactcenter.db.models import KbArticle, KbLearnedPhrasing
from contactcenter.domain.enums import Role

__all__ = ["browser", "server"]  # fixtures


async def _article(server: Server, title: str) -> KbArticle | None:
    async with server.ctx.db.read() as session:
        return await session.scalar(select(KbArticle).where(KbArticle.title == title))


async def _search(page: Any, url: str, q: str) -> list[str]:
    """The public search, as a customer's browser calls it (no session)."""
    response = await page.request.get(f"{url}/api/v1/kb/search", params={"q": q}, headers={"Cookie": ""})
    return [hit["title"] for hit in (await response.json())["items"]]


async def test_an_admin_writes_publishes_restores_and_reviews(server: Server, browser: Any) -> None:
    ctx = server.ctx
    seeded = await seed_article(ctx)
    async with ctx.db.write() as session:
        for text in ("my password link expired", "where is the reset button"):
            await do_learn_phrasing(session, seeded, text, ticket_id=None, max_chars=300, actor=SYSTEM)
    await seed_staff(ctx, "admin@e2e.example", "Leila Admin", Role.ADMIN)
    page = await browser.new_page()
    page.on("dialog", lambda dialog: dialog.accept())  # "delete with its history?"
    await sign_in(page, f"{server.url}/knowledge", "admin@e2e.example")
    await expect(page.locator("#kba-list")).to_contain_text("Reset your password")
    await expect(page.locator("#kba-pending-count")).to_have_text("2")

    # A new Persian article, saved as a draft: customers do not find it yet.
    await page.click("#kba-nav-new")
    await page.fill("#kba-title", "بازیابی رمز عبور")
    await page.select_option("#kba-language", "fa")
    await page.fill("#kba-category", "حساب")
    await page.fill("#kba-tags", "رمز, ورود")
    await page.fill("#kba-body", "در **تنظیمات ← امنیت** گزینهٔ *بازیابی رمز* را بزنید.")
    await page.fill("#kba-phrasings", "رمزم را فراموش کرده‌ام\nنمی‌توانم وارد شوم")
    await page.click("#kba-preview-button")  # rendered by the server before anything is saved
    await expect(page.locator("#kba-preview strong")).to_have_text("تنظیمات ← امنیت")
    await page.fill("#kba-related", str(seeded))
    await expect(page.locator("#kba-related-titles")).to_have_text("Reset your password")
    await page.click("#kba-save")
    await expect(page).to_have_url(re.compile(r"#article/\d+$"))
    await expect(page.locator("#kba-version")).to_have_text("Version 1")
    article = await _article(server, "بازیابی رمز عبور")
    assert article is not None and article.status == "draft" and article.language == "fa"
    assert article.tags == ["رمز", "ورود"] and article.related == [seeded]
    assert article.phrasings == ["رمزم را فراموش کرده‌ام", "نمی‌توانم وارد شوم"]
    assert "بازیابی رمز عبور" not in await _search(page, server.url, "رمزم را فراموش کرده ام")

    # Published (version 2): found by the public search, with the help page link; then edited (version 3).
    await page.click("#kba-publish")
    await expect(page.locator("#kba-version")).to_have_text("Version 2")
    await expect(page.locator("#kba-view")).to_have_attribute("href", f"/help/{article.id}")
    assert "بازیابی رمز عبور" in await _search(page, server.url, "رمزم را فراموش کرده ام")
    await page.fill("#kba-title", "فراموشی رمز عبور")
    await page.click("#kba-save")
    await expect(page.locator("#kba-version")).to_have_text("Version 3")
    history = page.locator("#kba-history tr")
    await expect(history).to_have_count(3)
    await shot(page, "knowledge-editor")

    # Version 1's content restored as a new version 4: its title again; still published (the status stays).
    await page.locator("#kba-history tr[data-version='1'] .kba-restore").click()
    await expect(page.locator("#kba-version")).to_have_text("Version 4")
    restored = await _article(server, "بازیابی رمز عبور")
    assert restored is not None and restored.version == 4 and restored.status == "published"
    await expect(page.locator("#kba-title")).to_have_value("بازیابی رمز عبور")

    # Learned questions: one approved (it becomes a phrasing of its article), one rejected.
    await page.click("#kba-nav-phrasings")
    rows = page.locator("#kba-pending tbody tr")
    await expect(rows).to_have_count(2)
    await expect(rows.first).to_contain_text("Reset your password")
    await rows.filter(has_text="link expired").locator(".kba-approve").click()
    await expect(rows).to_have_count(1)
    await rows.filter(has_text="reset button").locator(".kba-reject").click()
    await expect(page.locator("#kba-pending-none")).to_be_visible()
    await expect(page.locator("#kba-pending-count")).to_have_text("0")
    async with ctx.db.read() as session:
        reviewed = {row.text: row.status for row in (await session.scalars(select(KbLearnedPhrasing))).all()}
        phrasings = (await session.get(KbArticle, seeded)).phrasings  # type: ignore[union-attr]
    assert reviewed == {"my password link expired": "approved", "where is the reset button": "rejected"}
    assert "my password link expired" in phrasings and "where is the reset button" not in phrasings

    # Deleted, after the confirmation: gone from the list and from the database.
    await page.click("#kba-nav-list")
    await page.locator("#kba-list a", has_text="بازیابی رمز عبور").click()
    await page.click("#kba-delete")
    await expect(page.locator("#kba-list")).not_to_contain_text("بازیابی رمز عبور")
    assert await _article(server, "بازیابی رمز عبور") is None

    # In Persian the page is right to left; the filters narrow the list.
    await page.goto(f"{server.url}/knowledge?lang=fa")
    await expect(page.locator("html")).to_have_attribute("dir", "rtl")
    await expect(page.locator("h1")).to_have_text("پایگاه دانش")
    await page.select_option("#kba-filter-language", "fa")
    await expect(page.locator("#kba-list tbody")).to_have_text("مقاله‌ای پیدا نشد.")
    await shot(page, "knowledge-list-fa")


async def test_agents_may_not_administer_the_knowledge_base(server: Server, browser: Any) -> None:
    await seed_staff(server.ctx, "agent@e2e.example", "Omid Agent")
    page = await browser.new_page()
    await sign_in(page, f"{server.url}/knowledge", "agent@e2e.example")
    await expect(page.locator("main")).to_contain_text("This page needs the admin role.")
    await page.goto(f"{server.url}/console")
    await expect(page.locator(".topbar .nav")).not_to_contain_text("Knowledge base")
