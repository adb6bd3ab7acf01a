"""`contactcenter serve` runs on uvloop's event loop unless the settings say otherwise."""

from __future__ import annotations

import asyncio

import pytest

from contactcenter.cli import event_loop

uvloop = pytest.importorskip("uvloop")  # a dependency of the server everywhere but Windows


def test_serve_runs_on_uvloop_unless_told_not_to() -> None:
    loop = event_loop(True)
    try:
        assert isinstance(loop, uvloop.Loop)
        assert loop.run_until_complete(asyncio.sleep(0, "ran")) == "ran"
    finally:
        assert loop is not None
        loop.close()
    assert event_loop(False) is None  # aiohttp then makes asyncio's own
