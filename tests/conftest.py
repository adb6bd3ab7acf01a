"""Shared fixtures: a real database per test (SQLite file, or PostgreSQL with $CC_TEST_DATABASE_URL)
and the real application on a local port."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from contactcenter.actions.audit import SYSTEM
from contactcenter.app import build_context, create_app
from contactcenter.auth import do_create_token, do_create_user
from contactcenter.context import CTX, Context
from contactcenter.db.engine import Database
from contactcenter.db.migrate import upgrade
from contactcenter.db.models import Message
from contactcenter.domain.enums import Role
from contactcenter.settings import Settings, load_settings

SERVER_URL = os.environ.get("CC_TEST_DATABASE_URL", "")
# Each run gets a database of its own on that server, so concurrent runs never meet.
PG_URL = SERVER_URL and f"{SERVER_URL.rsplit('/', 1)[0]}/cc_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
TABLES_IN_ORDER: list[str] = []


async def _admin_sql(statement: str) -> None:
    engine = create_async_engine(SERVER_URL, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(statement))
    await engine.dispose()


def _pg_create() -> None:
    async def create() -> None:
        await _admin_sql(f'CREATE DATABASE "{PG_URL.rsplit("/", 1)[1]}"')
        db = Database(PG_URL)
        await upgrade(db.engine)
        async with db.engine.connect() as conn:
            rows = await conn.execute(text(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'"))
            TABLES_IN_ORDER.extend(r[0] for r in rows)
        await db.dispose()
    asyncio.run(create())


def _pg_drop() -> None:
    asyncio.run(_admin_sql(f'DROP DATABASE IF EXISTS "{PG_URL.rsplit("/", 1)[1]}" WITH (FORCE)'))


def _sqlite_template(path: Path) -> None:
    async def build() -> None:
        db = Database(f"sqlite+aiosqlite:///{path}")
        await upgrade(db.engine)
        await db.dispose()
    asyncio.run(build())


@pytest.fixture(scope="session")
def database_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path | None]:
    """Migrate once per run: a SQLite template file, or a fresh PostgreSQL database dropped at the end."""
    if PG_URL:
        _pg_create()
        yield None
        _pg_drop()
        return
    path = tmp_path_factory.mktemp("template") / "contactcenter.db"
    _sqlite_template(path)
    yield path


@pytest.fixture
async def settings(tmp_path: Path, database_template: Path | None) -> Settings:
    """Settings for one test: its own data folder and an empty, migrated database."""
    base = load_settings(environ={})
    overrides: dict[str, dict[str, Any]] = {
        "server": {"data_dir": str(tmp_path), "secret_key": "test-secret-key-not-for-production"},
        "relay": {"poll_interval": 0.05, "retry_base_delay": 0.05, "linger": 0.0},
        "email": {"port": 0},  # the SMTP listener on a free port (ctx.smtp.port)
        "kb": {"embeddings": "off"},  # lexical and deterministic; tests/*/test_kb_embeddings*.py turn it on
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


async def handled_reply(context: Context, message_id: int) -> Message:
    """The reply once the delivery worker has handled it, neither queued nor being sent (drains the relay,
    which may also be running in the background)."""
    for _ in range(400):
        await context.relay.drain()
        async with context.db.read() as session:
            message = await session.get(Message, message_id)
        assert message is not None
        if message.delivery_status not in ("queued", "sending"):
            return message
        await asyncio.sleep(0.025)
    raise AssertionError(f"reply {message_id} was not handled")


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
