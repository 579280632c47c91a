"""Crash points: named moments at which a test kills the pipeline's own process with SIGKILL, as a
power cut, an OOM kill or a closed terminal would, to show that no moment loses or corrupts anything.

Inert unless FAZHI_CRASH_AT is set: `name` kills at the first time that point is reached, `name@n` at
the n-th time, `*@n` at the n-th crash point of any name (a seeded sweep picks n).
"""

from __future__ import annotations

import os
import signal

ENV = "FAZHI_CRASH_AT"

# Every point, in the order a run reaches them; tests kill at each.
POINTS = (
    "ingest.hashed",  # file hashes stored, nothing parsed yet
    "ingest.parse_batch",  # inside a parse batch's transaction, after the file list, before the rows
    "ingest.listed",  # inside the transaction of the new listing of data/raw
    "staging.write",  # inside a staging asset's transaction, its tables replaced, not committed
    "marts.building",  # the marts are being built (one transaction)
    "publish.copying",  # the new warehouse file half written
    "publish.before_swap",  # the new warehouse complete, not yet swapped in
)

_hits: dict[str, int] = {}


def crashpoint(name: str) -> None:
    spec = os.environ.get(ENV)
    if not spec:
        return
    target, _, nth = spec.partition("@")
    if target not in (name, "*"):
        return
    _hits[target] = _hits.get(target, 0) + 1
    if _hits[target] >= int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
