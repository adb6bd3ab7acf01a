"""Log output: plain text or one JSON object per line, each record carrying the request id it belongs to.

Secrets are kept out at the source (code never logs credentials); ``redact`` is a last line of defence
that blanks values that look like our tokens or like ``password=...`` in any message.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

from contactcenter.errors import Unavailable

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

_SECRETS = re.compile(
    r"(?P<token>\bcc_[A-Za-z0-9_-]{20,})"  # our API tokens
    r"|(?P<bearer>(?i:bearer)\s+)[^\s,;\"']+"
    r"|(?P<kv>(?i:password|passwd|secret|token|cookie|cc_session|authorization|csrf_token)[\"']?\s*[=:]\s*[\"']?)"
    r"(?:(?i:bearer|basic)\s+)?[^\s,;\"'&}]+")


def log_failure(logger: logging.Logger, message: str, *args: object) -> None:
    """In an ``except`` block of background work: an outage (database, storage) is one warning line, since
    it repeats on every retry until the service is back; anything else is logged with its traceback."""
    exc = sys.exc_info()[1]
    if isinstance(exc, Unavailable):
        logger.warning(message + " (unavailable: %s)", *args, exc)
    else:
        logger.exception(message, *args)


def redact(text: str) -> str:
    """``text`` with token-like values and ``password=value`` pairs blanked."""
    def sub(match: re.Match[str]) -> str:
        if match.group("token"):
            return "cc_[redacted]"
        return (match.group("bearer") or match.group("kv")) + "[redacted]"
    return _SECRETS.sub(sub, text)


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` (or None) to every record, from the request being handled."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        return True


_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime",
                                                                                  "request_id"}


class JsonFormatter(logging.Formatter):
    """One line per record: time, level, logger, message, request id, extra fields, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(), "logger": record.name,
            "message": redact(record.getMessage()),
        }
        request_id = getattr(record, "request_id", None)
        if request_id:
            entry["request_id"] = request_id
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value if isinstance(value, int | float | bool) or value is None else redact(str(value))
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """The classic one-line format, with the request id when there is one and secrets redacted."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = redact(super().format(record))
        request_id = getattr(record, "request_id", None)
        return f"{text} [request {request_id}]" if request_id else text


def setup_logging(level: str, fmt: str) -> None:
    """Configure the root logger for the server process (``fmt`` is "text" or "json")."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    quiet_noisy_loggers()


def quiet_noisy_loggers() -> None:
    """Libraries that log credentials or customer data below WARNING are held at WARNING."""
    # aiosqlite logs every statement with its parameters at DEBUG (session CSRF tokens, message text);
    # httpx (under python-telegram-bot) logs request URLs at INFO, and Bot API URLs hold the bot token;
    # twilio's client logs each request (phone numbers, message bodies) at INFO.
    for noisy in ("alembic", "aiosqlite", "asyncio", "httpx", "httpcore", "telegram", "twilio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
