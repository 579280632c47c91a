"""dashboards.exports: no download ever carries a formula, and the 排名通报 prints as laid out."""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import re
import zipfile

import openpyxl
import pandas as pd
import pytest

from dashboards.exports import ranking_circular, safe_text, table_to_csv, table_to_xlsx

DANGEROUS = ["=1+1", "+1", "-1+2", "@SUM(A1)", "\t=1", "\r=1", '=HYPERLINK("http://x","点击")']


def _sheet_xml(data: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        parts = [zf.read("xl/worksheets/sheet1.xml").decode("utf-8")]
        if "xl/sharedStrings.xml" in zf.namelist():
            parts.append(zf.read("xl/sharedStrings.xml").decode("utf-8"))
    return "\n".join(parts)


def _assert_no_formula(data: bytes) -> str:
    xml = _sheet_xml(data)
    assert not re.search(r"<(\w+:)?f[\s>/]", xml), "a formula element was written"
    return xml


def _string_cells(xml: str) -> list[str]:
    return re.findall(r'<c [^>]*t="(?:s|inlineStr)"', xml)


def _load(data: bytes):
    return openpyxl.load_workbook(io.BytesIO(data)).active


# ---------------------------------------------------------------------------------------------
# safe_text


@pytest.mark.parametrize("text", DANGEROUS)
def test_safe_text_quotes_dangerous_strings(text):
    assert safe_text(text) == "'" + text


@pytest.mark.parametrize(
    "value",
    [
        "济南市",
        "a=1",
        "1-2",
        "",
        " =1",
        "'=1",
        3,
        -3,
        -2.5,
        0,
        True,
        None,
        dt.date(2024, 1, 1),
        pd.Timestamp("2024-03-01 08:00"),
    ],
)
def test_safe_text_leaves_safe_values_alone(value):
    out = safe_text(value)
    assert out == value and type(out) is type(value)


def test_safe_text_keeps_nan_a_number():
    out = safe_text(float("nan"))
    assert isinstance(out, float) and math.isnan(out)


# ---------------------------------------------------------------------------------------------
# table_to_csv / table_to_xlsx


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "地区": ["济南市", "青岛市"] + [f"市{i}" for i in range(len(DANGEROUS) - 2)],
            "备注": DANGEROUS,
            "得分": [-2.5, 88.5] + [float("nan")] * (len(DANGEROUS) - 2),
            "名次": [-3, 7, *list(range(len(DANGEROUS) - 2))],
        }
    )


def test_csv_quotes_dangerous_cells_and_keeps_numbers(frame):
    data = table_to_csv(frame)
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert rows[0] == ["地区", "备注", "得分", "名次"]
    assert [r[1] for r in rows[1:]] == ["'" + t for t in DANGEROUS]
    assert rows[1][0] == "济南市" and rows[2][0] == "青岛市"
    assert rows[1][2] == "-2.5" and rows[2][2] == "88.5" and rows[3][2] == ""
    assert rows[1][3] == "-3" and rows[2][3] == "7"


def test_csv_header_is_escaped_too():
    rows = list(csv.reader(io.StringIO(table_to_csv(pd.DataFrame({"=cmd": [1]})).decode("utf-8-sig"))))
    assert rows == [["'=cmd"], ["1"]]


def test_xlsx_keeps_exact_text_as_string_cells(frame):
    data = table_to_xlsx(frame, sheet_title="排名")
    xml = _assert_no_formula(data)
    assert len(_string_cells(xml)) >= 3 + 2 * len(DANGEROUS)  # header, regions, remarks
    ws = _load(data)
    assert ws.title == "排名" and ws.freeze_panes == "A2" and ws["A1"].font.b
    for row, text in enumerate(DANGEROUS, start=2):
        # a bare CR cannot survive XML line-end normalisation; it is written as LF on purpose
        expected = text.replace("\r", "\n")
        assert ws.cell(row, 2).value == expected and ws.cell(row, 2).data_type == "s"
    assert ws["C2"].value == -2.5 and ws["C3"].value == 88.5 and ws["C4"].value is None
    assert ws["D2"].value == -3 and ws["D2"].data_type == "n"
    assert ws.column_dimensions["A"].width >= 8


# ---------------------------------------------------------------------------------------------
# ranking_circular

LABELS = {
    "rank": "排名",
    "region": "地区",
    "score": "总得分",
    "party_score": "党委得分",
    "government_score": "政府得分",
    "rank_change": "名次变化",
    "score_change": "得分变化",
    "note": "备注",
}
POLICY = "按总得分从高到低排名，得分相同者并列；末两位为末位。"


