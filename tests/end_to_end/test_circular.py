"""通报 (the circular a city leader signs): its sentences from small frames, then end to end — a hand-made city,
one real pipeline run, `fazhi circular` writes the Word document, LibreOffice renders it to PDF as an office
would open it, and the PDF's text is read back.

The city (computed by hand from the files below; a region's score is the mean of its party and government
sheets, each 100 less the points it loses):

| region | 2023 | rank | 2024 | rank | change |
| --- | --- | --- | --- | --- | --- |
| 范县 | 99 | 1 | 70 | 5 (末位) | −4 |
| 南乐县 | 98 | 2 | 94 | 2 | 0 |
| 台前县 | 95 | 3 | government sheet missing: 缺报, not ranked | — | — |
| 濮阳县 | 94 | 4 | 92 | 3 | +1 |
| 华龙区 | 92 | 5 | 90 | 4 | +1 |
| 清丰县 | 80 | 6 | 98 | 1 | +5 |

Two city departments in 2024: 濮阳市司法局 scores 96, 濮阳市教育局 sent nothing (缺报). In the running year only
清丰县 has sent its sheets: every other unit is 待审 (its sheet is not yet due), never named as missing.
"""

from __future__ import annotations

import io
import re
import subprocess
from datetime import date, timedelta

import pandas as pd
import pytest
from builders import city_units, losing, write_score_sheet, write_units
from conftest import run_fazhi, soffice
from docx import Document
from pypdf import PdfReader

from pipelines.cli import main
from pipelines.lib import circular
from pipelines.lib.notices import OFFICE
from pipelines.lib.warehouse import today

YEAR = 2024
NOW = today().year  # the running year: sheets not yet due are 待审
AS_OF = date(2025, 3, 2)  # the circular's date; deadlines run from it
LOSSES = {  # region → points each of its two sheets loses, by year (None: no government sheet)
    "范县": {2023: 1, 2024: 30},
    "南乐县": {2023: 2, 2024: 6},
    "台前县": {2023: 5, 2024: None},
    "濮阳县": {2023: 6, 2024: 8},
    "华龙区": {2023: 8, 2024: 10},
    "清丰县": {2023: 20, 2024: 2},
}
DEPARTMENTS = ["濮阳市司法局", "濮阳市教育局"]


def _flat(text: str) -> str:
    """Text with every space and line break removed (a PDF breaks lines wherever the page ends them), and
    the quotation marks “”, which the PDF draws in another font and its text extraction puts out of place."""
    return re.sub(r"[\s“”]+", "", text)


# -- sentences from small frames ------------------------------------------------------------------------

ROLES = pd.DataFrame(
    {
        "role": ["party", "government", "department"],
        "name": ["县（区）党委主要负责人", "县（区）政府主要负责人", "市直部门主要负责人"],
        "unit_type": ["党委", "政府", "部门"],
        "in_region_score": [True, True, False],
        "region_position": [1, 2, None],
        "display_order": [1, 2, 3],
    }
)


def _regions(rows: list[dict]) -> pd.DataFrame:
    base = {
        "score": None,
        "party_score": None,
        "government_score": None,
        "rank": None,
        "prev_rank": None,
        "rank_change": None,
        "is_bottom": False,
        "score_change": None,
        "rank_total": None,
        "subject_total": None,
        "status": "ranked",
        "note": None,
        "p05": None,
        "p95": None,
        "tier": None,
        "tier_name": None,
        "stable_change": None,
        "above_subject": None,
        "p_below_above": None,
        "distinct_from_above": None,
        "draws": 1000,
    }
    return pd.DataFrame([{**base, **r} for r in rows])


def _units(rows: list[dict]) -> pd.DataFrame:
    base = {
        "unit_id": None,
        "unit_name": None,
        "region": None,
        "role": None,
        "score": None,
        "rank": None,
        "prev_rank": None,
        "rank_total": None,
        "subject_total": None,
        "status": "scored",
        "sheet_due": pd.Timestamp("2025-01-31"),
        "is_bottom": False,
        "p05": None,
        "p95": None,
        "tier": None,
        "tier_name": None,
        "stable_change": None,
    }
    return pd.DataFrame([{**base, **r} for r in rows], columns=list(base))


