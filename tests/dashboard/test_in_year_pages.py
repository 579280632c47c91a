"""The running year on the dashboard (AppTest): the overview's warning counts, the warnings page by region
and unit, the rectification page (calendar, overdue first, completion by region, flags), and a unit's
warnings and problems on its page. The warehouse is tests/in_year_case.py, computed as of 2026-09-30."""

from __future__ import annotations

import pytest
from in_year_case import AS_OF, PARTY, write_in_year_tree
from sessions import LIAISON_REGION, signed_in, user_of
from streamlit.testing.v1 import AppTest
from test_dashboard_app import APP, _metric, _no_traceback, _texts

from pipelines.cli import main


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("in_year_pages")
    raw = write_in_year_tree(root / "raw")
    out = root / "marts" / "fazhi.duckdb"
    assert main(["run", "--raw", str(raw), "--warehouse", str(out), "--as-of", AS_OF]) == 0
    return out


@pytest.fixture
def open_page(served, monkeypatch):
    monkeypatch.setenv("FAZHI_WAREHOUSE", str(served))

    def open_(page: str | None = None, user: str = user_of("analyst"), **state) -> AppTest:
        at = signed_in(AppTest.from_file(APP, default_timeout=60), user)
        at.session_state["f_year"] = 2026
        for key, value in state.items():
            at.session_state[key] = value
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
