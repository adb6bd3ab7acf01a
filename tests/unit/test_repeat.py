"""The timer behind the background jobs: a failing round is logged and the next one still runs."""

from __future__ import annotations

import asyncio
import logging

import pytest

from contactcenter.errors import Unavailable
from contactcenter.ops.repeat import Repeater


async def test_rounds_go_on_after_failures_and_stop_ends_them(caplog: pytest.LogCaptureFixture) -> None:
    rounds: list[int] = []
    third = asyncio.Event()

    async def work() -> None:
        rounds.append(len(rounds))
        if len(rounds) == 1:
            raise RuntimeError("a bug")
        if len(rounds) == 2:
            raise Unavailable("database down")
        third.set()

    log = logging.getLogger("test.repeat")
    repeater = Repeater("test-repeat", work, 0.001, log=log, failure="round failed", first_delay=0)
    with caplog.at_level(logging.WARNING, logger="test.repeat"):
        repeater.start()
        await asyncio.wait_for(third.wait(), timeout=10)
        await repeater.stop()
    done = len(rounds)
    await asyncio.sleep(0.01)
    assert len(rounds) == done >= 3
    failures = [r for r in caplog.records if r.name == "test.repeat"]
    assert [(r.levelno, r.exc_info is not None) for r in failures[:2]] == [(logging.ERROR, True),
                                                                          (logging.WARNING, False)]
    await repeater.stop()  # stopping twice is harmless
