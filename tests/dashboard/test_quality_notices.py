"""The data-quality page's feedback section under AppTest: the summarised lists, the notice downloads for
whoever may download data-quality lists, and a county liaison's own units only.

Two regions, known by hand: 东城区 (the liaison's) and 西城区, each with a party sheet at full points and a
government sheet scoring task 3 待定 (an error on row 8); 西城区委 sends a meeting ledger with five meetings
of no recognised type (one summarised warning: rows 2-6, 共5行); 西城区政府's second file is random bytes
(rejected; tied to the unit by its file name)."""

from __future__ import annotations

import pytest
from builders import city_units, write_corrupt, write_meetings, write_score_sheet, write_units
from conftest import run_fazhi
from sessions import LIAISON_REGION, signed_in, user_of
from streamlit.testing.v1 import AppTest
from test_dashboard_app import APP

OTHER = "西城区"
PAGE = "app_pages/quality.py"
DOWNLOAD_ONE = "下载反馈通知（Word）"


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    root = tmp_path_factory.mktemp("quality_notices")
    raw = root / "raw"
    write_units(raw, city_units([LIAISON_REGION, OTHER]))
    for region in (LIAISON_REGION, OTHER):
        write_score_sheet(raw, 2024, region, "party")
        write_score_sheet(raw, 2024, region, "government", {3: "待定"})
    write_meetings(
        raw,
        2024,
        f"{OTHER}委_会议学法台账.csv",
        [(f"{OTHER}委", f"2024-0{m}-05", "调研", "基层走访") for m in range(1, 6)],
    )
    write_corrupt(raw, 2024, f"{OTHER}政府_补充打分表.xlsx")
    return run_fazhi(raw, root / "marts" / "fazhi.duckdb")


@pytest.fixture
def quality(warehouse, monkeypatch):
    monkeypatch.setenv("FAZHI_WAREHOUSE", str(warehouse.path))

    def open_as(role: str) -> AppTest:
        at = signed_in(AppTest.from_file(APP, default_timeout=60), user_of(role)).run()
        at.switch_page(PAGE).run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    return open_as


def _downloads(at: AppTest) -> list[str]:
    return [b.proto.label for b in at.get("download_button")]


def _feedback_table(at: AppTest):
    return next(d.value for d in at.dataframe if "处理要求" in d.value.columns)


def test_a_clerk_gets_the_summarised_list_and_every_units_notice(quality, warehouse):
    at = quality("clerk")
    listed = _feedback_table(at)
    summary = listed[listed["文件"] == f"2024/meetings/{OTHER}委_会议学法台账.csv"]
    assert list(summary["行"]) == ["第2、3、4、5、6行，共5行"]  # five rows, all of them examples
    assert summary["说明"].iloc[0].startswith("同类问题共5行（第2、3、4、5、6行）。例：")
    errors = listed[listed["类别"] == "错误（未采用）"]
    assert sorted(errors["单位"]) == [f"{LIAISON_REGION}人民政府", f"{OTHER}人民政府"]
    assert set(errors["行"]) == {"8"}
    rejected = listed[listed["类别"] == "文件未采用"]
    assert list(rejected["单位"]) == [f"{OTHER}人民政府"]
    # the row-level list is still there: the five warnings one by one
    (rows,) = warehouse.one("select count(*) from marts.ingest_issues where code = 'meeting_type_other'")
    assert rows == 5
    # every unit has reports past due, so four notices; one to pick, all in one zip
    picker = at.selectbox(key="feedback_unit")
    assert len(picker.options) == 4
    assert any(o.startswith(f"{OTHER} · {OTHER}人民政府（") for o in picker.options)
    assert DOWNLOAD_ONE in _downloads(at)
    assert "下载全部单位的反馈通知（zip，4 份）" in _downloads(at)


def test_a_leader_sees_the_lists_but_gets_no_notice(quality):
    at = quality("leader")
    assert len(_feedback_table(at))
    assert not any(label.startswith("下载") for label in _downloads(at))


def test_a_liaison_gets_only_its_own_regions_units(quality):
    at = quality("liaison")
    picker = at.selectbox(key="feedback_unit")
    assert len(picker.options) == 2 and all(o.startswith(f"{LIAISON_REGION} · ") for o in picker.options)
    listed = _feedback_table(at)
    assert set(listed["区县"]) == {LIAISON_REGION}
    assert not listed.to_csv().count(OTHER)
    assert DOWNLOAD_ONE in _downloads(at) and "下载全部单位的反馈通知（zip，2 份）" in _downloads(at)
