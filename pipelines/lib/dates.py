"""Date parsing for hand-typed ledgers.

parse_date runs once per date cell (millions at national scale), so typed values take an
isinstance fast path and strings are memoized: a ledger repeats the same few hundred dates.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, timedelta
from functools import lru_cache

from pipelines.lib.text import to_halfwidth

# Plausibility window: a year outside it is a typo (0224, 20224), not a meeting date.
MIN_YEAR = 1900
MAX_YEAR = 2100

# Excel's 1900 date system: serial 1 is 1900-01-01, but Excel counts a 1900-02-29 that never was,
# so for every serial from 61 on the day is (1899-12-30 + serial). Serials below that window are
# not dates anyone types into a ledger (1990-01-01 .. 2100-12-31).
_EXCEL_EPOCH = date(1899, 12, 30)
_MIN_SERIAL = (date(1990, 1, 1) - _EXCEL_EPOCH).days  # 32874
_MAX_SERIAL = (date(MAX_YEAR, 12, 31) - _EXCEL_EPOCH).days

_DATE_RE = re.compile(
    r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*[日号]?"
    # an optional time of day, which a meeting ledger may carry: "14:30", "上午", "下午3:00"
    r"(?:\s*(?:[T ]|上午|下午|晚上)?\s*(?:\d{1,2}[:时]\d{2}(?::\d{2}(?:\.\d+)?)?分?)?)?"
)
_COMPACT_RE = re.compile(r"(\d{4})(\d{2})(\d{2})")  # 20240305
_SERIAL_RE = re.compile(r"\d{5}(?:\.\d+)?")  # 45356 or 45356.5 exported as text
_MAX_DATE_TEXT = 40


def _checked(y: int, m: int, d: int) -> date | None:
    if not MIN_YEAR <= y <= MAX_YEAR:
        return None
    try:
        return date(y, m, d)
    except ValueError:  # 2024-13-45, 2023-02-29
        return None


def _from_serial(f: float) -> date | None:
    if not math.isfinite(f):
        return None
    if _MIN_SERIAL <= f <= _MAX_SERIAL + 1:
        return _EXCEL_EPOCH + timedelta(days=int(f))  # fraction = time of day
    if 19000101 <= f <= 21001231 and f == int(f):  # 20240305 typed into a number cell
        n = int(f)
        return _checked(n // 10000, n // 100 % 100, n % 100)
    return None


@lru_cache(maxsize=8192)
def _parse_date_text(s: str) -> date | None:
    s = to_halfwidth(s).strip()
    # fast path: ISO 2024-03-05, optionally followed by a time ("2024-03-05 00:00:00")
    if len(s) >= 10 and s[4] == "-" and s[7] == "-" and (len(s) == 10 or s[10] in " T"):
        head = s[:10]
        if head[:4].isdigit() and head[5:7].isdigit() and head[8:10].isdigit():
            d = _checked(int(head[:4]), int(head[5:7]), int(head[8:10]))
            if d is not None and (len(s) == 10 or _DATE_RE.fullmatch(s)):
                return d
    m = _DATE_RE.fullmatch(s)
    if m is not None:
        return _checked(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    m = _COMPACT_RE.fullmatch(s)
    if m is not None:
        return _checked(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    if _SERIAL_RE.fullmatch(s):
        return _from_serial(float(s))
    return None


def parse_date(v: object) -> date | None:
    """A cell value as a date, or None when it is blank or not recognisably a date.

    Accepts date/datetime objects, Excel serial numbers (1900 system, 1990..2100), and text such as
    2024-03-05, 2024/3/5, 2024.3.5, 2024年3月5日, 2024-03-05 00:00:00, 20240305, full-width digits.
    """
    # exact type checks first (the common cases, and bool must not count as a number);
    # written inline so that the checker narrows v
    if type(v) is str:
        if not v or len(v) > _MAX_DATE_TEXT:
            return None
        return _parse_date_text(v)
    if type(v) is datetime:
        return v.date() if MIN_YEAR <= v.year <= MAX_YEAR else None
    if type(v) is date:
        return v if MIN_YEAR <= v.year <= MAX_YEAR else None
    if type(v) is float or type(v) is int:
        return _from_serial(float(v))
    if isinstance(v, datetime):  # subclasses (pandas Timestamp, ...)
        return v.date() if MIN_YEAR <= v.year <= MAX_YEAR else None
    if isinstance(v, date):
        return v if MIN_YEAR <= v.year <= MAX_YEAR else None
    return None
