"""Python's cyclic garbage collector, set for a run that turns millions of rows into objects.

A full collection walks every object the process holds: after the imports, some 430,000 (Dagster,
dbt, pandas) that live as long as the process, and during a run the rows being parsed, stored and
staged, which almost never form cycles (reference counting frees them). Frozen, the imports' objects
are left out of every collection; and young objects are collected every 10,000 allocations rather
than every 700. What it saves at province scale is in docs/performance.md.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

BULK_THRESHOLDS = (10_000, 20, 20)


@contextlib.contextmanager
def collector_for_bulk_rows() -> Iterator[None]:
    """Within: what exists on entry is frozen, and collections come less often. On exit the settings
    before are back and the frozen objects are collectable again (a process that goes on, such as a
    test session, keeps nothing it would have freed)."""
    before = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(*BULK_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()