CITY = _regions(
    [
        {"region": "A县", "score": 95.5, "rank": 1, "prev_rank": 3, "rank_change": 2, "p05": 1, "p95": 2},
        {"region": "B县", "score": 95.5, "rank": 1, "prev_rank": 1, "rank_change": 0, "p05": 1, "p95": 2},
        {
            "region": "C县",
            "score": 80.25,
            "rank": 3,
            "prev_rank": 2,
            "rank_change": -1,
            "is_bottom": True,
            "p05": 3,
            "p95": 3,
            "stable_change": False,
            "above_subject": "B县",
            "p_below_above": 0.97,
            "distinct_from_above": True,
        },
        {"region": "D县", "status": "missing", "note": "D县人民政府未报送或未计分"},
    ]
).assign(
    tier=[1, 1, 2, None],
    tier_name=["第一梯队", "第一梯队", "第二梯队", None],
    stable_change=[True, None, False, None],
)


def test_coverage_counts_ranked_regions_and_units_and_names_the_unranked():
    units = _units(
        [
            {"unit_name": "甲局", "role": "department", "rank": 1, "score": 90},
            {"unit_name": "乙局", "role": "department", "status": "missing"},
        ]
    )
    text = circular.coverage_text(CITY, units, ROLES)
    assert text.startswith("3/4个县区参与排名，平均得分90.42分，最高95.5分，最低80.25分。")
    assert "未参与排名的县区：D县（缺报）。" in text
    assert text.endswith("各类单位参与排名情况：市直部门主要负责人1/2个。")


def test_first_places_tie_and_each_role():
    units = _units(
        [
            {"unit_name": "甲局", "role": "department", "rank": 1, "score": 96},
            {"unit_name": "乙局", "role": "department", "rank": 2, "score": 90},
        ]
    )
    text = circular.first_places_text(CITY, units, ROLES)
    assert (
        text
        == "县区综合排名A县、B县并列第一名（95.5分）。各类单位中，市直部门主要负责人第一名为甲局（96分）。"
    )
    assert (
        circular.first_places_text(CITY.assign(rank=None), units.iloc[:0], ROLES)
        == "本年度尚无县区参与排名。"
    )


def test_tiers_group_ranked_regions_in_tier_order():
    assert circular.tiers_text(CITY).startswith("按名次区间划分，第一梯队：A县、B县；第二梯队：C县。")
    assert circular.tiers_text(CITY.assign(tier=None)) == ""


def test_the_last_place_says_whether_it_can_be_told_from_the_one_above():
    assert circular.last_place_text(CITY) == (
        "C县列末位（第3名，80.25分）。在1000次模拟中，其得分低于上一名B县的占97%，与上一名可以明确区分。"
    )
    close = CITY.assign(p_below_above=0.6, distinct_from_above=False)
    assert circular.last_place_text(close).endswith(
        "与上一名的差距在评分的不确定性范围之内，末位不能明确区分。"
    )


def test_moves_name_the_largest_rise_and_fall_and_whether_they_are_stable():
    assert circular.moves_text(CITY) == (
        "与上年相比，名次上升最多的是A县由第3名上升至第1名（上升2位），上年名次在本年名次区间（第1–2名）之内，属基本稳定。"
        "名次下降最多的是C县由第2名下降至第3名（下降1位），上年名次在本年名次区间（第3名）之外，属实质性变化。"
    )
    assert circular.moves_text(CITY.assign(rank_change=None)) == "上年无可比排名，本年度不作名次变化比较。"
    assert "没有县区名次下降。" in circular.moves_text(CITY.assign(rank_change=[2, 0, 0, None]))


def test_missing_units_are_named_and_pending_ones_only_counted():
    units = _units(
        [
            {"unit_name": "乙局", "region": "市直", "role": "department", "status": "missing"},
            {"unit_name": "丙局", "region": "市直", "role": "department", "status": "pending"},
            {"unit_name": "丁局", "region": "市直", "role": "department", "status": "pending"},
        ]
    )
    text = circular.submissions_text(units)
    assert text == (
        "以下1个单位逾期未报送打分表（缺报），未参与排名：乙局。"
        "另有2个单位的打分表尚在报送期限内（报送期限2025年1月31日），列为待审，暂不参与排名。"
    )
    assert "丙局" not in text and "丁局" not in text


