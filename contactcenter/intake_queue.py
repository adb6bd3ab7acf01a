"""``IntakeQueue`` (``ctx.intake``): the group commit in front of ``intake.receive_batch``."""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy.orm import Session

from channels.base import InboundMessage
from contactcenter.db.engine import Database, DatabaseUnavailable
from contactcenter.errors import ActionError
from contactcenter.intake import Arrival, IntakeResult, commit_one, receive_batch, save_attachments
from contactcenter.settings import Settings
from contactcenter.sla.service import SlaService
from contactcenter.storage import AttachmentStore

log = logging.getLogger(__name__)
MAX_BATCH = 64


class IntakeQueue:
    """Group commit for the intake path: whoever calls ``submit`` while a batch is being written waits
    for the next one, and every waiting message goes into that next transaction together. The batch is
    taken when its transaction starts, not when it begins to wait for the writer's turn: what arrives
    while other work holds the writer goes into it instead of waiting for one more batch.

    Each caller is answered only after its batch is committed. If a batch fails, its messages are
    retried one per transaction so that one bad message cannot fail the others.
    """

    def __init__(self, db: Database, store: AttachmentStore, settings: Settings, max_batch: int = MAX_BATCH) -> None:
        self.db = db
        self.store = store
        self.settings = settings
        self.max_batch = max_batch
        # appended on the event loop, taken from in the writer's thread (deque operations are atomic)
        self._waiting: collections.deque[tuple[Arrival, asyncio.Future[IntakeResult]]] = collections.deque()
        self._writing = False
        self._task: asyncio.Task[None] | None = None
        # Steps that may take a message before it becomes a ticket message (an SMS survey rating); set in app.py.
        self.takers: list[Callable[[InboundMessage], Awaitable[IntakeResult | None]]] = []
        self.sla: SlaService | None = None  # starts new tickets' SLA clocks in the batch (set in app.py)

    async def submit(self, msg: InboundMessage) -> IntakeResult:
        for take in self.takers:
            if (taken := await take(msg)) is not None:
                return taken
        arrival = await save_attachments(self.store, msg)
        future: asyncio.Future[IntakeResult] = asyncio.get_running_loop().create_future()
        self._waiting.append((arrival, future))
        if not self._writing:
            self._writing = True
            self._task = asyncio.get_running_loop().create_task(self._write_all(), name="intake-batch")
        return await future

    async def wait_idle(self) -> None:
        """Wait until every submitted message is written (at shutdown, before the database closes)."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    async def _write_all(self) -> None:
        try:
            while self._waiting:
                await self._write()
        finally:
            self._writing = False

    def _take(self) -> list[tuple[Arrival, asyncio.Future[IntakeResult]]]:
        """The waiting messages, oldest first, up to ``max_batch``."""
        return [self._waiting.popleft() for _ in range(min(self.max_batch, len(self._waiting)))]

    async def _write(self) -> None:
        batch: list[tuple[Arrival, asyncio.Future[IntakeResult]]] = []

        def work(session: Session) -> list[IntakeResult | ActionError]:
            batch[:] = self._take()  # at the writer's turn
            return receive_batch(session, [a for a, _ in batch], self.settings, self.sla)

        try:
            results = await self.db.run_write(work, urgent=True)
        except DatabaseUnavailable as exc:
            for _, future in batch or self._take():  # also when it failed before the batch was taken
                if not future.done():
                    future.set_exception(exc)
            return
        except Exception:
            batch = batch or self._take()
            if len(batch) > 1:
                log.info("intake batch of %d failed; storing its messages one by one", len(batch))
            for arrival, future in batch:
                try:
                    result = await commit_one(self.db, self.settings, arrival, self.sla)
                except Exception as exc:
                    if not future.done():
                        future.set_exception(exc)
                else:
                    if not future.done():
                        future.set_result(result)
            return
        for (_, future), outcome in zip(batch, results, strict=True):
            if future.done():
                continue
            if isinstance(outcome, ActionError):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)

