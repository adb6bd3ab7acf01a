"""Replies on Telegram tickets, sent with python-telegram-bot's ``Bot`` (sendMessage, inline keyboards)."""

from __future__ import annotations

import httpx
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, Forbidden, InvalidToken, TimedOut

from channels.base import MaybeSent, OutboundMessage, Receipt
from contactcenter.domain.enums import DeliveryStatus, IdentityKind
from contactcenter.settings import Settings

MAX_TEXT = 4096  # Telegram's limit per message; longer replies go out in several messages


def make_bot(settings: Settings) -> Bot:
    """A Bot for the configured token, talking to the configured Bot API server (Telegram's by default)."""
    tg = settings.telegram
    if tg.api_base_url:
        base = tg.api_base_url.rstrip("/")
        return Bot(tg.bot_token, base_url=f"{base}/bot", base_file_url=f"{base}/file/bot")
    return Bot(tg.bot_token)


def keyboard(buttons: tuple[tuple[str, str], ...]) -> InlineKeyboardMarkup | None:
    """One inline button per row; pressing one sends its data back as a callback query."""
    if not buttons:
        return None
    return InlineKeyboardMarkup([[InlineKeyboardButton(label[:64], callback_data=data[:64])]
                                 for label, data in buttons])


def chunks(text: str, size: int = MAX_TEXT) -> list[str]:
    return [text[i:i + size] for i in range(0, len(text), size)] or [""]


class TelegramSender:
    """A refusal (blocked bot, unknown chat, bad token) is a failed delivery; network trouble and flood
    limits are raised so that the relay retries later."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._bot: Bot | None = None

    async def bot(self) -> Bot:
        if self._bot is None:
            bot = make_bot(self.settings)
            await bot.initialize()
            self._bot = bot
        return self._bot

    async def send(self, message: OutboundMessage) -> Receipt:
        chat = message.conversation_key or next(
            (a.value for a in message.to if a.kind == IdentityKind.TELEGRAM), None)
        if not chat:
            return Receipt(DeliveryStatus.FAILED, error="the contact has no Telegram chat")
        if not self.settings.telegram.bot_token:
            return Receipt(DeliveryStatus.FAILED, error="Telegram is not configured (telegram.bot_token)")
        parts = chunks(message.text)
        first, number = None, -1  # the first part sent; the part being sent (-1: none yet)
        try:
            bot = await self.bot()
            for number, part in enumerate(parts):
                sent = await bot.send_message(chat_id=chat, text=part,
                                              reply_markup=keyboard(message.buttons) if number == len(parts) - 1
                                              else None)
                first = first or sent
        except (Forbidden, BadRequest, InvalidToken) as exc:
            if first is not None:
                raise MaybeSent(f"Telegram refused part {number + 1} of {len(parts)}: {exc.message}") from exc
            return Receipt(DeliveryStatus.FAILED, error=f"Telegram refused the message: {exc.message}"[:500])
        except TimedOut as exc:  # a connect or pool timeout sent nothing; a read timeout may have
            if first is not None or (number >= 0 and not isinstance(exc.__cause__, httpx.ConnectTimeout
                                                                     | httpx.PoolTimeout)):
                raise MaybeSent(f"Telegram did not answer part {number + 1} of {len(parts)} in time") from exc
            raise
        except Exception as exc:
            if first is not None:  # sending the reply again would repeat its first parts
                raise MaybeSent(f"part {number + 1} of {len(parts)} failed: {type(exc).__name__}") from exc
            raise
        assert first is not None
        return Receipt(DeliveryStatus.SENT, provider_id=f"{chat}:{first.message_id}")

    async def close(self) -> None:
        if self._bot is not None:
            await self._bot.shutdown()
