"""Long tables and lists at nation scale, under AppTest on a small real warehouse: the page sizes, the chart's
ends and the pickers' limits are made small here, so that six regions behave as three thousand do.

Six regions, each with a party sheet losing `PARTY_LOST[region]` points and a government sheet losing
`GOVERNMENT_LOST[region]`, and a meeting ledger with two dates nobody can read (two errors each): the regions
rank 东城区 > 西城区 > 南城区 > 北城区 > 中城区 > 新城区. 东城区 is the county liaison's region.
"""

from __future__ import annotations

import io

import pandas as pd
import pytest
from builders import city_units, losing, write_meetings, write_score_sheet, write_units
from conftest import run_fazhi
from docx import Document
from sessions import LIAISON_REGION, signed_in, user_of
from streamlit.delta_generator import DeltaGenerator
from streamlit.testing.v1 import AppTest
from test_dashboard_app import APP

from dashboards import ui

REGIONS = [LIAISON_REGION, "西城区", "南城区", "北城区", "中城区", "新城区"]
PARTY_LOST = dict(zip(REGIONS, [0, 2, 4, 6, 8, 10], strict=True))
GOVERNMENT_LOST = dict(zip(REGIONS, [1, 3, 5, 7, 9, 11], strict=True))
YEAR = 2024


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    root = tmp_path_factory.mktemp("paging")
    raw = root / "raw"
    write_units(raw, city_units(REGIONS))
    for region in REGIONS:
        write_score_sheet(raw, YEAR, region, "party", losing("party", PARTY_LOST[region]))
        write_score_sheet(raw, YEAR, region, "government", losing("government", GOVERNMENT_LOST[region]))
        write_meetings(
            raw,
            YEAR,
            f"{region}委_会议学法台账.csv",
            [
                (f"{region}委", "2024-03-05", "集体学法", "宪法"),
                (f"{region}委", "三月中旬", "集体学法", "民法典"),
                (f"{region}委", "待补充", "理论学习中心组学习", "行政诉讼法"),
            ],
        )
    return run_fazhi(raw, root / "marts" / "fazhi.duckdb")


@pytest.fixture
def offered(monkeypatch) -> dict[str, object]:
    """The file each download button offers (a callable, built when clicked), by the button's key; its file
    name under "name:" and the key."""
    found: dict[str, object] = {}
    original = DeltaGenerator.download_button

    def recording(self, label, data, *args, **kwargs):
        found[kwargs.get("key") or label] = data
        found[f"name:{kwargs.get('key') or label}"] = kwargs.get("file_name")
        return original(self, label, data, *args, **kwargs)

    monkeypatch.setattr(DeltaGenerator, "download_button", recording)
    return found


@pytest.fixture
def small(monkeypatch):
    """Pages of two rows (a ranking's too), charts of two places at each end, pickers of three options."""
    monkeypatch.setattr(ui, "PAGE_ROWS", 2)
    monkeypatch.setattr(ui, "RANKING_PAGE_ROWS", 2)
    monkeypatch.setattr(ui, "CHART_ENDS", 2)
    monkeypatch.setattr(ui, "PICK_MAX", 3)


@pytest.fixture
def open_page(warehouse, monkeypatch, small):
    monkeypatch.setenv("FAZHI_WAREHOUSE", str(warehouse.path))

    def opened(page: str, role: str = "analyst") -> AppTest:
        at = signed_in(AppTest.from_file(APP, default_timeout=60), user_of(role)).run()
        at.switch_page(page).run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    return opened


def _run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _captions(at: AppTest) -> list[str]:
    return [c.value for c in at.caption]


def _csv(build) -> pd.DataFrame:
    """A CSV download as the browser would get it: built after the run that offered it."""
    return pd.read_csv(io.StringIO(build().decode("utf-8-sig")), dtype=str, keep_default_na=False)


def test_the_city_is_one_page(warehouse, monkeypatch):
    """At the real page sizes nothing of a small warehouse is paged or searched."""
    monkeypatch.setenv("FAZHI_WAREHOUSE", str(warehouse.path))
    for page in ("app_pages/ranking.py", "app_pages/quality.py", "app_pages/unit.py"):
        at = signed_in(AppTest.from_file(APP, default_timeout=60)).run()
        at.switch_page(page).run()
        assert not at.exception and not at.error
        assert not at.number_input and not at.text_input
        assert not [c for c in _captions(at) if "下载按钮给出整张表" in c or "符合的共" in c]
    assert len(at.selectbox(key="unit_pick").options) == 2 * len(REGIONS)


