"""SQLite's single writer: one thread that runs the units of work back to back.

Units queue in the thread, not on the event loop: when one ends, the thread takes the next at once. Handing each
turn over through the event loop (an asyncio lock, then ``run_in_executor``) left the writer idle while the loop
was busy answering requests, a few milliseconds a turn and up to tens under load (BENCHMARKS.md, intake,
2026-11-24). The loop only hears of results (``call_soon_threadsafe``).

Turns: urgent units (what someone waits for: intake, the relay's claim, the router) go first, but never more than
``URGENT_RUN`` in a row while other work waits, so that the SLA clocks and the other subscribers keep up under a
steady stream of requests. Otherwise first come, first served. A unit written as async code on the event loop
(``Database.write()``) takes a turn with ``hold()``: the thread waits until it ends.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass(eq=False)
class _Turn(Generic[T]):
    fn: Callable[[], T] | None  # None: a turn held on the event loop (``hold``)
    future: asyncio.Future[T]
    loop: asyncio.AbstractEventLoop
    released: threading.Event = field(default_factory=threading.Event)  # ``hold``: the loop is done with it
    given_up: bool = False  # its caller was cancelled before the turn came: skip it


class Writer:
    """The writer thread and its queue of turns (see the module's docstring)."""

    URGENT_RUN = 3

    def __init__(self, name: str = "sqlite-writer") -> None:
        self.name = name
        self._ready = threading.Condition()
        self._urgent: collections.deque[_Turn[Any]] = collections.deque()
        self._background: collections.deque[_Turn[Any]] = collections.deque()
        self._run = 0  # urgent turns given in a row while background work waited
        self._thread: threading.Thread | None = None
        self._closing = False

    async def run(self, fn: Callable[[], T], *, urgent: bool = False) -> T:
        """Run ``fn()`` in the writer thread when its turn comes and return its result (or raise its exception).
        Cancelled before its turn, it never runs."""
        turn = self._queue(fn, urgent)
        try:
            return await turn.future
        except asyncio.CancelledError:
            turn.given_up = True
            raise

    @contextlib.asynccontextmanager
    async def hold(self, *, urgent: bool = False) -> AsyncIterator[None]:
        """Hold a turn on the event loop for the block's duration (the thread waits meanwhile)."""
        turn: _Turn[None] = self._queue(None, urgent)
        try:
            await turn.future
            yield
        finally:
            turn.given_up = True
            turn.released.set()

    def close(self) -> None:
        """Let the thread end once the queue is empty (a later ``run`` starts a new one)."""
        with self._ready:
            self._closing = True
            self._ready.notify()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=30)
        self._thread = None

    def _queue(self, fn: Callable[[], T] | None, urgent: bool) -> _Turn[T]:
        loop = asyncio.get_running_loop()
        turn: _Turn[T] = _Turn(fn, loop.create_future(), loop)
        with self._ready:
            (self._urgent if urgent else self._background).append(turn)
            self._closing = False
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._serve, name=self.name, daemon=True)
                self._thread.start()
            self._ready.notify()
        return turn

    def _next(self) -> _Turn[Any] | None:
        """The next turn (called holding ``_ready``); None when the thread should end."""
        while not (self._urgent or self._background):
            if self._closing:
                return None
            self._ready.wait()
        if self._urgent and (not self._background or self._run < self.URGENT_RUN):
            self._run = self._run + 1 if self._background else 0
            return self._urgent.popleft()
        self._run = 0
        return self._background.popleft()

    def _serve(self) -> None:
        while True:
            with self._ready:
                turn = self._next()
            if turn is None:
                return
            if turn.given_up:
                continue
            if turn.fn is None:  # held on the loop: wait until it lets go
                _settle(turn, None, None)
                turn.released.wait()
                continue
            try:
                result = turn.fn()
            except BaseException as exc:  # handed to the caller, which raises it
                _settle(turn, None, exc)
            else:
                _settle(turn, result, None)


def _settle(turn: _Turn[Any], result: Any, exc: BaseException | None) -> None:
    """Give the result to the waiting coroutine, on its event loop."""
    def give() -> None:
        if turn.future.done():  # cancelled meanwhile
            if turn.fn is None:
                turn.released.set()  # nobody will hold this turn: pass it on
            return
        if exc is None:
            turn.future.set_result(result)
        else:
            turn.future.set_exception(exc)

    try:
        turn.loop.call_soon_threadsafe(give)
    except RuntimeError:  # the loop is closed: nobody waits any more
        turn.released.set()
