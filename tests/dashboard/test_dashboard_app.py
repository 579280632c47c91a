"""The dashboard under Streamlit's AppTest, on a hand-made warehouse whose figures are known.

Regions and scores are the ones of the RANKING case in test_pipeline_correctness (hand-computed there):
2024: 清丰县 100 → 1; 南乐县 95 and 范县 95 → 2 (并列); 台前县 90 and 濮阳县 90 → 4 (并列, both 末位);
华龙区 government missing → not ranked. 2023: 南乐县 1, 清丰县 2, 台前县/濮阳县 3, 范县 5, 华龙区 6.
"""

from __future__ import annotations

import datetime
import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from builders import (
    city_units,
    losing,
    write_filings,
    write_meetings,
    write_normative,
    write_score_sheet,
    write_units,
)
from conftest import run_fazhi
from sessions import signed_in
from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df
from streamlit.testing.v1 import AppTest
from test_pipeline_correctness import RANK_2023, RANK_2024

from pipelines.lib.rulebook import load_rulebook

FAZHI = Path(sys.executable).parent / "fazhi"
APP = str(Path(__file__).resolve().parents[2] / "dashboards" / "streamlit_app.py")
PAGES = {
    "app_pages/overview.py": "总览",
    "app_pages/ranking.py": "排名",
    "app_pages/weak_spots.py": "短板",
    "app_pages/meetings.py": "会议学习",
    "app_pages/filings.py": "报送",
    "app_pages/warnings.py": "预警",
    "app_pages/rectification.py": "整改",
    "app_pages/unit.py": "单位详情",
    "app_pages/quality.py": "数据质量",
    "app_pages/method.py": "方法说明",
}


def _write_year(raw: Path, year: int, table: dict) -> None:
    for region, (party, gov) in table.items():
        write_score_sheet(raw, year, region, "party", losing("party", 100 - party))
        if gov is not None:
            write_score_sheet(raw, year, region, "government", losing("government", 100 - gov))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("dashboard")
    raw = root / "raw"
    write_units(raw, city_units(list(RANK_2024)))
    _write_year(raw, 2023, RANK_2023)
    _write_year(raw, 2024, RANK_2024)
    return run_fazhi(raw, root / "marts" / "fazhi.duckdb")


@pytest.fixture(scope="module")
def with_ledgers(tmp_path_factory):
    """Score sheets plus the ledgers, which carry no role of their own: a meeting ledger per unit (one row
    each with a date nobody can read), a filing register for several units, a normative-document ledger.
    濮阳市司法局 sends only its meeting ledger, no score sheet; 范县's government sheet has a score in words."""
    root = tmp_path_factory.mktemp("ledgers")
    raw = root / "raw"
    write_units(raw, city_units(["清丰县", "范县"], ["濮阳市司法局"]))
    for region in ("清丰县", "范县"):
        write_score_sheet(raw, 2024, region, "party")
    write_score_sheet(raw, 2024, "清丰县", "government")
    write_score_sheet(
        raw, 2024, "范县", "government", {3: "待定"}
    )  # an issue with a sheet name, beside CSV ones
    write_meetings(
        raw,
        2024,
        "清丰县委_2024年会议学法台账.csv",
        [
            ("清丰县委", "2024-03-05", "理论学习中心组学习", "学习宪法"),
            ("清丰县委", "2024年3月", "集体学法", "民法典"),
            ("清丰县委", "2024-05-06", "常委会", "听取法治建设汇报"),
        ],
    )
    write_meetings(
        raw,
        2024,
        "濮阳市司法局_2024年会议学法台账.csv",
        [
            ("濮阳市司法局", "2024-03-05", "集体学法", "行政复议法"),
            ("濮阳市司法局", "待补充", "集体学法", "行政处罚法"),
        ],
    )
    write_filings(
        raw,
        2024,
        [
            ("清丰县委", "年终述法", "2024", "2025-01-10"),
            ("范县政府", "法治政府建设年度报告", "2024", "2025-03-30"),
        ],
    )
    write_normative(
        raw,
        2024,
        [("范县政府", "关于规范行政执法的通知", "范政〔2024〕1号", "2024-03-01", "2024-03-20", "是")],
    )
    return run_fazhi(raw, root / "marts" / "fazhi.duckdb")