def test_a_long_ranking_shows_a_page_at_a_time_by_rank(open_page, warehouse):
    at = open_page("app_pages/ranking.py")
    order = list(
        warehouse.df(f"select region from marts.region_rankings where year = {YEAR} order by rank")["region"]
    )
    assert order == REGIONS
    shown = []
    for number in (1, 2, 3):
        at.number_input(key=f"page_region_ranking_{YEAR}").set_value(number)
        _run(at)
        table = at.dataframe[0].value
        shown += list(table["区县"])
        assert list(table["名次"]) == [str(2 * number - 1), str(2 * number)]
        assert f"第 {2 * number - 1}–{2 * number} 行，共 6 行（下载按钮给出整张表）" in _captions(at)
    assert shown == REGIONS
    # The last page's 末位 is still marked, as on a single page.
    assert at.dataframe[0].value["备注"].iloc[-1].startswith("末位")
    # Fewer rows after a filter change: back to a page that exists.
    at.sidebar.multiselect(key="f_regions").set_value(REGIONS[:2])
    _run(at)
    assert list(at.dataframe[0].value["区县"]) == REGIONS[:2]
    assert not at.number_input  # one page: no page picker


def test_a_later_page_after_the_filters_shrink_the_list_falls_back_to_the_first(open_page):
    at = open_page("app_pages/ranking.py")
    at.number_input(key=f"page_region_ranking_{YEAR}").set_value(3)
    _run(at)
    at.sidebar.multiselect(key="f_regions").set_value(REGIONS[:4])  # two pages now
    _run(at)
    assert at.number_input(key=f"page_region_ranking_{YEAR}").value == 1
    assert list(at.dataframe[0].value["区县"]) == REGIONS[:2]


def test_a_ranking_download_holds_every_row_as_the_table_shows_them(open_page, offered):
    at = open_page("app_pages/ranking.py")
    page_one = at.dataframe[0].value
    downloaded = _csv(offered[f"csv_region_ranking_{YEAR}"])
    assert list(downloaded["区县"]) == REGIONS
    # the columns made for the screen (band, remark …) are made for every row
    assert list(downloaded.columns) == list(page_one.columns)
    assert downloaded["备注"].iloc[-1].startswith("末位")


def test_searching_the_unit_ranking_keeps_the_ranks_among_all_units(open_page, warehouse):
    at = open_page("app_pages/ranking.py")
    party = at.dataframe[1].value  # the region table first, then one table per role
    assert len(party) == 2
    at.text_input(key="ranking_unit_search").input("南城").run()
    assert not at.exception
    found = [d.value for d in at.dataframe[1:]]
    assert [list(d["单位"]) for d in found] == [["中共南城区委员会"], ["南城区人民政府"]]
    ranks = warehouse.df(
        f"select unit_name, rank from marts.unit_scores where year = {YEAR} and region = '南城区' order by role"
    )
    expected = dict(zip(ranks["unit_name"], ranks["rank"].astype(int).astype(str), strict=True))
    assert {d["单位"].iloc[0]: d["名次"].iloc[0] for d in found} == expected
    assert set(expected.values()) == {"3"}


def test_the_overview_charts_the_first_and_last_places_of_a_long_ranking(open_page):
    at = open_page("app_pages/overview.py")
    assert any("图中只列前 2 名和后 2 名（6 个区县参与排名，共 6 个）" in c for c in _captions(at))
    bars = at.get("plotly_chart")[0].proto.spec
    for region in (*REGIONS[:2], *REGIONS[-2:]):
        assert region in bars
    for region in REGIONS[2:-2]:
        assert region not in bars


