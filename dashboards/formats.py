"""Numbers as the office prints them: scores with one decimal rounded half up (95.25 → 95.3, as in
Excel and by hand), rates as percentages, changes with a sign or an arrow.

On screen a table shows this text; its downloads keep the number and carry the matching Excel number
format (`Shown`), so a spreadsheet reads the same and can still add up."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import pandas as pd


def is_missing(value) -> bool:
    return value is None or bool(pd.isna(value))


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
