"""The mess put in on purpose: what real offices send (SPEC §4), how often, and what the pipeline
should say about it.

File-level kinds are a share of that kind's files per year, rationed with a low-discrepancy quota
(see `quota`) so that a 5-year city demo always shows a few of each kind instead of none or a
cluster; row-level kinds are a per-row probability. The kinds in `EXPECTED_ISSUES` should make the
pipeline report those issue codes; the others are variety the parsers must take in their stride, or
(filing_*, normative_*, noted by the register layouts) shortfalls the marts should show.
"""

from __future__ import annotations

import math
import random
from collections.abc import Collection
from datetime import date

from generator.draws import frac, seeded
from generator.registry import Unit

SHEET_RATES = {
    "legacy_xls": 0.04,  # BIFF8 .xls (xlwt)
    "openpyxl_writer": 0.04,  # written by another producer (openpyxl's styles and layout)
    "notes_sheet": 0.08,  # an extra 说明 sheet (sometimes before the score sheet)
    "empty_sheets": 0.06,  # Sheet2/Sheet3 left empty
    "blank_rows": 0.10,  # blank rows between duty groups
    "fullwidth_digits": 0.08,  # （６分）, １２ …
    "score_text": 0.06,  # scores typed as text: '4.5分', '5'
    "score_blank": 0.04,  # one or two score cells left blank
    "score_invalid": 0.02,  # '优', a negative number or more than the task's points
    "total_mismatch": 0.03,  # 合计 does not equal the sum of the task rows
    "total_missing": 0.03,  # no 合计 row
    "unit_alias": 0.15,  # 被考核单位 written as an alias or 中共/委员会/人民政府 variant
    "unit_unknown": 0.005,  # 被考核单位 misspelled: matches no registry name
    "task_missing": 0.01,  # a template task left out
    "task_unknown": 0.008,  # an extra task number the template does not know
    "year_mismatch": 0.006,  # 年度 inside says the year before the folder's
    "resubmission": 0.03,  # a corrected file (…_更正.xlsx) follows the first one
    "corrupt_file": 0.006,  # truncated zip
}
LEDGER_RATES = {
    "legacy_xls": 0.04,
    "xlsx": 0.16,
    "serial_dates": 0.03,  # the date column holds Excel serial numbers as plain numbers
    "blank_rows": 0.05,
    "unit_unknown": 0.005,
    "corrupt_file": 0.004,  # only .xlsx ledgers are truncated
}
ROW_RATES = {
    "date_unparseable": 0.003,
    "date_other_year": 0.002,  # a typo puts the meeting in the year before
    "duplicate_row": 0.01,
    # rectification ledgers: an item marked 已完成 whose 完成日期 is left blank, or not a date
    "done_no_date": 0.015,
    "done_bad_date": 0.008,
}
# Rectification ledgers (整改台账): a unit's own file or its group's register; a share of the
# units that filed a self-inspection report send no problem list with it.
RECTIFICATION_RATES = {
    "legacy_xls": 0.05,
    "xlsx": 0.35,
    "serial_dates": 0.03,
    "blank_rows": 0.06,
    "footer": 0.3,  # 填表人/审核人 lines under the table
    "unit_unknown": 0.01,
    "corrupt_file": 0.01,  # only .xlsx ones are truncated
}
NO_PROBLEM_LIST = 0.06
RECTIFICATION_REGISTER_SHARE = {"region": 0.5, "department": 0.3}  # groups that send one register
# What Excel and WPS save a CSV in on Chinese Windows, and how often.
CSV_ENCODINGS = (("gbk", 0.55), ("utf-8-sig", 0.25), ("utf-8", 0.15), ("gb18030", 0.05))

# Planted problem → the issue codes of `marts.ingest_issues` it should produce (README, 问题代码).
EXPECTED_ISSUES: dict[str, tuple[str, ...]] = {
    "score_blank": ("score_blank",),
    "score_invalid": ("score_not_number", "score_negative", "score_above_max"),
    "total_mismatch": ("total_mismatch",),
    "unit_unknown": ("unknown_unit",),  # a score sheet's rows also get row_unit_unknown
    "task_missing": ("task_missing",),
    "task_unknown": ("unknown_task",),
    "year_mismatch": ("year_mismatch",),
    "resubmission": (),  # no issue: the first file shows as superseded in the submissions
    "corrupt_file": ("unreadable_workbook",),
    "date_unparseable": ("bad_date",),
    "date_other_year": ("date_outside_year",),
    "duplicate_row": ("duplicate_meeting",),
}
ISSUE_KINDS = frozenset(EXPECTED_ISSUES)

