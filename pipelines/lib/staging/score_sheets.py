"""Score sheets: each sheet resolved to a registered unit and role, its rows matched to the
template's tasks and scored (scoring.py); the newest submission of a unit, role and year counts."""

from __future__ import annotations

from collections import namedtuple
from datetime import datetime
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from pipelines.lib.names import Unit, UnitRegistry
from pipelines.lib.records import ERROR, WARNING
from pipelines.lib.rulebook import Rulebook, RulebookError, Task
from pipelines.lib.schema import source_tables
from pipelines.lib.staging.common import Report, StagedTable, file_frame, parse_issues, sheet_meta
from pipelines.lib.staging.scoring import TaskScore, missing_task, not_applicable_task, score_task
from pipelines.lib.text import to_halfwidth

KIND = "score_sheet"
ScoreRow = namedtuple(
    "ScoreRow",
    [
        "sha256",
        "sheet",
        "row",
        "task_no",
        "task_no_text",
        "task_text",
        "max_points_text",
        "self_raw",
        "self_points",
        "verified_raw",
        "verified_points",
    ],
)
SUPERSEDED_REASON = "同一单位、同一角色、同一年度有更晚报送的文件，本文件保留为历史记录，不计分。"
TASK_COLUMNS = source_tables()["stg_task_scores"].column_names
# The task rows' Arrow types, given rather than inferred: inferring a million Python ints costs a pass
# per column. The values are this module's own ints, floats and texts, which these types hold exactly.
_TASK_TYPES: dict[str, pa.DataType] = {"integer": pa.int64(), "double": pa.float64(), "varchar": pa.string()}
TASK_SCHEMA = pa.schema(
    [(c.name, _TASK_TYPES[c.data_type]) for c in source_tables()["stg_task_scores"].columns]
)
TOTAL_COLUMNS = source_tables()["stg_sheet_totals"].column_names


def stage_score_sheets(
    con: duckdb.DuckDBPyConnection,
    rules: Rulebook,
    registry: UnitRegistry,
    years: list[int],
    loaded_at: datetime,
) -> dict[str, StagedTable]:
    stager = _Stager(con, rules, registry, Report(loaded_at))
    # A task row is a tuple in TASK_COLUMNS order: a nation year has a million, and a dict each cost seconds.
    tasks: list[tuple] = []
    totals: list[dict] = []
    files = file_frame(con, KIND)
    for year in years:
        stager.year(files, year, tasks, totals)
    return {
        "stg_task_scores": pa.Table.from_arrays(
            [
                pa.array(values, f.type)
                for values, f in zip(zip(*tasks, strict=True), TASK_SCHEMA, strict=True)
            ],
            schema=TASK_SCHEMA,
        )
        if tasks
        else pd.DataFrame(columns=TASK_COLUMNS),
        "stg_sheet_totals": pd.DataFrame(totals, columns=TOTAL_COLUMNS),
        "stg_score_sheet_files": stager.report.files_frame(),
        "stg_score_sheet_issues": stager.report.issues_frame(),
    }


