"""SQLite WAL checkpoints in a thread of their own, off the writer's path.

SQLite's default copies the write-ahead log into the database file (and syncs it) inside whichever commit
takes the log past 1,000 pages: under a steady stream of intake batches that held the single writer for
10-120 ms about once a second while every request waited behind it. While the server runs, a `Checkpointer` does
that work in the background instead: a PASSIVE checkpoint, which never blocks the writer or the readers, every
``interval`` seconds after commits. The writer connections keep an automatic checkpoint as a safety net
(``SAFETY_PAGES``, see engine.py) for when no checkpointer runs (command-line tools, tests) or it falls behind.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

log = logging.getLogger(__name__)

SAFETY_PAGES = 10_000  # the writers' wal_autocheckpoint (about 40 MB of log) instead of SQLite's 1,000


class Checkpointer:
    """Checkpoints the WAL of the SQLite file at ``path`` every ``interval`` seconds while commits happen."""

    def __init__(self, path: str, interval: float = 0.25) -> None:
        self.path = path
        self.interval = interval
        self._committed = threading.Event()
        self._stopping = threading.Event()
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
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error:
                    log.warning("WAL checkpoint failed; the writer's automatic checkpoint remains", exc_info=True)
        finally:
            connection.close()