@pytest.fixture
def circular() -> bytes:
    rows = pd.DataFrame(
        [
            {
                "rank": 1,
                "tie": False,
                "region": "济南市",
                "score": 95.25,
                "party_score": 47.5,
                "government_score": 47.75,
                "rank_change": 2,
                "score_change": 1.5,
                "is_bottom": False,
                "note": "",
            },
            {
                "rank": 2,
                "tie": True,
                "region": "青岛市",
                "score": 90.0,
                "party_score": 45.0,
                "government_score": 45.0,
                "rank_change": -1,
                "score_change": -0.5,
                "is_bottom": False,
                "note": "=1+1",
            },
            {
                "rank": 2,
                "tie": True,
                "region": "淄博市",
                "score": 90.0,
                "party_score": 44.0,
                "government_score": 46.0,
                "rank_change": float("nan"),
                "score_change": float("nan"),
                "is_bottom": False,
                "note": "",
            },
            {
                "rank": 4,
                "tie": False,
                "region": "枣庄市",
                "score": 70.0,
                "party_score": 35.0,
                "government_score": 35.0,
                "rank_change": 0,
                "score_change": 0.0,
                "is_bottom": True,
                "note": "约谈",
            },
            {
                "rank": None,
                "tie": False,
                "region": "东营市",
                "score": None,
                "party_score": None,
                "government_score": None,
                "rank_change": None,
                "score_change": None,
                "is_bottom": False,
                "note": "材料未报送",
            },
        ]
    )
    return ranking_circular(
        rows,
        year=2024,
        title="2024年度排名通报",
        issued_on=dt.date(2026, 11, 23),
        policy_note=POLICY,
        columns=LABELS,
    )


def test_circular_title_meta_and_header(circular):
    ws = _load(circular)
    assert ws["A1"].value == "2024年度排名通报" and ws["A1"].font.b and ws["A1"].font.sz == 16
    assert "A1:H1" in {str(r) for r in ws.merged_cells.ranges}
    assert ws["A2"].value == "年度：2024　　日期：2026-11-23"
    assert [c.value for c in ws[3]] == list(LABELS.values())
    assert ws.print_title_rows == "$1:$3" and ws.page_setup.orientation == "landscape"


def test_circular_rows(circular):
    ws = _load(circular)
    ranks = [ws.cell(r, 1).value for r in range(4, 9)]
    assert ranks == [1, "2（并列）", "2（并列）", 4, "不排名"]
    assert [ws.cell(r, 6).value for r in range(4, 9)] == ["↑2", "↓1", "—", "—", "—"]
    assert ws["G4"].value == 1.5 and ws["G4"].number_format == "+0.0;-0.0;0.0"
    for col in "CDE":
        assert ws[f"{col}4"].number_format == "0.0"
    assert ws["C4"].value == 95.25  # stored exactly, only displayed with one decimal
    assert ws["H5"].value == "=1+1" and ws["H5"].data_type == "s"
    assert ws["H8"].value == "材料未报送" and ws["C8"].value is None
    assert ws["A4"].border.left.style == "thin" and ws["H8"].border.bottom.style == "thin"


def test_circular_bottom_row_highlighted(circular):
    ws = _load(circular)
    assert all(ws.cell(7, c).fill.fgColor.rgb.endswith("FFC7CE") for c in range(1, 9))
    assert ws.cell(6, 1).fill.fill_type is None
    assert "约谈" in ws["H7"].value and "末位" in ws["H7"].value


def test_circular_footnote_and_no_formula(circular):
    _assert_no_formula(circular)
    ws = _load(circular)
    assert ws["A9"].value is None  # the empty row after the table
    assert ws["A10"].value == "排名规则：" + POLICY and ws["A10"].alignment.wrap_text
    assert "A10:H10" in {str(r) for r in ws.merged_cells.ranges}


def test_circular_uses_caller_labels():
    rows = pd.DataFrame(
        [
            {
                "rank": 1,
                "tie": True,
                "region": "Jinan",
                "score": 90.0,
                "party_score": 45.0,
                "government_score": 45.0,
                "rank_change": 1,
                "score_change": 1.0,
                "is_bottom": False,
                "note": "",
            },
            {
                "rank": float("nan"),
                "tie": False,
                "region": "Qingdao",
                "score": float("nan"),
                "party_score": float("nan"),
                "government_score": float("nan"),
                "rank_change": float("nan"),
                "score_change": float("nan"),
                "is_bottom": False,
                "note": "",
            },
        ]
    )
    labels = dict(
        LABELS,
        rank="Rank",
        tie_label="tied",
        not_ranked_label="not ranked",
        year_label="Year",
        date_label="Date",
        policy_label="Rule: ",
    )
    ws = _load(
        ranking_circular(
            rows,
            year=2025,
            title="Ranking 2025",
            issued_on=dt.date(2026, 1, 2),
            policy_note="highest first",
            columns=labels,
        )
    )
    assert ws["A3"].value == "Rank" and ws["A4"].value == "1（tied）" and ws["A5"].value == "not ranked"
    assert ws["A2"].value == "Year：2025　　Date：2026-01-02"
    assert ws["A7"].value == "Rule: highest first"


