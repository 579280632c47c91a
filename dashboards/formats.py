"""Values as the office reads them: scores with one decimal rounded half up (95.25 → 95.3, as in
Excel and by hand), rates as percentages, changes with a sign or an arrow; missing values as —.

On screen a table shows this text; its downloads keep the number and carry the matching Excel number
format (`Shown`), so a spreadsheet reads the same and can still add up."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import pandas as pd

MISSING = "—"  # how a missing value shows anywhere (never nan, None, NaT or <NA>)
ISOLATE = "\u2068", "\u2069"  # first-strong isolate … pop directional isolate
_BIDI_CONTROLS = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def is_missing(value) -> bool:
    return value is None or bool(pd.isna(value))


def isolated(text: str) -> str:
    """Text with bidirectional controls (an RTL override in a name) wrapped in an isolate, so that it shows as
    written without reordering the words around it; any other text unchanged."""
    return text.join(ISOLATE) if _BIDI_CONTROLS.search(text) else text


def _half_up(value, places: int, scale: int = 1) -> Decimal:
    # Through the shortest decimal text of the float: 0.8765 × 100 in binary is 87.6499…
    return (Decimal(str(value)) * scale).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def fmt_score(value) -> str:
    return "" if is_missing(value) else f"{_half_up(value, 1)}"


def fmt_rate(value) -> str:
    return "" if is_missing(value) else f"{_half_up(value, 1, scale=100)}%"


def fmt_score_change(change) -> str:
    if is_missing(change):
        return "—"
    rounded = _half_up(change, 1)
    return "0.0" if rounded == 0 else f"{rounded:+}"


def fmt_rank_change(change) -> str:
    """↑ moved up, ↓ moved down (rank_change = prev_rank − rank); no arrow without last year's rank."""
    if is_missing(change):
        return "—"
    change = int(change)
    return f"↑{change}" if change > 0 else f"↓{-change}" if change < 0 else "→0"


@dataclass(frozen=True)
class Shown:
    """How a column of numbers reads on screen, and the Excel number format that reads the same."""

    text: Callable[[object], str]
    excel: str


SCORE = Shown(fmt_score, "0.0")
RATE = Shown(fmt_rate, "0.0%")
SCORE_CHANGE = Shown(fmt_score_change, "+0.0;-0.0;0.0")
RANK_CHANGE = Shown(fmt_rank_change, '"↑"0;"↓"0;"→"0')