class _Stager:
    def __init__(self, con, rules: Rulebook, registry: UnitRegistry, report: Report):
        self.con, self.rules, self.registry, self.report = con, rules, registry, report
        self._task_indexes: dict[str, tuple[dict, dict]] = {}
        self._not_applicable = _declared_not_applicable(rules, registry)

    def year(self, files: pd.DataFrame, year: int, tasks: list[tuple], totals: list[dict]) -> None:
        report = self.report
        blocks = []  # one per (file, score sheet inside it)
        f: Any  # a frame row: its fields have the table's column types, which the checker cannot see
        for f in files.itertuples(index=False):
            if f.error_code:
                if f.folder_year == year:
                    report.issue(year, f.file, None, None, None, ERROR, f.error_code, f.error_message)
                    report.file(
                        year, f.file, f.sha256, KIND, 0, 0, "rejected", f.error_message, mtime_ns=f.mtime_ns
                    )
                continue
            for sheet, sm in (sheet_meta(f.meta).get("sheets") or {}).items():
                if (sm.get("year") or f.folder_year) != year:  # the year written inside wins over the folder
                    continue
                blocks.append(
                    {
                        "file": f.file,
                        "sha256": f.sha256,
                        "sheet": sheet,
                        "meta": sm,
                        "folder_year": f.folder_year,
                        "mtime_ns": f.mtime_ns,
                    }
                )
        if not blocks:
            return
        shas = sorted({b["sha256"] for b in blocks})
        # Plain tuples, grouped once: per-block pandas frames cost more than the work itself at scale.
        rows_by_block: dict[tuple[str, str], list[ScoreRow]] = {}
        for rec in map(
            ScoreRow._make,
            self.con.execute(
                f"select {', '.join(ScoreRow._fields)} from parsed_score_rows "
                "where kind = 'score_sheet' and sha256 in (select unnest(?)) order by sha256, sheet, \"row\"",
                [shas],
            ).fetchall(),
        ):
            rows_by_block.setdefault((rec[0], rec[1]), []).append(rec)

        resolved = [self._resolve(year, b, rows_by_block.get((b["sha256"], b["sheet"]))) for b in blocks]
        # Re-submission: the newest file (modification time, then name) for a unit, role and year wins.
        current: dict[tuple[str, str], dict] = {}
        for b in sorted(
            (b for b in resolved if b["unit"] is not None), key=lambda b: (b["mtime_ns"], b["file"])
        ):
            current[(b["unit"].unit_id, b["unit"].role)] = b

        path_of: dict[str, list[str]] = {}
        for b in resolved:
            path_of.setdefault(b["sha256"], [])
            if b["file"] not in path_of[b["sha256"]]:
                path_of[b["sha256"]].append(b["file"])
        report.parse_issues(
            year,
            parse_issues(self.con, shas, KIND),
            path_of,
            {(b["sha256"], b["sheet"]): b["meta"].get("unit_text") for b in resolved},
        )

        for b in resolved:
            unit = b["unit"]
            label = b["meta"].get("unit_text")
            if unit is None:
                report.issue(year, b["file"], b["sheet"], None, label, ERROR, "unknown_unit", b["problem"])
                for r in b["rows"] or []:
                    report.issue(
                        year,
                        b["file"],
                        b["sheet"],
                        r.row,
                        label,
                        ERROR,
                        "row_unit_unknown",
                        "本行所属打分表的被考核单位无法确认（见该文件的单位问题），本行未计分。",
                    )
                report.file(
                    year,
                    b["file"],
                    b["sha256"],
                    KIND,
                    b["n_rows"],
                    b["n_rows"],
                    "rejected",
                    b["problem"],
                    sheet=b["sheet"],
                    mtime_ns=b["mtime_ns"],
                )
                continue
            winner = current[(unit.unit_id, unit.role)]
            if winner is not b:
                report.file(
                    year,
                    b["file"],
                    b["sha256"],
                    KIND,
                    b["n_rows"],
                    0,
                    "superseded",
                    SUPERSEDED_REASON,
                    unit.unit_id,
                    unit.role,
                    b["sheet"],
                    winner["file"],
                    b["mtime_ns"],
                )
                continue
            rejected = self._score(year, b, unit, tasks)
            totals.append(
                {
                    "year": year,
                    "unit_id": unit.unit_id,
                    "role": unit.role,
                    "file": b["file"],
                    "sheet": b["sheet"],
                    "has_verified": bool(b["meta"].get("has_verified")),
                }
            )
            status = "loaded" if rejected == 0 else "partially_loaded"
            if b["n_rows"] and rejected == b["n_rows"]:
                status = "rejected"
            report.file(
                year,
                b["file"],
                b["sha256"],
                KIND,
                b["n_rows"],
                rejected,
                status,
                None,
                unit.unit_id,
                unit.role,
                b["sheet"],
                None,
                b["mtime_ns"],
            )

    def _resolve(self, year: int, b: dict, rows: list[ScoreRow] | None) -> dict:
        """The registered unit a sheet assesses, or the reason it has none."""
        sm = b["meta"]
        label = sm.get("unit_text") or ""
        if sm.get("year") and b["folder_year"] and sm["year"] != b["folder_year"]:
            self.report.issue(
                year,
                b["file"],
                b["sheet"],
                None,
                label,
                WARNING,
                "year_mismatch",
                f"文件内写明年度为{sm['year']}年，但放在{b['folder_year']}年文件夹中；按文件内年度{sm['year']}年计。",
            )
        role = self.rules.role_of_sheet_line(sm.get("role_text"))
        unit: Unit | None = None
        problem = None
        if label:
            res = self.registry.resolve(label, role)
            unit = res.unit
            if unit is None:
                problem = res.message(label)
        else:
            # No 被考核单位 line: fall back to the file name, which the file itself does not contradict.
            unit = self.registry.in_file_name(b["file"], role)
            if unit is None:
                problem = (
                    "打分表中未写明“被考核单位”，文件名也无法对应到登记单位，请补充“被考核单位：××”一行。"
                )
        if unit is not None and role is not None and unit.role != role:
            problem = (
                f"打分表责任人“{sm.get('role_text')}”与被考核单位“{unit.name}”的登记类型"
                f"（{unit.unit_type}）不一致，请核对。"
            )
            unit = None
        if unit is not None and unit.role not in self.rules.templates:
            problem = f"规则中没有“{unit.unit_type}”类单位的打分表模板，无法计分。"
            unit = None
        return {**b, "unit": unit, "problem": problem, "rows": rows, "n_rows": len(rows or ())}

    def _task_index(self, role: str) -> tuple[dict[int, Task], dict[str, Task]]:
        """A role's tasks by number and by the first ten characters of their text (once per role)."""
        index = self._task_indexes.get(role)
        if index is None:
            tasks = self.rules.templates[role].tasks
            index = self._task_indexes[role] = (
                {t.task_no: t for t in tasks},
                {to_halfwidth(t.text)[:10]: t for t in tasks},
            )
        return index

    def _score(self, year: int, b: dict, unit: Unit, out: list[tuple]) -> int:
        """Match the sheet's rows to the template and score them; returns the rows rejected."""
        template = self.rules.templates[unit.role]
        by_no, by_prefix = self._task_index(unit.role)
        label = b["meta"].get("unit_text") or unit.name
        seen: set[int] = set()
        rejected = 0

        def sheet_issue(row: int | None, severity: str, code: str, message: str) -> None:
            self.report.issue(year, b["file"], b["sheet"], row, label, severity, code, message)

        def add(task: Task, scored: TaskScore, row: int | None) -> None:
            for severity, code, message in scored.problems:
                sheet_issue(row, severity, code, message)
            out.append(
                (
                    year,
                    unit.unit_id,
                    unit.role,
                    task.duty_no,
                    task.task_no,
                    task.points,
                    scored.self_points,
                    scored.verified_points,
                    scored.points,
                    scored.score_source,
                    scored.flag,
                    b["file"],
                    b["sheet"],
                    row,
                )
            )

        for r in b["rows"] or []:
            task = by_no.get(r.task_no) if r.task_no is not None else None
            if task is None and r.task_no is None:
                task = by_prefix.get((r.task_text or "")[:10])
            if task is None:
                rejected += 1
                shown = r.task_no_text or (r.task_text or "")[:20]
                sheet_issue(
                    r.row,
                    ERROR,
                    "unknown_task",
                    f"第{r.row}行任务“{shown}”不在{template.name}打分表模板中，本行未计分。请按模板序号填写。",
                )
                continue
            if task.task_no in seen:
                rejected += 1
                sheet_issue(
                    r.row,
                    ERROR,
                    "duplicate_task",
                    f"第{task.task_no}项任务在表中重复出现，本行未计分，以第一次出现的为准。",
                )
                continue
            seen.add(task.task_no)
            if self._does_not_apply(unit, task):
                add(task, not_applicable_task(task), r.row)
            else:
                add(task, score_task(task, r, self.rules.ranking.score_basis), r.row)
        for task in template.tasks:
            if task.task_no not in seen:
                add(
                    task,
                    not_applicable_task(task) if self._does_not_apply(unit, task) else missing_task(task),
                    None,
                )
        return rejected

    def _does_not_apply(self, unit: Unit, task: Task) -> bool:
        units = self._not_applicable.get((unit.role, task.task_no), frozenset())
        return units is None or unit.unit_id in units


def _declared_not_applicable(
    rules: Rulebook, registry: UnitRegistry
) -> dict[tuple[str, int], frozenset[str] | None]:
    """(role, task) → the unit ids the rulebook exempts from it; None = every unit of the role. A name
    the registry does not know is a rulebook error, reported before anything is scored."""
    declared: dict[tuple[str, int], frozenset[str] | None] = {}
    for na in rules.not_applicable:
        key = (na.role, na.task_no)
        if not na.units:
            declared[key] = None
            continue
        ids = set()
        for name in na.units:
            res = registry.resolve(name, na.role)
            if res.unit is None:
                raise RulebookError(f"not_applicable: {res.message(name)}")
            ids.add(res.unit.unit_id)
        before = declared.get(key, frozenset())
        declared[key] = None if before is None else before | ids
    return declared