def test_requirements_set_the_deadline_for_the_missing_and_the_last():
    units = _units([{"unit_name": "乙局", "region": "市直", "role": "department", "status": "missing"}])
    lines = circular.requirements_text(circular.missing_units(units), CITY, date(2025, 3, 12), 10)
    assert (
        lines[0]
        == "（一）缺报单位（乙局）须于2025年3月12日前（自本通报印发之日起10日内）补报本年度打分表及相关佐证材料。"
    )
    assert (
        lines[1].startswith("（二）末位县区（C县）党政主要负责人须于2025年3月12日前") and OFFICE in lines[1]
    )
    assert lines[2].startswith("（三）各县（区）、各部门要对照本通报指出的共性短板")


def test_weak_spots_most_units_share_widest_first():
    weak = pd.DataFrame(
        {
            "scope": ["task", "requirement", "task", "requirement"],
            "scope_id": ["party-1", "collective_study", "government-4", "law_lecture"],
            "item": ["听取汇报。", "集体（集中）学法", "专题会议", "法治讲座"],
            "metric": ["loss_rate", "met_rate", "loss_rate", "met_rate"],
            "value": [0.6, 0.1, 0.5, 0.7],
            "note": [
                "6/10个单位在此项失分",
                "36个单位·期次未达标（共40）",
                "5/10个单位在此项失分",
                "3个单位·期次未达标（共10）",
            ],
        }
    )
    assert circular.weak_spots_text(weak, ROLES, limit=2) == (
        "多数单位存在的共性短板：一是“集体（集中）学法”落实不到位，36个单位·期次未达标（共40）；"
        "二是县（区）党委主要负责人第1项“听取汇报”失分较多，6/10个单位在此项失分。"
    )
    # a requirement most unit-periods meet is no shared weak spot
    assert "法治讲座" not in circular.weak_spots_text(weak, ROLES, limit=10)
    assert circular.weak_spots_text(weak.iloc[3:], ROLES) == "本年度未发现多数单位共有的短板。"


def test_cells_of_the_ranking_table():
    assert circular.score_text(87.25) == "87.25" and circular.score_text(90.0) == "90"
    assert circular.band_text(2, 4) == "第2–4名" and circular.band_text(1, 1) == "第1名"
    assert (
        circular.change_cell(2, True) == "上升2位（基本稳定）"
        and circular.change_cell(-1, False) == "下降1位"
    )
    assert circular.change_cell(0, True) == "持平" and circular.change_cell(None, None) == "—"
    rows = circular.region_rows(CITY, ["party_score"])
    assert rows[0] == ["1（并列）", "A县", "95.5", "—", "第1–2名", "第一梯队", "上升2位（基本稳定）", ""]
    assert rows[2][0] == "3" and rows[2][-1] == "末位"
    assert rows[3][0] == "缺报" and rows[3][-1] == "D县人民政府未报送或未计分"
    assert circular.region_score_headings(ROLES) == {
        "party_score": "党委得分",
        "government_score": "政府得分",
    }


def _fake_read(regions: pd.DataFrame, units: pd.DataFrame, publication: dict):
    frames = {
        circular.REGIONS_SQL: regions,
        circular.UNITS_SQL: units,
        circular.WEAK_SQL: pd.DataFrame(columns=["scope", "scope_id", "item", "metric", "value", "note"]),
        circular.ROLES_SQL: ROLES,
        circular.PUBLICATION_SQL: pd.DataFrame([publication]),
    }
    return lambda sql, **params: frames[sql]


