"""A small city's 2024 on hand-made files, for the decisions a leader must defend (missing states,
stability, what it would take): what tests/end_to_end/test_decisions.py computes by hand and the
dashboard's tests show.

Regions (the mean of the party and government sheets):
- 甲县 90: party 92 (two hearings on its ledger: its hearing points are supported), government 88.
- 乙县 89, one point behind: party 88 (task 1 at 0 of 6, no hearing recorded; task 2 at 0 of 6),
  government 90. A record of two hearings would restore the 2 points the records decide on task 1:
  one point on the region's mean, level with 甲县.
- 丙县: party 70, government sent nothing. Before the sheet's due date (2025-01-31) 丙县 is 待审
  (pending: not ranked, never last); after it, 缺报 (missing). Coverage 2/3.
Departments (a 不适用 task leaves the denominator; they rank on their score rate):
- 市财政局: the rulebook says task 12 (8 points) does not apply to it; it lost 2 on task 4. 90 of 92:
  rate 0.978, scaled 97.83, first — although its raw score is lower than 市公安局's.
- 市司法局: wrote 不适用 on task 12 itself (a warning asks to confirm); lost 4 on task 4. 88 of 92:
  rate 0.957, scaled 95.65, second.
- 市公安局: lost 8 on task 4. 92 of 100, third.
"""

from __future__ import annotations

from pathlib import Path

from builders import city_units, write_meetings, write_score_sheet, write_units

YEAR = 2024
BEFORE_DUE, AFTER_DUE = "2025-01-20", "2025-02-10"
REGIONS = ["甲县", "乙县", "丙县"]
FINANCE, JUSTICE, POLICE = "市财政局", "市司法局", "市公安局"
RULEBOOK = f"""
extends: default
id: decisions
name: 测试口径（市财政局无第12项职责）
version: 2
not_applicable:
  - {{role: department, task_no: 12, units: [{FINANCE}], reason: 本单位无行政执法职责, source: 测试}}
"""


def write_rulebook(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "rulebook.yaml").write_text(RULEBOOK, encoding="utf-8")
    return folder


def write_decisions_tree(raw: Path) -> Path:
    write_units(raw, city_units(REGIONS, [FINANCE, JUSTICE, POLICE]))
    write_meetings(
        raw,
        YEAR,
        "台账.csv",
        [
            ("甲县委", "2024-03-05", "常委会", "听取法治建设工作汇报"),
            ("甲县委", "2024-09-05", "常委会", "听取法治建设工作汇报"),
        ],
    )
    write_score_sheet(raw, YEAR, "甲县", "party", {3: 0, 4: 0, 7: 1})  # 92: 4 + 3 + 1 lost
    write_score_sheet(raw, YEAR, "甲县", "government", {1: 0, 2: 0, 7: 0})  # 88: 7 + 4 + 1 lost
    write_score_sheet(raw, YEAR, "乙县", "party", {1: 0, 2: 0})  # 88: 6 + 6 lost
    write_score_sheet(raw, YEAR, "乙县", "government", {1: 0, 6: 0})  # 90: 7 + 3 lost
    write_score_sheet(raw, YEAR, "丙县", "party", {**dict.fromkeys(range(1, 7), 0), 8: 4})  # 70
    write_score_sheet(raw, YEAR, FINANCE, "department", {4: 6})
    write_score_sheet(raw, YEAR, JUSTICE, "department", {4: 4, 12: "不适用"})
    write_score_sheet(raw, YEAR, POLICE, "department", {4: 0})
    return raw
