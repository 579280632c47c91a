"""Parse a score sheet (打分表) workbook laid out like Puyang's attachment 1.

The parser reads what the file says and nothing more: meta lines (责任人, 被考核单位, 年度), the
task rows with their raw and numeric scores, and the 合计 row. Matching the unit against the
registry and the tasks against the rulebook's template happens in staging, so a parse result
depends only on the file's bytes and can be cached by content hash.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from functools import lru_cache
from types import MappingProxyType

from pipelines.lib.excel import Sheet, read_workbook
from pipelines.lib.records import ERROR, WARNING, FileRejected, Issue, ParsedFile
from pipelines.lib.text import clean_cell, folded_cell, parse_number, to_halfwidth

HEADER_SCAN_ROWS = 15
META_LABELS = {
    "role_text": ("责任人", "考核对象", "被考核对象"),
    "unit_text": ("被考核单位", "被考核县区", "被考核县(区)", "单位名称", "考核单位", "填报单位"),
    "year_text": ("年度", "考核年度"),
}
_ANY_META_LABEL = tuple(label for labels in META_LABELS.values() for label in labels)
TOTAL_WORDS = ("合计", "总分", "总计", "得分合计")
# Sign-off lines under the table, often merged across the whole row.
SIGNOFF_WORDS = ("填表人", "审核人", "填报人", "填报日期", "制表", "联系人", "负责人签字", "单位盖章", "签字")
_MAX_POINTS = re.compile(r"[(\[]\s*(\d+(?:\.\d+)?)\s*分\s*[)\]]")
_LEADING_NO = re.compile(r"^\s*(\d{1,3})\s*[.、．]?\s*(?=\D)")
_YEAR = re.compile(r"(20\d{2})")
_INF = float("inf")


# by the row's texts: the header, the title and the meta lines come back in file after file (the
# result is only read)
@lru_cache(maxsize=4096)
def _column_roles(header: tuple[str, ...]) -> Mapping[str, int]:
    """Which column holds what; header text varies between offices."""
    cols: dict[str, int] = {}
    for i, h in enumerate(header):
        h = h.replace(" ", "")
        if not h:
            continue
        if "verified" not in cols and any(w in h for w in ("核定", "督察", "复核", "核查")):
            cols["verified"] = i
        elif "self" not in cols and ("自评" in h or h.startswith("得分") or h in ("分数", "评分")):
            cols["self"] = i
        elif "duty" not in cols and ("主要职责" in h or h == "职责"):
            cols["duty"] = i
        elif "task_no" not in cols and h in ("序号", "编号", "任务序号", "No", "NO", "no"):
            cols["task_no"] = i
        elif "task" not in cols and ("工作任务" in h or h in ("任务", "任务内容", "考核内容")):
            cols["task"] = i
        elif "responsible" not in cols and ("落实单位" in h or "责任单位" in h):
            cols["responsible"] = i
        elif "standard" not in cols and ("检查标准" in h or "评分标准" in h or "考核标准" in h):
            cols["standard"] = i
        elif "remark" not in cols and h in ("备注", "说明"):
            cols["remark"] = i
    return MappingProxyType(cols)


def _is_header(cols: Mapping[str, int]) -> bool:
    return "task" in cols and ("self" in cols or "verified" in cols)


def _meta_from(rows: list[list[str]]) -> dict[str, str]:
    """Read `label：value` lines (in one cell, or a label cell followed by a value cell)."""
    meta: dict[str, str] = {}
    for cells in rows:
        for i, cell in enumerate(cells):
            text = cell.replace(" ", "")
            if not text.startswith(_ANY_META_LABEL):
                continue
            for key, labels in META_LABELS.items():
                if key in meta:
                    continue
                for label in labels:
                    if text.startswith(label):
                        value = text[len(label) :].lstrip(":：")
                        if not value:
                            value = next((c for c in cells[i + 1 :] if c), "")
                        if value:
                            meta[key] = value
                        break
    return meta


def _year_of(meta: dict[str, str], title: str) -> int | None:
    for text in (meta.get("year_text", ""), title):
        m = _YEAR.search(text)
        if m:
            return int(m.group(1))
    return None


# The same task texts come back in every file of a year: each is read once (a bound on memory
# whatever the files hold).
@lru_cache(maxsize=20_000)
def _task_facts(task_text: str) -> tuple[int | None, float | None]:
    """(the number a task's text starts with, the points its text states as "(n分)")."""
    leading, points = _LEADING_NO.match(task_text), _MAX_POINTS.search(task_text)
    return (int(leading.group(1)) if leading else None, float(points.group(1)) if points else None)


def _parse_sheet(sheet: Sheet, issues: list[Issue]) -> tuple[dict, list[dict], int] | None:
    """(sheet meta, task records, rows read) or None when this sheet is not a score sheet."""
    # Rows are read as text up to the header only: what lies above it is the meta, below it the tasks.
    texts: list[list[str]] = []
    header_at = None
    for r, row in enumerate(sheet.rows[:HEADER_SCAN_ROWS]):
        texts.append([folded_cell(v) for v in row])
        cols = _column_roles(tuple(texts[r]))
        if _is_header(cols):
            header_at = r
            break
    if header_at is None:
        return None
    meta = _meta_from(texts[:header_at])
    title = next((c for cells in texts[:header_at] for c in cells if c), "")
    sheet_meta: dict[str, str | int | float | None] = {
        "title": title,
        "role_text": meta.get("role_text"),
        "unit_text": meta.get("unit_text"),
        "year": _year_of(meta, title),
        "has_verified": "verified" in cols,
        "header_row": header_at + 1,
        "total_row": None,
        "total_self": None,
        "total_verified": None,
    }
    records: list[dict] = []
    rows_read = 0
    name = sheet.name
    # a role's column, or -1 when the header has none (a row shorter than the header lacks it too)
    i_no, i_task, i_self, i_verified, i_duty, i_remark = (
        cols.get(key, -1) for key in ("task_no", "task", "self", "verified", "duty", "remark")
    )
    rows = sheet.rows
    total_row = None
    for r in range(header_at + 1, len(rows)):
        row = rows[r]
        n = len(row)
        # the first cell with text; a row with nothing but empty cells is skipped
        first_cell = ""
        filled = False
        for v in row:
            if v is None:
                continue
            text = folded_cell(v)
            if text:
                first_cell, filled = text, True
                break
            if not isinstance(v, str):  # a value whose text is empty still fills its row
                filled = True
        if not filled:
            continue
        row_no = r + 1
        if total_row is not None:
            break  # below 合计 come sign-off lines (填表人、审核人), not tasks
        no_raw = row[i_no] if 0 <= i_no < n else None
        no_text = folded_cell(no_raw)
        task_text = folded_cell(row[i_task]) if 0 <= i_task < n else ""
        # offices pad labels: "合  计"
        first_label = first_cell.replace(" ", "")
        if first_label.startswith(SIGNOFF_WORDS):
            break
        self_raw = row[i_self] if 0 <= i_self < n else None
        verified_raw = row[i_verified] if 0 <= i_verified < n else None
        if (
            first_label.startswith(TOTAL_WORDS)
            or no_text.replace(" ", "").startswith(TOTAL_WORDS)
            or task_text.replace(" ", "").startswith(TOTAL_WORDS)
        ):
            total_row = sheet_meta["total_row"] = row_no
            sheet_meta["total_self"] = parse_number(self_raw)
            sheet_meta["total_verified"] = parse_number(verified_raw)
            continue
        if not task_text and not no_text and self_raw in (None, "") and verified_raw in (None, ""):
            continue  # a row with only the merged duty text or a remark is layout, not data
        rows_read += 1
        task_no = None
        if type(no_raw) is float and no_raw.is_integer() and 0 < no_raw < 1e15:
            task_no = int(no_raw)  # what parse_number makes of its text, without the text
        elif no_text:
            number = parse_number(no_text)
            task_no = int(number) if number is not None and number.is_integer() and number > 0 else None
        leading_no, max_points = _task_facts(task_text)
        if task_no is None:
            task_no = leading_no
        self_text, verified_text = clean_cell(self_raw), clean_cell(verified_raw)
        record = {
            "sheet": name,
            "row": row_no,
            "duty_text": folded_cell(row[i_duty]) if 0 <= i_duty < n else "",
            "task_no": task_no,
            "task_no_text": no_text,
            "task_text": task_text,
            "max_points_text": max_points,
            "self_raw": self_text,
            "self_points": None,
            "verified_raw": verified_text,
            "verified_points": None,
            "remark": clean_cell(row[i_remark]) if 0 <= i_remark < n else "",
        }
        # a score written as a number that is no less than 0 is itself (what _points would find)
        if self_text:
            record["self_points"] = (
                self_raw
                if type(self_raw) is float and 0 <= self_raw < _INF
                else _points(self_raw, self_text, "自评分", task_no, task_text, name, row_no, issues)
            )
        if verified_text:
            record["verified_points"] = (
                verified_raw
                if type(verified_raw) is float and 0 <= verified_raw < _INF
                else _points(verified_raw, verified_text, "核定分", task_no, task_text, name, row_no, issues)
            )
        if not self_text and not verified_text:
            label = _task_label(task_no, task_text)
            issues.append(Issue("score_blank", f"{label}任务未填写得分，按0分计。", WARNING, name, row_no))
        records.append(record)
    return sheet_meta, records, rows_read


def _task_label(task_no: int | None, task_text: str) -> str:
    return f"第{task_no}项" if task_no is not None else f"“{task_text[:12]}”"


def _points(
    raw: object,
    text: str,
    column: str,
    task_no: int | None,
    task_text: str,
    sheet: str,
    row: int,
    issues: list[Issue],
) -> float | None:
    """A filled score cell's points, or None (with its issue when it is no number or negative)."""
    value = parse_number(raw)
    if value is not None and value >= 0:
        return value
    if value is None and says_not_applicable(text):
        return None  # 不适用: the scoring policy decides what it is worth
    label = _task_label(task_no, task_text)
    if value is None:
        issues.append(
            Issue(
                "score_not_number",
                f"{label}任务的{column}“{text}”不是数字，按0分计。请填写数字分值。",
                ERROR,
                sheet,
                row,
            )
        )
    else:
        issues.append(
            Issue(
                "score_negative",
                f"{label}任务的{column}“{text}”为负数，按0分计。请核对。",
                ERROR,
                sheet,
                row,
            )
        )
    return None


# What offices write in a score cell for a task that does not apply to them.
NOT_APPLICABLE_WORDS = ("不适用", "不涉及", "无此项")


def says_not_applicable(text: object) -> bool:
    return bool(text) and to_halfwidth(str(text)).replace(" ", "").strip("()（）") in NOT_APPLICABLE_WORDS


def parse_score_sheet(path: str | os.PathLike[str]) -> ParsedFile:
    try:
        sheets = read_workbook(path)
    except FileRejected as exc:
        return ParsedFile("score_sheet", file_error=Issue(exc.code, exc.message))
    parsed = ParsedFile("score_sheet", meta={"sheets": {}})
    for sheet in sheets:
        found = _parse_sheet(sheet, parsed.issues)
        if found is None:
            continue  # a notes or empty sheet is not an error
        sheet_meta, records, rows_read = found
        parsed.meta["sheets"][sheet.name] = sheet_meta
        parsed.records.extend(records)
        parsed.rows_read += rows_read
        if sheet_meta["total_row"] is not None:
            for kind, column in (("self", "自评分"), ("verified", "核定分")):
                declared = sheet_meta[f"total_{kind}"]
                values = [r[f"{kind}_points"] for r in records if r[f"{kind}_points"] is not None]
                if declared is not None and values and abs(declared - sum(values)) > 0.01:
                    parsed.issues.append(
                        Issue(
                            "total_mismatch",
                            f"合计行{column}为{declared:g}分，但各项{column}相加为{sum(values):g}分，请核对。",
                            WARNING,
                            sheet.name,
                            sheet_meta["total_row"],
                        )
                    )
    if not parsed.meta["sheets"]:
        return ParsedFile("score_sheet", file_error=Issue("header_not_found", _no_header_message(sheets)))
    return parsed


_SHEETS_NAMED = 8


def _no_header_message(sheets: list[Sheet]) -> str:
    if not sheets:
        return (
            "工作簿中没有可读取的工作表（没有工作表，或只有图表、宏表），找不到打分表，无法读取。"
            "请确认报送的是打分表，按模板填写后重新报送。"
        )
    # sheet names in 「」: they are the unit's own words, whatever language they are in
    names = "、".join(f"「{s.name}」" for s in sheets[:_SHEETS_NAMED])
    if len(sheets) > _SHEETS_NAMED:
        names += f"等{len(sheets)}个工作表"
    return (
        f"未在任何工作表（{names}）的前{HEADER_SCAN_ROWS}行中找到打分表表头"
        "（应含“工作任务”和“自评分/得分”或“核定分”列），无法读取。"
        "请确认报送的是打分表，并按模板填写表头后重新报送。"
    )