def test_the_issue_list_is_read_a_page_at_a_time_and_the_detail_follows_the_page(open_page, warehouse):
    at = open_page("app_pages/quality.py")
    errors = warehouse.df(
        f"""select file, "row" from marts.ingest_issues where (year = {YEAR} or year is null)
            and severity = 'error' order by severity, file, "row", sheet, code, message, unit"""
    )
    assert len(errors) == 2 * len(REGIONS)
    assert at.number_input(key=f"page_issues_{YEAR}").max == len(errors) // 2
    at.number_input(key=f"page_issues_{YEAR}").set_value(3)
    _run(at)
    shown = at.dataframe[0].value
    assert list(shown["文件"]) == list(errors["file"].iloc[4:6])
    assert list(shown["行"].astype(int)) == list(errors["row"].iloc[4:6])
    # The detail offers the issues of the page shown, by their place in the whole list.
    detail = at.selectbox(key="quality_issue")
    assert detail.options == [
        f"{file} · — · 行 {row} · bad_date"
        for file, row in zip(errors["file"].iloc[4:6], errors["row"].iloc[4:6], strict=True)
    ], detail.options
    detail.select_index(1).run()
    assert not at.exception
    assert at.selectbox(key="quality_issue").value == 5


def test_a_paged_list_read_by_query_downloads_whole(open_page, offered, warehouse):
    at = open_page("app_pages/quality.py")
    assert len(at.dataframe[0].value) == 2
    downloaded = _csv(offered[f"csv_issues_{YEAR}"])
    assert len(downloaded) == 2 * len(REGIONS)
    files = _csv(offered[f"csv_files_{YEAR}"])
    assert sorted(files["文件"]) == sorted(
        warehouse.df(f"select file from marts.submissions where year = {YEAR}")["file"]
    )


def test_a_long_unit_list_is_searched(open_page):
    at = open_page("app_pages/unit.py")
    assert len(at.selectbox(key="unit_pick").options) == 3
    assert "符合的共 12 个，列出前 3 个；输入更多文字可缩小范围。" in _captions(at)
    at.text_input(key="unit_pick_search").input("北城").run()
    assert not at.exception
    options = at.selectbox(key="unit_pick").options
    assert sorted(options) == sorted(
        ["中共北城区委员会（县（区）党委，北城区）", "北城区人民政府（县（区）政府，北城区）"]
    )
    government = next(i for i, o in enumerate(options) if o.startswith("北城区人民政府"))
    at.selectbox(key="unit_pick").select_index(government).run()
    assert at.main.subheader[0].value.startswith("北城区人民政府")
    at.text_input(key="unit_pick_search").input("没有这个单位").run()
    assert not at.exception
    assert "没有名称含这些文字的项。" in _captions(at)


def test_a_liaison_pages_and_searches_its_own_units_only(open_page, offered):
    at = open_page("app_pages/ranking.py", role="liaison")
    # The regions' ranking is published to all; the units' rankings hold its own units only.
    seen = " ".join(" ".join(map(str, d.value.to_numpy().ravel())) for d in at.dataframe[1:])
    assert LIAISON_REGION in seen and not [other for other in REGIONS[1:] if other in seen]
    downloaded = _csv(offered[f"csv_unit_ranking_party_{YEAR}"])
    assert list(downloaded["区县"]) == [LIAISON_REGION]
    at = open_page("app_pages/unit.py", role="liaison")
    assert not at.text_input  # two units of its own: no search
    assert {o.split("，")[-1] for o in at.selectbox(key="unit_pick").options} == {f"{LIAISON_REGION}）"}
    at = open_page("app_pages/quality.py", role="liaison")
    files = _csv(offered[f"csv_files_{YEAR}"])
    assert files["文件"].str.contains(LIAISON_REGION).all()
    assert not any(other in " ".join(files["文件"]) for other in REGIONS[1:])


def test_the_notice_picker_is_searched_and_a_notice_is_built_when_clicked(open_page, offered):
    at = open_page("app_pages/quality.py", role="clerk")
    assert len(at.selectbox(key="feedback_unit").options) == 3
    at.text_input(key="feedback_unit_search").input("南城").run()
    assert not at.exception
    options = at.selectbox(key="feedback_unit").options
    assert len(options) == 2 and all(o.startswith("南城区 · ") for o in options), options
    chosen = at.selectbox(key="feedback_unit").value
    name = at.selectbox(key="feedback_unit").format_func(chosen).split(" · ")[1].split("（")[0]
    assert offered["name:feedback_notice"] == f"{YEAR}年度反馈通知_南城区_{name}.docx"
    notice = Document(io.BytesIO(offered["feedback_notice"]()))
    assert f"{name}：" in [p.text for p in notice.paragraphs]
