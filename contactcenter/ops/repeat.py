"""Background work that runs on a timer while the server runs (routing timer, retention, hold sweeper...)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from contactcenter.ops.logs import log_failure


class Repeater:
    """Runs ``work`` every ``interval`` seconds (the first time after ``first_delay``, default ``interval``)
    between ``start`` and ``stop``. A failed round is logged with ``failure`` (an outage as one warning line)
    and the next round runs on time: the task never dies of an error."""

    def __init__(self, name: str, work: Callable[[], Awaitable[object]], interval: float, *, log: logging.Logger,
                 failure: str, first_delay: float | None = None) -> None:
        self.name, self.work, self.interval = name, work, interval
        self.first_delay = interval if first_delay is None else first_delay
        self.log, self.failure = log, failure
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        """Cancel the task (a round under way is cut short: rounds must be safe to interrupt) and wait for it."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        await asyncio.sleep(self.first_delay)
        while True:
            try:
                await self.work()
            except Exception:
                log_failure(self.log, self.failure)
            await asyncio.sleep(self.interval)
