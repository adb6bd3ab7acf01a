"""Polling mode for development: no public URL needed. Updates from getUpdates take the webhook's path."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator

from aiohttp import web
from telegram import Bot
from telegram.error import NetworkError, TimedOut

from channels.telegram.parse import ButtonPress, parse_update
from channels.telegram.routes import ALLOWED_UPDATES, take, telegram_policy
from channels.telegram.sender import make_bot
from contactcenter.context import CTX, Context

log = logging.getLogger(__name__)


async def poll(ctx: Context, bot: Bot, stop: asyncio.Event, long_poll: int = 25) -> None:
    """Fetch updates until ``stop`` is set. An update is confirmed (offset) only after it was stored."""
    policy = telegram_policy(ctx.settings)
    await bot.delete_webhook()
    offset: int | None = None
    while not stop.is_set():
        try:
            updates = await bot.get_updates(offset=offset, timeout=long_poll, allowed_updates=list(ALLOWED_UPDATES))
        except (NetworkError, TimedOut) as exc:
            log.warning("telegram getUpdates failed, retrying: %s", exc)
            await asyncio.sleep(2)
            continue
        for update in updates:
            data = update.to_dict()
            raw = json.dumps(data, ensure_ascii=False).encode()
            outcome = parse_update(data, policy, raw)
            await take(ctx, outcome, raw)
            if isinstance(outcome, ButtonPress):
                with contextlib.suppress(NetworkError):
                    await bot.answer_callback_query(outcome.id)
            offset = update.update_id + 1


async def polling_ctx(app: web.Application) -> AsyncIterator[None]:
    """A cleanup context that polls Telegram while the server runs (``contactcenter telegram poll``)."""
    ctx = app[CTX]
    bot = make_bot(ctx.settings)
    await bot.initialize()
    stop = asyncio.Event()
    task = asyncio.create_task(poll(ctx, bot, stop), name="telegram-polling")
    yield
    stop.set()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await bot.shutdown()
