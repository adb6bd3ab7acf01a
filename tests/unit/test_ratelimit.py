"""The in-memory limiters: sliding windows and exponential backoff."""

from __future__ import annotations

from contactcenter.ratelimit import Backoff, RateLimiter


def test_backoff_doubles_after_the_free_attempts_and_resets_on_success() -> None:
    backoff = Backoff(free=2, base=1.0, cap=8.0)
    waits = []
    for _ in range(7):
        backoff.failure("a", now=100.0)
        waits.append(backoff.wait("a", now=100.0))
    assert waits == [0, 0, 1, 2, 4, 8, 8]
    assert backoff.wait("a", now=108.0) == 0 and backoff.wait("b", now=100.0) == 0
    backoff.success("a")
    backoff.failure("a", now=200.0)
    assert backoff.wait("a", now=200.0) == 0


def test_backoff_zero_base_is_off() -> None:
    backoff = Backoff(free=0, base=0.0, cap=10.0)
    for _ in range(5):
        backoff.failure("a", now=1.0)
    assert backoff.wait("a", now=1.0) == 0


def test_sliding_window() -> None:
    limiter = RateLimiter(2, 60)
    limiter.hit("k", now=0.0)
    limiter.hit("k", now=1.0)
    assert limiter.blocked("k", now=2.0) and limiter.retry_after("k", now=2.0) == 59
    assert not limiter.blocked("k", now=60.5)