def test_circular_headings_name_the_rulebook_roles_and_leave_out_an_empty_position():
    """The ranking page heads each region-role score after its role (rulebook_roles); a rulebook with one role
    forming a region's score has no second score column (headed None)."""
    rows = pd.DataFrame(
        [
            {
                "rank": 1,
                "tie": False,
                "region": "清丰县",
                "score": 90.0,
                "party_score": 90.0,
                "government_score": None,
                "rank_change": 1,
                "score_change": 1.0,
                "is_bottom": True,
                "note": "",
            }
        ]
    )
    labels = dict(LABELS, party_score="县委得分", government_score=None)
    ws = _load(
        ranking_circular(
            rows, year=2025, title="通报", issued_on=dt.date(2026, 1, 2), policy_note=POLICY, columns=labels
        )
    )
    assert [c.value for c in ws[3]] == ["排名", "地区", "总得分", "县委得分", "名次变化", "得分变化", "备注"]
    assert [c.value for c in ws[4]] == [1, "清丰县", 90.0, 90.0, "↑1", 1.0, "末位"]
    assert ws["D4"].number_format == "0.0" and ws["E4"].number_format == "General"
    assert all(ws.cell(4, c).fill.fgColor.rgb.endswith("FFC7CE") for c in range(1, 8))
    assert {"A1:G1", "A2:G2", "A6:G6"} <= {str(r) for r in ws.merged_cells.ranges}
    assert ws["A6"].value == "排名规则：" + POLICY


def test_xlsx_number_formats_dress_numbers_and_leave_text_alone():
    frame = pd.DataFrame(
        {
            "区县": ["-1+1", "乙县", "丙县"],
            "得分变化": [2.5, -0.25, float("nan")],
            "报送率": [0.875, 1.0, None],
            "日期": pd.to_datetime(["2024-03-05 00:00", None, "2024-03-06 08:30"]),
        }
    )
    data = table_to_xlsx(frame, number_formats={"得分变化": "+0.0;-0.0;0.0", "报送率": "0.0%", "不存在": "0"})
    _assert_no_formula(data)
    ws = _load(data)
    assert ws["A2"].value == "-1+1" and ws["A2"].data_type == "s"  # text from data stays text
    assert (ws["B2"].value, ws["B2"].data_type, ws["B2"].number_format) == (2.5, "n", "+0.0;-0.0;0.0")
    assert (ws["B3"].value, ws["B3"].number_format) == (-0.25, "+0.0;-0.0;0.0")
    assert ws["B4"].value is None and ws["C4"].value is None
    assert (ws["C2"].value, ws["C2"].number_format) == (0.875, "0.0%")
    assert ws["D2"].value == dt.datetime(2024, 3, 5) and ws["D2"].number_format == "yyyy-mm-dd"
    assert ws["D4"].value == dt.datetime(2024, 3, 6, 8, 30) and ws["D4"].number_format != "yyyy-mm-dd"
    assert ws["D3"].value is None


def test_csv_writes_signed_numbers_as_plain_numbers():
    frame = pd.DataFrame(
        {"区县": ["+cmd", "@SUM(A1)"], "得分变化": [2.5, -1.0], "名次变化": pd.array([3, None], "Int64")}
    )
    rows = list(csv.reader(io.StringIO(table_to_csv(frame).decode("utf-8-sig"))))
    assert rows[1:] == [["'+cmd", "2.5", "3"], ["'@SUM(A1)", "-1.0", ""]]


def test_circular_carries_the_band_and_tier_when_the_rows_have_them():
    rows = pd.DataFrame(
        [
            {
                "rank": 1,
                "tie": False,
                "region": "甲县",
                "score": 90.0,
                "party_score": 92.0,
                "government_score": 88.0,
                "band": "1–2",
                "tier_name": "第一梯队",
                "rank_change": None,
                "score_change": None,
                "is_bottom": False,
                "note": "",
            },
            {
                "rank": None,
                "tie": False,
                "region": "丙县",
                "score": None,
                "party_score": 70.0,
                "government_score": None,
                "band": "",
                "tier_name": None,
                "rank_change": None,
                "score_change": None,
                "is_bottom": False,
                "note": "丙县人民政府缺报",
            },
        ]
    )
    ws = _load(
        ranking_circular(
            rows, year=2024, title="通报", issued_on=dt.date(2025, 2, 10), policy_note="", columns={}
        )
    )
    header = [c.value for c in ws[3]]
    assert header[5:7] == ["名次区间", "梯队"]
    assert [ws.cell(4, 6).value, ws.cell(4, 7).value] == ["1–2", "第一梯队"]
    assert [ws.cell(5, 6).value, ws.cell(5, 7).value] == ["—", "—"]
