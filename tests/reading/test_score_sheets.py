"""The score-sheet parser on layouts offices really send (real .xlsx files written by openpyxl)."""

from openpyxl import Workbook
from openpyxl.chart import BarChart, Reference
from test_wild_workbooks import assert_clean_message

from pipelines.lib import score_sheets
from pipelines.lib.score_sheets import parse_score_sheet


def _sheet(path, tail_rows, merge_last=False):
    wb = Workbook()
    ws = wb.active
    ws.append(["濮阳市党政主要负责人履行推进法治建设第一责任人职责规定任务分解及督察情况打分表"])
    ws.append(["责任人：县（区）党委主要负责人"])
    ws.append(["被考核单位：清丰县", None, "年度：２０２４"])
    ws.append([])
    ws.append(["主要职责", "序号", "工作任务", "落实单位", "检查标准", "自评得分", "督察得分", "备注"])
    ws.append(
        [
            "1. 领导核心作用",
            "１",
            "县（区）常委会每半年至少听取一次法治建设工作汇报。（６分）",
            "县委办",
            "…",
            "５",
            4,
            "",
        ]
    )
    ws.append([None, 2, "担任委员会主任（6分）", "县委办", "…", "4.5分", None, ""])
    ws.append([])
    ws.append([None, 3, "纳入总体规划（4分）", "县委办", "…", "", "", ""])
    ws.merge_cells("A6:A9")
    for row in tail_rows:
        ws.append(row)
    if merge_last:  # a sign-off line merged across the table's width
        ws.merge_cells(start_row=ws.max_row, start_column=1, end_row=ws.max_row, end_column=8)
    wb.create_sheet("填表说明").append(["请如实填写。"])
    wb.save(path)
    return parse_score_sheet(path)


def test_meta_merged_duty_fullwidth_and_text_scores(tmp_path):
    parsed = _sheet(tmp_path / "a.xlsx", [["合  计", None, None, None, None, 9.5, 4, None]])
    assert parsed.file_error is None
    meta = parsed.meta["sheets"]["Sheet"]
    assert (meta["role_text"], meta["unit_text"], meta["year"]) == ("县(区)党委主要负责人", "清丰县", 2024)
    assert meta["has_verified"] and meta["total_self"] == 9.5
    rows = {r["task_no"]: r for r in parsed.records}
    assert sorted(rows) == [1, 2, 3] and parsed.rows_read == 3
    assert rows[1]["duty_text"] == rows[3]["duty_text"] == "1. 领导核心作用"  # merged cell repeated
    assert (rows[1]["self_points"], rows[1]["verified_points"], rows[1]["max_points_text"]) == (5.0, 4.0, 6.0)
    assert rows[2]["self_points"] == 4.5 and rows[2]["verified_points"] is None
    assert [i.code for i in parsed.issues] == ["score_blank"]  # task 3; the total matches (5 + 4.5)


def test_spaced_total_and_merged_signoff_rows_are_not_tasks(tmp_path):
    parsed = _sheet(
        tmp_path / "b.xlsx",
        [
            ["合  计", None, None, None, None, 12, None, None],
            ["填表人：张三  审核人：李四  填报日期：2025年1月20日"],
        ],
        merge_last=True,
    )
    assert parsed.rows_read == 3
    assert {i.code for i in parsed.issues} == {"score_blank", "total_mismatch"}


def test_signoff_without_a_total_row(tmp_path):
    parsed = _sheet(tmp_path / "c.xlsx", [["填表人：张三  审核人：李四"]], merge_last=True)
    assert parsed.rows_read == 3 and {i.code for i in parsed.issues} == {"score_blank"}


def test_workbook_without_a_score_sheet_is_one_error(tmp_path):
    wb = Workbook()
    wb.active.append(["只是说明"])
    wb.save(tmp_path / "d.xlsx")
    parsed = parse_score_sheet(tmp_path / "d.xlsx")
    assert parsed.file_error is not None and parsed.file_error.code == "header_not_found"


def test_header_not_found_names_the_sheets_as_the_clerk_sees_them(tmp_path):
    wb = Workbook()
    wb.active.title = "Sheet1"
    wb.active.append(["只是说明"])
    wb.create_sheet("汇总 (2)").append(["合计", 3])
    wb.save(tmp_path / "e.xlsx")
    error = parse_score_sheet(tmp_path / "e.xlsx").file_error
    assert error.code == "header_not_found"
    assert "「Sheet1」、「汇总 (2)」" in error.message and "工作任务" in error.message
    assert_clean_message(error.message)


def test_workbook_without_a_worksheet_says_so(tmp_path):
    # only a chart sheet: nothing calamine lists as a worksheet
    wb = Workbook()
    data = wb.active
    data.append([1])
    chart = BarChart()
    chart.add_data(Reference(data, min_col=1, min_row=1, max_row=1))
    wb.create_chartsheet("图表").add_chart(chart)
    wb.remove(data)
    wb.save(tmp_path / "chart.xlsx")
    error = parse_score_sheet(tmp_path / "chart.xlsx").file_error
    assert error.code == "header_not_found" and "没有可读取的工作表" in error.message
    assert_clean_message(error.message)


def test_the_task_texts_remembered_are_bounded():
    # every file of a year repeats the same task texts, read once each; what is remembered stays bounded
    bound = score_sheets._task_facts.cache_info().maxsize
    many = bound + 100
    texts = [f"{n % 999 + 1}. 第{n}项任务({n % 9 + 1}分)" for n in range(many)]
    expected = [(n % 999 + 1, float(n % 9 + 1)) for n in range(many)]
    assert [score_sheets._task_facts(t) for t in texts] == expected
    assert score_sheets._task_facts.cache_info().currsize <= bound
    assert score_sheets._task_facts("没有编号和分值的任务") == (None, None)
    assert [score_sheets._task_facts(t) for t in texts[:2]] == expected[:2]


def test_numbers_in_cells_read_as_their_text_reads(tmp_path):
    """Task numbers and scores typed as numbers are taken without going through their text: what they
    give must be what their text gives (a positive whole number below 10^15 is a task number, a score
    of 0 or more is itself, anything else goes through the text and its checks)."""
    wb = Workbook()
    ws = wb.active
    ws.append(["被考核单位：清丰县", None, "年度：2024"])
    ws.append(["序号", "工作任务", "自评得分", "督察得分"])
    numbers = [1, 2.0, 0, -3, 2.5, 10**15, 10**16, "４"]
    scores = [5, 0, 2.5, -1, 0.0, "3", 4, "不适用"]
    for i, (no, score) in enumerate(zip(numbers, scores, strict=True)):
        ws.append([no, f"{i + 11}.任务{i}（6分）", score, 6])
    wb.save(tmp_path / "n.xlsx")
    parsed = parse_score_sheet(tmp_path / "n.xlsx")
    got = [(r["task_no"], r["task_no_text"], r["self_points"], r["self_raw"]) for r in parsed.records]
    assert got == [
        (1, "1", 5.0, "5"),
        (2, "2", 0.0, "0"),
        (13, "0", 2.5, "2.5"),  # no task number: the one the task's text starts with
        (14, "-3", None, "-1"),
        (15, "2.5", 0.0, "0"),
        (10**15, "1000000000000000.0", 3.0, "3"),
        (17, "1e+16", 4.0, "4"),
        (4, "4", None, "不适用"),
    ]
    assert [(i.code, i.row) for i in parsed.issues] == [("score_negative", 6)]
