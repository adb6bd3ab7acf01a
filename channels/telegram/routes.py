"""The Telegram webhook over HTTP, and what is done with each update (shared with the polling mode).

    POST /webhooks/telegram   checks X-Telegram-Bot-Api-Secret-Token (constant time, else 403), parses the
                              update, stores it, and only then answers 200

We do not use python-telegram-bot's own webhook server: it acknowledges updates before they are stored.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy.exc import IntegrityError

from channels.telegram.parse import (
    CHANNEL,
    ButtonPress,
    Ignored,
    Incoming,
    Outcome,
    TelegramPolicy,
    Unparsed,
    parse_update,
)
from contactcenter.actions.audit import SYSTEM
from contactcenter.actions.channel_events import NewChannelEvent, do_record_channel_event
from contactcenter.actions.identities import do_link_verified
from contactcenter.api.framework import error_response, json_response
from contactcenter.context import CTX, Context
from contactcenter.settings import Settings

WEBHOOK_PATH = "/webhooks/telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)
SECRET_FILE = "telegram_webhook_secret"  # noqa: S105 (a file name)
ALLOWED_UPDATES = ("message", "edited_message", "callback_query")
TELEGRAM_SECRET = web.AppKey("telegram_secret", bytes)
TELEGRAM_POLICY = web.AppKey("telegram_policy", TelegramPolicy)


def secret_path(settings: Settings) -> Path:
    return settings.data_path / SECRET_FILE


def webhook_secret(settings: Settings) -> str:
    """The configured secret, else the one `contactcenter telegram set-webhook` kept; "" when neither."""
    if settings.telegram.webhook_secret:
        return settings.telegram.webhook_secret
    try:
        return secret_path(settings).read_text("ascii").strip()
    except (FileNotFoundError, UnicodeDecodeError):
        return ""


def telegram_policy(settings: Settings) -> TelegramPolicy:
    tg = settings.telegram
    gap = timedelta(hours=tg.conversation_gap_hours) if tg.conversation_gap_hours > 0 else None
    return TelegramPolicy(ignore_group_chats=tg.ignore_group_chats, idle_gap=gap, reopen_solved=tg.reopen_solved,
                          region=settings.sms.default_region)


def setup_telegram(app: web.Application) -> None:
    settings = app[CTX].settings
    app[TELEGRAM_SECRET] = webhook_secret(settings).encode()
    app[TELEGRAM_POLICY] = telegram_policy(settings)
    app.router.add_post(WEBHOOK_PATH, telegram_webhook)


async def take(ctx: Context, outcome: Outcome, raw: bytes) -> dict[str, Any] | None:
    """Store what an update carries; returns a Bot API call to make in reply, if any. Idempotent."""
    if isinstance(outcome, Incoming):
        msg = outcome.message
        await ctx.intake.submit(msg)
        if outcome.verified_phone is not None and msg.sender is not None:
            for attempt in (1, 2):  # a concurrent link of the same number wins the unique constraint; retry sees it
                try:
                    async with ctx.db.write() as session:
                        await do_link_verified(session, msg.sender, outcome.verified_phone, actor=SYSTEM)
                    break
                except IntegrityError:
                    if attempt == 2:
                        raise
        return None
    if isinstance(outcome, ButtonPress):
        async with ctx.db.write() as session:
            await do_record_channel_event(session, NewChannelEvent(CHANNEL, "callback", outcome.id, ref=outcome.ref,
                                                                   value=outcome.data, payload=outcome.payload))
        return {"method": "answerCallbackQuery", "callback_query_id": outcome.id}
    if isinstance(outcome, Unparsed):
        async with ctx.db.write() as session:
            await do_record_channel_event(session, NewChannelEvent(CHANNEL, "unparsed", hashlib.sha256(raw).hexdigest(),
                                                                   payload={"error": outcome.reason}, raw=raw))
        return None
    if isinstance(outcome, Ignored) and ctx.settings.telegram.keep_unknown_updates and outcome.kind != "message" \
            and outcome.update_id is not None:
        async with ctx.db.write() as session:
            await do_record_channel_event(session, NewChannelEvent(CHANNEL, "unknown", str(outcome.update_id),
                                                                   value=outcome.kind, raw=raw))
    return None


async def telegram_webhook(request: web.Request) -> web.StreamResponse:
    expected = request.app[TELEGRAM_SECRET]
    sent = request.headers.get(SECRET_HEADER, "").encode()
    if not expected or not hmac.compare_digest(sent, expected):
        return error_response(403, "forbidden", f"missing or wrong {SECRET_HEADER}")
    raw = await request.read()
    try:
        data: Any = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        data = None
    reply = await take(request.app[CTX], parse_update(data, request.app[TELEGRAM_POLICY], raw), raw)
    return json_response(reply) if reply else web.Response(status=200)
