"""Score sheets: each sheet resolved to a registered unit and role, its rows matched to the
template's tasks and scored (scoring.py); the newest submission of a unit, role and year counts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from pipelines.lib.names import Unit, UnitRegistry
from pipelines.lib.records import ERROR, WARNING
from pipelines.lib.rulebook import Rulebook, RulebookError
from pipelines.lib.schema import source_tables
from pipelines.lib.staging import scoring
from pipelines.lib.staging.common import Report, StagedTable, file_frame, parse_issues, sheet_meta

KIND = "score_sheet"
SUPERSEDED_REASON = "同一单位、同一角色、同一年度有更晚报送的文件，本文件保留为历史记录，不计分。"
TASK_COLUMNS = source_tables()["stg_task_scores"].column_names
TOTAL_COLUMNS = source_tables()["stg_sheet_totals"].column_names


def stage_score_sheets(
    con: duckdb.DuckDBPyConnection,
    rules: Rulebook,
    registry: UnitRegistry,
    years: list[int],
    loaded_at: datetime,
    only: list[str] | None = None,
) -> dict[str, StagedTable]:
    """The score sheets' tables, made from every current file, or from the files `only` names."""
    stager = _Stager(con, rules, registry, Report(loaded_at))
    tasks: list[pa.Table] = []  # each year's scored rows (scoring.py)
    totals: list[dict] = []
    files = file_frame(con, KIND, only)
    for year in years:
        stager.year(files, year, tasks, totals)
    return {
        "stg_task_scores": pa.concat_tables(tasks) if tasks else pd.DataFrame(columns=TASK_COLUMNS),
        "stg_sheet_totals": pd.DataFrame(totals, columns=TOTAL_COLUMNS),
        "stg_score_sheet_files": stager.report.files_frame(),
        "stg_score_sheet_issues": stager.report.issues_table(),
    }


class _Stager:
    def __init__(self, con, rules: Rulebook, registry: UnitRegistry, report: Report):
        self.con, self.rules, self.registry, self.report = con, rules, registry, report
        self.templates = scoring.Templates(rules, _declared_not_applicable(rules, registry))
        # Read once, not once per year: a nation's files name the same few 责任人 lines over and over.
        self._sheets: dict[str, dict] = {}  # content → the sheets its meta lists
        self._roles: dict[str, str | None] = {}  # 责任人 line → role

    def _sheets_of(self, sha256: str, meta: str | None) -> dict:
        if sha256 not in self._sheets:
            self._sheets[sha256] = sheet_meta(meta).get("sheets") or {}
        return self._sheets[sha256]

    def _role_of(self, line: str | None) -> str | None:
        if not line:
            return None
        if line not in self._roles:
            self._roles[line] = self.rules.role_of_sheet_line(line)
        return self._roles[line]

    def year(self, files: pd.DataFrame, year: int, tasks: list[pa.Table], totals: list[dict]) -> None:
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
            for sheet, sm in self._sheets_of(f.sha256, f.meta).items():
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
        counts = {
            (sha, sheet): n
            for sha, sheet, n in self.con.execute(
                "select sha256, sheet, count(*) from parsed_score_rows "
                "where kind = 'score_sheet' and sha256 in (select unnest(?)) group by all",
                [shas],
            ).fetchall()
        }
        resolved = [self._resolve(year, b, counts.get((b["sha256"], b["sheet"]), 0)) for b in blocks]
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

        # each unit's newest sheet, in the order the sheets were listed
        winners = [
            b for b in resolved if b["unit"] is not None and current[(b["unit"].unit_id, b["unit"].role)] is b
        ]
        scored = scoring.score(
            self.con,
            [
                scoring.Sheet(
                    year,
                    b["unit"].unit_id,
                    b["unit"].role,
                    b["file"],
                    b["sheet"],
                    b["sha256"],
                    b["meta"].get("unit_text") or b["unit"].name,
                )
                for b in winners
            ],
            self.templates,
        )
        tasks.append(scored.tasks)
        report.add_issues(scored.issues)
        place = {(b["unit"].unit_id, b["unit"].role): pos for pos, b in enumerate(winners)}
        unresolved = self._rows_of([b for b in resolved if b["unit"] is None])

        for b in resolved:
            unit = b["unit"]
            label = b["meta"].get("unit_text")
            if unit is None:
                report.issue(year, b["file"], b["sheet"], None, label, ERROR, "unknown_unit", b["problem"])
                for row in unresolved.get((b["sha256"], b["sheet"]), ()):
                    report.issue(
                        year,
                        b["file"],
                        b["sheet"],
                        row,
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
            rejected = scored.rejected.get(place[(unit.unit_id, unit.role)], 0)
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

    def _rows_of(self, blocks: list[dict]) -> dict[tuple[str, str], list[int]]:
        """The parsed rows' numbers of these sheets, in order (rows of a sheet whose unit is unknown)."""
        rows: dict[tuple[str, str], list[int]] = {}
        if not blocks:
            return rows
        for sha, sheet, row in self.con.execute(
            'select sha256, sheet, "row" from parsed_score_rows '
            "where kind = 'score_sheet' and sha256 in (select unnest(?)) order by sha256, sheet, \"row\"",
            [sorted({b["sha256"] for b in blocks})],
        ).fetchall():
            rows.setdefault((sha, sheet), []).append(row)
        return rows

    def _resolve(self, year: int, b: dict, n_rows: int) -> dict:
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
        role = self._role_of(sm.get("role_text"))
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
        return {**b, "unit": unit, "problem": problem, "n_rows": n_rows}


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