UNPARSEABLE_DATES = ("{y}年{m}月", "{m}月上旬", "{y}-02-30", "待补充", "{y}.13.{d}", "同上", "{y}年第{q}季度")
TOTAL_ERRORS = (-5, -3, -2, -1, 1, 2, 3, 4)
# A misspelling map: one character an office might get wrong (by sound or shape).
MISSPELL = dict(
    zip(
        "清丰南华龙阳台前乐范安平河山城宁源泉林水新东西江海云凤昌兴永和泰康德庆广武文明",
        "青峰楠化隆扬苔钱勒泛按坪和衫成凝原全临税心冬希将还运奉长星勇河太糠得亲光午闻名",
        strict=False,
    )
)
FW_DIGITS = str.maketrans("0123456789", "０１２３４５６７８９")


# --- how many files get each kind, per year ------------------------------------------------------


def quota(rate: float, n: int, year: int, *key: object) -> int:
    """How many of n files get a problem of this kind in this year.

    A low-discrepancy sequence: the totals over any run of consecutive years stay within one of
    rate × n × years, and each year's count depends only on that year (not on the years generated).
    """
    lam = rate * n
    phase = frac("quota", *key)
    i = year - 2000
    return math.floor(lam * (i + 1) + phase) - math.floor(lam * i + phase)


def pick(
    rate: float,
    candidates: list[str],
    year: int,
    seed: int,
    kind: str,
    what: str,
    exclude: Collection[str] = frozenset(),
) -> set[str]:
    """The candidates (unit names) that get `kind` this year."""
    pool = [c for c in candidates if c not in exclude]
    k = min(len(pool), quota(rate, len(candidates), year, seed, what, kind))
    return set(seeded(seed, year, "pick", what, kind).sample(pool, k)) if k else set()


def year_flags(
    rates: dict[str, float],
    candidates: list[str],
    year: int,
    seed: int,
    what: str,
    exclusive: tuple[str, ...] = (),
) -> dict[str, set[str]]:
    """candidate → the kinds it gets this year; a file has at most one of the `exclusive` kinds."""
    flags: dict[str, set[str]] = {c: set() for c in candidates}
    taken: set[str] = set()
    for kind, rate in rates.items():
        chosen = pick(rate, candidates, year, seed, kind, what, exclude=taken if kind in exclusive else set())
        if kind in exclusive:
            taken |= chosen
        for c in chosen:
            flags[c].add(kind)
    return flags


# --- the problems themselves ------------------------------------------------------------------------


def misspell(name: str, r: random.Random, known: set[str]) -> str:
    """The name with one character wrong, as no registry name or alias reads."""
    first = 2 if name.startswith("中共") else 0
    positions = [i for i in range(first, len(name)) if name[i] in MISSPELL]
    r.shuffle(positions)
    for i in positions:
        wrong = name[:i] + MISSPELL[name[i]] + name[i + 1 :]
        if wrong not in known:
            return wrong
    return name.replace("局", "所", 1) if "局" in name else name + "办公室"


def name_variant(unit: Unit, r: random.Random) -> str:
    """A name the unit itself might write that the registry still resolves: an alias, or the name
    with 中共/委员会/人民政府 written another way, a stray space, full-width brackets."""
    options = list(unit.aliases)
    name = unit.name
    if name.startswith("中共"):
        options.append(name[2:])  # 清丰县委员会
        options.append("中共 " + name[2:])
    if name.endswith("人民政府"):
        options.append(name[:-4] + " 人民政府")
    if unit.role == "department":
        options.append(name.replace("市", "市 ", 1))
    return r.choice(options) if options else name


def fullwidth(text: str) -> str:
    """Digits typed with a Chinese input method: ６分, １２."""
    return text.translate(FW_DIGITS)


def blank_score_tasks(r: random.Random, tasks: list) -> set[int]:
    """Task numbers of one or two score cells left blank."""
    return {t.task.task_no for t in r.sample(tasks, min(len(tasks), r.choice((1, 1, 2))))}


def invalid_score(r: random.Random, points: float) -> str | float:
    """A score the pipeline must refuse: a grade, a tick, a negative number or more than the maximum."""
    return r.choice(("优", "良", "√", -1, -2, points + 1, points + 2, "合格"))


def total_error(r: random.Random) -> int:
    """How far a 合计 typed by hand is off the sum of the task rows."""
    return r.choice(TOTAL_ERRORS)


def unparseable_date(r: random.Random, year: int, day: date) -> str:
    """A date cell no reader can date: a month only, 待补充, 同上, the 30th of February …"""
    return r.choice(UNPARSEABLE_DATES).format(y=year, m=day.month, d=day.day, q=(day.month - 1) // 3 + 1)


def gb18030_only(name: str) -> str:
    """The name with a character only GB18030 (not GBK) can encode: 𠮷."""
    return "𠮷" + name[1:]


def truncate(data: bytes, keep: tuple[int, int]) -> bytes:
    """A file cut short in transfer (keep = numerator, denominator of the bytes kept): a zip without
    its central directory, which no reader can open. The one place the generator edits file bytes."""
    return data[: len(data) * keep[0] // keep[1]]
