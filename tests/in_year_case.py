"""The running year on hand-made files, as of 2026-09-30 (the last day of Q3): what
tests/end_to_end/test_in_year.py computes by hand and the dashboard's tests show.

- 清丰县委 held its collective study in Q1 only, and one planned for Oct 15 is already on its ledger:
  Q2 ended unmet, Q3 ends today and is at risk (1 day left), Q4 has not begun (on track; the October
  meeting does not count yet). It filed both inspection reports on their due dates; its rectification
  ledger came twice, the later file updating one problem.
- 清丰县政府 studied in Q1, Q2 and on Sep 30 (today counts): Q3 met. It filed no self-inspection report
  (due Aug 10: 51 days overdue) and its register gives the annual report a due date of today (due soon).
- 市司法局 filed its self-inspection report but sent no problem list (flagged).
- 2025, computed later, has only met or unmet periods.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from builders import city_units, write_filings, write_meetings, write_units

AS_OF = "2026-09-30"
PARTY, GOV, DEPT = "中共清丰县委员会", "清丰县人民政府", "市司法局"
HEADER = ["单位", "问题来源", "问题描述", "整改措施", "责任人", "整改时限", "整改状态", "完成日期", "备注"]


def write_rectifications(raw: Path, year: int, name: str, rows: list[tuple], mtime: float) -> Path:
    path = raw / str(year) / "rectifications" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="gbk", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([f"{year}年度法治督察问题整改台账"])
        w.writerow(HEADER)
        w.writerows([*r, *[""] * (len(HEADER) - len(r))] for r in rows)
    os.utime(path, (mtime, mtime))
    return path


def write_in_year_tree(raw: Path) -> Path:
    write_units(raw, city_units(["清丰县"], [DEPT]))
    write_meetings(
        raw,
        2026,
        "学法台账.csv",
        [
            (PARTY, "2026-03-10", "集体学法", "学习宪法"),
            (PARTY, "2026-10-15", "集体学法", "学习民法典（计划）"),
            (GOV, "2026-02-20", "集体学法", "学习行政诉讼法"),
            (GOV, "2026-05-20", "集体学法", "学习行政复议法"),
            (GOV, "2026-09-30", "集体学法", "学习安全生产法"),
        ],
    )
    write_meetings(raw, 2025, "学法台账.csv", [(PARTY, "2025-03-10", "集体学法", "学习宪法")])
    write_filings(
        raw,
        2026,
        [
            (PARTY, "督察自查报告", "2026", "2026-08-10"),
            (PARTY, "督察整改报告", "2026", "2026-09-05"),
            (DEPT, "督察自查报告", "2026", "2026-08-09"),
            (GOV, "法治政府建设年度报告", "2026", "", "2026-09-30"),
        ],
    )
    first = write_rectifications(
        raw,
        2026,
        "清丰县委整改台账.csv",
        [
            (PARTY, "自查", "集体学法不经常", "每季度安排学法", "张三", "2026-09-15", "已完成", "2026-09-15"),
            (PARTY, "自查", "听取法治建设汇报不足", "列入常委会议题", "张三", "2026-09-20", "整改中"),
            (PARTY, "督察反馈", "制度不健全", "", "李四", "2026-09-30", "未启动"),
            (PARTY, "督察反馈", "学法台账不全", "补齐台账", "李四", "2026-08-31", "已完成", "2026-09-02"),
            (PARTY, "其他", "普法宣传不够", "加强宣传", "王五", "2026-09-29", "整改中"),
        ],
        mtime=1_780_000_000,
    )
    # The unit sent its ledger again later, with one problem now done: the later file wins for it.
    write_rectifications(
        raw,
        2026,
        "清丰县委整改台账（更新）.csv",
        [
            (
                PARTY,
                "自查",
                "听取法治建设汇报 不足",
                "列入常委会议题",
                "张三",
                "2026-09-20",
                "已完成",
                "2026-09-25",
            )
        ],
        mtime=first.stat().st_mtime + 86400,
    )
    return raw
