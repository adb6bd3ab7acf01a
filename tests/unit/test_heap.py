"""The server's garbage-collector settings (contactcenter/ops/heap.py)."""

from __future__ import annotations

import gc

from contactcenter.ops import heap


def test_settle_freezes_what_exists_and_collects_the_young_less_often() -> None:
    threshold = gc.get_threshold()
    try:
        heap.settle()
        assert gc.get_freeze_count() > 1000  # this process's modules, classes and functions
        assert gc.get_threshold() == (heap.YOUNG_THRESHOLD, *threshold[1:])
        garbage: list[object] = []
        garbage.append(garbage)  # a cycle made after the freeze is still collected
        del garbage
        assert gc.collect() >= 1
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
