"""Seeded draws and the office calendar, shared by every part of the generator.

Deterministic per seed: every random choice comes from a `random.Random` seeded by (seed, year,
unit, aspect), so adding a year never changes another year; every date and time is derived from the
year and the as-of date, never the wall clock (today is only the default as-of date).
"""

from __future__ import annotations

import hashlib
import random
from datetime import date, datetime, time, timedelta, timezone
from typing import Any


def seeded(*parts: object) -> random.Random:
    """A generator of its own for one aspect of one unit's year (or whatever `parts` name)."""
    return random.Random("|".join(map(str, parts)))


def frac(*parts: object) -> float:
    """A fixed number in [0, 1) for `parts`: a phase or offset that needs no generator."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def choice_w(r: random.Random, pairs) -> Any:
    """One item of (item, weight) pairs."""
    items, weights = zip(*pairs, strict=False)
    return r.choices(items, weights)[0]


def clamp(x: float, lo: float, hi: float) -> float:
    return lo if x < lo else hi if x > hi else x


def half(x: float) -> float:
    """Rounded to half a point, as scores are given."""
    return round(x * 2) / 2


def weekday(d: date, backwards: bool = False) -> date:
    """The working day on or after (or before) d: offices meet and file on weekdays."""
    if d.weekday() == 5:
        return d - timedelta(days=1) if backwards else d + timedelta(days=2)
    if d.weekday() == 6:
        return d - timedelta(days=2) if backwards else d + timedelta(days=1)
    return d


def day_in(r: random.Random, start: date, end: date) -> date:
    """A working day between start and end."""
    d = start + timedelta(days=r.randrange((end - start).days + 1))
    d2 = weekday(d)
    return d2 if d2 <= end else weekday(d, backwards=True)


def periods(year: int, period: str) -> list[tuple[int, date, date]]:
    """(number, first day, last day) of each quarter, half year or the year."""
    months = {"quarter": 3, "half_year": 6, "year": 12}[period]
    out = []
    for k, m in enumerate(range(1, 13, months), 1):
        end = date(year + (m + months > 12), (m + months - 1) % 12 + 1, 1) - timedelta(days=1)
        out.append((k, date(year, m, 1), end))
    return out


def submission_time(
    r: random.Random, year: int, month: int = 1, day_lo: int = 5, day_hi: int = 25
) -> datetime:
    """When a file for `year` is sent in: office hours on a working day of the next year's `month`."""
    d = weekday(date(year + 1, month, r.randint(day_lo, day_hi)))
    return datetime.combine(d, time(r.randint(8, 17), r.randint(0, 59), r.randint(0, 59)))


def today_in_china() -> date:
    """Today's date in Beijing, the default as-of date of a generated tree."""
    return datetime.now(timezone(timedelta(hours=8))).date()


def in_year_time(r: random.Random, year: int, as_of: date) -> datetime | None:
    """When a file of the running year was sent: office hours on one of the last working days up to
    `as_of` (None when that falls before the year began: nothing to send yet)."""
    d = weekday(as_of - timedelta(days=r.randint(0, 4)), backwards=True)
    if d.year != year:
        return None
    return datetime.combine(d, time(r.randint(8, 17), r.randint(0, 59), r.randint(0, 59)))