def _opener(warehouse: Path, monkeypatch):
    monkeypatch.setenv("FAZHI_WAREHOUSE", str(warehouse))

    def open_page(page: str | None = None, **state) -> AppTest:
        at = signed_in(AppTest.from_file(APP, default_timeout=60))
        for key, value in state.items():
            at.session_state[key] = value
        at.run()
        if page:
            at.switch_page(page)
            at.run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    return open_page


@pytest.fixture
def app(built, monkeypatch):
    return _opener(built.path, monkeypatch)


@pytest.fixture
def ledger_app(with_ledgers, monkeypatch):
    return _opener(with_ledgers.path, monkeypatch)


def _metric(at: AppTest, label: str) -> str:
    values = [m.value for m in at.metric if m.label == label]
    assert values, f"no metric {label!r} in {[m.label for m in at.metric]}"
    return values[0]


def _texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [e.value for e in at.success] + [e.value for e in at.error]
    parts += [e.value for e in at.info] + [e.value for e in at.caption] + [e.value for e in at.warning]
    return "\n".join(str(p) for p in parts)


@pytest.mark.parametrize("page,title", PAGES.items())
def test_every_page_renders_without_exception(app, page, title):
    at = app(page)
    assert [t.value for t in at.title] == [title]
    # The freshness line: when the marts were published and from how many files.
    assert any("数据发布于" in c.value and "来源文件 24 个" in c.value for c in at.sidebar.caption)


def test_overview_headline_figures(app):
    at = app()
    assert _metric(at, "参与排名区县") == "5/6"
    assert _metric(at, "区县平均分") == "94.0"  # (100 + 95 + 95 + 90 + 90) / 5
    assert _metric(at, "未报送单位") == "1"  # 华龙区 government
    text = _texts(at)
    assert "清丰县（100.0）" in text
    assert "台前县（90.0）" in text and "濮阳县（90.0）" in text  # both share the last place


def test_ranking_table_ties_bottom_and_change(app):
    at = app("app_pages/ranking.py")
    table = at.dataframe[0].value.set_index("区县")
    assert table.loc["南乐县", "名次"] == "2（并列）" and table.loc["范县", "名次"] == "2（并列）"
    assert table.loc["清丰县", "名次"] == "1"
    assert table.loc["华龙区", "名次"] == "不排名"
    assert table.loc["范县", "名次变化"] == "↑3"  # 5 → 2
    assert table.loc["南乐县", "名次变化"] == "↓1"  # 1 → 2
    assert table.loc["清丰县", "得分变化"] == "+10.0"  # 90 → 100
    # A rank can move while the score stands still: 台前县 85 → 90 (+5.0) yet 3 → 4 (↓1).
    assert (table.loc["台前县", "得分变化"], table.loc["台前县", "名次变化"]) == ("+5.0", "↓1")
    assert table.loc["台前县", "备注"].startswith("末位") and table.loc["濮阳县", "备注"].startswith("末位")
    assert table.loc["清丰县", "综合得分"] == "100.0"


def test_year_filter_changes_the_numbers(app):
    at = app()
    assert _metric(at, "区县平均分") == "94.0"
    at.sidebar.selectbox(key="f_year").set_value(2023).run()
    assert not at.exception
    assert _metric(at, "参与排名区县") == "6/6"
    assert _metric(at, "区县平均分") == "85.0"  # (90+100+80+85+85+70) / 6 = 85.0


def test_region_filter_changes_the_numbers(app):
    at = app()
    at.sidebar.multiselect(key="f_regions").set_value(["清丰县", "范县"]).run()
    assert not at.exception
    assert _metric(at, "参与排名区县") == "2/2"
    assert _metric(at, "区县平均分") == "97.5"


