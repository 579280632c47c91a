"""The scoring policy (pipelines/lib/staging/scoring.py) on hand-made parsed rows: every way a row is
matched to a template task, scored, rejected or left out, and what the unit is told about it. The
department template of the default rulebook: tasks 1-3 are worth 3 points, tasks 4-14 worth 8."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from pipelines.lib.rulebook import load_rulebook
from pipelines.lib.schema import create_tables, source_tables
from pipelines.lib.score_sheets import says_not_applicable
from pipelines.lib.staging import scoring
from pipelines.lib.text import clean_cell, to_halfwidth

RULES = load_rulebook("default")
ROLE = "department"
TEMPLATE = RULES.templates[ROLE]
TASK = {t.task_no: t for t in TEMPLATE.tasks}
# (row, task_no, task_text, max_points_text, self_raw, self_points, verified_raw, verified_points)
SHEET_A = [
    (5, 1, "", None, "3", 3.0, "2", 2.0),  # both scores: the verified one counts
    (6, 2, "", None, "2", 2.0, "", None),  # only the self score
    (7, 3, "", None, "不适用", None, "", None),  # written as not applicable
    (8, 4, "", None, "（不 适用）", None, "", None),  # the same, in brackets and spaced
    (9, 5, "", None, "9", 9.0, "", None),  # above the task's 8 points
    (10, 6, "", None, "", None, "", None),  # blank
    (11, 7, "", None, "良好", None, "", None),  # not a number
    (12, 2, "", None, "1", 1.0, "", None),  # task 2 again
    (13, 99, "", None, "1", 1.0, "", None),  # no such task
    (14, None, to_halfwidth(TASK[8].text), None, "6", 6.0, "", None),  # no number: by its text
    (15, None, "其他工作", None, "1", 1.0, "", None),  # no number, and no task begins so
    (16, 9, "", 5.0, "5", 5.0, "", None),  # the sheet says the task is worth 5, the template 8
    (17, 10, "", None, "1", 1.0, "", None),  # a task the rulebook exempts this unit from
]
SHEET_B = [(5, 10, "", None, "4", 4.0, "", None)]  # the same task, for a unit not exempt from it
# Task 10 does not apply to unit a; task 11 to no unit of the role.
EXEMPT = {(ROLE, 10): frozenset({"dept-a"}), (ROLE, 11): None}


@pytest.fixture
def con():
    con = duckdb.connect()
    create_tables(con, ["parsed_score_rows"])
    for sha, rows in (("sha-a", SHEET_A), ("sha-b", SHEET_B)):
        for row, no, text, max_text, self_raw, self_points, verified_raw, verified_points in rows:
            con.execute(
                'insert into parsed_score_rows (sha256, kind, sheet, "row", parse_rejected, task_no, '
                "task_no_text, task_text, max_points_text, self_raw, self_points, verified_raw, "
                "verified_points) values (?, 'score_sheet', '打分表', ?, false, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    sha,
                    row,
                    no,
                    "" if no is None else str(no),
                    text,
                    max_text,
                    self_raw,
                    self_points,
                    verified_raw,
                    verified_points,
                ],
            )
    yield con
    con.close()


def _score(con, basis: str | None = None) -> scoring.Scored:
    templates = scoring.Templates(RULES, EXEMPT)
    if basis:
        templates.basis = basis
    sheets = [
        scoring.Sheet(2024, unit, ROLE, f"2024/score_sheets/{unit}.xlsx", "打分表", sha, f"{unit}单位")
        for unit, sha in (("dept-a", "sha-a"), ("dept-b", "sha-b"))
    ]
    return scoring.score(con, sheets, templates)


def _tasks(scored: scoring.Scored, unit: str) -> dict[int, tuple]:
    """task_no → (row, self_points, verified_points, points, score_source, flag) of one unit's sheet."""
    return {
        r["task_no"]: (
            r["row"],
            r["self_points"],
            r["verified_points"],
            r["points"],
            r["score_source"],
            r["flag"],
        )
        for r in scored.tasks.to_pylist()
        if r["unit_id"] == unit
    }


def test_each_row_is_scored_by_the_policy(con):
    a = _tasks(_score(con), "dept-a")
    assert a[1] == (5, 3.0, 2.0, 2.0, "verified", None)
    assert a[2] == (6, 2.0, None, 2.0, "self", None)  # its repeat on row 12 is not counted
    assert a[3] == (7, None, None, None, "self", "not_applicable")
    assert a[4] == (8, None, None, None, "self", "not_applicable")
    assert a[5] == (9, 0.0, None, 0.0, "self", "invalid_score")
    assert a[6] == (10, None, None, 0.0, "self", "blank_score")
    assert a[7] == (11, None, None, 0.0, "self", "invalid_score")
    assert a[8] == (14, 6.0, None, 6.0, "self", None)
    assert a[9] == (16, 5.0, None, 5.0, "self", None)
    assert a[10] == (17, None, None, None, None, "not_applicable")  # exempt: its score is not read
    assert a[11] == (None, None, None, None, None, "not_applicable")  # exempt, and absent
    for no in (12, 13, 14, 15):
        assert a[no] == (None, None, None, 0.0, None, "missing_task")
    assert 99 not in a
    b = _tasks(_score(con), "dept-b")
    assert b[10] == (5, 4.0, None, 4.0, "self", None)
    assert b[11][5] == "not_applicable" and b[1][5] == "missing_task"


