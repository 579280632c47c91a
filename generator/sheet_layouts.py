"""Score-sheet layouts: a unit's year of scores as the sheets of a workbook, laid out like Puyang's
attachment 1 (SPEC §4.1) with the variety and the planted problems offices produce.

A sheet is `SheetData`, independent of the file format: rows of cells, each None or (value, style)
with value str | int | float | date | datetime | Formula | None and style one of `CELL_STYLES`;
merged ranges, column widths and row heights. The writers turn it into .xlsx or .xls.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from generator.draws import half, submission_time
from generator.messiness import (
    blank_score_tasks,
    fullwidth,
    invalid_score,
    misspell,
    name_variant,
    total_error,
)
from generator.plans import TaskScore
from generator.registry import Unit
from generator.vocabulary import CITY, NOTES_SHEET_LINES, ROLE_FILE_LABELS, person
from pipelines.lib.rulebook import Rulebook, Task, Template


@dataclass(frozen=True)
class Formula:
    """A formula cell with the value Excel would have cached (readers take the cached value)."""

    expr: str
    cached: float


@dataclass
class SheetData:
    name: str
    rows: list[list[Any]] = field(default_factory=list)
    merges: list[tuple[int, int, int, int]] = field(default_factory=list)  # r1, c1, r2, c2 (0-based)
    widths: list[float] = field(default_factory=list)
    heights: dict[int, float] = field(default_factory=dict)  # 0-based row → points


# Cell styles the layouts use; each writer gives them borders, alignment, fonts and number formats.
CELL_STYLES = (
    None,
    "text",
    "num",
    "header",
    "title",
    "info",
    "date_iso",
    "date_cn",
    "datetime",
    "date_builtin",
)
DATE_STYLES = {
    "date_iso": "yyyy-mm-dd",
    "date_cn": 'yyyy"年"m"月"d"日"',
    "datetime": "yyyy-mm-dd hh:mm",
    "date_builtin": "m/d/yyyy",
}  # date_builtin is Excel's built-in format 14


def column_letter(j: int) -> str:
    """A, B, … Z, AA, AB … for a 0-based column (a sheet here is never wider than 52 columns)."""
    return chr(65 + j) if j < 26 else f"A{chr(65 + j - 26)}"


def points_text(p: float) -> str:
    """6 for 6.0, 4.5 for 4.5: points as offices type them."""
    return str(int(p)) if float(p).is_integer() else str(p)


def score_sheet(
    unit: Unit,
    template: Template,
    rb: Rulebook,
    year: int,
    scores: list[TaskScore],
    flags: set[str],
    verified: bool,
    rng: random.Random,
    log: list[tuple[str, str]],
    known: set[str],
) -> list[SheetData]:
    """The workbook's sheets, laid out like Puyang's attachment 1 (SPEC §4.1)."""
    fw = "fullwidth_digits" in flags
    # Self-assessed sheets either drop the 核定分 column or leave it empty.
    total_cols = 8 if verified or rng.random() < 0.4 else 7
    ver_col = 6 if total_cols == 8 else None
    rows: list[list[Any]] = []
    merges: list[tuple[int, int, int, int]] = []
    heights: dict[int, float] = {}
    title = template.title.replace("濮阳市", f"{unit.city or CITY}市")
    if not title.startswith(unit.city or CITY):
        title = f"{unit.city or CITY}市{title}"
    if "打分表" not in title:
        title += "及督察情况打分表"
    rows.append([(title, "title")])
    merges.append((0, 0, 0, total_cols - 1))
    heights[0] = 40
    if rng.random() < 0.3:
        rows.append([])
    colon = "：" if rng.random() < 0.85 else ":"
    role_line = rb.role_names.get(unit.role, template.name)
    if rng.random() < 0.1:
        role_line = role_line.replace("（", "(").replace("）", ")")
    if "unit_unknown" in flags:
        unit_text = misspell(unit.place if rng.random() < 0.5 else unit.name, rng, known)
        log.append(("unit_unknown", unit_text))
    elif "unit_alias" in flags:
        unit_text = name_variant(unit, rng)
    else:
        unit_text = unit.place if unit.role != "department" and rng.random() < 0.6 else unit.name
    file_year = year - 1 if "year_mismatch" in flags else year
    year_text = rng.choice(
        (f"年度{colon}{file_year}", f"年度{colon}{file_year}年", f"考核年度{colon}{file_year}年度")
    )
    merge_info = rng.random() < 0.5
    for text in (f"责任人{colon}{role_line}", f"被考核单位{colon}{unit_text}", year_text):
        rows.append([(text, "info")])
        if merge_info:
            merges.append((len(rows) - 1, 0, len(rows) - 1, total_cols - 1))
    self_header = rng.choice(("自评分", "自评得分") if verified else ("得分", "自评分", "自评得分"))
    header = ["主要职责", "序号", "工作任务", "落实单位", "检查标准", self_header]
    if ver_col:
        header.append(rng.choice(("核定分", "督察得分")))
    header.append("备注")
    rows.append([(h, "header") for h in header])
    heights[len(rows) - 1] = 30
    first_task_row = len(rows)

    tasks = list(scores)
    if "task_missing" in flags and len(tasks) > 2:
        dropped = tasks.pop(rng.randrange(1, len(tasks)))
        log.append(("task_missing", str(dropped.task.task_no)))
    if "task_unknown" in flags:
        extra_no = max(t.task.task_no for t in scores) + 1
        last = tasks[-1].task
        extra = Task(
            last.role,
            extra_no,
            last.duty_no,
            last.duty,
            "结合本地实际开展法治建设创新工作，形成经验做法（加分项）",
            "",
            "有创新举措并被上级推广得2分。",
            2.0,
        )
        tasks.append(TaskScore(extra, 2.0, 2.0 if verified else 0.0, "加分项"))
        log.append(("task_unknown", str(extra_no)))
    score_mode = "num"
    if "score_text" in flags:
        score_mode = rng.choice(("unit", "str", "mixed"))
    elif rng.random() < 0.08:
        score_mode = "str"  # numbers stored as text, WPS-style
    blank_tasks: set[int] = set()
    if "score_blank" in flags:
        blank_tasks = blank_score_tasks(rng, tasks)
        log.append(("score_blank", ",".join(map(str, sorted(blank_tasks)))))
    invalid_task = None
    if "score_invalid" in flags:
        invalid_task = rng.choice(tasks).task
        bad = invalid_score(rng, invalid_task.points)
        log.append(("score_invalid", f"{invalid_task.task_no}:{bad}"))
    newline_checks = rng.random() < 0.3
    paren = rng.choice((("（", "分）"), ("(", "分)"), ("（", " 分）")))
    duty_fmt = rng.choice(("{n}.{t}", "{n}．{t}", "{n}、{t}"))
    blank_after: set[int] = set()
    if "blank_rows" in flags:
        duties = sorted({t.task.duty_no for t in tasks})
        blank_after = set(rng.sample(duties, min(len(duties), rng.randint(1, 3))))

    def score_cell(value: float | None, task: Task, which: str) -> Any:
        if value is None:
            return (None, "num")
        if invalid_task is not None and task.task_no == invalid_task.task_no and which == "self":
            return (bad, "num")
        mode = score_mode if score_mode != "mixed" else rng.choice(("num", "unit", "str"))
        if mode == "num":
            return (int(value) if float(value).is_integer() else value, "num")
        text = points_text(value) + ("分" if mode == "unit" else "")
        return (fullwidth(text) if fw else text, "num")

    self_sum = ver_sum = 0.0
    all_numeric = score_mode == "num"
    i = 0
    while i < len(tasks):
        duty_no = tasks[i].task.duty_no
        group = list(_take_while(tasks[i:], duty_no))
        start = len(rows)
        for k, ts in enumerate(group):
            t = ts.task
            points = points_text(t.points)
            task_text = f"{t.text}{paren[0]}{fullwidth(points) if fw else points}{paren[1]}"
            check = t.check_standard.replace("检查方式", "\n检查方式") if newline_checks else t.check_standard
            no_value: Any = t.task_no
            if fw and rng.random() < 0.5:
                no_value = fullwidth(str(t.task_no))
            elif score_mode == "str":
                no_value = str(t.task_no)
            duty_cell = (duty_fmt.format(n=t.duty_no, t=t.duty), "text") if k == 0 else (None, "text")
            self_v = None if t.task_no in blank_tasks else ts.self_points
            ver_v = ts.verified_points if verified else None
            if verified and t.task_no in blank_tasks and rng.random() < 0.3:
                self_v, ver_v = ts.self_points, None
            row = [
                duty_cell,
                (no_value, "num"),
                (task_text, "text"),
                (t.responsible or None, "text"),
                (check or None, "text"),
                score_cell(self_v, t, "self"),
            ]
            if ver_col:
                row.append(score_cell(ver_v, t, "verified"))
            row.append((ts.remark or None, "text"))
            rows.append(row)
            heights[len(rows) - 1] = 15 * min(8, 1 + len(t.check_standard) // 60)
            self_sum += self_v or 0
            ver_sum += ver_v or 0
            if invalid_task is not None and t.task_no == invalid_task.task_no:
                all_numeric = False
                self_sum -= self_v or 0
                self_sum += bad if isinstance(bad, (int, float)) else 0
        if len(group) > 1:
            merges.append((start, 0, len(rows) - 1, 0))
        if duty_no in blank_after:
            rows.append([(None, "text")] * total_cols)
        i += len(group)
    last_task_row = len(rows) - 1
    if "total_missing" not in flags:
        label = rng.choice(("合计", "合计", "总分", "合  计", "总计"))
        delta = 0.0
        if "total_mismatch" in flags:
            delta = total_error(rng)
            log.append(("total_mismatch", f"{delta:+}"))
        use_formula = all_numeric and not delta and rng.random() < 0.3

        def total_cell(col: int, value: float) -> Any:
            value = half(value)
            if use_formula:
                letter = column_letter(col)
                return (
                    Formula(f"SUM({letter}{first_task_row + 1}:{letter}{last_task_row + 1})", value),
                    "num",
                )
            return (int(value) if float(value).is_integer() else value, "num")

        row = [
            (label, "header"),
            (None, "text"),
            (None, "text"),
            (None, "text"),
            (None, "text"),
            total_cell(5, self_sum + delta),
        ]
        if ver_col:
            row.append(total_cell(6, ver_sum + delta) if verified else (None, "num"))
        row.append((None, "text"))
        rows.append(row)
        merges.append((len(rows) - 1, 0, len(rows) - 1, 4))
    if rng.random() < 0.15:  # a sign-off line under the table
        signed = submission_time(rng, year).date()
        sign_off = f"填表人：{person(rng)}　　审核人：{person(rng)}　　填报日期：{signed.year}年{signed.month}月{signed.day}日"
        rows.append([(sign_off, "info")])
        merges.append((len(rows) - 1, 0, len(rows) - 1, total_cols - 1))
    widths: list[float] = [28, 6, 46, 20, 48, 9, *([9] if ver_col else []), 14]
    name = rng.choice(("打分表", "Sheet1", f"{year}年度", "附件1", ROLE_FILE_LABELS[unit.role][:2]))
    sheets = [SheetData(name, rows, merges, widths, heights)]
    if "notes_sheet" in flags:
        notes = SheetData("说明", [[(line, "info")] for line in NOTES_SHEET_LINES], widths=[70])
        sheets.insert(0 if rng.random() < 0.2 else 1, notes)
    if "empty_sheets" in flags:
        sheets += [SheetData("Sheet2"), SheetData("Sheet3")][: rng.randint(1, 2)]
    return sheets


def _take_while(tasks: list[TaskScore], duty_no: int):
    for t in tasks:
        if t.task.duty_no != duty_no:
            return
        yield t
