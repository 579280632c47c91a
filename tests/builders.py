"""Build small, hand-made data/raw trees for tests: real files, written the way offices lay them out."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import duckdb
from openpyxl import Workbook

from pipelines.lib import pipeline
from pipelines.lib.rulebook import Rulebook, load_rulebook
from pipelines.lib.warehouse import Paths

RULES = load_rulebook()

ROLE_LINES = {
    "party": "县（区）党委主要负责人",
    "government": "县（区）政府主要负责人",
    "department": "市直部门主要负责人",
}


def write_units(raw: Path, rows: list[tuple[str, str, str, str]]) -> Path:
    """rows: (单位名称, 单位类型, 所属县区, 别名)."""
    raw.mkdir(parents=True, exist_ok=True)
    path = raw / "units.csv"
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["单位名称", "单位类型", "所属县区", "别名"])
        w.writerows(rows)
    return path


def city_units(regions: list[str], departments: list[str] = ()) -> list[tuple[str, str, str, str]]:
    rows = []
    for r in regions:
        rows.append((f"中共{r}委员会", "党委", r, f"{r}委;中共{r}委"))
        rows.append((f"{r}人民政府", "政府", r, f"{r}政府"))
    for d in departments:
        rows.append((d, "部门", "市直", ""))
    return rows


def write_score_sheet(
    raw: Path,
    year: int,
    unit_text: str,
    role: str,
    scores: dict[int, object] | None = None,
    *,
    verified: dict[int, object] | None = None,
    name: str | None = None,
    total: object = "auto",
    drop_tasks: tuple[int, ...] = (),
    extra_rows: list[tuple] = (),
    file_year: int | None = None,
    mtime: float | None = None,
    notes_sheet: bool = False,
) -> Path:
    """A Puyang-style sheet. scores: task_no → self score (default: full points). verified likewise
    (adds a 核定分 column). total: 'auto' writes the sum, None leaves no 合计 row, else that value."""
    template = RULES.templates[role]
    folder = raw / str(file_year or year) / "score_sheets"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (name or f"{unit_text}_{role}_{year}.xlsx")
    wb = Workbook()
    ws = wb.active
    ws.title = "打分表"
    ws.append([template.title])
    ws.append([f"责任人：{ROLE_LINES[role]}"])
    ws.append([f"被考核单位：{unit_text}"])
    ws.append([f"年度：{year}"])
    header = ["主要职责", "序号", "工作任务", "落实单位", "检查标准", "自评分"]
    if verified is not None:
        header.append("督察得分")
    header.append("备注")
    ws.append(header)
    first_row_of_duty: dict[int, int] = {}
    self_sum = 0.0
    for t in template.tasks:
        if t.task_no in drop_tasks:
            continue
        s = (scores or {}).get(t.task_no, t.points)
        row = [t.duty, t.task_no, f"{t.text}（{t.points:g}分）", t.responsible, t.check_standard, s]
        if verified is not None:
            row.append(verified.get(t.task_no))
        row.append("")
        ws.append(row)
        if isinstance(s, (int, float)):
            self_sum += s
        if t.duty_no in first_row_of_duty:
            ws.cell(ws.max_row, 1).value = None  # merged below: only the top-left cell keeps the text
        else:
            first_row_of_duty[t.duty_no] = ws.max_row
    for r in extra_rows:
        ws.append(list(r))
    # merge each duty's cells over its tasks, as the Puyang sheet does
    rows_by_duty: dict[int, list[int]] = {}
    r = 6
    for t in template.tasks:
        if t.task_no in drop_tasks:
            continue
        rows_by_duty.setdefault(t.duty_no, []).append(r)
        r += 1
    for rows in rows_by_duty.values():
        if len(rows) > 1:
            ws.merge_cells(start_row=rows[0], start_column=1, end_row=rows[-1], end_column=1)
    if total is not None:
        ws.append(["合计", "", "", "", "", self_sum if total == "auto" else total])
    if notes_sheet:
        wb.create_sheet("填表说明").append(["请按模板填写，分值保留一位小数。"])
    wb.save(path)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def _ledger_csv(
    raw: Path,
    year: int,
    folder: str,
    name: str,
    header: list[str],
    rows: list[tuple],
    *,
    encoding: str = "utf-8-sig",
    pad: bool = True,
) -> Path:
    """A ledger as a CSV under data/raw/<year>/<folder>/; `pad` fills short rows up to the header."""
    path = raw / str(year) / folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding=encoding, newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(list(r) + [""] * (len(header) - len(r)) if pad else r for r in rows)
    return path


def write_meetings(raw: Path, year: int, name: str, rows: list[tuple], *, encoding: str = "gbk") -> Path:
    """rows: (单位, 日期, 会议类型, 主题[, 学时])."""
    return _ledger_csv(
        raw, year, "meetings", name, ["单位", "日期", "会议类型", "主题", "学时"], rows, encoding=encoding
    )


def write_filings(raw: Path, year: int, rows: list[tuple], name: str = "filings.csv") -> Path:
    """rows: (单位, 报告类型, 年度, 报送日期[, 应报日期])."""
    return _ledger_csv(
        raw, year, "filings", name, ["单位", "报告类型", "年度", "报送日期", "应报日期", "备注"], rows
    )


def write_normative(raw: Path, year: int, rows: list[tuple], name: str = "normative.csv") -> Path:
    """rows: (单位, 文件名称, 文号, 印发日期, 报备日期, 是否规范), written as given."""
    return _ledger_csv(
        raw,
        year,
        "normative_docs",
        name,
        ["单位", "文件名称", "文号", "印发日期", "报备日期", "是否规范"],
        rows,
        pad=False,
    )


def losing(role: str, n: float) -> dict[int, float]:
    """Self scores that lose exactly n points: tasks are lowered in template order (task 1 first),
    each down to 0 at most, until n points are gone. E.g. losing('party', 8) → {1: 0, 2: 4}
    (party task 1 is worth 6, task 2 is worth 6: 6 + 2 = 8 lost)."""
    out: dict[int, float] = {}
    left = float(n)
    for t in RULES.templates[role].tasks:
        if left <= 1e-9:
            break
        take = min(t.points, left)
        out[t.task_no] = t.points - take
        left -= take
    if left > 1e-9:
        raise ValueError(f"{role} sheet cannot lose {n} points")
    return out


def full_verified(role: str, overrides: dict[int, object] | None = None) -> dict[int, object]:
    """A 督察得分 column filled for every task (full points unless overridden)."""
    out: dict[int, object] = {t.task_no: t.points for t in RULES.templates[role].tasks}
    out.update(overrides or {})
    return out


def write_corrupt(raw: Path, year: int, name: str, how: str = "random", kind: str = "score_sheets") -> Path:
    """A file that cannot be read. how: 'random' (random bytes with an .xlsx name) or 'truncated'
    (a real workbook cut in half: a zip whose central directory is missing)."""
    folder = raw / str(year) / kind
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if how == "random":
        path.write_bytes(os.urandom(4096))
    elif how == "truncated":
        tmp = folder / f".full_{name}"
        wb = Workbook()
        ws = wb.active
        for i in range(200):
            ws.append([f"第{i}行", i, i * 1.5, "填充内容" * 5])
        wb.save(tmp)
        data = tmp.read_bytes()
        tmp.unlink()
        path.write_bytes(data[: len(data) // 2])
    else:
        raise ValueError(how)
    return path


def write_oversized_workbook(folder: Path, name: str, megabytes: int = 21) -> Path:
    """A file named like a workbook, over the 20 MB workbook limit: a zip header, then filler."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    with open(path, "wb") as fh:
        fh.write(b"PK\x03\x04")
        block = os.urandom(1 << 20)
        for _ in range(megabytes):
            fh.write(block)
    return path


