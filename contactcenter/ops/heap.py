"""The garbage collector of a long-running server process.

A started server holds about 220,000 objects that live as long as it does (modules, classes, functions,
SQLAlchemy's mappings and compiled statements). CPython's full collections walked all of them: under a steady
load that was a pause of 100-160 ms with the GIL held about once every two seconds, during which no request,
commit or offer moved (the slowest 1 % of intake requests were mostly these pauses). `settle` moves what exists
once the server has started into the permanent generation, which collections skip (``gc.freeze``), and makes
the youngest generation larger, so that the many short-lived objects of each request are collected in fewer,
larger passes. Cyclic garbage is still collected; only the objects of the start are never examined again.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 10_000  # allocations between collections of the youngest generation (CPython's default: 700)


def settle() -> None:
    """Collect once, freeze what is left and raise the youngest generation's threshold (call after start-up)."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
