"""The rectification ledger (整改台账) reader on real files: CSV in the encodings offices use, .xlsx
with date cells and title rows, legacy .xls; the words offices write for 问题来源 and 整改状态; every
row loaded or rejected with one error."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from test_ledgers import check_accounting, codes, write_csv, write_xls, write_xlsx
from test_wild_workbooks import assert_clean_message

from pipelines.lib.ledgers import parse_rectifications
from pipelines.lib.records import ERROR, WARNING, FileRejected

HEADER = ["单位", "问题来源", "问题描述", "整改措施", "责任人", "整改时限", "整改状态", "完成日期", "备注"]


def _row(*cells: object) -> list[object]:
    """A data row as a spreadsheet saves it: every column of the header, blank ones empty."""
    return [*cells, *[""] * (len(HEADER) - len(cells))]


def _by_row(pf) -> dict[int, dict]:
    return {r["row"]: r for r in pf.records}


@pytest.mark.parametrize("encoding", ["utf-8-sig", "gbk", "gb18030"])
def test_csv_with_a_title_line_in_every_encoding(tmp_path, encoding):
    path = write_csv(
        tmp_path / "整改台账.csv",
        [
            ["清丰县2026年法治督察问题整改台账"],
            HEADER,
            _row(
                "清丰县委",
                "自查",
                "集体学法不经常",
                "每季度安排学法",
                "张三",
                "2026-09-30",
                "已完成",
                "2026-09-30",
                "",
            ),
            _row(
                "清丰县委",
                "督察反馈",
                "未听取法治建设汇报",
                "",
                "李四",
                "2026年10月31日",
                "整改中",
                "",
                "督察组8月反馈",
            ),
        ],
        encoding=encoding,
    )
    pf = parse_rectifications(path)
    check_accounting(pf)
    assert pf.rows_read == 2 and not pf.rejected_rows
    rows = _by_row(pf)
    assert rows[3]["source"] == "self_check" and rows[3]["status"] == "done"
    assert rows[3]["deadline"] == date(2026, 9, 30) == rows[3]["done_date"]
    assert rows[4]["source"] == "inspection_feedback" and rows[4]["status"] == "in_progress"
    assert rows[4]["deadline"] == date(2026, 10, 31) and rows[4]["measure"] is None
    assert rows[4]["remark"] == "督察组8月反馈"


@pytest.mark.parametrize(
    ("written", "code"),
    [
        ("自查", "self_check"),
        ("自查自纠", "self_check"),
        ("督察反馈", "inspection_feedback"),
        ("市委督察组反馈", "inspection_feedback"),
        ("督查", "inspection_feedback"),
        ("述法评议", "shufa_review"),
        ("年终述职述法", "shufa_review"),
        ("其他", "other"),
        ("其它", "other"),
    ],
)
def test_problem_sources_as_offices_write_them(tmp_path, written, code):
    path = write_csv(
        tmp_path / "r.csv",
        [HEADER, _row("范县政府", written, "问题", "措施", "王五", "2026-12-31", "整改中")],
    )
    pf = parse_rectifications(path)
    assert pf.records[0]["source"] == code
    assert pf.records[0]["source_text"] == written
    assert codes(pf, WARNING) == []


@pytest.mark.parametrize(
    ("written", "done_date", "code"),
    [
        ("已完成", "2026-09-01", "done"),
        ("已整改", "2026-09-01", "done"),
        ("已销号", "2026-09-01", "done"),
        ("整改中", "", "in_progress"),
        ("正在整改", "", "in_progress"),
        ("部分完成", "", "in_progress"),
        ("未启动", "", "not_started"),
        ("尚未整改", "", "not_started"),
    ],
)
def test_statuses_as_offices_write_them(tmp_path, written, done_date, code):
    path = write_csv(
        tmp_path / "r.csv",
        [HEADER, _row("范县政府", "自查", "问题", "措施", "王五", "2026-12-31", written, done_date)],
    )
    pf = parse_rectifications(path)
    assert pf.records[0]["status"] == code
    assert codes(pf, WARNING) == []


def test_unclear_values_are_warned_and_read_the_safe_way(tmp_path):
    path = write_csv(
        tmp_path / "r.csv",
        [
            HEADER,
            _row("范县政府", "", "来源空白", "措施", "甲", "2026-12-31", "整改中"),
            _row("范县政府", "领导批示", "来源不明", "措施", "甲", "2026-12-31", "整改中"),
            _row("范县政府", "自查", "状态空白有完成日期", "措施", "甲", "2026-12-31", "", "2026-10-01"),
            _row("范县政府", "自查", "状态看不懂", "措施", "甲", "2026-12-31", "好"),
            _row("范县政府", "自查", "已完成无日期", "措施", "甲", "2026-12-31", "已完成"),
            _row("范县政府", "自查", "有日期但未完成", "措施", "甲", "2026-12-31", "整改中", "2026-10-01"),
            _row("范县政府", "自查", "没有时限", "措施", "甲", "", "整改中"),
            _row("范县政府", "自查", "长期问题", "建立长效机制", "甲", "长期坚持", "整改中"),
        ],
    )
    pf = parse_rectifications(path)
    check_accounting(pf)
    assert not pf.rejected_rows
    rows = _by_row(pf)
    assert rows[2]["source"] == "other" and rows[3]["source"] == "other"
    assert rows[4]["status"] == "done" and rows[5]["status"] == "in_progress"
    assert rows[6]["status"] == "done" and rows[6]["done_date"] is None
    assert rows[7]["status"] == "in_progress" and rows[7]["done_date"] == date(2026, 10, 1)
    assert rows[8]["deadline"] is None and not rows[8]["long_term"]
    assert rows[9]["deadline"] is None and rows[9]["long_term"]
    warned = {(i.row, i.code) for i in pf.issues if i.severity == WARNING}
    assert warned == {
        (2, "unknown_source"),
        (3, "unknown_source"),
        (4, "unknown_status"),
        (5, "unknown_status"),
        (6, "missing_done_date"),
        (7, "done_date_not_done"),
        (8, "missing_deadline"),
    }
    for i in pf.issues:
        assert_clean_message(i.message)
    message = next(i.message for i in pf.issues if i.row == 3)
    assert "领导批示" in message and "其他" in message


def test_rows_that_cannot_be_used_are_rejected_with_one_error_each(tmp_path):
    path = write_csv(
        tmp_path / "r.csv",
        [
            HEADER,
            _row("范县政府", "自查", "好行", "措施", "甲", "2026-12-31", "整改中"),
            _row("范县政府", "自查", "", "措施", "甲", "2026-12-31", "整改中"),
            _row("范县政府", "自查", "时限看不懂", "措施", "甲", "下个月", "整改中"),
            _row("范县政府", "自查", "完成日期看不懂", "措施", "甲", "2026-12-31", "已完成", "九月底"),
            _row("", "自查", "没有单位", "措施", "甲", "2026-12-31", "整改中"),
            ["填表人：赵六"],
        ],
    )
    pf = parse_rectifications(path)
    check_accounting(pf)
    assert pf.rows_read == 5 and len(pf.records) == 1
    errors = {(i.row, i.code) for i in pf.issues if i.severity == ERROR}
    assert errors == {(3, "missing_description"), (4, "bad_date"), (5, "bad_date"), (6, "missing_unit")}
    for i in pf.issues:
        assert_clean_message(i.message)
    assert "下个月" in next(i.message for i in pf.issues if i.row == 4)


def test_xlsx_with_aliases_date_cells_and_a_year_column(tmp_path):
    path = write_xlsx(
        tmp_path / "整改台账.xlsx",
        {
            "说明": [["本表按季度更新"]],
            "整改台账": [
                ["南乐县法治建设督察反馈问题整改落实台账"],
                ["填报单位：南乐县人民政府"],
                [
                    "序号",
                    "问题类型",
                    "存在问题",
                    "整改举措",
                    "责任领导",
                    "完成时限",
                    "整改进展",
                    "销号日期",
                    "年度",
                ],
                [
                    1,
                    "督察反馈",
                    "规范性文件报备不及时",
                    "建立台账",
                    "孙七",
                    datetime(2026, 9, 30),
                    "已销号",
                    datetime(2026, 9, 28),
                    2026,
                ],
                [
                    2,
                    "自查",
                    "学法记录不全",
                    "补齐记录",
                    "孙七",
                    datetime(2026, 10, 15),
                    "推进中",
                    None,
                    "2026年",
                ],
            ],
        },
    )
    pf = parse_rectifications(path)
    check_accounting(pf)
    assert pf.rows_read == 2 and not pf.rejected_rows
    first, second = pf.records
    assert first["unit"] == "南乐县人民政府" and first["sheet"] == "整改台账" and first["row"] == 4
    assert first["status"] == "done" and first["done_date"] == date(2026, 9, 28)
    assert first["deadline"] == date(2026, 9, 30) and first["year"] == 2026
    assert second["status"] == "in_progress" and second["year"] == 2026


def test_xls_legacy_workbook(tmp_path):
    path = write_xls(
        tmp_path / "整改台账.xls",
        {
            "Sheet1": [
                HEADER,
                ["台前县委", "述法评议", "述法报告不全", "补充", "周八", date(2027, 3, 31), "未启动"],
            ]
        },
    )
    pf = parse_rectifications(path)
    check_accounting(pf)
    (rec,) = pf.records
    assert rec["source"] == "shufa_review" and rec["status"] == "not_started"
    assert rec["deadline"] == date(2027, 3, 31)


def test_a_file_that_is_not_a_rectification_ledger_says_which_columns_it_needs(tmp_path):
    path = write_csv(
        tmp_path / "r.csv", [["单位", "日期", "会议类型"], ["范县政府", "2026-03-01", "集体学法"]]
    )
    with pytest.raises(FileRejected) as err:
        parse_rectifications(path)
    assert err.value.code == "header_not_found"
    assert "整改台账" in err.value.message and "问题描述" in err.value.message