def write_one_hearing_case(raw: Path, east: str, west: str) -> Path:
    """Two regions with full party and government sheets for 2024; `east`'s Party committee heard one
    rule-of-law report, in the first half only: party task 1 (6 points, 2 of them decided by the hearings,
    −1 per half-year without one) is supported up to 5 points. What an upload's check compares with."""
    write_units(raw, city_units([east, west]))
    for region in (east, west):
        write_score_sheet(raw, 2024, region, "party")
        write_score_sheet(raw, 2024, region, "government")
    write_meetings(
        raw, 2024, f"{east}委_会议台账.csv", [(f"{east}委", "2024-03-05", "常委会", "听取法治建设工作汇报")]
    )
    return raw


def ready_to_stage(tmp_path: Path) -> tuple[Paths, Rulebook]:
    """tmp_path/raw listed, parsed and its registry staged, as a run does before staging the kinds;
    the warehouse in tmp_path/marts."""
    paths = Paths(tmp_path / "raw", tmp_path / "marts" / "fazhi.duckdb")
    rules = load_rulebook("default")
    pipeline.scan_raw_files(paths)
    pipeline.parse_raw_files(paths, workers=1)
    pipeline.write_rulebook(paths, rules)
    pipeline.stage_registry(paths, rules)
    return paths, rules


def rows_without_times(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    """A table's rows as sorted text, without its timestamps (when a run staged or parsed them)."""
    kept = [
        name
        for name, kind in con.execute(f"select column_name, column_type from (describe {table})").fetchall()
        if not kind.startswith("TIMESTAMP")
    ]
    return sorted(map(repr, con.execute(f"select {', '.join(kept)} from {table}").fetchall()))
