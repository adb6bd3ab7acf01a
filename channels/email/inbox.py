"""Every inbound mail takes this one path, whether it came by SMTP, from a mailbox import or a replay.

parse (pure) -> a message for intake, a delivery report that marks our original message failed, or a
refusal kept with its reason. Nothing is lost: a message the parser cannot handle is kept byte for byte
(``raw_inbound``) so that an admin can replay it after a fix.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from channels.email import CHANNEL
from channels.email.parse import Accepted, Parsed, Refused, Report, parse_mail
from contactcenter.actions.inbound import RawStatus, do_keep_raw, do_mark_undelivered
from contactcenter.db.engine import Database
from contactcenter.db.models import RawInbound
from contactcenter.db.types import utcnow
from contactcenter.errors import ActionError, Unavailable
from contactcenter.intake_queue import IntakeQueue
from contactcenter.settings import EmailSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one mail."""

    kind: str  # ticket, reply, duplicate, bounce, rejected, unparsable
    reason: str = ""
    ticket_id: int | None = None
    message_id: int | None = None
    raw_id: int | None = None
    automatic: str = ""

    @property
    def stored_as_message(self) -> bool:
        return self.kind in ("ticket", "reply", "duplicate")

    def smtp_text(self) -> str:
        """The text after 250: the ticket number for the sender, or a reference to the kept copy."""
        if self.stored_as_message:
            return f"Ok: ticket #{self.ticket_id}" + (" (already received)" if self.kind == "duplicate" else "")
        return f"Ok: kept for review as {self.kind} #{self.raw_id}"


class MailIntake:
    """The one inbound path of the e-mail channel."""

    def __init__(self, db: Database, intake: IntakeQueue, settings: EmailSettings, secret: bytes) -> None:
        self.db = db
        self.intake = intake
        self.settings = settings
        self.secret = secret

    def parse(self, raw: bytes, *, mail_from: str | None, rcpt_tos: Sequence[str], received_at: datetime,
              imported: bool) -> Parsed:
        return parse_mail(raw, self.settings, self.secret, received_at=received_at, mail_from=mail_from,
                          rcpt_tos=rcpt_tos, use_date=imported)

    async def take(self, raw: bytes, *, mail_from: str | None = None, rcpt_tos: Sequence[str] = (),
                   imported: bool = False, keep: bool = True) -> Outcome:
        """Store one mail. Raises Unavailable when nothing could be stored (the sender must retry).

        ``keep=False`` (replay) stores nothing for a mail that is refused again.
        """
        envelope: dict[str, Any] = {"mail_from": mail_from, "rcpt_tos": list(rcpt_tos)[:50], "imported": imported}
        try:
            parsed = self.parse(raw, mail_from=mail_from, rcpt_tos=rcpt_tos, received_at=utcnow(),
                                imported=imported)
        except Exception as exc:  # a parser bug must not lose the mail: keep it for a replay after the fix
            log.exception("e-mail could not be parsed (%d bytes); kept for replay", len(raw))
            return await self._keep(raw, RawStatus.UNPARSABLE, f"parser error: {type(exc).__name__}: {exc}",
                                    envelope, keep)
        if isinstance(parsed, Refused):
            return await self._keep(raw, RawStatus.REJECTED, parsed.reason, envelope, keep)
        if isinstance(parsed, Report):
            return await self._bounce(raw, parsed, envelope, keep)
        return await self._submit(raw, parsed, envelope, keep)

    async def _submit(self, raw: bytes, parsed: Accepted, envelope: dict[str, Any], keep: bool) -> Outcome:
        try:
            result = await self.intake.submit(parsed.message)
        except Unavailable:
            raise
        except ActionError as exc:
            return await self._keep(raw, RawStatus.REJECTED, f"intake refused it: {exc}", envelope, keep)
        except Exception as exc:
            log.exception("intake failed on an e-mail; kept for replay")
            return await self._keep(raw, RawStatus.UNPARSABLE, f"intake error: {type(exc).__name__}: {exc}",
                                    envelope, keep)
        kind = "duplicate" if result.duplicate else ("ticket" if result.created_ticket else "reply")
        return Outcome(kind, result.thread_reason, result.ticket_id, result.message_id, automatic=parsed.automatic)

    async def _keep(self, raw: bytes, status: str, reason: str, envelope: dict[str, Any], keep: bool) -> Outcome:
        if not keep:
            return Outcome(status, reason)
        async with self.db.write() as session:
            row = await do_keep_raw(session, CHANNEL, raw, status, reason, envelope)
            return Outcome(row.status, row.reason, raw_id=row.id)

    async def _bounce(self, raw: bytes, parsed: Report, envelope: dict[str, Any], keep: bool) -> Outcome:
        ids = [ref.message_id for ref in parsed.refs if ref.message_id]
        async with self.db.write() as session:
            changed = await do_mark_undelivered(session, CHANNEL, ids, parsed.report.reason)
            about = (f"message {', '.join(map(str, ids))} on ticket #{parsed.refs[0].ticket_id}" if parsed.refs
                     else "a message we do not know")
            reason = f"delivery report for {about}: {parsed.report.reason}"
            raw_id = None
            if keep:
                raw_id = (await do_keep_raw(session, CHANNEL, raw, RawStatus.BOUNCE, reason, envelope)).id
        ticket = parsed.refs[0].ticket_id if parsed.refs else None
        return Outcome("bounce", reason, ticket_id=ticket, message_id=changed[0] if changed else None, raw_id=raw_id)

    async def replay(self, row_id: int) -> Outcome:
        """Run a kept mail through the path again (after a fix); on success the row is marked replayed."""
        async with self.db.read() as session:
            row = (await session.execute(select(RawInbound.raw, RawInbound.envelope, RawInbound.status)
                                         .where(RawInbound.id == row_id))).first()
            if row is None:
                raise LookupError(f"no kept mail #{row_id}")
            raw, envelope, status = row.raw, dict(row.envelope), row.status
        if status in (RawStatus.REPLAYED, RawStatus.BOUNCE):
            return Outcome(status, "already handled", raw_id=row_id)
        outcome = await self.take(raw, mail_from=envelope.get("mail_from"), rcpt_tos=envelope.get("rcpt_tos") or (),
                                  imported=bool(envelope.get("imported")), keep=False)
        if outcome.kind in ("ticket", "reply", "duplicate", "bounce"):
            async with self.db.write() as session:
                stored = await session.get(RawInbound, row_id)
                if stored is not None:
                    stored.status = RawStatus.REPLAYED
                    stored.replayed_at = utcnow()
                    stored.reason = f"{stored.reason}\nreplayed: {outcome.kind} on ticket #{outcome.ticket_id}"[:4000]
        return outcome