def test_rows_are_in_sheet_order_then_the_missing_tasks_in_template_order(con):
    rows = [(r["row"], r["task_no"]) for r in _score(con).tasks.to_pylist() if r["unit_id"] == "dept-a"]
    assert rows == [
        (5, 1), (6, 2), (7, 3), (8, 4), (9, 5), (10, 6), (11, 7), (14, 8), (16, 9), (17, 10),
        (None, 11), (None, 12), (None, 13), (None, 14), (None, 15),
    ]  # fmt: skip
    assert _score(con).tasks.column_names == source_tables()["stg_task_scores"].column_names  # as declared


def test_rows_not_scored_are_counted_per_sheet(con):
    assert _score(con).rejected == {0: 3}  # the repeat of task 2 and the two rows naming no task


def test_what_the_unit_is_told(con):
    issues = _score(con).issues.to_pandas()
    assert set(issues.columns) <= set(source_tables()["stg_score_sheet_issues"].column_names)
    rows = [None if pd.isna(r) else int(r) for r in issues["row"]]
    told = {(row, r.code): (r.severity, r.message) for row, r in zip(rows, issues.itertuples(), strict=True)}
    name = TEMPLATE.name
    assert told[(13, "unknown_task")] == (
        "error",
        f"第13行任务“99”不在{name}打分表模板中，本行未计分。请按模板序号填写。",
    )
    assert told[(15, "unknown_task")] == (
        "error",
        f"第15行任务“其他工作”不在{name}打分表模板中，本行未计分。请按模板序号填写。",
    )
    assert told[(12, "duplicate_task")] == (
        "error",
        "第2项任务在表中重复出现，本行未计分，以第一次出现的为准。",
    )
    assert told[(9, "score_above_max")] == ("error", "第5项任务自评分“9”超过该项满分8分，按0分计。")
    assert told[(16, "max_points_mismatch")] == ("warning", "第9项任务表中分值为5分，模板为8分，按模板计。")
    assert told[(7, "task_not_applicable")] == (
        "warning",
        "第3项任务自评分填写为不适用，该项3分不计入满分；规则库未规定该项不适用，请核实确属不适用。",
    )
    assert told[(None, "task_missing")][0] == "error"
    missing = [r.message for r in issues.itertuples() if r.code == "task_missing" and r.unit == "dept-a单位"]
    assert missing == [
        f"打分表缺少第{n}项任务（{TASK[n].text[:20]}…，8分），该项按0分计。" for n in (12, 13, 14)
    ] + [f"打分表缺少第15项任务（{TASK[15].text[:20]}…，3分），该项按0分计。"]
    # the exempt tasks, the blank and the invalid score are told elsewhere (the parser) or not at all
    assert not {10, 11, 17} & set(rows)
    assert set(issues["unit"]) == {"dept-a单位", "dept-b单位"}
    assert set(issues["file"]) == {"2024/score_sheets/dept-a.xlsx", "2024/score_sheets/dept-b.xlsx"}


@pytest.mark.parametrize(
    ("basis", "task1", "task2"),
    [
        ("verified_else_self", (5, 3.0, 2.0, 2.0, "verified", None), (6, 2.0, None, 2.0, "self", None)),
        ("self", (5, 3.0, 2.0, 3.0, "self", None), (6, 2.0, None, 2.0, "self", None)),
        ("verified", (5, 3.0, 2.0, 2.0, "verified", None), (6, 2.0, None, 0.0, "verified", "blank_score")),
    ],
)
def test_the_score_basis_decides_which_score_counts(con, basis, task1, task2):
    a = _tasks(_score(con, basis), "dept-a")
    assert (a[1], a[2]) == (task1, task2)


def test_no_sheet_to_score(con):
    scored = scoring.score(con, [], scoring.Templates(RULES, EXEMPT))
    assert scored.tasks.num_rows == 0 and scored.issues.num_rows == 0 and scored.rejected == {}


WRITTEN = [
    "不适用",
    "（不适用）",
    "(不适用)",
    "不 适 用",
    "\u3000不适用\u3000",
    "不涉及",
    "（无此项）",
    "不适用。",
    "适用",
    "NA",
    "不适用（说明）",
    "（（不适用））",
    "—",
]


def test_a_word_in_a_score_is_read_as_the_parser_reads_it(con):
    """The parser does not call 不适用 a wrong number (score_sheets.says_not_applicable); the policy then
    takes the same cells, as the parser made them, for a task written as not applicable."""
    con.execute("delete from parsed_score_rows")
    tasks = [n for n in TASK if n not in (10, 11)]  # not the tasks unit a is exempt from
    for row, (no, written) in enumerate(zip(tasks, WRITTEN, strict=True), start=5):
        con.execute(
            'insert into parsed_score_rows (sha256, kind, sheet, "row", task_no, self_raw) '
            "values ('sha-a', 'score_sheet', '打分表', ?, ?, ?)",
            [row, no, clean_cell(written)],
        )
    flags = {
        r["row"]: r["flag"] for r in _score(con).tasks.to_pylist() if r["unit_id"] == "dept-a" and r["row"]
    }
    for row, written in enumerate(WRITTEN, start=5):
        expected = "not_applicable" if says_not_applicable(clean_cell(written)) else "invalid_score"
        assert flags[row] == expected, written
    assert list(flags.values()).count("not_applicable") == 8