def test_level_and_role_filters_reach_the_unit_ranking(app):
    at = app("app_pages/ranking.py")
    assert [s.value for s in at.main.subheader] == ["县（区）党委", "县（区）政府"]
    at.sidebar.selectbox(key="f_side").set_value("government").run()
    assert [s.value for s in at.main.subheader] == ["县（区）政府"]
    at.sidebar.selectbox(key="f_level").set_value("department").run()  # no department is both
    assert not at.exception and "当前筛选条件下没有数据" in _texts(at)


def test_english_switch(app):
    at = app()
    at.sidebar.radio(key="lang").set_value("en").run()
    assert [t.value for t in at.title] == ["Overview"]
    assert _metric(at, "Regions ranked") == "5/6"


def test_year_without_data_has_a_plain_empty_state(app):
    this_year = datetime.date.today().year
    at = app()
    at.sidebar.selectbox(key="f_year").set_value(this_year).run()
    assert not at.exception
    assert f"{this_year} 年度暂无数据" in _texts(at)


def test_no_warehouse_yet(tmp_path, monkeypatch):
    monkeypatch.setenv("FAZHI_WAREHOUSE", str(tmp_path / "none" / "fazhi.duckdb"))
    at = signed_in(AppTest.from_file(APP, default_timeout=60)).run()
    assert not at.exception
    assert "尚未生成数据仓库" in _texts(at)


def test_ranking_row_opens_the_unit_page(app, built):
    at = app("app_pages/ranking.py")
    at.selectbox(key="ranking_region_unit").select_index(1).run()
    at.button(key="ranking_go_region_unit").click().run()
    assert not at.exception
    assert [t.value for t in at.title] == ["单位详情"]
    # The picker lists region and role in the ranking's order: the second row is 华龙区's government.
    second = built.df("""select unit_id from marts.unit_scores where year = 2024 and role in ('party', 'government')
                         order by region, role limit 1 offset 1""")["unit_id"].item()
    assert at.selectbox(key="unit_pick").value == second
    # Once there, the unit's own picker is free: another choice sticks. (AppTest follows a page switch
    # made by the script for one run only; the browser's URL is /unit from now on.)
    other = built.df("select unit_id from marts.units where unit_name = '中共范县委员会'")["unit_id"].item()
    at.switch_page("app_pages/unit.py")
    at.selectbox(key="unit_pick").set_value(other).run()
    assert at.selectbox(key="unit_pick").value == other
    assert at.main.subheader[0].value.startswith("中共范县委员会")


def test_unit_page_sheet_lost_points_and_history(app, built):
    at = app("app_pages/unit.py")
    taiqian = built.df("select unit_id from marts.units where unit_name = '中共台前县委员会'")[
        "unit_id"
    ].item()
    at.selectbox(key="unit_pick").set_value(taiqian).run()
    assert not at.exception
    assert _metric(at, "综合得分") == "90.0"
    assert _metric(at, "名次") == "5 / 6"  # party units: 100, 100, 98, 95, 90, 88
    assert sheet_rows_lost(at) == (27, 10.0)  # Puyang's party sheet, 100 − 90 task by task
    # Government units: 100, 95, 92, 92, 90 (华龙区 sent nothing) → 濮阳县 shares 3rd place.
    puyang = built.df("select unit_id from marts.units where unit_name = '濮阳县人民政府'")["unit_id"].item()
    at.selectbox(key="unit_pick").set_value(puyang).run()
    assert _metric(at, "名次") == "3（并列） / 5"
    assert sheet_rows_lost(at) == (30, 8.0)


def sheet_rows_lost(at: AppTest) -> tuple[int, float]:
    sheet = at.dataframe[0].value
    return len(sheet), round(float(sheet["失分"].sum()), 1)


def test_weak_spots_cell_drilldown(app):
    at = app("app_pages/weak_spots.py")
    at.selectbox(key="weak_region").select("华龙区").run()
    assert not at.exception
    behind = at.dataframe[0].value
    assert set(behind["单位"]) == {"中共华龙区委员会"}