def test_text_from_the_data_stays_text_and_the_published_days_count():
    hostile = '=HYPERLINK("http://x")<w:p>\x07'
    regions = CITY.assign(region=[f"A县{hostile}", "B县", "C县", "D县"])
    read = _fake_read(regions, _units([]), {"ranking_policy": "规则<b>粗体</b>", "resubmit_days": 7})
    doc = Document(io.BytesIO(circular.circular_docx(read, 2024, date(2025, 3, 2))))
    text = "\n".join(p.text for p in doc.paragraphs)
    assert '县区综合排名A县=HYPERLINK("http://x")<w:p>、B县并列第一名' in text
    assert "须于2025年3月9日前（自本通报印发之日起7日内）" in text
    assert "注：1. 排名规则：规则<b>粗体</b>" in text
    (table,) = doc.tables
    assert table.rows[1].cells[1].text == 'A县=HYPERLINK("http://x")<w:p>'


# -- end to end -----------------------------------------------------------------------------------------


def _write_city(raw) -> None:
    write_units(raw, city_units(list(LOSSES), DEPARTMENTS))
    for region, by_year in LOSSES.items():
        for year, loss in by_year.items():
            write_score_sheet(raw, year, region, "party", losing("party", loss or 4))
            if loss is not None:
                write_score_sheet(raw, year, region, "government", losing("government", loss))
    write_score_sheet(raw, YEAR, "濮阳市司法局", "department", losing("department", 4))
    write_score_sheet(raw, NOW, "清丰县", "party")
    write_score_sheet(raw, NOW, "清丰县", "government")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("circular")
    _write_city(root / "raw")
    return run_fazhi(root / "raw", root / "marts" / "fazhi.duckdb")


def _circular(built, tmp_path, year: int, as_of: date = AS_OF) -> Document:
    out = tmp_path / f"{year}.docx"
    args = ["circular", "--year", str(year), "--out", str(out), "--warehouse", str(built.path)]
    assert main([*args, "--as-of", as_of.isoformat()]) == 0
    return Document(str(out))


