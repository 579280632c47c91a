"""The running year, end to end on hand-made files (tests/in_year_case.py): early warnings as of a date
(`fazhi run --as-of`) and the rectification ledger against its deadlines, every figure computed by hand;
then the same warehouse on the dashboard (AppTest): the overview's warning counts, the warnings page by
region and unit, the rectification page (calendar, overdue first, completion by region, flags), a unit's
warnings and problems on its page, and a liaison of another region seeing none of it.
"""

from __future__ import annotations

from datetime import date

import pytest
from in_year_case import AS_OF, DEPT, GOV, PARTY, write_in_year_tree
from sessions import LIAISON_REGION, signed_in, user_of
from streamlit.testing.v1 import AppTest
from test_dashboard_app import APP, _metric, _no_traceback, _texts

from pipelines.cli import main


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    from conftest import Warehouse

    root = tmp_path_factory.mktemp("in_year")
    raw = write_in_year_tree(root / "raw")
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


@pytest.fixture
def open_page(warehouse, monkeypatch):
    monkeypatch.setenv("FAZHI_WAREHOUSE", str(warehouse.path))

    def open_(page: str | None = None, user: str = user_of("analyst")) -> AppTest:
        at = signed_in(AppTest.from_file(APP, default_timeout=60), user)
        at.session_state["f_year"] = 2026
        at.run()
        if page:
            at.switch_page(page)
            at.run()
        _no_traceback(at)
        return at

    return open_


def test_the_overview_counts_the_running_years_warnings(open_page):
    at = open_page()
    assert "2026-09-30" in _texts(at)
    # hand-computed in tests/end_to_end/test_in_year.py: the party's Q3 is at risk; the government's
    # annual report is due today; its self-inspection report and the party's 2026Q2 are past
    assert int(_metric(at, "有风险")) >= 1
    assert _metric(at, "即将到期") == "1"
    assert int(_metric(at, "已逾期")) >= 1


def test_the_warnings_page_says_what_is_needed_and_by_when(open_page):
    at = open_page("app_pages/warnings.py")
    assert [t.value for t in at.title] == ["预警"]
    by_unit = at.dataframe[1].value
    party = by_unit[by_unit["单位"] == PARTY]
    assert "还需在 9 月 30 日前开展 1 次集体（集中）学法（仅剩 1 天）" in set(party["还需"])
    assert set(by_unit["状态"]) <= {"未达标", "已逾期", "有风险", "即将到期"}
    regions = at.dataframe[0].value
    assert list(regions["区县"]) and "清丰县" in set(regions["区县"])


def test_the_rectification_page_puts_overdue_first(open_page):
    at = open_page("app_pages/rectification.py")
    assert [t.value for t in at.title] == ["整改"]
    calendar = at.dataframe[0].value
    assert list(calendar["进度"]) == ["已结束"] * 4
    overdue = at.dataframe[1].value
    assert list(overdue["问题"]) == ["普法宣传不够"] and list(overdue["逾期天数"]) == [1]
    regions = at.dataframe[2].value.set_index("区县")
    assert regions.loc["清丰县", "问题数"] == 5 and regions.loc["清丰县", "逾期未完成"] == 1
    assert regions.loc["清丰县", "按期完成率"] == "25.0%"
    flags = at.dataframe[3].value
    assert set(flags["单位"]) == {PARTY, "市司法局"}


def test_a_units_page_shows_its_warnings_and_problems(open_page):
    at = open_page("app_pages/unit.py")
    pick = at.selectbox(key="unit_pick")
    pick.select_index(next(i for i, o in enumerate(pick.options) if o.startswith(PARTY))).run()
    _no_traceback(at)
    shown = "\n".join(str(df.value.to_dict()) for df in at.dataframe)
    assert "还需在 9 月 30 日前开展 1 次集体（集中）学法（仅剩 1 天）" in shown
    assert "已逾期 1 天（时限 2026-09-29）" in shown


def test_a_liaison_sees_only_their_region(open_page):
    at = open_page("app_pages/rectification.py", user=user_of("liaison"))
    assert LIAISON_REGION != "清丰县"
    assert not any(PARTY in str(df.value.to_dict()) for df in at.dataframe), (
        "a liaison of another region saw 清丰县's problems"
    )
