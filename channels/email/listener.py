"""The SMTP listener (aiosmtpd >= 1.4.6: earlier versions allow SMTP smuggling).

- RCPT: only our support addresses (and support+anything@ with plus-addressing); others get 550, more than
  ``max_recipients`` get 452.
- DATA: larger than ``max_message_bytes`` gets 552 (aiosmtpd counts while reading and keeps nothing).
  Otherwise the mail goes through ``MailIntake.take`` and the answer 250 is given only after it is
  committed: as a message, a delivery report, or a kept refusal. If it cannot be stored, 451 (retry).
- Sessions have an idle timeout and a cap on how often each command may be given; STARTTLS and AUTH
  are available by configuration. No exception text ever reaches the client.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import ssl
import weakref
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from channels.email.addresses import recipient_matches
from channels.email.inbox import MailIntake
from contactcenter.errors import Unavailable
from contactcenter.settings import EmailSettings

log = logging.getLogger(__name__)


class MailHandler:
    """aiosmtpd hooks: which recipients we take, and what happens to the data."""

    def __init__(self, inbox: MailIntake, settings: EmailSettings) -> None:
        self.inbox = inbox
        self.settings = settings
        self.in_flight = 0
        self.idle = asyncio.Event()
        self.idle.set()

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        if len(envelope.rcpt_tos) >= self.settings.max_recipients:
            return "452 4.5.3 Too many recipients"
        if not recipient_matches(address, self.settings.support_addresses, self.settings.plus_addressing):
            return "550 5.1.1 No such recipient here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        self.in_flight += 1
        self.idle.clear()
        try:
            outcome = await self.inbox.take(raw, mail_from=envelope.mail_from or "", rcpt_tos=envelope.rcpt_tos)
        except Unavailable as exc:
            log.warning("e-mail from %s not stored, answered 451: %s", session.peer, exc)
            return "451 4.3.0 Cannot store the message now; try again later"
        except Exception:
            log.exception("e-mail not stored, answered 451")
            return "451 4.3.0 Temporary failure; try again later"
        finally:
            self.in_flight -= 1
            if not self.in_flight:
                self.idle.set()
        return f"250 2.0.0 {outcome.smtp_text()}"

    async def handle_exception(self, error: Exception) -> str:
        log.error("SMTP session error: %s: %s", type(error).__name__, error)
        return "421 4.3.0 Closing connection after a local error"


class _Server(SMTP):
    """aiosmtpd's SMTP with our line length limit."""

    def __init__(self, handler: MailHandler, *, line_length_limit: int, **kwargs: Any) -> None:
        self.line_length_limit = line_length_limit
        super().__init__(handler, **kwargs)


def _tls_context(settings: EmailSettings) -> ssl.SSLContext | None:
    if not (settings.tls_cert_file and settings.tls_key_file):
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(settings.tls_cert_file, settings.tls_key_file)
    return context


class _Authenticator:
    """SMTP AUTH against the one configured user (constant-time comparison)."""

    def __init__(self, username: str, password: str) -> None:
        self.username = username.encode()
        self.password = password.encode()

    def __call__(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                 auth_data: Any) -> AuthResult:
        if not isinstance(auth_data, LoginPassword) or not self.password:
            return AuthResult(success=False, handled=False)
        ok = hmac.compare_digest(auth_data.login, self.username) & hmac.compare_digest(auth_data.password,
                                                                                       self.password)
        return AuthResult(success=bool(ok), handled=False)


class SmtpListener:
    """Runs the SMTP server on the application's event loop."""

    def __init__(self, inbox: MailIntake, settings: EmailSettings, hostname: str) -> None:
        self.settings = settings
        self.handler = MailHandler(inbox, settings)
        self.hostname = hostname
        self.port = 0
        self._server: asyncio.AbstractServer | None = None
        self._sessions: weakref.WeakSet[SMTP] = weakref.WeakSet()  # open sessions, closed at stop
        self._tls = _tls_context(settings)

    def _session(self) -> SMTP:
        s = self.settings
        auth = _Authenticator(s.auth_username, s.auth_password) if s.auth_username else None
        server = _Server(
            self.handler, line_length_limit=s.max_line_bytes, data_size_limit=s.max_message_bytes,
            enable_SMTPUTF8=True, hostname=self.hostname, ident="contactcenter", tls_context=self._tls,
            require_starttls=s.require_starttls, timeout=s.timeout_seconds, auth_required=s.auth_required,
            auth_require_tls=s.auth_require_tls, authenticator=auth, command_call_limit=s.command_limit,
            loop=asyncio.get_running_loop())
        self._sessions.add(server)
        return server

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._session, self.settings.host, self.settings.port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        log.info("SMTP listener on %s:%s", self.settings.host, self.port)

    async def stop(self, grace: float = 10.0) -> None:
        """Stop accepting, let the mail being stored finish, then close the sessions."""
        if self._server is None:
            return
        self._server.close()
        try:
            await asyncio.wait_for(self.handler.idle.wait(), timeout=grace)
        except TimeoutError:
            log.warning("SMTP listener stopped with %d mails still being stored", self.handler.in_flight)
        for session in list(self._sessions):
            if session.transport is not None:
                session.transport.close()
        self._sessions.clear()
        await self._server.wait_closed()
        self._server = None