def test_quality_page_lists_who_sent_nothing(app):
    at = app("app_pages/quality.py")
    assert _metric(at, "收到文件") == "11"  # 2024: 6 party + 5 government sheets
    nothing = at.dataframe[-1].value
    assert list(nothing["单位"]) == ["华龙区人民政府"]


def test_method_page_renders_the_rulebook_the_figures_were_computed_with(app):
    from dashboards.ui import plain
    from pipelines.lib.method import render

    rules = load_rulebook()
    at = app("app_pages/method.py")
    assert render(rules, escape=plain).strip() in [m.value for m in at.markdown]
    notes = [i.value for i in at.info]
    assert len(notes) == 1 and "每一个年度（2023、2024）都按同一套规则计算" in notes[0], notes
    assert f"规则库 default，指纹 {rules.fingerprint}" in notes[0]
    # The rules on disk are the ones published, and every year was first published under them.
    assert not at.warning
    label = f"default 第1版（指纹 {rules.fingerprint}）"
    assert at.dataframe[0].value.values[:, [0, 1, 3]].tolist() == [
        ["2023", label, label],
        ["2024", label, label],
    ]
    assert "已发布的分数和名次没有因规则改动而改变过。" in _texts(at)
    at.sidebar.radio(key="lang").set_value("en").run()
    assert [t.value for t in at.title] == ["Method"]
    assert "The method is written in Chinese, as the rulebook is." in _texts(at)
    assert render(rules, escape=plain).strip() in [m.value for m in at.markdown]


def test_method_page_says_when_the_rules_changed_after_publication(built, tmp_path, monkeypatch):
    served = tmp_path / "fazhi.duckdb"
    shutil.copy(built.path, served)
    with duckdb.connect(str(served)) as con:
        con.execute("update marts.publication set rulebook_fingerprint = '00000000feedbeef'")
        con.execute("""insert into marts.restatements by name
                       select timestamp '2025-02-01 02:00' as restated_at, 2024 as year, 'region' as scope,
                              '清丰县' as subject_id, '清丰县' as subject, 'rank' as measure, 2.0 as old_value,
                              1.0 as new_value, timestamp '2025-01-20 02:00' as previously_published_at,
                              '考核规则已更新' as reason""")
    open_page = _opener(served, monkeypatch)
    at = open_page("app_pages/method.py")
    warnings = [w.value for w in at.warning]
    assert len(warnings) == 1 and "磁盘上的规则库已经修改" in warnings[0], warnings
    assert f"现在的指纹为 {load_rulebook().fingerprint}" in warnings[0]
    assert "页面上的数字是按指纹 00000000feedbeef 的规则计算的" in warnings[0]
    changes = at.dataframe[-1].value  # after the table of each year's rulebook
    assert list(changes.columns) == [
        "更正时间（北京时间）",
        "原发布时间（北京时间）",
        "涉及年度",
        "改变的分数和名次",
    ]
    assert changes.iloc[0].tolist()[:3] == ["2025-02-01 10:00", "2025-01-20 10:00", "2024"]
    # A rulebook no longer on disk: said plainly, with the ranking policy published with the figures.
    with duckdb.connect(str(served)) as con:
        con.execute("update marts.publication set rulebook_id = 'gone'")
    at = open_page("app_pages/method.py")
    warnings = [w.value for w in at.warning]
    assert len(warnings) == 1 and "找不到发布数据所用的规则库 gone（指纹 00000000feedbeef）" in warnings[0]
    assert "得分相同者并列同一名次" in _texts(at)


