"""Helpers for e-mail tests: real SMTP clients and a recording SMTP server, all on 127.0.0.1."""

from __future__ import annotations

import asyncio
import re
import smtplib
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

CORPORA = Path(__file__).resolve().parent.parent.parent / "shared" / "corpora" / "mail"
SUPPORT = "support@example.com"
REPLY = re.compile(r"Ok: ticket #(\d+)")
KEPT = re.compile(r"kept for review as (\w+) #(\d+)")


def crlf(raw: bytes) -> bytes:
    """Line ends as an MTA sends them."""
    return re.sub(rb"\r?\n", b"\r\n", raw)


def send_sync(port: int, raw: bytes, *, mail_from: str = "sender@example.net",
              rcpts: tuple[str, ...] = (SUPPORT,)) -> tuple[int, str]:
    """One message through a real SMTP session; the answer to DATA."""
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        smtp.ehlo()
        smtp.mail(mail_from)
        for rcpt in rcpts:
            code, text = smtp.rcpt(rcpt)
            if code != 250:
                return code, text.decode()
        code, text = smtp.data(crlf(raw))
        return code, text.decode()


async def send(port: int, raw: bytes, **kwargs: Any) -> tuple[int, str]:
    return await asyncio.to_thread(send_sync, port, raw, **kwargs)


def mail(sender: str, subject: str, body: str, **headers: str) -> bytes:
    """A small plain-text message."""
    lines = [f"From: {sender}", f"To: {SUPPORT}", f"Subject: {subject}", "MIME-Version: 1.0",
             "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n" + body + "\r\n").encode()


@dataclass
class Recorder:
    """An SMTP server that keeps what it is sent (our outbound mail goes here in tests)."""

    received: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    refuse_with: str | None = None
    server: asyncio.AbstractServer | None = None
    port: int = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.refuse_with:
            return self.refuse_with
        self.received.append((envelope.mail_from or "", list(envelope.rcpt_tos), envelope.original_content or b""))
        return "250 OK"

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(lambda: SMTP(self, loop=loop), "127.0.0.1", 0)
        self.port = int(self.server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()

    def messages(self) -> list[Message]:
        return [message_from_bytes(raw) for _, _, raw in self.received]
