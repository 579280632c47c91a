"""The running year, end to end on hand-made files: early warnings as of a date (`fazhi run --as-of`) and
the rectification ledger against its deadlines, every figure computed by hand.

As of 2026-09-30 (the last day of Q3):
- 清丰县委 held its collective study in Q1 only, and one planned for Oct 15 is already on its ledger:
  Q2 ended unmet, Q3 ends today and is at risk (1 day left), Q4 has not begun (on track; the October
  meeting does not count yet). It filed both inspection reports on their due dates.
- 清丰县政府 studied in Q1, Q2 and on Sep 30 (today counts): Q3 met. It filed no self-inspection report
  (due Aug 10: 51 days overdue) and its register gives the annual report a due date of today (due soon).
- 市司法局 filed its self-inspection report but sent no problem list (flagged).
- 2025, computed later, has only met or unmet periods.
"""

from __future__ import annotations

import csv
import os
from datetime import date
from pathlib import Path

import pytest
from builders import city_units, write_filings, write_meetings, write_units

from pipelines.cli import main

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


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    from conftest import Warehouse

    root = tmp_path_factory.mktemp("in_year")
    raw = root / "raw"
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
    out = root / "marts" / "fazhi.duckdb"
    assert main(["run", "--raw", str(raw), "--warehouse", str(out), "--as-of", AS_OF]) == 0
    return Warehouse(raw, out)


def _warning(wh, unit: str, requirement: str, period: str) -> tuple:
    return wh.one(
        """select w.state, w.actual, w.still_needed, w.days_left, w.message from marts.early_warnings w
           join marts.units u using (unit_id)
           where u.unit_name = ? and w.requirement_id = ? and w.period = ?""",
        [unit, requirement, period],
    )


def test_quarters_of_the_running_year_by_the_time_they_have_left(warehouse):
    assert _warning(warehouse, PARTY, "collective_study", "2026Q1")[0] == "met"
    assert _warning(warehouse, PARTY, "collective_study", "2026Q2") == (
        "unmet",
        0,
        1,
        0,
        "未达标：2026Q2实有0次，要求1次",
    )
    assert _warning(warehouse, PARTY, "collective_study", "2026Q3") == (
        "at_risk",
        0,
        1,
        1,
        "还需在 9 月 30 日前开展 1 次集体（集中）学法（仅剩 1 天）",
    )
    # the meeting planned for Oct 15 is on the ledger but has not happened on Sep 30
    assert _warning(warehouse, PARTY, "collective_study", "2026Q4") == (
        "on_track",
        0,
        1,
        92,
        "还需在 12 月 31 日前开展 1 次集体（集中）学法",
    )
    assert _warning(warehouse, GOV, "collective_study", "2026Q3")[:3] == ("met", 1, 0)


def test_filings_overdue_due_today_and_filed(warehouse):
    assert _warning(warehouse, GOV, "self_inspection_report", "2026")[::4] == (
        "overdue",
        "已逾期 51 天：督察自查报告（附问题清单）应于 2026-08-10 前报送",
    )
    assert _warning(warehouse, GOV, "rol_gov_annual_report", "2026")[::4] == (
        "due_soon",
        "还需在 9 月 30 日前报送法治政府建设年度报告（今天到期）",
    )
    assert _warning(warehouse, PARTY, "self_inspection_report", "2026")[::4] == (
        "filed",
        "已于 2026-08-10 报送督察自查报告（附问题清单）",
    )
    assert _warning(warehouse, PARTY, "shufa_report", "2026")[0] == "not_due"


def test_a_finished_year_has_no_risk_only_met_or_unmet(warehouse):
    states = {
        s for (s,) in warehouse.rows("select distinct state from marts.early_warnings where year = 2025")
    }
    assert states and states <= {"met", "unmet", "filed", "overdue"}
    assert (
        warehouse.one("select count(*) from marts.early_warnings where year = 2026 and state = 'at_risk'")[0]
        >= 1
    )


def test_rectification_items_as_of_the_date(warehouse):
    items = {
        d: (status, overdue, on_time, flag, note)
        for d, status, overdue, on_time, flag, note in warehouse.rows(
            "select description, status, overdue_days, on_time, flag, note from marts.rectification_items"
        )
    }
    assert items == {
        "集体学法不经常": ("done", None, True, None, "按期完成（2026-09-15）"),
        "听取法治建设汇报 不足": ("done", None, False, None, "逾期完成：晚 5 天（2026-09-25）"),
        "制度不健全": ("not_started", None, None, "no_measure", "今天到期；督察反馈问题未填整改措施"),
        "学法台账不全": ("done", None, False, None, "逾期完成：晚 2 天（2026-09-02）"),
        "普法宣传不够": ("in_progress", 1, None, None, "已逾期 1 天（时限 2026-09-29）"),
    }
    assert warehouse.one(
        "select versions, file from marts.rectification_items where description like '听取%'"
    ) == (2, "2026/rectifications/清丰县委整改台账（更新）.csv")


def test_rectification_summary_per_unit_and_region(warehouse):
    rows = {
        (scope, subject): rest
        for scope, subject, *rest in warehouse.rows(
            """select scope, subject, items, done, overdue, done_on_time, done_late, on_time_rate,
                      without_measure, without_problem_list
               from marts.rectification_summary s left join marts.units u using (unit_id)
               where year = 2026"""
        )
    }
    party = warehouse.one("select unit_id from marts.units where unit_name = ?", [PARTY])[0]
    dept = warehouse.one("select unit_id from marts.units where unit_name = ?", [DEPT])[0]
    assert rows[("unit", party)] == [5, 3, 1, 1, 2, 0.25, 1, 0]
    assert rows[("unit", dept)] == [0, 0, 0, 0, 0, None, 0, 1]
    assert rows[("region", "清丰县")] == [5, 3, 1, 1, 2, 0.25, 1, 0]
    assert (
        "unit",
        warehouse.one("select unit_id from marts.units where unit_name = ?", [GOV])[0],
    ) not in rows


def test_the_calendar_stands_after_the_rectification_report(warehouse):
    phases = warehouse.rows(
        "select phase_id, state from marts.inspection_calendar where year = 2026 order by phase_no"
    )
    assert phases == [
        ("self_inspection", "done"),
        ("on_site_inspection", "done"),
        ("inspection_report", "done"),
        ("feedback_rectification", "done"),
    ]
    assert warehouse.one("select distinct as_of from marts.early_warnings") == (date(2026, 9, 30),)


def test_the_ledgers_files_are_accounted_for(warehouse):
    files = warehouse.rows(
        "select file, status, rows_read, rows_loaded from marts.submissions where kind = 'rectifications' order by file"
    )
    assert files == [
        ("2026/rectifications/清丰县委整改台账.csv", "loaded", 5, 5),
        ("2026/rectifications/清丰县委整改台账（更新）.csv", "loaded", 1, 1),
    ]