def test_publication_during_an_open_session(app, built, tmp_path, monkeypatch):
    """Another process republishes while a leader has the page open: the next rerun shows the new data."""
    raw = tmp_path / "raw"
    shutil.copytree(built.raw, raw)
    served = tmp_path / "marts" / "fazhi.duckdb"
    shutil.copy(built.path, served.parent.mkdir(parents=True) or served)
    monkeypatch.setenv("FAZHI_WAREHOUSE", str(served))
    at = signed_in(AppTest.from_file(APP, default_timeout=60)).run()
    assert _metric(at, "参与排名区县") == "5/6"
    # 华龙区 government's sheet arrives late; the office's run publishes a new file over the served one.
    write_score_sheet(raw, 2024, "华龙区", "government", losing("government", 20))
    done = subprocess.run(
        [str(FAZHI), "run", "--raw", str(raw), "--warehouse", str(served)],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    at.run()
    assert not at.exception
    assert _metric(at, "参与排名区县") == "6/6"

    # What leaders saw changed: the quality page keeps the record, the ranking page says so.
    at.switch_page("app_pages/quality.py")
    at.run()
    assert not at.exception, at.exception
    changed = next((d.value for d in at.dataframe if "原值" in d.value.columns), None)
    assert changed is not None, "no restatements table on the quality page"
    huanglong = changed[(changed["对象"] == "华龙区") & (changed["项目"] == "名次")]
    assert list(zip(huanglong["原值"], huanglong["新值"], strict=False)) == [
        ("不排名", "4")
    ]  # (100 + 80) / 2 = 90, tied 4th
    assert "新增：2024/score_sheets/" in huanglong["原因"].item()
    at.switch_page("app_pages/ranking.py")
    at.run()
    assert any("已发布的分数或名次被更正" in i.value for i in at.info)


def test_weak_spot_findings_read_in_words_and_follow_the_filters(app):
    at = app("app_pages/weak_spots.py")
    findings = at.dataframe[-1].value
    bottom = findings[findings["指标"] == "综合排名末位"]
    assert set(bottom["对象"]) == {"台前县", "濮阳县"} and set(bottom["严重程度"]) == {"高"}
    assert "华龙区人民政府" in set(findings["对象"])  # sent nothing: named, not an id
    at.sidebar.multiselect(key="f_regions").set_value(["台前县"]).run()
    findings = at.dataframe[-1].value
    assert set(findings.loc[findings["指标"] == "综合排名末位", "对象"]) == {"台前县"}
    assert "华龙区人民政府" not in set(findings["对象"])


def test_quality_page_counts_every_file_and_issue_of_the_year(ledger_app, with_ledgers):
    """Default filters hide nothing: ledgers have no role of their own, and their row-rejecting errors count."""
    at = ledger_app("app_pages/quality.py")
    files = with_ledgers.df("select * from marts.submissions where year = 2024")
    issues = with_ledgers.df("select * from marts.ingest_issues where year = 2024 or year is null")
    assert set(files["kind"]) == {"score_sheet", "meetings", "filings", "normative_docs"}
    assert files["role"].isna().sum() == 4 and (issues["code"] == "bad_date").sum() == 2  # the case itself
    assert _metric(at, "收到文件") == str(len(files)) == "8"
    assert _metric(at, "部分入库") == "2"  # the two meeting ledgers, one bad row each
    listed = next(
        d.value
        for d in at.dataframe
        if "拒收行" in d.value.columns and "类型" in d.value.columns and len(d.value) > 1
    )
    assert sorted(listed["文件"]) == sorted(files["file"])
    shown = at.dataframe[0].value  # the issue list, errors only by default
    assert sorted(shown["文件"]) == sorted(issues.loc[issues["severity"] == "error", "file"])
    assert f"本年度问题 {len(issues)} 条，其中错误 {int((issues['severity'] == 'error').sum())} 条" in _texts(
        at
    )
    assert f"{files['rows_rejected'].sum()}" in next(c.value for c in at.caption if "拒收行" in c.value)
    # Sent a meeting ledger and no score sheet: it did submit something.
    nothing = [d.value for d in at.dataframe if list(d.value.columns) == ["单位", "区县", "角色"]]
    assert not nothing or "濮阳市司法局" not in set(nothing[0]["单位"])


def test_quality_filters_reach_ledgers_through_their_unit(ledger_app):
    """A ledger's unit has a region and a role; a register for many units has neither and stays listed."""
    at = ledger_app("app_pages/quality.py")
    at.sidebar.selectbox(key="f_side").set_value("government").run()
    listed = next(d.value for d in at.dataframe if "拒收行" in d.value.columns and len(d.value) > 1)
    names = " ".join(listed["文件"])
    assert "filings.csv" in names and "normative.csv" in names  # no unit / 范县政府
    assert "清丰县委_2024年会议学法台账" not in names and "濮阳市司法局_2024" not in names
    at.sidebar.selectbox(key="f_side").set_value(None).run()
    at.sidebar.multiselect(key="f_regions").set_value(["清丰县"]).run()
    listed = next(d.value for d in at.dataframe if "拒收行" in d.value.columns and len(d.value) > 1)
    names = " ".join(listed["文件"])
    assert "清丰县委_2024年会议学法台账" in names and "filings.csv" in names
    assert "范县" not in names and "濮阳市司法局" not in names


UNREADABLE = "数据仓库文件无法读取"
PAGE_FAILED = "本页出现意外错误"


def _no_traceback(at: AppTest) -> None:
    """Nothing a user sees names an exception, a stack or a source file."""
    assert not at.exception, [e.value for e in at.exception]
    shown = _texts(at) + "\n".join(m.value for m in at.sidebar.caption)
    for marker in ("Traceback", 'File "', ".py", "Error:", "Exception"):
        assert marker not in shown, f"{marker!r} shown to the user:\n{shown}"


@pytest.mark.parametrize("damage", ["random_bytes", "truncated", "no_marts"])
def test_unreadable_warehouse_gets_one_plain_message_on_every_page(built, tmp_path, monkeypatch, damage):
    served = tmp_path / "fazhi.duckdb"
    if damage == "random_bytes":
        served.write_bytes(os.urandom(64 * 1024))
    elif damage == "truncated":  # a copy that stopped part-way
        served.write_bytes(built.path.read_bytes()[:20_000])
    else:  # a DuckDB file, but not a published warehouse
        duckdb.connect(str(served)).close()
    monkeypatch.setenv("FAZHI_WAREHOUSE", str(served))
    for page in PAGES:
        at = signed_in(AppTest.from_file(APP, default_timeout=60)).run()
        at.switch_page(page)
        at.run()
        _no_traceback(at)
        errors = [e.value for e in at.error]
        assert len(errors) == 1 and UNREADABLE in errors[0], errors
        assert "fazhi run" in errors[0] and "法治办" in errors[0]  # what to do, whom to ask


def test_a_page_that_fails_shows_a_plain_message_and_logs_the_error(built, tmp_path, monkeypatch, caplog):
    """A warehouse from another version (scores stored as text): the page cannot draw, and says so plainly."""
    served = tmp_path / "fazhi.duckdb"
    shutil.copy(built.path, served)
    with duckdb.connect(str(served)) as con:
        con.execute("alter table marts.region_rankings alter score type varchar")
        con.execute("update marts.region_rankings set score = '待定' where score is not null")
    monkeypatch.setenv("FAZHI_WAREHOUSE", str(served))
    with caplog.at_level(logging.ERROR):
        at = signed_in(AppTest.from_file(APP, default_timeout=60)).run()
    _no_traceback(at)
    assert [t.value for t in at.title] == ["总览"]
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and PAGE_FAILED in errors[0], errors
    failed = [r for r in caplog.records if r.name == "fazhi.dashboard" and r.exc_info]
    assert failed, "the failure was not logged with its traceback"
    # The other pages still work.
    at.switch_page("app_pages/quality.py")
    at.run()
    _no_traceback(at)
    assert not at.error and _metric(at, "收到文件") == "11"


MISSING_WORDS = re.compile(r"(?<![A-Za-z])(nan|NaN|None|NaT|<NA>|null)(?![A-Za-z])")


def _table_text(table) -> pd.DataFrame:
    """The text a table's cells show: a styled table shows the Styler's text; otherwise a missing value
    shows the table's placeholder (Streamlit's own default is "None")."""
    display = table.proto.arrow_data.styler.display_values
    if display:
        return convert_arrow_bytes_to_pandas_df(display).astype(str)
    values = table.value.astype(object)
    return values.where(
        values.notna(), table.proto.placeholder if table.proto.HasField("placeholder") else "None"
    )


def _shown_missing(at: AppTest) -> list[str]:
    """Every text on the page (tables, captions, markdown, metrics, option labels) that shows a missing value
    as nan/None/NaT/<NA>."""
    found = []
    for table in at.dataframe:
        cells = _table_text(table)
        for column in cells.columns:
            found += [f"{column}: {v}" for v in cells[column].astype(str) if MISSING_WORDS.search(v)]
    texts = [_texts(at)] + [m.value for m in at.metric] + [str(m.proto.delta) for m in at.metric]
    texts += [str(o) for box in [*at.selectbox, *at.multiselect, *at.radio] for o in box.options]
    found += [line for text in texts for line in text.splitlines() if MISSING_WORDS.search(line)]
    return found


@pytest.mark.parametrize("page", PAGES)
def test_missing_values_show_as_empty_or_a_dash(app, ledger_app, page):
    """Region without a government sheet, sheets without verified scores, CSV issues without a sheet name,
    files nobody superseded, rows without a number: missing everywhere, never shown as nan or None."""
    for open_page in (app, ledger_app):
        at = open_page(page)
        assert not _shown_missing(at), _shown_missing(at)
        if page == "app_pages/quality.py" and at.selectbox(key="quality_issue").options:
            for option in range(len(at.selectbox(key="quality_issue").options)):
                at.selectbox(key="quality_issue").select_index(option).run()
                assert not _shown_missing(at), _shown_missing(at)


# ------------------------------------------------------------------------------------------------------
# Roles come from the rulebook in force, metrics from the named queries

ROOT = Path(__file__).resolve().parents[2]
ROLE_COLUMNS = [
    "role",
    "name",
    "unit_type",
    "level",
    "side",
    "max_score",
    "in_region_score",
    "region_position",
    "display_order",
]


def _records(frame: pd.DataFrame) -> list[dict]:
    return [{k: None if pd.isna(v) else v for k, v in row.items()} for row in frame.to_dict("records")]


def test_the_warehouse_carries_the_rulebook_roles_the_dashboard_reads(built):
    """marts.rulebook_roles is the rulebook's `roles:` as the pipeline turns them into tables."""
    from pipelines.lib.reference import rulebook_tables

    expected = rulebook_tables(load_rulebook())["rulebook_roles"][ROLE_COLUMNS]
    published = built.df(f"select {', '.join(ROLE_COLUMNS)} from marts.rulebook_roles order by display_order")
    assert _records(published) == _records(expected)


@pytest.fixture
def other_rulebook(built, tmp_path, monkeypatch):
    """The warehouse as a different rulebook would publish it: the party role renamed (县（区）委员会, unit type
    县委), the government's score no part of a region's score, a new region-level party role (开发区党工委)
    with one unit, and no department or township roles."""
    served = tmp_path / "fazhi.duckdb"
    shutil.copy(built.path, served)
    with duckdb.connect(str(served)) as con:
        con.execute("""update marts.rulebook_roles set name = '县（区）委员会主要负责人', unit_type = '县委'
                       where region_position = 1""")
        con.execute(
            "update marts.rulebook_roles set in_region_score = false, region_position = null "
            "where region_position = 2"
        )
        con.execute("delete from marts.rulebook_roles where level in ('department', 'township')")
        con.execute("""insert into marts.rulebook_roles by name
                       select 'zone_party' as role, '开发区党工委主要负责人' as name, '开发区党工委' as unit_type,
                              'region' as level, 'party' as side, 100.0 as max_score, false as in_region_score,
                              null as region_position, 9 as display_order""")
        con.execute("""insert into marts.unit_scores by name
                       select 2024 as year, 'zone-1' as unit_id, '清丰县开发区党工委' as unit_name, '清丰县' as region,
                              'zone_party' as role, 96.0 as score, 100.0 as max_score, 0.96 as score_rate,
                              96.0 as self_score, 'self' as score_source, 1 as rank, 1 as rank_total,
                              'scored' as status, false as is_bottom""")
    return _opener(served, monkeypatch)


def test_a_different_rulebook_changes_the_filters_and_the_ranking(other_rulebook):
    at = other_rulebook("app_pages/ranking.py")
    # The filters offer the levels and sides the rulebook's roles have, nothing more.
    assert at.sidebar.selectbox(key="f_level").options == ["全部", "县（区）"]
    assert at.sidebar.selectbox(key="f_side").options == ["全部", "党委", "政府"]
    # Each role under the rulebook's name for it, the new one included.
    assert [s.value for s in at.main.subheader] == ["县（区）委员会", "县（区）政府", "开发区党工委"]
    # One score column per role forming a region's score, named after it; only its units to open.
    columns = list(at.dataframe[0].value.columns)
    assert "县委得分" in columns and "党委得分" not in columns and "政府得分" not in columns
    options = at.selectbox(key="ranking_region_unit").options
    assert len(options) == 6 and all(o.endswith(" · 县（区）委员会") for o in options), options
    # The side filter follows the rulebook's sides: the new role is a party role.
    at.sidebar.selectbox(key="f_side").set_value("party").run()
    assert [s.value for s in at.main.subheader] == ["县（区）委员会", "开发区党工委"]
    at.sidebar.selectbox(key="f_side").set_value("government").run()
    assert [s.value for s in at.main.subheader] == ["县（区）政府"]
    # English has words for a level and side only one role holds; two region party roles keep their names.
    at.sidebar.selectbox(key="f_side").set_value(None).run()
    at.sidebar.radio(key="lang").set_value("en").run()
    assert [s.value for s in at.main.subheader] == ["县（区）委员会", "County government", "开发区党工委"]


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_under_a_different_rulebook(other_rulebook, page):
    at = other_rulebook(page)
    assert [t.value for t in at.title] == [PAGES[page]]
    _no_traceback(at)
    assert not [e.value for e in at.error if UNREADABLE in e.value or PAGE_FAILED in e.value]


def test_the_unit_page_names_roles_as_the_rulebook_does(other_rulebook):
    at = other_rulebook("app_pages/unit.py")
    options = at.selectbox(key="unit_pick").options
    assert "中共清丰县委员会（县（区）委员会，清丰县）" in options
    assert "清丰县开发区党工委（开发区党工委，清丰县）" in options


ROLE_IDS = sorted(load_rulebook().roles)
SQL = re.compile(r"(?i)\bselect\b.*\bfrom\b|\bfrom\s+marts\.|\bjoin\s+marts\.|\bdata\.query\(|\bduckdb\b")


def test_no_role_is_named_and_no_page_holds_sql_or_computes_metrics():
    """Roles come from the rulebook (marts.rulebook_roles), never from literals in the dashboard; pages hold
    no SQL and compute no aggregates: that is dashboards/queries.py's job."""
    offences = []
    for path in sorted((ROOT / "dashboards").rglob("*.py")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            where = f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
            named = [r for r in ROLE_IDS if f"'{r}'" in line or f'"{r}"' in line]
            if named or "township_" in line:
                offences.append(f"role literal {named or 'township_'} in {where}")
            if path.parent.name == "app_pages":
                if SQL.search(line):
                    offences.append(f"SQL in a page: {where}")
                if re.search(r"\.(groupby|agg|pivot_table)\(", line):
                    offences.append(f"a metric computed in a page: {where}")
    assert not offences, "\n".join(offences)


def test_every_named_query_says_what_it_computes():
    import inspect

    from dashboards import queries

    functions = [
        f
        for name, f in inspect.getmembers(queries, inspect.isfunction)
        if f.__module__ == queries.__name__ and not name.startswith("_")
    ]
    assert len(functions) > 20
    assert not [f.__name__ for f in functions if not (f.__doc__ or "").strip()]
