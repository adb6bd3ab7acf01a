"""Sliding-window rate limits kept in this process's memory."""

from __future__ import annotations

import math
import time
from collections import deque


class RateLimiter:
    """At most ``limit`` hits per key within ``window`` seconds; limit 0 means unlimited."""

    def __init__(self, limit: int, window: float, max_keys: int = 100_000) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._hits: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float]:
        hits = self._hits.get(key)
        if hits is None:
            if len(self._hits) >= self.max_keys:
                self._prune(now)
            hits = self._hits[key] = deque()
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        return hits

    def _prune(self, now: float) -> None:
        for key in [k for k, v in self._hits.items() if not v or v[-1] <= now - self.window]:
            del self._hits[key]
        if len(self._hits) >= self.max_keys:  # still full: forget the oldest half
            for key in list(self._hits)[: self.max_keys // 2]:
                del self._hits[key]

    def blocked(self, key: str, now: float | None = None) -> bool:
        """Whether ``key`` is over the limit, without counting a hit."""
        if self.limit <= 0:
            return False
        now = time.monotonic() if now is None else now
        return len(self._recent(key, now)) >= self.limit

    def hit(self, key: str, now: float | None = None) -> None:
        if self.limit > 0:
            now = time.monotonic() if now is None else now
            self._recent(key, now).append(now)

    def retry_after(self, key: str, now: float | None = None) -> int:
        now = time.monotonic() if now is None else now
        hits = self._recent(key, now)
        return max(1, int(hits[0] + self.window - now) + 1) if hits else 0


class Backoff:
    """Exponential backoff per key: after ``free`` consecutive failures, each further failure doubles the
    wait before the next attempt (``base`` seconds, then 2×, 4×... at most ``cap``). A success resets it."""

    def __init__(self, free: int, base: float, cap: float, max_keys: int = 100_000) -> None:
        self.free = free
        self.base = base
        self.cap = cap
        self.max_keys = max_keys
        self._state: dict[str, tuple[int, float]] = {}  # key -> (failures in a row, not before)

    def wait(self, key: str, now: float | None = None) -> int:
        """Seconds until ``key`` may try again (0: now)."""
        state = self._state.get(key)
        if state is None or self.base <= 0:
            return 0
        now = time.monotonic() if now is None else now
        return max(0, math.ceil(state[1] - now))

    def failure(self, key: str, now: float | None = None) -> None:
        if self.base <= 0:
            return
        now = time.monotonic() if now is None else now
        if key not in self._state and len(self._state) >= self.max_keys:
            self._prune(now)
        failures = self._state.get(key, (0, 0.0))[0] + 1
        delay = 0.0 if failures <= self.free else min(self.cap, self.base * 2 ** (failures - self.free - 1))
        self._state[key] = (failures, now + delay)

    def success(self, key: str) -> None:
        self._state.pop(key, None)

    def _prune(self, now: float) -> None:
        """Forget keys whose wait is long over (a day past), then the oldest half if still full."""
        for key in [k for k, (_, until) in self._state.items() if until < now - 86400]:
            del self._state[key]
        if len(self._state) >= self.max_keys:
            for key in list(self._state)[: self.max_keys // 2]:
                del self._state[key]
