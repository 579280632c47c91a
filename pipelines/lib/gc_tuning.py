"""Python's cyclic garbage collector, set for a run that turns millions of rows into objects.

A collection walks the objects the process holds: after the imports, some 430,000 (Dagster, dbt,
pandas) that live as long as the process, and during a run the rows being parsed, stored and staged,
which almost never form cycles (reference counting frees them). The collector does not run while a
run imports them (`collector_paused`), and during the run they are frozen and it does not run at all:
the cycles a whole run leaves behind are few (141,438 objects at province scale, 1,286,332 at nation
scale, collected in 0.17 s and 0.84 s), while collecting as the rows came and went cost 0.4 s and
5.2 s (docs/performance.md).
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Within: nothing is collected; on exit the collector is as it was. Around a whole run: the
    modules it imports as it starts (Dagster, dbt, pandas) are kept for the process's life, and
    collecting while they were imported walked them again and again (726 collections, 0.3–0.45 s of a
    run's start, for 2 MB that stayed)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@contextlib.contextmanager
def collector_for_bulk_rows() -> Iterator[None]:
    """Within: what exists on entry is frozen and nothing is collected. On exit the collector is as it
    was and the frozen objects are collectable again (a process that goes on, such as a test session,
    keeps nothing it would have freed; `fazhi run` exits without collecting)."""
    gc.freeze()
    try:
        with collector_paused():
            yield
    finally:
        gc.unfreeze()
