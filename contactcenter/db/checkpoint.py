"""SQLite WAL checkpoints in a thread of their own, off the writer's path.

SQLite's default copies the write-ahead log into the database file (and syncs it) inside whichever commit
takes the log past 1,000 pages: under a steady stream of intake batches that held the single writer for
10-120 ms about once a second while every request waited behind it. While the server runs, a `Checkpointer` does
that work in the background instead: a PASSIVE checkpoint, which never blocks the writer or the readers, every
``interval`` seconds after commits. The writer connections keep an automatic checkpoint as a safety net
(``SAFETY_PAGES``, see engine.py) for when no checkpointer runs (command-line tools, tests) or it falls behind.

Copying the log is not enough: SQLite starts writing the log from its beginning again only when a write
transaction *begins* with every frame already copied, and under load the writer always begins its next
transaction while a background checkpoint is still copying. The log then grew to the safety net (10,000 pages
then) about once a second (intake writes ~10,000 pages a second) and the writer's own checkpoint stalled every
request for 30-45 ms. So after its passes have caught up, the checkpointer asks the writer to copy the last few
frames itself, just before its next ``BEGIN`` (``finish_on``): a few milliseconds, and the log restarts at that
transaction. Once a second rather than every 0.25 s: a page written by many commits is copied once, the writer's
share comes a quarter as often, and the slowest requests were 2-3 ms faster (BENCHMARKS.md, intake, 2026-11-24).
"""

from __future__ import annotations

import logging
import sqlite3
import threading

log = logging.getLogger(__name__)

SAFETY_PAGES = 30_000  # the writers' wal_autocheckpoint (about 120 MB of log) instead of SQLite's 1,000
CAUGHT_UP_FRAMES = 256  # a background pass that found fewer new frames than this has caught up with the writer
MAX_PASSES = 4  # background passes in a row, each copying what the writer appended during the one before


class Checkpointer:
    """Checkpoints the WAL of the SQLite file at ``path`` every ``interval`` seconds while commits happen."""

    def __init__(self, path: str, interval: float = 1.0) -> None:
        self.path = path
        self.interval = interval
        self._committed = threading.Event()
        self._stopping = threading.Event()
        self._finish = threading.Event()  # caught up: the writer copies the last frames before its next BEGIN
        self._thread: threading.Thread | None = None

    def committed(self) -> None:
        """Note a commit (called after each one; cheap, from any thread)."""
        self._committed.set()

    def start(self) -> None:
        if self._thread is None:
            self._stopping.clear()
            self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop after the checkpoint in progress (the last connection to close checkpoints what is left)."""
        if self._thread is not None:
            self._stopping.set()
            self._committed.set()
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        connection = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
        try:
            while not self._stopping.is_set():
                self._committed.wait()
                if self._stopping.wait(self.interval):  # let commits gather, but leave at once when told
                    break
                self._committed.clear()
                try:
                    self.catch_up(connection)
                except sqlite3.Error:
                    log.warning("WAL checkpoint failed; the writer's automatic checkpoint remains", exc_info=True)
        finally:
            connection.close()

    def catch_up(self, connection: sqlite3.Connection) -> None:
        """Checkpoint passes until one finds few new frames, then leave the rest to the writer."""
        copied = -1
        for _ in range(MAX_PASSES):
            busy, frames, done = passive_checkpoint(connection)
            if busy or frames < 0 or done < frames:  # another checkpoint runs, or a reader holds frames back
                return
            if frames - copied < CAUGHT_UP_FRAMES:
                self._finish.set()
                return
            copied = frames

    def finish_on(self, connection: sqlite3.Connection) -> None:
        """Called by the writer before it begins a transaction (engine.py): copy the frames appended since the
        background caught up, if it asked, so that this transaction restarts the log."""
        if self._finish.is_set():
            self._finish.clear()
            try:
                passive_checkpoint(connection)
            except sqlite3.Error:
                log.debug("the writer's share of a checkpoint failed", exc_info=True)


def passive_checkpoint(connection: sqlite3.Connection) -> tuple[int, int, int]:
    """One PASSIVE checkpoint: (busy, frames in the log, frames copied); frames -1 when it could not run."""
    busy, frames, done = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return int(busy), int(frames), int(done)