@pytest.fixture(scope="module")
def pdf_text(built, tmp_path_factory) -> str:
    """The 2024 circular as LibreOffice renders it, its text read back from the PDF."""
    folder = tmp_path_factory.mktemp("circular_pdf")
    _circular(built, folder, YEAR)
    done = subprocess.run(
        [
            soffice(),
            f"-env:UserInstallation={(folder / 'profile').as_uri()}",
            "--headless",
            "--norestore",
            "--convert-to",
            "pdf",
            "--outdir",
            str(folder),
            str(folder / f"{YEAR}.docx"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    pdf = folder / f"{YEAR}.pdf"
    if not pdf.exists():
        pytest.fail(
            "LibreOffice did not render the circular: is LibreOffice Writer installed? run the test set-up "
            f"(apt-get install -y libreoffice-writer-nogui).\n{done.stdout}\n{done.stderr}"
        )
    return "\n".join(page.extract_text() for page in PdfReader(pdf).pages)


def test_the_rendered_circular_reads_back_its_key_sentences(built, pdf_text):
    text = _flat(pdf_text)
    assert "关于2024年度党政主要负责人履行推进法治建设第一责任人职责情况的通报" in text
    assert "〔〕号" in text and "各县（区）党委、政府，市直各部门：" in text
    assert "5/6个县区参与排名" in text and "未参与排名的县区：台前县（缺报）" in text
    assert "县区综合排名第一名为清丰县（98分）" in text
    assert "市直部门主要负责人第一名为濮阳市司法局（96分）" in text
    assert "范县列末位（第5名，70分）" in text
    assert "清丰县由第6名上升至第1名（上升5位）" in text and "范县由第1名下降至第5名（下降4位）" in text
    assert "三、存在的问题多数单位存在的共性短板：一是" in text
    assert "以下2个单位逾期未报送打分表（缺报），未参与排名：台前县人民政府、濮阳市教育局。" in text
    deadline = AS_OF + timedelta(days=10)  # the default rulebook's resubmit_days
    by = f"{deadline.year}年{deadline.month}月{deadline.day}日前"
    assert f"缺报单位（台前县人民政府、濮阳市教育局）须于{by}" in text
    assert f"末位县区（范县）党政主要负责人须于{by}" in text
    assert f"{OFFICE}{AS_OF.year}年{AS_OF.month}月{AS_OF.day}日" in text
    (policy,) = built.one("select ranking_policy from marts.publication")
    assert "2024年度县（区）排名表" in text and f"排名规则：{_flat(policy)}" in text


def test_the_sentences_follow_the_rank_stability_mart(built, pdf_text):
    text = _flat(pdf_text)
    stability = built.df(
        "select * from marts.rank_stability where year = 2024 and scope = 'region' order by rank, subject"
    )
    tiers = "；".join(
        f"{g['tier_name'].iloc[0]}：{'、'.join(g.sort_values(['rank', 'subject'])['subject'])}"
        for _, g in stability.groupby("tier")
    )
    assert f"按名次区间划分，{tiers}。" in text
    last = stability.set_index("subject").loc["范县"]
    assert last["above_subject"] == "华龙区"
    told = "与上一名可以明确区分" if last["distinct_from_above"] else "末位不能明确区分"
    assert f"其得分低于上一名华龙区的占{round(last['p_below_above'] * 100)}%，{told}" in text
    rise = stability.set_index("subject").loc["清丰县"]
    band = circular.band_text(rise["p05"], rise["p95"])
    where = "之内，属基本稳定" if rise["stable_change"] else "之外，属实质性变化"
    assert f"上升5位），上年名次在本年名次区间（{band}）{where}" in text


def test_the_attachment_table_matches_the_marts(built, tmp_path):
    doc = _circular(built, tmp_path, YEAR)
    regions, departments = doc.tables
    assert [c.text for c in regions.rows[0].cells] == [
        "名次",
        "县区",
        "综合得分",
        "党委得分",
        "政府得分",
        "名次区间",
        "梯队",
        "名次变化",
        "备注",
    ]
    rows = {r.cells[1].text: [c.text for c in r.cells] for r in regions.rows[1:]}
    marts = built.df(
        """select r.region, r.rank, s.p05, s.p95, s.tier_name, s.stable_change
           from marts.region_rankings r
           left join marts.rank_stability s on s.year = r.year and s.scope = 'region' and s.subject = r.region
           where r.year = 2024"""
    ).set_index("region")
    assert rows["清丰县"][:5] == ["1", "清丰县", "98", "98", "98"]
    assert rows["范县"][0] == "5" and rows["范县"][-1].startswith("末位")
    assert rows["台前县"][0] == "缺报" and rows["台前县"][2] == "—"
    for region, row in rows.items():
        if pd.notna(marts.at[region, "rank"]):
            assert row[5] == circular.band_text(marts.at[region, "p05"], marts.at[region, "p95"])
            assert row[6] == marts.at[region, "tier_name"]
    assert [c.text for c in departments.rows[1].cells][:4] == ["1", "濮阳市司法局", "市直", "96"]
    assert departments.rows[2].cells[0].text == "缺报"


def test_the_running_year_names_no_pending_unit(built, tmp_path):
    doc = _circular(built, tmp_path, NOW, today())
    text = "\n".join(p.text for p in doc.paragraphs)
    assert "1/6个县区参与排名" in text and "县区综合排名第一名为清丰县（100分）" in text
    pending = built.one(f"select count(*) from marts.unit_scores where year = {NOW} and status = 'pending'")[
        0
    ]
    assert pending == 12  # every unit but 清丰县's two
    assert f"另有{pending}个单位的打分表尚在报送期限内" in text and "没有单位逾期缺报打分表。" in text
    assert "濮阳市教育局" not in text and "范县人民政府" not in text
    assert "缺报单位（" not in text and "末位县区（" not in text


def test_plain_refusals(built, tmp_path, capsys):
    assert main(["circular", "--year", "2019", "--warehouse", str(built.path)]) == 2
    assert main(["circular", "--year", "2024", "--warehouse", str(tmp_path / "none.duckdb")]) == 2
    err = capsys.readouterr().err
    assert "没有 2019 年度" in err and "2023、2024" in err and "请先运行 fazhi run" in err
    assert "Traceback" not in err
    # the default place: beside the warehouse
    assert main(["circular", "--year", "2024", "--warehouse", str(built.path)]) == 0
    written = built.path.parent / "circulars" / "2024年度法治建设第一责任人履职情况通报.docx"
    assert written.exists() and str(written) in capsys.readouterr().out
