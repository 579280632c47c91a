"""Ledger parsers on real files written by the tests: CSV in every encoding offices use, .xlsx
by openpyxl, legacy .xls by xlwt.

Every test checks the accounting contract: rows_read == len(records) + len(rejected_rows), and each
rejected row carries exactly one error issue.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest
import xlwt
from test_wild_workbooks import assert_clean_message

from pipelines.lib import ledgers
from pipelines.lib.ledgers import (
    parse_filings,
    parse_meetings,
    parse_normative_docs,
    parse_units,
)
from pipelines.lib.records import ERROR, WARNING, FileRejected, ParsedFile

D = date(2024, 3, 5)


# --- helpers ----------------------------------------------------------------------------------


def write_csv(path: Path, rows: list[list[object]], encoding: str = "utf-8", delimiter: str = ",") -> Path:
    buf = io.StringIO(newline="")
    csv.writer(buf, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


def write_xlsx(
    path: Path, sheets: dict[str, list[list[object]]], merge: dict[str, list[str]] | None = None
) -> Path:
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for r in rows:
            ws.append(r)
        for rng in (merge or {}).get(name, []):
            ws.merge_cells(rng)
    wb.save(path)
    return path


def write_xls(path: Path, sheets: dict[str, list[list[object]]]) -> Path:
    wb = xlwt.Workbook(encoding="utf-8")
    date_style = xlwt.easyxf(num_format_str="YYYY-MM-DD")
    for name, rows in sheets.items():
        ws = wb.add_sheet(name)
        for r, row in enumerate(rows):
            for c, v in enumerate(row):
                if v is None:
                    continue
                if isinstance(v, (date, datetime)):
                    ws.write(r, c, v, date_style)
                else:
                    ws.write(r, c, v)
    wb.save(str(path))
    return path


def check_accounting(pf: ParsedFile) -> None:
    assert pf.rows_read == len(pf.records) + len(pf.rejected_rows)
    errors = [(i.sheet, i.row) for i in pf.issues if i.severity == ERROR and i.row is not None]
    for key in pf.rejected_rows:
        assert errors.count(key) == 1, f"rejected row {key} must have exactly one error issue"
    loaded = {(r["sheet"], r["row"]) for r in pf.records}
    assert not loaded & set(pf.rejected_rows)
    for rec in pf.records:
        assert "sheet" in rec and "row" in rec


def codes(pf: ParsedFile, severity: str | None = None) -> list[str]:
    return [i.code for i in pf.issues if severity is None or i.severity == severity]


MEETING_HEADER = ["单位", "日期", "会议类型", "主题", "主持人", "是否主要负责人主持", "参加人数", "学时"]
MEETING_ROWS = [
    ["清丰县委", "2024-03-05", "常委会", "听取法治建设工作汇报", "张三", "是", "15", ""],
    ["清丰县委", "2024/4/8", "中心组学习", "学习习近平法治思想", "张三", "是", "20", "2"],
    ["清丰县政府", "2024年5月6日", "专题讲座", "民法典讲座", "李四", "否", "", "1.5学时"],
]


# --- encodings --------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_meetings_csv_encodings(tmp_path, encoding):
    path = write_csv(tmp_path / "m.csv", [MEETING_HEADER, *MEETING_ROWS], encoding)
    pf = parse_meetings(path)
    check_accounting(pf)
    assert pf.kind == "meetings"
    assert pf.rows_read == 3 and not pf.rejected_rows and not pf.issues
    assert pf.meta["encoding"] == ("gb18030" if encoding == "gbk" else encoding)
    first, second, third = pf.records
    assert first == {
        "sheet": None,
        "row": 2,
        "unit": "清丰县委",
        "date": D,
        "type_text": "常委会",
        "topic": "听取法治建设工作汇报",
        "host": "张三",
        "led_by_principal": True,
        "attendees": 15,
        "hours": None,
    }
    assert second["date"] == date(2024, 4, 8) and second["hours"] == 2.0
    assert third["date"] == date(2024, 5, 6) and third["hours"] == 1.5
    assert third["led_by_principal"] is False and third["attendees"] is None


def test_gb18030_only_characters(tmp_path):
    rows = [MEETING_HEADER, ["清丰县委", "2024-03-05", "中心组", "学习宪法", "王𠮷镕", "是", "", ""]]
    path = write_csv(tmp_path / "m.csv", rows, "gb18030")
    pf = parse_meetings(path)
    check_accounting(pf)
    assert pf.records[0]["host"] == "王𠮷镕"


def test_utf16_tab_separated_excel_unicode_text(tmp_path):
    buf = io.StringIO()
    csv.writer(buf, delimiter="\t").writerows([MEETING_HEADER, *MEETING_ROWS])
    path = tmp_path / "m.txt"
    path.write_bytes(b"\xff\xfe" + buf.getvalue().encode("utf-16-le"))
    pf = parse_meetings(path)
    check_accounting(pf)
    assert len(pf.records) == 3 and pf.records[0]["unit"] == "清丰县委"


@pytest.mark.parametrize(
    "data",
    [
        b"\xff\x80\xff\x80,\x81\x20\n",  # neither UTF-8 nor GB18030
        "单位,日期\n清丰县,2024-03-05\n".encode("utf-16-le"),  # UTF-16 without a BOM
    ],
)
def test_undecodable_csv_is_rejected(tmp_path, data):
    path = tmp_path / "m.csv"
    path.write_bytes(data)
    with pytest.raises(FileRejected) as exc:
        parse_meetings(path)
    assert exc.value.code == "unknown_encoding"


# --- dates ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "2024-03-05",
        "2024/3/5",
        "2024.3.5",
        "2024年3月5日",
        "2024-03-05 00:00:00",
        "２０２４年３月５日",
        "２０２４－０３－０５",
        "45356",
        "20240305",
    ],
)
def test_every_csv_date_form(tmp_path, raw):
    path = write_csv(
        tmp_path / "m.csv", [MEETING_HEADER, ["清丰县委", raw, "常委会", "法治汇报", "", "", "", ""]]
    )
    pf = parse_meetings(path)
    check_accounting(pf)
    assert [r["date"] for r in pf.records] == [D]


def test_bad_date_row_is_rejected_others_loaded(tmp_path):
    rows = [
        ["单位", "会议日期", "会议类型", "主题"],
        ["清丰县委", "2024-03-05", "常委会", "法治汇报"],
        ["清丰县委", "2024-13-45", "常委会", "法治汇报"],
        ["清丰县委", "", "常委会", "法治汇报"],
        ["清丰县委", "2024-06-01", "中心组", "学法"],
    ]
    pf = parse_meetings(write_csv(tmp_path / "m.csv", rows))
    check_accounting(pf)
    assert pf.rows_read == 4
    assert [r["row"] for r in pf.records] == [2, 5]
    assert pf.rejected_rows == [(None, 3), (None, 4)]
    bad, missing = [i for i in pf.issues if i.severity == ERROR]
    assert bad.code == "bad_date" and bad.row == 3 and bad.unit == "清丰县委"
    assert bad.message == "第3行“会议日期”为“2024-13-45”，无法识别为日期，请按2024-03-05格式填写。"
    assert missing.code == "missing_date" and "第4行“会议日期”为空" in missing.message


def test_collapsed_texts_are_remembered_only_when_short_and_never_beyond_the_bound(tmp_path, monkeypatch):
    """A meeting row's texts, their whitespace collapsed, are remembered by the text as written
    (`ledgers._SPACED`): a long cell is not kept, and no more texts than the bound, whatever a file holds."""
    monkeypatch.setattr(ledgers, "_SPACED", {})
    monkeypatch.setattr(ledgers, "_SPACED_MAX", 50)
    long_topic = "法治建设" * 40 + "  专题\u3000学习"
    rows = [["单位", "会议日期", "会议类型", "主题", "主持人"]]
    rows += [
        [f"单位{i}", "2024-03-05", " 常委会 ", long_topic if i % 2 else f"主题  {i}", "张\u3000三"]
        for i in range(200)
    ]
    pf = parse_meetings(write_csv(tmp_path / "m.csv", rows))
    check_accounting(pf)
    assert [r["unit"] for r in pf.records] == [f"单位{i}" for i in range(200)]
    assert [r["topic"] for r in pf.records] == [
        "法治建设" * 40 + " 专题 学习" if i % 2 else f"主题 {i}" for i in range(200)
    ]
    assert {r["type_text"] for r in pf.records} == {"常委会"}
    assert {r["host"] for r in pf.records} == {"张 三"}
    assert 0 < len(ledgers._SPACED) <= 50
    assert max(len(text) for text in ledgers._SPACED) <= ledgers._SPACED_MAX_LEN


# --- workbooks --------------------------------------------------------------------------------


def _meeting_sheet_rows() -> list[list[object]]:
    return [
        ["2024年度清丰县委会议学法台账", None, None, None, None, None],  # row 1: title (merged)
        ["填报单位：清丰县委", None, None, "填报时间：2025年1月6日", None, None],  # row 2
        ["序号", "单位名称", "学习日期", "活动形式", "学习内容", "学时（小时）"],  # row 3: header
        [1, "清丰县委", datetime(2024, 3, 5), "中心组学习", "学习宪法", 2],  # row 4: datetime cell
        [2, "清丰县委", 45356, "常委会", "听取法治工作汇报", None],  # row 5: Excel serial
        [3, None, None, None, None, None],  # row 6: pre-numbered blank
        [None, None, None, None, None, None],  # row 7: blank
        [4, "清丰县委", "2024-13-45", "常委会", "法治", None],  # row 8: bad date
        [5, "清丰县委", "2024年6月1日", "讲座", "民法典\n专题讲座", "两小时"],  # row 9: wrapped, bad hours
        [6, None, "2024.7.1", "集体学法", "学习行政处罚法", 1.5],  # row 10: unit from title
        ["填表人：王五", None, None, None, None, None],  # row 11: footer
    ]


def _check_meeting_workbook(pf: ParsedFile, sheet: str) -> None:
    check_accounting(pf)
    assert pf.rows_read == 5
    by_row = {r["row"]: r for r in pf.records}
    assert sorted(by_row) == [4, 5, 9, 10]
    assert by_row[4]["date"] == D and by_row[4]["hours"] == 2.0 and by_row[4]["sheet"] == sheet
    assert by_row[5]["date"] == D and by_row[5]["type_text"] == "常委会"
    assert by_row[9]["topic"] == "民法典 专题讲座" and by_row[9]["hours"] is None
    assert by_row[10]["unit"] == "清丰县委" and by_row[10]["date"] == date(2024, 7, 1)
    assert pf.rejected_rows == [(sheet, 8)]
    err = next(i for i in pf.issues if i.severity == ERROR)
    assert err.code == "bad_date" and err.sheet == sheet and err.row == 8
    assert f"工作表“{sheet}”第8行“学习日期”为“2024-13-45”" in err.message
    warn = next(i for i in pf.issues if i.severity == WARNING)
    assert warn.code == "bad_hours" and warn.row == 9 and "两小时" in warn.message
    assert pf.meta["year"] == 2024 and pf.meta["unit"] == "清丰县委"


def test_xlsx_title_rows_aliases_dates_and_notes_sheet(tmp_path):
    path = write_xlsx(
        tmp_path / "m.xlsx",
        {"说明": [["填表说明：每次会议填一行。"]], "台账": _meeting_sheet_rows(), "空表": []},
        merge={"台账": ["A1:F1"]},
    )
    pf = parse_meetings(path)
    _check_meeting_workbook(pf, "台账")
    assert pf.meta["sheets"] == ["台账"]


def test_xls_legacy_workbook(tmp_path):
    path = write_xls(tmp_path / "m.xls", {"说明": [["本表由办公室填写"]], "台账": _meeting_sheet_rows()})
    pf = parse_meetings(path)
    _check_meeting_workbook(pf, "台账")


def test_several_data_sheets_are_all_read(tmp_path):
    header = ["单位", "日期", "类型", "内容"]
    path = write_xlsx(
        tmp_path / "m.xlsx",
        {
            "一季度": [header, ["清丰县委", datetime(2024, 3, 5), "常委会", "法治"]],
            "二季度": [["二季度台账"], header, ["清丰县委", datetime(2024, 5, 5), "中心组", "学法"]],
        },
    )
    pf = parse_meetings(path)
    check_accounting(pf)
    assert [(r["sheet"], r["row"]) for r in pf.records] == [("一季度", 2), ("二季度", 3)]
    assert pf.meta["sheets"] == ["一季度", "二季度"]


def test_workbook_saved_with_csv_name_is_read_as_workbook(tmp_path):
    path = write_xlsx(tmp_path / "m.xlsx", {"台账": [MEETING_HEADER, MEETING_ROWS[0]]})
    renamed = path.rename(tmp_path / "m.csv")
    pf = parse_meetings(renamed)
    check_accounting(pf)
    assert len(pf.records) == 1 and pf.records[0]["sheet"] == "台账"


# --- headers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        ["单位名称", "会议日期", "类型", "内容", "主持人", "是否主要负责人主持", "参加人数", "学时"],
        [
            "单位",
            "时间",
            "活动形式",
            "学习内容",
            "主持人",
            "是否主要负责人主持（是/否）",
            "参会人数",
            "学时(小时)",
        ],
        ["＊单位：", "日　期", "形式", "议题", "主持人", "是否主要负责人主持", "参加人数", "学时"],
        ["单位", "学习日期", "会议类型", "会议主题", "主持人", "是否主要负责人主持", "参加人数", "学时"],
    ],
)
def test_header_aliases(tmp_path, header):
    pf = parse_meetings(write_csv(tmp_path / "m.csv", [header, *MEETING_ROWS]))
    check_accounting(pf)
    assert len(pf.records) == 3 and pf.records[0]["unit"] == "清丰县委"
    assert pf.records[0]["type_text"] == "常委会" and pf.records[0]["led_by_principal"] is True


def test_more_specific_alias_wins(tmp_path):
    rows = [["单位", "时间", "日期", "类型", "主题"], ["清丰县委", "14:30", "2024-03-05", "常委会", "法治"]]
    pf = parse_meetings(write_csv(tmp_path / "m.csv", rows))
    check_accounting(pf)
    assert pf.records[0]["date"] == D


def test_header_not_found(tmp_path):
    rows = [["会议台账"], ["甲", "乙", "丙"], ["1", "2", "3"]]
    with pytest.raises(FileRejected) as exc:
        parse_meetings(write_csv(tmp_path / "m.csv", rows))
    assert exc.value.code == "header_not_found"
    for column in ("单位", "会议日期", "会议类型", "主题", "学时"):
        assert column in exc.value.message


def test_header_below_scan_window_is_not_found(tmp_path):
    rows = [["说明"]] * 20 + [MEETING_HEADER, MEETING_ROWS[0]]
    with pytest.raises(FileRejected) as exc:
        parse_meetings(write_csv(tmp_path / "m.csv", rows))
    assert exc.value.code == "header_not_found"


def test_missing_unit_column_without_title_unit(tmp_path):
    rows = [["日期", "会议类型", "主题"], ["2024-03-05", "常委会", "法治"]]
    with pytest.raises(FileRejected) as exc:
        parse_meetings(write_csv(tmp_path / "m.csv", rows))
    assert exc.value.code == "missing_column" and "单位" in exc.value.message


def test_unit_from_title_line(tmp_path):
    rows = [
        ["填报单位（盖章）：南乐县政府"],
        ["日期", "会议类型", "主题"],
        ["2024-03-05", "常务会", "法治政府建设"],
    ]
    pf = parse_meetings(write_csv(tmp_path / "m.csv", rows))
    check_accounting(pf)
    assert pf.records[0]["unit"] == "南乐县政府" and pf.records[0]["row"] == 3


def test_empty_and_unsupported_files(tmp_path):
    (tmp_path / "e.csv").write_bytes(b"")
    with pytest.raises(FileRejected) as exc:
        parse_meetings(tmp_path / "e.csv")
    assert exc.value.code == "empty_file"
    (tmp_path / "m.pdf").write_bytes(b"%PDF-1.4")
    with pytest.raises(FileRejected) as exc:
        parse_meetings(tmp_path / "m.pdf")
    assert exc.value.code == "unsupported_format"


def test_a_csv_over_the_size_limit_is_refused_before_it_is_read_and_one_at_it_is_read(tmp_path, monkeypatch):
    from pipelines.lib import ledgers

    rows = [
        ["日期", "会议类型", "主题", "单位"],
        *[["2024-03-05", "常务会", "法治政府建设", "南乐县政府"]] * 40,
    ]
    path = write_csv(tmp_path / "m.csv", rows)
    monkeypatch.setattr(ledgers, "MAX_CSV_BYTES", path.stat().st_size)
    assert len(parse_meetings(path).records) == 40
    monkeypatch.setattr(ledgers, "MAX_CSV_BYTES", path.stat().st_size - 1)
    with pytest.raises(FileRejected) as exc:
        parse_meetings(path)
    assert exc.value.code == "file_too_large" and "请拆分后报送" in exc.value.message
    (tmp_path / "m.pdf").write_bytes(b"%PDF-1.4" + b" " * path.stat().st_size)  # what it is comes first
    with pytest.raises(FileRejected) as exc:
        parse_meetings(tmp_path / "m.pdf")
    assert exc.value.code == "unsupported_format"


def test_a_ledger_that_cannot_be_read_is_refused_with_a_message_a_clerk_can_forward(tmp_path):
    (tmp_path / "目录.csv").mkdir()  # opened, but not readable as a file
    for path in (tmp_path / "目录.csv", tmp_path / "已移走.csv"):
        with pytest.raises(FileRejected) as exc:
            parse_meetings(path)
        assert exc.value.code == "file_unreadable"
        assert_clean_message(exc.value.message)


def test_stray_nul_is_a_row_problem_not_an_encoding(tmp_path):
    # one NUL byte used to refuse the whole UTF-8 file as "encoding not recognized"
    rows = [MEETING_HEADER, *MEETING_ROWS]
    rows[2] = ["清丰县委\x00", *rows[2][1:]]
    for encoding in ("utf-8", "gbk"):
        pf = parse_meetings(write_csv(tmp_path / f"m_{encoding}.csv", rows, encoding))
        check_accounting(pf)
        assert [r["unit"] for r in pf.records] == ["清丰县委", "清丰县委", "清丰县政府"]
        assert [(i.code, i.severity, i.row) for i in pf.issues if i.code == "nul_character"] == [
            ("nul_character", WARNING, 3)
        ]


def test_utf16_without_bom_is_still_refused(tmp_path):
    path = tmp_path / "m.csv"
    path.write_bytes(
        write_csv(tmp_path / "x.csv", [MEETING_HEADER, *MEETING_ROWS]).read_text().encode("utf-16-le")
    )
    with pytest.raises(FileRejected) as exc:
        parse_meetings(path)
    assert exc.value.code == "unknown_encoding" and "UTF-16" in exc.value.message


@pytest.mark.parametrize(
    "encoding, header, row, named",
    [
        (
            "big5",
            ["單位", "日期", "會議類型", "主題"],
            ["清豐縣司法局", "2024-03-05", "常委會", "學習憲法與法治政府建設"],
            "Big5",
        ),
        (
            "shift_jis",
            ["部署", "日付", "会議の種類", "議題"],
            ["法務局", "2024-03-05", "定例会議", "憲法の学習と法治行政の推進"],
            "Shift-JIS",
        ),
        (
            "euc_kr",
            ["부서", "날짜", "회의 종류", "주제"],
            ["법무부", "2024-03-05", "정기 회의", "헌법 학습 및 법치 행정 추진"],
            "EUC-KR",
        ),
    ],
)
def test_csv_in_another_encoding_is_told_so_not_header_not_found(tmp_path, encoding, header, row, named):
    # these decode as GB18030 without an error (into nonsense): the missing header gives them away
    path = write_csv(tmp_path / "m.csv", [header, row, row], encoding)
    path.read_bytes().decode("gb18030")
    with pytest.raises(FileRejected) as exc:
        parse_meetings(path)
    assert exc.value.code == "unknown_encoding" and named in exc.value.message
    assert "UTF-8" in exc.value.message and ".xlsx" in exc.value.message


def test_gbk_csv_without_header_is_still_header_not_found(tmp_path):
    rows = [["会议台账"], ["说明：本表由衢州市柯城区司法局填报，王喆、张堃审核"], ["甲", "乙", "丙"]]
    with pytest.raises(FileRejected) as exc:
        parse_meetings(write_csv(tmp_path / "m.csv", rows, "gbk"))
    assert exc.value.code == "header_not_found"


def test_binary_file_named_csv_says_what_it_is(tmp_path):
    (tmp_path / "m.csv").write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n")
    with pytest.raises(FileRejected) as exc:
        parse_meetings(tmp_path / "m.csv")
    assert exc.value.code == "not_a_workbook" and "PDF" in exc.value.message
    (tmp_path / "old.csv").write_bytes(b"\x09\x04\x06\x00\x00\x00\x10\x00\x00\x00\x0a\x00\x00\x00")
    with pytest.raises(FileRejected) as exc:
        parse_meetings(tmp_path / "old.csv")
    assert exc.value.code == "old_excel_format"


def test_rejection_messages_carry_no_reader_internals(tmp_path):
    (tmp_path / "bad.csv").write_bytes(b"\xff\x80\xff\x80,\x81\x20\n")
    (tmp_path / "empty.xlsx").write_bytes(b"")
    (tmp_path / "broken.xlsx").write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    for name in ("bad.csv", "empty.xlsx", "broken.xlsx"):
        with pytest.raises(FileRejected) as exc:
            parse_meetings(tmp_path / name)
        assert_clean_message(exc.value.message)


# --- rows -------------------------------------------------------------------------------------


def test_blank_rows_footer_and_column_number_row(tmp_path):
    rows = [
        ["序号", "单位", "日期", "会议类型", "主题"],
        ["甲", "1", "2", "3", "4"],  # 栏次 row under the header
        ["1", "清丰县委", "2024-03-05", "常委会", "法治"],
        ["", "", "", "", ""],
        ["2", " ", "　", "", ""],  # numbered template row, otherwise empty
        [],
        ["3", "清丰县委", "2024-04-05", "", "学习宪法"],
        ["序号", "单位", "日期", "会议类型", "主题"],  # header repeated (two tables pasted together)
        ["注：本表每季度报送一次。"],
        ["填表人：王五", "", "审核人：赵六"],
    ]
    pf = parse_meetings(write_csv(tmp_path / "m.csv", rows))
    check_accounting(pf)
    assert pf.rows_read == 2 and [r["row"] for r in pf.records] == [3, 7]
    assert pf.issues == []


def test_required_fields(tmp_path):
    rows = [
        MEETING_HEADER,
        ["", "2024-03-05", "常委会", "法治", "", "", "", ""],
        ["清丰县委", "2024-03-05", "", "", "张三", "", "", ""],
        ["清丰县委", "2024-03-05", "", "学法", "", "", "", ""],
    ]
    pf = parse_meetings(write_csv(tmp_path / "m.csv", rows))
    check_accounting(pf)
    assert codes(pf) == ["missing_unit", "missing_type_and_topic"]
    assert [r["row"] for r in pf.records] == [4]


def test_optional_values_with_warnings(tmp_path):
    rows = [
        MEETING_HEADER,
        ["清丰县委", "2024-03-05", "常委会", "法治", "张三", "不知道", "约30", "-2"],
        ["清丰县委", "2024-03-06", "常委会", "法治", "张三", "Y", "３０人", "9" * 400],
        ["清丰县委", "2024-03-07", "常委会", "法治", "张三", "否", "12.5", "1e400"],
    ]
    pf = parse_meetings(write_csv(tmp_path / "m.csv", rows))
    check_accounting(pf)
    assert len(pf.records) == 3 and not pf.rejected_rows
    assert codes(pf) == [
        "bad_yes_no",
        "bad_attendees",
        "bad_hours",
        "bad_hours",
        "bad_attendees",
        "bad_hours",
    ]
    a, b, c = pf.records
    assert (a["led_by_principal"], a["attendees"], a["hours"]) == (None, None, None)
    assert (b["led_by_principal"], b["attendees"]) == (True, 30)
    assert c["led_by_principal"] is False and c["attendees"] is None
    assert all(i.severity == WARNING for i in pf.issues)
    assert "约30" in pf.issues[1].message


def test_garbage_never_raises(tmp_path):
    rows = [
        MEETING_HEADER,
        ["清丰县委", "2024-03-05", "常委会", "法" * 100_000, "", "", "", ""],  # 100k-char cell
        ["清丰县委", "9" * 500, "常委会", "法治", "", "", "", ""],
        ["清丰县委", '=HYPERLINK("x")', "常委会", "法治", "", "", "", ""],
        ["\x07\x1b", "2024-03-05", "常委会", "法治", "", "", "", ""],
        ["清丰县委", "2024-03-05", "常委会", "法治", "", "", "", ""],
    ]
    pf = parse_meetings(write_csv(tmp_path / "m.csv", rows))
    check_accounting(pf)
    assert codes(pf, ERROR) == ["value_too_long", "bad_date", "bad_date"]
    too_long = pf.issues[0]
    assert len(too_long.message) < 300
    assert len(pf.records) == 2


def test_inconsistent_column_counts(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text(
        "单位,日期,会议类型,主题,学时\n"
        "清丰县委,2024-03-05,常委会,法治\n"  # one cell short
        "清丰县委,2024-03-06,常委会,法治,2,多余,内容\n"  # extra non-empty cells
        "清丰县委,2024-03-07,常委会,法治,2,,\n"  # extra empty cells: fine
        "清丰县委,2024-03-08,常委会,法治,2\n",
        encoding="utf-8",
    )
    pf = parse_meetings(path)
    check_accounting(pf)
    assert len(pf.records) == 4
    assert codes(pf) == ["column_count_mismatch", "column_count_mismatch"]
    assert [i.row for i in pf.issues] == [2, 3]
    assert pf.records[1]["hours"] == 2.0


def test_quoted_multiline_cell_keeps_spreadsheet_row_numbers(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text(
        '单位,日期,会议类型,主题\n清丰县委,2024-03-05,常委会,"第一行\n第二行"\n清丰县委,bad,常委会,法治\n',
        encoding="utf-8",
    )
    pf = parse_meetings(path)
    check_accounting(pf)
    assert pf.records[0]["topic"] == "第一行 第二行"
    assert pf.rejected_rows == [(None, 3)]


# --- filings ----------------------------------------------------------------------------------


def test_filings(tmp_path):
    rows = [
        ["2024年度报告报送登记表"],
        ["序号", "单位", "报告类型", "年度", "报送日期", "应报日期", "备注"],
        ["1", "清丰县政府", "法治政府建设年度报告", "2024年", "2025-03-20", "2025-03-31", ""],
        ["2", "清丰县委", "述法报告", "２０２４", "", "", "尚未报送"],
        ["3", "清丰县委", "整改报告", "2024", "未报送", "", ""],
        ["4", "清丰县委", "自查报告", "去年", "2024/8/9", "八月十日", ""],
        ["5", "清丰县委", "", "2024", "2024-08-09", "", ""],
        ["6", "清丰县委", "自查报告", "2024", "2024-08-32", "", ""],
    ]
    pf = parse_filings(write_csv(tmp_path / "f.csv", rows, "gbk"))
    check_accounting(pf)
    assert pf.kind == "filings" and pf.rows_read == 6
    a, b, c, d = pf.records
    assert a == {
        "sheet": None,
        "row": 3,
        "unit": "清丰县政府",
        "report_type_text": "法治政府建设年度报告",
        "year": 2024,
        "filed_date": date(2025, 3, 20),
        "due_date": date(2025, 3, 31),
        "remark": None,
    }
    assert b["filed_date"] is None and b["year"] == 2024 and b["remark"] == "尚未报送"
    assert c["filed_date"] is None
    assert d["year"] is None and d["due_date"] is None and d["filed_date"] == date(2024, 8, 9)
    assert codes(pf, WARNING) == ["bad_year", "bad_due_date"]
    assert codes(pf, ERROR) == ["missing_report_type", "bad_date"]
    assert pf.meta["year"] == 2024


def test_filings_xlsx_with_date_cells(tmp_path):
    path = write_xlsx(
        tmp_path / "f.xlsx",
        {
            "Sheet1": [
                ["单位", "报告名称", "年度", "报送时间", "截止日期"],
                ["清丰县委", "述法报告", 2024, datetime(2025, 1, 20), 45688],
            ]
        },
    )
    pf = parse_filings(path)
    check_accounting(pf)
    rec = pf.records[0]
    assert rec["year"] == 2024 and rec["filed_date"] == date(2025, 1, 20)
    assert rec["due_date"] == date(2025, 1, 31)


# --- normative documents ------------------------------------------------------------------------


def test_normative_docs(tmp_path):
    rows = [
        ["制定机关", "文件名称", "文号", "印发日期", "备案日期", "审查结论"],
        ["清丰县政府", "关于加强扬尘治理的通告", "清政〔2024〕1号", "2024-03-05", "2024-03-20", "合法"],
        ["清丰县政府", "关于农村宅基地管理的办法", "清政〔2024〕2号", "2024.4.1", "", ""],
        ["清丰县政府", "关于收费的规定", "清政〔2024〕3号", "2024年5月1日", "2024年7月1日", "不规范"],
        ["清丰县政府", "无日期的文件", "清政〔2024〕4号", "", "", "是"],
        ["清丰县政府", "审查待定", "清政〔2024〕5号", "2024-06-01", "2024-06-05", "待审"],
    ]
    pf = parse_normative_docs(write_csv(tmp_path / "n.csv", rows, "utf-8-sig"))
    check_accounting(pf)
    a, b, c, e = pf.records
    assert a == {
        "sheet": None,
        "row": 2,
        "unit": "清丰县政府",
        "title": "关于加强扬尘治理的通告",
        "doc_no": "清政〔2024〕1号",
        "issued_date": D,
        "filed_date": date(2024, 3, 20),
        "compliant": True,
    }
    assert b["filed_date"] is None and b["compliant"] is None
    assert c["compliant"] is False and c["issued_date"] == date(2024, 5, 1)
    assert e["compliant"] is None
    assert codes(pf, ERROR) == ["missing_date"] and pf.rejected_rows == [(None, 5)]
    assert codes(pf, WARNING) == ["bad_yes_no"]


def test_normative_docs_xls(tmp_path):
    path = write_xls(
        tmp_path / "n.xls",
        {
            "备案登记": [
                ["规范性文件备案登记表"],
                ["单位", "文件名称", "文号", "发文日期", "报备日期", "是否规范"],
                ["清丰县政府", "通告", "清政〔2024〕1号", date(2024, 3, 5), date(2024, 3, 20), "是"],
            ]
        },
    )
    pf = parse_normative_docs(path)
    check_accounting(pf)
    assert pf.records[0]["issued_date"] == D and pf.records[0]["row"] == 3
    assert pf.records[0]["compliant"] is True


# --- unit registry --------------------------------------------------------------------------------


def test_units(tmp_path):
    rows = [
        ["单位名称", "单位类型", "所属县区", "别名"],
        ["中共清丰县委员会", "党委", "清丰县", "清丰县委;清丰县委员会；县委、中共清丰县委|县委"],
        ["清丰县人民政府", "政府", "清丰县", ""],
        ["濮阳市司法局", "部门", "市直", "市司法局"],
        ["韩村镇党委", "乡镇党委", "清丰县", None],
        ["某单位", "事业单位", "清丰县", ""],
        ["某局", "部门", "", ""],
        ["", "部门", "市直", ""],
    ]
    pf = parse_units(write_csv(tmp_path / "units.csv", rows, "gbk"))
    check_accounting(pf)
    assert pf.kind == "units" and pf.rows_read == 7
    party, gov, dept, town = pf.records
    assert party["aliases"] == ["清丰县委", "清丰县委员会", "县委", "中共清丰县委"]
    assert gov["aliases"] == [] and gov["unit_type"] == "政府"
    assert dept == {
        "sheet": None,
        "row": 4,
        "name": "濮阳市司法局",
        "unit_type": "部门",
        "region": "市直",
        "aliases": ["市司法局"],
    }
    assert town["unit_type"] == "乡镇党委"
    assert codes(pf, ERROR) == ["bad_unit_type", "missing_region", "missing_unit_name"]
    assert "事业单位" in pf.issues[0].message and "乡镇政府" in pf.issues[0].message


def test_units_xlsx(tmp_path):
    path = write_xlsx(
        tmp_path / "units.xlsx",
        {
            "名册": [
                ["单位名称", "单位类型", "所属县（区）", "别名"],
                ["南乐县人民政府", "政府", "南乐县", "南乐县政府｜县政府"],
            ]
        },
    )
    pf = parse_units(path)
    check_accounting(pf)
    assert pf.records[0]["region"] == "南乐县"
    assert pf.records[0]["aliases"] == ["南乐县政府", "县政府"]


def test_counts_read_inline_as_parse_number_reads_them(tmp_path):
    """A count written as digits or as a number is read without parse_number: to the same values and
    warnings (a whole number from 0 to 100,000; anything else warned about and left blank)."""
    counts = ["25", "０２５", "0", "100000", "100001", " 7 ", 25, 2.5, -3, 100000, 100001, "1e3"]
    rows = [MEETING_HEADER] + [
        ["清丰县委", "2024-03-05", "常委会", "法治", "张三", "是", count, ""] for count in counts
    ]
    pf = parse_meetings(write_xlsx(tmp_path / "m.xlsx", {"台账": rows}))
    check_accounting(pf)
    assert [r["attendees"] for r in pf.records] == [
        25,
        25,
        0,
        100000,
        None,
        7,
        25,
        None,
        None,
        100000,
        None,
        None,
    ]
    assert [(i.code, i.row) for i in pf.issues] == [
        ("bad_attendees", 6),
        ("bad_attendees", 9),
        ("bad_attendees", 10),
        ("bad_attendees", 12),
        ("bad_attendees", 13),
    ]
