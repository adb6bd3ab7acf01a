"""Real-browser tests: the real app on a free 127.0.0.1 port, driven by Playwright in Debian's Chromium.

Screenshots go to ``test-artifacts/e2e/`` (git-ignored) so that a person can look at them.
"""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import select

from contactcenter.actions.agents import do_create_agent, do_create_skill, do_set_presence
from contactcenter.actions.audit import SYSTEM
from contactcenter.actions.kb import do_create_article
from contactcenter.app import create_app
from contactcenter.context import CTX, Context
from contactcenter.db.models import Skill
from contactcenter.domain.enums import Presence, Role
from contactcenter.settings import Settings

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"
PASSWORD = "correct horse battery"

if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):
        raise RuntimeError(f"{CHROMIUM} is missing: .ci/run installs it with apt")
    pytestmark = pytest.mark.skip(reason=f"{CHROMIUM} is not installed (apt-get install chromium)")

playwright_api = pytest.importorskip("playwright.async_api")
# Waits, not thresholds: a page may take a while on a busy machine (the suite shares it with benchmarks).
playwright_api.expect.set_options(timeout=20_000)


@dataclass
class Server:
    url: str
    app: web.Application

    @property
    def ctx(self) -> Context:
        return self.app[CTX]


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[Server]:
    """The whole application on 127.0.0.1; e-mail-class tickets are offered (60 s) instead of assigned at once."""
    # The socket stays bound from the choice of its port until the server listens on it: a port chosen and let go
    # (free_port) can be taken meanwhile by any outgoing connection, which failed a CI run once.
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    app = create_app(settings.with_overrides({
        "server": {"public_url": url},
        "routing": {"offer_timeout": {"email": 60, "chat": 60, "voice": 20, "messaging": 60}},
    }))
    runner = web.AppRunner(app)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    try:
        yield Server(url, app)
    finally:
        await runner.cleanup()


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async with playwright_api.async_playwright() as p:
        launched = await p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                           args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            yield launched
        finally:
            await launched.close()


async def shot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


async def seed_staff(ctx: Context, email: str, name: str, role: Role = Role.AGENT, *,
                     available: bool = False) -> int:
    """A staff member who can sign in, speaks English and Persian and may take any skill."""
    async with ctx.db.write() as session:
        for skill in ("billing", "technical", "general", "complaints"):
            if await session.scalar(select(Skill.id).where(Skill.name == skill)) is None:
                await do_create_skill(session, name=skill, actor=SYSTEM)
        user = await do_create_agent(session, email=email, name=name, role=role, password=PASSWORD,
                                     languages=["en", "fa"], capacity={},
                                     skills={"billing": 5, "technical": 5, "general": 5, "complaints": 5},
                                     actor=SYSTEM)
        if available:
            await do_set_presence(session, user.id, Presence.AVAILABLE, actor=SYSTEM)
    return user.id


async def seed_article(ctx: Context) -> int:
    async with ctx.db.write() as session:
        article = await do_create_article(
            session, title="Reset your password", language="en", category="Account", status="published",
            body="Open **Settings → Security** and choose *Reset password*. We e-mail you a link that works "
                 "for 30 minutes.",
            phrasings=["I forgot my password", "How do I reset my password", "cannot log in password"],
            actor=SYSTEM)
    return article.id


async def sign_in(page: Any, url: str, email: str) -> None:
    """The page shows the sign-in form; after it the server renders the page for the session."""
    await page.goto(url)
    await page.fill("#login-email", email)
    await page.fill("#login-password", PASSWORD)
    await page.click("#login button[type=submit]")
    await page.wait_for_selector("body[data-signed-in=yes]")
