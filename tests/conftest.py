"""Shared fixtures: a real database per test (SQLite file, or PostgreSQL with $CC_TEST_DATABASE_URL)
and the real application on a local port."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import text

from contactcenter.actions.audit import SYSTEM
from contactcenter.app import build_context, create_app
from contactcenter.auth import do_create_token, do_create_user
from contactcenter.context import CTX, Context
from contactcenter.db.engine import Database
from contactcenter.db.migrate import upgrade
from contactcenter.domain.enums import Role
from contactcenter.settings import Settings, load_settings

PG_URL = os.environ.get("CC_TEST_DATABASE_URL", "")
TABLES_IN_ORDER: list[str] = []


def _pg_reset_schema() -> None:
    async def reset() -> None:
        db = Database(PG_URL)
        async with db.engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
        await upgrade(db.engine)
        async with db.engine.connect() as conn:
            rows = await conn.execute(text(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'"))
            TABLES_IN_ORDER.extend(r[0] for r in rows)
        await db.dispose()
    asyncio.run(reset())


def _sqlite_template(path: Path) -> None:
    async def build() -> None:
        db = Database(f"sqlite+aiosqlite:///{path}")
        await upgrade(db.engine)
        await db.dispose()
    asyncio.run(build())


@pytest.fixture(scope="session")
def database_template(tmp_path_factory: pytest.TempPathFactory) -> Path | None:
    """Migrate once per run: a SQLite template file, or the PostgreSQL test database."""
    if PG_URL:
        _pg_reset_schema()
        return None
    path = tmp_path_factory.mktemp("template") / "contactcenter.db"
    _sqlite_template(path)
    return path


@pytest.fixture
async def settings(tmp_path: Path, database_template: Path | None) -> Settings:
    """Settings for one test: its own data folder and an empty, migrated database."""
    base = load_settings(environ={})
    overrides: dict[str, dict[str, Any]] = {
        "server": {"data_dir": str(tmp_path), "secret_key": "test-secret-key-not-for-production"},
        "relay": {"poll_interval": 0.05, "retry_base_delay": 0.05},
    }
    if PG_URL:
        overrides["database"] = {"url": PG_URL, "pool_size": 5}
        db = Database(PG_URL)
        async with db.engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE {', '.join(TABLES_IN_ORDER)} RESTART IDENTITY CASCADE"))
        await db.dispose()
    else:
        assert database_template is not None
        shutil.copy(database_template, tmp_path / "contactcenter.db")
    return base.with_overrides(overrides)


@pytest.fixture
async def ctx(settings: Settings) -> AsyncIterator[Context]:
    """A wired context without an HTTP server (for action, intake and relay tests)."""
    context = build_context(settings)
    yield context
    await context.db.dispose()


@pytest.fixture
async def client(aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
                 settings: Settings) -> TestClient[Any, Any]:
    """The real application on a local port, with its relay and delivery worker running."""
    app: web.Application = create_app(settings)
    return await aiohttp_client(app)


@dataclass
class Staff:
    user_id: int
    email: str
    role: Role
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def create_staff(context: Context, role: Role, email: str | None = None,
                       password: str = "correct horse battery") -> Staff:
    """A staff user with an API token, written through the real actions."""
    email = email or f"{role.value}@test.example"
    async with context.db.write() as session:
        user = await do_create_user(session, email=email, name=role.value.title(), role=role, password=password,
                                    actor=SYSTEM)
        _, token = await do_create_token(session, user, "test", actor=SYSTEM)
    return Staff(user.id, email, role, token)


@pytest.fixture
async def agent(client: TestClient[Any, Any]) -> Staff:
    return await create_staff(client.app[CTX], Role.AGENT)


@pytest.fixture
async def supervisor(client: TestClient[Any, Any]) -> Staff:
    return await create_staff(client.app[CTX], Role.SUPERVISOR)


@pytest.fixture
async def admin(client: TestClient[Any, Any]) -> Staff:
    return await create_staff(client.app[CTX], Role.ADMIN)
