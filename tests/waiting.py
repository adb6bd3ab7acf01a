"""Waiting for what the app does in the background (the relay, the router, a page's fetch)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(probe: Callable[[], Awaitable[T | None]], what: str = "never got there") -> T:
    """The probe's first truthy answer, asked every 50 ms for 10 s at most; else ``AssertionError(what)``."""
    for _ in range(200):
        if value := await probe():
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(what)
