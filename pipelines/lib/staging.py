"""From the parse cache to the stg_* tables of one year: units resolved, tasks matched, meetings
classified, every row either loaded or rejected with an issue.

The parse cache holds what each file says; staging decides what it means under the current unit
registry and rulebook. Per year, each stg_* table's slice is deleted and inserted again, so
staging a year twice gives the same result.
"""
from __future__ import annotations

import json
import re
from collections import namedtuple
from pathlib import PurePosixPath

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from pipelines.lib.faults import crashpoint
from pipelines.lib.names import Unit, UnitRegistry, unit_id_for
from pipelines.lib.records import ERROR, WARNING
from pipelines.lib.rulebook import Rulebook
from pipelines.lib.text import to_halfwidth

ISSUE_COLUMNS = ["year", "file", "sheet", "row", "unit", "severity", "code", "message"]
ScoreRow = namedtuple("ScoreRow", ["sha256", "sheet", "row", "task_no", "task_no_text", "task_text", "max_points_text",
                                   "self_raw", "self_points", "verified_raw", "verified_points"])

STAGING_SQL = """
create table if not exists stg_units (unit_id varchar, unit_name varchar, unit_type varchar, role varchar,
    region varchar, aliases varchar, source_row integer);
create table if not exists stg_submissions (year integer, file varchar, sha256 varchar, kind varchar,
    sheet varchar, unit_id varchar, role varchar, rows_read integer, rows_loaded integer,
    rows_rejected integer, status varchar, status_reason varchar, superseded_by varchar,
    mtime timestamp, loaded_at timestamp);
create table if not exists stg_task_scores (year integer, unit_id varchar, role varchar, duty_no integer,
    task_no integer, max_points double, self_points double, verified_points double, points double,
    score_source varchar, flag varchar, file varchar, sheet varchar, "row" integer);
create table if not exists stg_sheet_totals (year integer, unit_id varchar, role varchar, file varchar,
    sheet varchar, has_verified boolean);
create table if not exists stg_meetings (year integer, unit_id varchar, role varchar, region varchar,
    date date, quarter integer, half integer, type_text varchar, topic varchar, meeting_types varchar[],
    is_study boolean, hours double, is_duplicate boolean, file varchar, sheet varchar, "row" integer);
create table if not exists stg_filings (year integer, unit_id varchar, role varchar, region varchar,
    report_type varchar, report_type_text varchar, filed_date date, due_date date, file varchar,
    sheet varchar, "row" integer);
create table if not exists stg_normative_docs (year integer, unit_id varchar, role varchar, region varchar,
    title varchar, doc_no varchar, issued_date date, filed_date date, compliant boolean, file varchar,
    sheet varchar, "row" integer);
create table if not exists stg_issues (year integer, file varchar, sheet varchar, "row" integer,
    unit varchar, severity varchar, code varchar, message varchar);
"""
YEAR_TABLES = ("stg_submissions", "stg_task_scores", "stg_sheet_totals", "stg_meetings", "stg_filings",
               "stg_normative_docs", "stg_issues")
IGNORED_MESSAGES = {
    "office_lock_file": "这是Excel/WPS打开文件时生成的临时锁定文件，已忽略。",
    "unknown_location": "文件不在约定目录（data/raw/<年度>/score_sheets|meetings|filings|normative_docs/）中，未读取。请移到对应目录。",
}
SUPERSEDED_REASON = "同一单位、同一角色、同一年度有更晚报送的文件，本文件保留为历史记录，不计分。"


def ensure_staging(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(STAGING_SQL)


# --------------------------------------------------------------------------------------------
# Unit registry
# --------------------------------------------------------------------------------------------

def stage_units(con: duckdb.DuckDBPyConnection, rulebook: Rulebook) -> tuple[UnitRegistry, list[dict]]:
    """The registry from the current units file; problems with it become issues (year None)."""
    ensure_staging(con)
    issues: list[dict] = []
    files = con.execute(
        "select r.path, r.sha256, p.error_code, p.error_message from raw_files r "
        "left join parsed_files p on p.sha256 = r.sha256 and p.kind = 'units' "
        "where r.kind = 'units' order by r.mtime_ns desc, r.path"
    ).fetchall()
    units: list[Unit] = []
    seen: dict[tuple[str, str], int] = {}
    if not files:
        issues.append(_issue(None, "units", None, None, None, ERROR, "units_missing",
                             "未找到单位名册（data/raw/units.csv 或 units.xlsx），所有报送都无法对应到单位。"))
    else:
        path, sha, err_code, err_msg = files[0]
        for other in files[1:]:
            issues.append(_issue(None, other[0], None, None, None, WARNING, "units_duplicate_file",
                                 f"存在多个单位名册，使用最新的“{path}”，本文件未使用。"))
        if err_code:
            issues.append(_issue(None, path, None, None, None, ERROR, err_code, err_msg))
        rows = con.execute(
            "select sheet, \"row\", name, unit_type, region, aliases from parsed_units "
            "where sha256 = ? and not parse_rejected order by sheet nulls first, \"row\"", [sha]
        ).fetchall()
        for sheet, row, name, unit_type, region, aliases in rows:
            role = rulebook.unit_type_roles.get(unit_type)
            if role is None:
                issues.append(_issue(None, path, sheet, row, name, ERROR, "unit_type_unknown",
                                     f"单位“{name}”的单位类型“{unit_type}”不在规则之内（应为"
                                     f"{'/'.join(rulebook.unit_type_roles)}），该单位未登记。"))
                continue
            uid = unit_id_for(unit_type, name)
            if (uid, role) in seen:
                issues.append(_issue(None, path, sheet, row, name, ERROR, "unit_duplicate",
                                     f"单位“{name}”在名册中重复登记（另见第{seen[(uid, role)]}行），本行未使用。"))
                continue
            seen[(uid, role)] = row
            alias_list = tuple(a for a in (aliases or "").split("|") if a)
            units.append(Unit(uid, name, unit_type, role, region or "", alias_list))
        parse_issues = con.execute(
            "select sheet, \"row\", unit, severity, code, message from parsed_issues where sha256 = ? and kind = 'units'",
            [sha]).fetchall()
        for sheet, row, unit, severity, code, message in parse_issues:
            issues.append(_issue(None, path, sheet, row, unit, severity, code, message))
    # Files outside any year folder belong to no year's staging: report them here, once.
    for path, note in con.execute(
            "select path, note from raw_files where kind is null and folder_year is null order by path").fetchall():
        if _year_in_path(path) is None:
            severity = WARNING if note == "office_lock_file" else ERROR
            issues.append(_issue(None, path, None, None, None, severity, note, IGNORED_MESSAGES.get(note, note)))
    frame = pd.DataFrame(
        [(u.unit_id, u.name, u.unit_type, u.role, u.region, "、".join(u.aliases), None) for u in units],
        columns=["unit_id", "unit_name", "unit_type", "role", "region", "aliases", "source_row"],
    )
    con.execute("delete from stg_units")
    if len(frame):
        con.execute("insert into stg_units by name select * from frame")
    return UnitRegistry(units), issues


def load_registry(con: duckdb.DuckDBPyConnection) -> UnitRegistry:
    rows = con.execute("select unit_id, unit_name, unit_type, role, region, aliases from stg_units").fetchall()
    return UnitRegistry([Unit(a, b, c, d, e, tuple(x for x in (f or "").split("、") if x)) for a, b, c, d, e, f in rows])


def _issue(year, file, sheet, row, unit, severity, code, message) -> dict:
    return {"year": year, "file": file, "sheet": sheet, "row": row, "unit": unit,
            "severity": severity, "code": code, "message": message}


# --------------------------------------------------------------------------------------------
# One year
# --------------------------------------------------------------------------------------------

def _file_frame(con: duckdb.DuckDBPyConnection, kind: str) -> pd.DataFrame:
    frame = con.execute(
        "select r.path as file, r.sha256, r.folder_year, r.mtime_ns, p.meta, p.rows_read, p.error_code, "
        "p.error_message from raw_files r join parsed_files p on p.sha256 = r.sha256 and p.kind = r.kind "
        "where r.kind = ? order by r.path", [kind]
    ).df()
    # DuckDB hands a NULL in a text column that also holds text to pandas as NaN, which is truthy:
    # without this, one unreadable file would make every other file of its kind look unreadable too.
    for col in ("meta", "error_code", "error_message"):
        frame[col] = frame[col].astype(object).where(frame[col].notna(), None)
    return frame


def _parse_issues(con, shas: list[str], kind: str) -> pd.DataFrame:
    return con.execute(
        "select sha256, sheet, \"row\", unit, severity, code, message, rejects_row from parsed_issues "
        "where kind = ? and sha256 in (select unnest(?))", [kind, shas]
    ).df()


class YearStager:
    """Builds the stg_* slices of one assessment year."""

    def __init__(self, con: duckdb.DuckDBPyConnection, year: int, rulebook: Rulebook, registry: UnitRegistry,
                 loaded_at):
        self.con, self.year, self.rules, self.registry = con, year, rulebook, registry
        self.loaded_at = loaded_at
        self.issues: list[dict] = []
        self.issue_frames: list[pd.DataFrame] = []
        self.submissions: list[dict] = []
        self._task_indexes: dict[str, tuple[dict, dict]] = {}

    def run(self) -> dict[str, int]:
        ensure_staging(self.con)
        for table in YEAR_TABLES:
            self.con.execute(f"delete from {table} where year = ?", [self.year])
        self._score_sheets()
        for kind in ("meetings", "filings", "normative_docs"):
            self._ledger(kind)
        crashpoint("staging.year")
        self._ignored_files()
        self._write("stg_submissions", pd.DataFrame(self.submissions))
        self._write("stg_issues", pd.concat([pd.DataFrame(self.issues, columns=ISSUE_COLUMNS), *self.issue_frames],
                                            ignore_index=True))
        return {"files": len(self.submissions), "issues": len(self.issues)}

    def _write(self, table: str, frame: pd.DataFrame | pa.Table) -> None:
        if len(frame):
            self.con.register("_frame", frame)
            self.con.execute(f"insert into {table} by name select * from _frame")
            self.con.unregister("_frame")

    def _issue_frame(self, rows: pd.DataFrame, severity: str, code: str, messages: pd.Series) -> None:
        """Row issues for many rows at once (a large ledger year has tens of thousands)."""
        if len(rows):
            self.issue_frames.append(pd.DataFrame({
                "year": self.year, "file": rows["file"], "sheet": rows["sheet"], "row": rows["row"],
                "unit": rows["unit"], "severity": severity, "code": code, "message": messages}))

    def _submission(self, file, sha, kind, rows_read, rows_rejected, status, reason=None, unit_id=None,
                    role=None, sheet=None, superseded_by=None, mtime_ns=None) -> None:
        self.submissions.append({
            "year": self.year, "file": file, "sha256": sha, "kind": kind, "sheet": sheet, "unit_id": unit_id,
            "role": role, "rows_read": rows_read, "rows_loaded": rows_read - rows_rejected,
            "rows_rejected": rows_rejected, "status": status, "status_reason": reason,
            "superseded_by": superseded_by,
            "mtime": pd.Timestamp(mtime_ns, unit="ns") if mtime_ns else None, "loaded_at": self.loaded_at,
        })

    def _add_parse_issues(self, frame: pd.DataFrame, path_of: dict[str, list[str]],
                          unit_of: dict[tuple[str, str], str] | None = None) -> None:
        """Issues the parser found, once per file holding that content; unit_of fills the unit a
        score sheet names when the parser's issue has none."""
        for rec in frame.itertuples(index=False):
            unit = rec.unit if isinstance(rec.unit, str) else (unit_of or {}).get((rec.sha256, rec.sheet))
            for path in path_of.get(rec.sha256, ()):
                self.issues.append(_issue(self.year, path, rec.sheet, _int(rec.row), unit, rec.severity,
                                          rec.code, rec.message))

    # ---- score sheets ------------------------------------------------------------------------
    def _score_sheets(self) -> None:
        files = _file_frame(self.con, "score_sheet")
        blocks = []  # one per (file, score sheet inside it)
        for f in files.itertuples(index=False):
            if f.error_code:
                if f.folder_year == self.year:
                    self.issues.append(_issue(self.year, f.file, None, None, None, ERROR, f.error_code, f.error_message))
                    self._submission(f.file, f.sha256, "score_sheet", 0, 0, "rejected", f.error_message,
                                     mtime_ns=f.mtime_ns)
                continue
            meta = json.loads(f.meta) if f.meta else {}
            for sheet, sm in (meta.get("sheets") or {}).items():
                year = sm.get("year") or f.folder_year
                if year != self.year:
                    continue
                blocks.append({"file": f.file, "sha256": f.sha256, "sheet": sheet, "meta": sm,
                               "folder_year": f.folder_year, "mtime_ns": f.mtime_ns})
        if not blocks:
            return
        shas = sorted({b["sha256"] for b in blocks})
        # Plain tuples, grouped once: per-block pandas frames cost more than the work itself at scale.
        rows_by_block: dict[tuple[str, str], list[ScoreRow]] = {}
        for rec in self.con.execute(
            f"select {', '.join(ScoreRow._fields)} from parsed_score_rows "
            "where kind = 'score_sheet' and sha256 in (select unnest(?)) order by sha256, sheet, \"row\"", [shas]
        ).fetchall():
            rows_by_block.setdefault((rec[0], rec[1]), []).append(ScoreRow(*rec))
        parse_issues = _parse_issues(self.con, shas, "score_sheet")

        resolved = []
        for b in blocks:
            sm = b["meta"]
            label = sm.get("unit_text") or ""
            if sm.get("year") and b["folder_year"] and sm["year"] != b["folder_year"]:
                self.issues.append(_issue(self.year, b["file"], b["sheet"], None, label, WARNING, "year_mismatch",
                                          f"文件内写明年度为{sm['year']}年，但放在{b['folder_year']}年文件夹中；按文件内年度{sm['year']}年计。"))
            role = self.rules.role_of_sheet_line(sm.get("role_text"))
            unit, problem_msg = None, None
            if label:
                res = self.registry.resolve(label, role)
                unit = res.unit
                if unit is None:
                    problem_msg = res.message(label)
            else:
                # No 被考核单位 line: fall back to the file name, which the file itself does not contradict.
                for part in re.split(r"[_\-\s()（）]+", PurePosixPath(b["file"]).stem):
                    res = self.registry.resolve(part, role) if part else None
                    if res is not None and res.unit is not None:
                        unit = res.unit
                        break
                if unit is None:
                    problem_msg = "打分表中未写明“被考核单位”，文件名也无法对应到登记单位，请补充“被考核单位：××”一行。"
            if unit is not None and role is not None and unit.role != role:
                problem_msg = (f"打分表责任人“{sm.get('role_text')}”与被考核单位“{unit.name}”的登记类型"
                               f"（{unit.unit_type}）不一致，请核对。")
                unit = None
            if unit is not None and unit.role not in self.rules.templates:
                problem_msg = f"规则中没有“{unit.unit_type}”类单位的打分表模板，无法计分。"
                unit = None
            block_rows = rows_by_block.get((b["sha256"], b["sheet"]))
            n_rows = 0 if block_rows is None else len(block_rows)
            b.update(unit=unit, problem=problem_msg, rows=block_rows, n_rows=n_rows)
            resolved.append(b)

        # Re-submission: the newest file (modification time, then name) for a unit, role and year wins.
        current: dict[tuple[str, str], dict] = {}
        for b in sorted((b for b in resolved if b["unit"] is not None), key=lambda b: (b["mtime_ns"], b["file"])):
            current[(b["unit"].unit_id, b["unit"].role)] = b

        path_of = {}
        for b in resolved:
            path_of.setdefault(b["sha256"], [])
            if b["file"] not in path_of[b["sha256"]]:
                path_of[b["sha256"]].append(b["file"])
        self._add_parse_issues(parse_issues, path_of,
                               {(b["sha256"], b["sheet"]): b["meta"].get("unit_text") for b in resolved})

        task_frames, totals = [], []
        for b in resolved:
            unit = b["unit"]
            if unit is None:
                self.issues.append(_issue(self.year, b["file"], b["sheet"], None, b["meta"].get("unit_text"),
                                          ERROR, "unknown_unit", b["problem"]))
                for r in b["rows"] or []:
                    self.issues.append(_issue(self.year, b["file"], b["sheet"], r.row, b["meta"].get("unit_text"),
                                              ERROR, "row_unit_unknown", "本行所属打分表的被考核单位无法确认（见该文件的单位问题），本行未计分。"))
                self._submission(b["file"], b["sha256"], "score_sheet", b["n_rows"], b["n_rows"], "rejected",
                                 b["problem"], sheet=b["sheet"], mtime_ns=b["mtime_ns"])
                continue
            winner = current[(unit.unit_id, unit.role)]
            if winner is not b:
                self._submission(b["file"], b["sha256"], "score_sheet", b["n_rows"], 0, "superseded",
                                 SUPERSEDED_REASON, unit.unit_id, unit.role, b["sheet"], winner["file"], b["mtime_ns"])
                continue
            frame, rejected = self._match_tasks(b, unit)
            task_frames.append(frame)
            totals.append({"year": self.year, "unit_id": unit.unit_id, "role": unit.role, "file": b["file"],
                           "sheet": b["sheet"], "has_verified": bool(b["meta"].get("has_verified"))})
            status = "loaded" if rejected == 0 else "partially_loaded"
            if b["n_rows"] and rejected == b["n_rows"]:
                status = "rejected"
            self._submission(b["file"], b["sha256"], "score_sheet", b["n_rows"], rejected, status, None,
                             unit.unit_id, unit.role, b["sheet"], None, b["mtime_ns"])
        if task_frames:
            # Arrow builds a table from a million row dicts in half the time pandas takes.
            self._write("stg_task_scores", pa.Table.from_pylist([t for frame in task_frames for t in frame]))
        self._write("stg_sheet_totals", pd.DataFrame(totals))

    def _task_index(self, role: str) -> tuple[dict, dict]:
        """A role's tasks by number and by the first ten characters of their text (once per role)."""
        index = self._task_indexes.get(role)
        if index is None:
            tasks = self.rules.templates[role].tasks
            index = self._task_indexes[role] = ({t.task_no: t for t in tasks},
                                                {to_halfwidth(t.text)[:10]: t for t in tasks})
        return index

    def _match_tasks(self, b: dict, unit: Unit) -> tuple[list[dict], int]:
        template = self.rules.templates[unit.role]
        by_no, by_prefix = self._task_index(unit.role)
        basis = self.rules.ranking.score_basis
        label = b["meta"].get("unit_text") or unit.name
        out, seen, rejected = [], set(), 0
        for r in b["rows"] or []:
            row_no = r.row
            task = by_no.get(r.task_no) if r.task_no is not None else None
            if task is None and r.task_no is None:
                task = by_prefix.get((r.task_text or "")[:10])
            if task is None:
                rejected += 1
                shown = r.task_no_text or (r.task_text or "")[:20]
                self.issues.append(_issue(self.year, b["file"], b["sheet"], row_no, label, ERROR, "unknown_task",
                                          f"第{row_no}行任务“{shown}”不在{template.name}打分表模板中，本行未计分。请按模板序号填写。"))
                continue
            if task.task_no in seen:
                rejected += 1
                self.issues.append(_issue(self.year, b["file"], b["sheet"], row_no, label, ERROR, "duplicate_task",
                                          f"第{task.task_no}项任务在表中重复出现，本行未计分，以第一次出现的为准。"))
                continue
            seen.add(task.task_no)
            if r.max_points_text is not None and abs(r.max_points_text - task.points) > 1e-9:
                self.issues.append(_issue(self.year, b["file"], b["sheet"], row_no, label, WARNING, "max_points_mismatch",
                                          f"第{task.task_no}项任务表中分值为{r.max_points_text:g}分，模板为{task.points:g}分，按模板计。"))
            values, above_max = {}, set()
            for kind, column in (("self", "自评分"), ("verified", "核定分")):
                v = getattr(r, f"{kind}_points")
                if v is not None and v > task.points + 1e-9:
                    self.issues.append(_issue(self.year, b["file"], b["sheet"], row_no, label, ERROR, "score_above_max",
                                              f"第{task.task_no}项任务{column}“{getattr(r, f'{kind}_raw')}”超过该项满分{task.points:g}分，按0分计。"))
                    v = 0.0
                    above_max.add(kind)
                values[kind] = v
            self_filled = bool(r.self_raw)
            verified_filled = bool(r.verified_raw)
            if basis == "self":
                use_verified = False
            elif basis == "verified":
                use_verified = True
            else:
                use_verified = verified_filled
            chosen_filled = verified_filled if use_verified else self_filled
            points = values["verified" if use_verified else "self"]
            flag = None
            if not chosen_filled:
                flag = "blank_score"
            elif points is None or ("verified" if use_verified else "self") in above_max:
                flag = "invalid_score"  # not a number, negative, or above the task's max: 0 points
            out.append({
                "year": self.year, "unit_id": unit.unit_id, "role": unit.role, "duty_no": task.duty_no,
                "task_no": task.task_no, "max_points": task.points, "self_points": values["self"],
                "verified_points": values["verified"], "points": points or 0.0,
                "score_source": "verified" if use_verified else "self", "flag": flag,
                "file": b["file"], "sheet": b["sheet"], "row": row_no,
            })
        for task in template.tasks:
            if task.task_no not in seen:
                self.issues.append(_issue(self.year, b["file"], b["sheet"], None, label, ERROR, "task_missing",
                                          f"打分表缺少第{task.task_no}项任务（{task.text[:20]}…，{task.points:g}分），该项按0分计。"))
                out.append({
                    "year": self.year, "unit_id": unit.unit_id, "role": unit.role, "duty_no": task.duty_no,
                    "task_no": task.task_no, "max_points": task.points, "self_points": None,
                    "verified_points": None, "points": 0.0, "score_source": None, "flag": "missing_task",
                    "file": b["file"], "sheet": b["sheet"], "row": None,
                })
        return out, rejected

    # ---- ledgers -----------------------------------------------------------------------------
    def _ledger(self, kind: str) -> None:
        files = _file_frame(self.con, kind)
        if files.empty:
            return
        table = {"meetings": "parsed_meetings", "filings": "parsed_filings",
                 "normative_docs": "parsed_normative_docs"}[kind]
        date_col = {"meetings": "date", "filings": None, "normative_docs": "issued_date"}[kind]
        # The rows of this year: by their date (meetings, documents) or 年度 column (filings), else by
        # the folder. Files of this year are accounted for whole, whichever year their rows belong to.
        if date_col:
            row_year = f"coalesce(year(t.{date_col}), r.folder_year)"
        else:
            row_year = "coalesce(t.year, r.folder_year)"
        # Only the columns staging uses: at nation scale this frame holds millions of meeting rows.
        unused = {"meetings": ", host, led_by_principal, attendees"}.get(kind, "")
        rows = self.con.execute(
            f"select r.path as file, r.folder_year, {row_year} as row_year, t.* exclude (sha256, kind{unused}) "
            f"from raw_files r join {table} t on t.sha256 = r.sha256 and t.kind = r.kind "
            f"where r.kind = ? and (r.folder_year = ? or {row_year} = ?)", [kind, self.year, self.year]
        ).df()
        for col in ("file", "sheet"):  # repeated on every row of a file
            rows[col] = rows[col].astype("category")
        mine = files[files["folder_year"] == self.year]
        for f in mine.itertuples(index=False):
            if f.error_code:
                self.issues.append(_issue(self.year, f.file, None, None, None, ERROR, f.error_code, f.error_message))
                self._submission(f.file, f.sha256, kind, 0, 0, "rejected", f.error_message, mtime_ns=f.mtime_ns)
        path_of: dict[str, list[str]] = {}
        for f in mine.itertuples(index=False):
            path_of.setdefault(f.sha256, []).append(f.file)
        self._add_parse_issues(_parse_issues(self.con, list(path_of), kind), path_of)
        if rows.empty:
            for f in mine.itertuples(index=False):
                if not f.error_code:
                    self._submission(f.file, f.sha256, kind, 0, 0, "loaded", "文件中没有数据行。", mtime_ns=f.mtime_ns)
            return

        # Resolve each distinct unit text once.
        res = {u: self.registry.resolve(u) for u in rows["unit"].dropna().unique()}
        rows["unit_id"] = rows["unit"].map({u: r.unit.unit_id for u, r in res.items() if r.unit})
        unknown = rows["unit_id"].isna() & ~rows["parse_rejected"]
        for r in rows[unknown & (rows["folder_year"] == self.year)].itertuples(index=False):
            msg = res[r.unit].message(r.unit) if r.unit in res else "本行未填写单位名称。"
            self.issues.append(_issue(self.year, r.file, r.sheet, _int(r.row), r.unit, ERROR, "unknown_unit", msg))
        rows["rejected"] = rows["parse_rejected"] | unknown

        if kind == "meetings":
            extra_rejected = self._stage_meetings(rows)
        elif kind == "filings":
            extra_rejected = self._stage_filings(rows)
        else:
            extra_rejected = self._stage_normative(rows)
        rows.loc[extra_rejected, "rejected"] = True

        own = rows[rows["folder_year"] == self.year]
        counts = {file: (int(n), int(rej)) for file, n, rej in
                  own.groupby("file").agg(n=("row", "size"), rej=("rejected", "sum")).itertuples()}
        units_of = own.dropna(subset=["unit_id"]).groupby("file")["unit_id"].unique().to_dict()
        for f in mine.itertuples(index=False):
            if f.error_code:
                continue
            n, rej = counts.get(f.file, (0, 0))
            status = "loaded" if rej == 0 else ("rejected" if rej == n and n else "partially_loaded")
            units = units_of.get(f.file, ())
            self._submission(f.file, f.sha256, kind, n, rej, status, None,
                             units[0] if len(units) == 1 else None, None, None, None, f.mtime_ns)

    def _unit_columns(self, frame: pd.DataFrame) -> pd.DataFrame:
        units = [self.registry.by_id[u] for u in frame["unit_id"].unique()]
        frame["role"] = frame["unit_id"].map({u.unit_id: u.role for u in units})
        frame["region"] = frame["unit_id"].map({u.unit_id: u.region for u in units})
        return frame

    def _stage_meetings(self, rows: pd.DataFrame) -> pd.Series:
        ok = rows[~rows["rejected"] & (rows["row_year"] == self.year)].copy()
        extra = pd.Series(False, index=rows.index)
        if ok.empty:
            return extra
        ok["type_text"] = ok["type_text"].fillna("")
        ok["topic"] = ok["topic"].fillna("")
        # Classified once per distinct (type, topic); millions of rows share a few thousand pairs.
        codes, pairs = pd.factorize(ok["type_text"] + "\x1f" + ok["topic"])
        kinds = [self.rules.classify_meeting(*pair.split("\x1f", 1)) for pair in pairs]
        study_types = {m.id for m in self.rules.meeting_types.values() if m.study}
        ok["is_study"] = np.array([any(t in study_types for t in ts) for ts in kinds], dtype=bool)[codes]
        unclassified = pd.Series(np.array([not ts for ts in kinds], dtype=bool)[codes], index=ok.index)
        labelled = [ts or ["other"] for ts in kinds]
        ok["meeting_types"] = [labelled[c] for c in codes.tolist()]
        own = ok["folder_year"] == self.year  # rows dated here from another year's folder: their file reports them
        other = own & unclassified
        self._issue_frame(ok[other], WARNING, "meeting_type_other",
                          "会议“" + ok.loc[other, "type_text"] + " " + ok.loc[other, "topic"]
                          + "”无法归入任何规定的会议/学法类型，已记为“其他”，不计入履职频次。")
        ok["is_duplicate"] = ok.duplicated(subset=["unit_id", "date", "type_text", "topic"], keep="first")
        dup = own & ok["is_duplicate"]
        shown = ok.loc[dup, "topic"].where(ok.loc[dup, "topic"] != "", ok.loc[dup, "type_text"])
        self._issue_frame(ok[dup], WARNING, "duplicate_meeting",
                          pd.to_datetime(ok.loc[dup, "date"]).dt.strftime("%Y-%m-%d") + "“" + shown
                          + "”与已登记的会议重复（同一单位、日期、类型、主题），只计一次。")
        dated_elsewhere = rows[~rows["rejected"] & (rows["folder_year"] == self.year) & (rows["row_year"] != self.year)]
        for r in dated_elsewhere.itertuples(index=False):
            self.issues.append(_issue(self.year, r.file, r.sheet, _int(r.row), r.unit, WARNING, "date_outside_year",
                                      f"会议日期{r.date:%Y-%m-%d}不在{self.year}年度内，计入{int(r.row_year)}年度。"))
        ok["date"] = pd.to_datetime(ok["date"])
        ok["quarter"] = ok["date"].dt.quarter
        ok["half"] = (ok["quarter"] + 1) // 2
        ok["year"] = self.year
        self._unit_columns(ok)
        self._write("stg_meetings", ok[["year", "unit_id", "role", "region", "date", "quarter", "half", "type_text",
                                        "topic", "meeting_types", "is_study", "hours", "is_duplicate", "file",
                                        "sheet", "row"]])
        return extra

    def _stage_filings(self, rows: pd.DataFrame) -> pd.Series:
        extra = pd.Series(False, index=rows.index)
        report = {t: self.rules.classify_report(t) for t in rows["report_type_text"].dropna().unique()}
        rows["report_type"] = rows["report_type_text"].map(lambda t: report.get(t))
        unknown = ~rows["rejected"] & rows["report_type"].isna()
        for r in rows[unknown & (rows["folder_year"] == self.year)].itertuples(index=False):
            names = "、".join(f.name for f in self.rules.filing_requirements.values())
            self.issues.append(_issue(self.year, r.file, r.sheet, _int(r.row), r.unit, ERROR, "report_type_unknown",
                                      f"报告类型“{r.report_type_text}”无法对应到规定的报告（{names}），本行未计入。"))
        extra |= unknown
        ok = rows[~rows["rejected"] & ~unknown & (rows["row_year"] == self.year)].copy()
        if ok.empty:
            return extra
        ok["year"] = self.year
        self._unit_columns(ok)
        self._write("stg_filings", ok[["year", "unit_id", "role", "region", "report_type", "report_type_text",
                                       "filed_date", "due_date", "file", "sheet", "row"]])
        return extra

    def _stage_normative(self, rows: pd.DataFrame) -> pd.Series:
        extra = pd.Series(False, index=rows.index)
        ok = rows[~rows["rejected"] & (rows["row_year"] == self.year)].copy()
        if ok.empty:
            return extra
        ok["year"] = self.year
        self._unit_columns(ok)
        self._write("stg_normative_docs", ok[["year", "unit_id", "role", "region", "title", "doc_no", "issued_date",
                                              "filed_date", "compliant", "file", "sheet", "row"]])
        return extra

    def _ignored_files(self) -> None:
        ignored = self.con.execute(
            "select path, sha256, note, mtime_ns, folder_year from raw_files where kind is null").fetchall()
        for path, sha, note, mtime_ns, folder_year in ignored:
            year = folder_year or _year_in_path(path)
            if year != self.year:
                continue
            severity = WARNING if note == "office_lock_file" else ERROR
            self.issues.append(_issue(self.year, path, None, None, None, severity, note, IGNORED_MESSAGES.get(note, note)))
            self._submission(path, sha, None, 0, 0, "ignored", IGNORED_MESSAGES.get(note, note), mtime_ns=mtime_ns)


def _year_in_path(path: str) -> int | None:
    m = re.match(r"^((?:19|20)\d{2})/", path)
    return int(m.group(1)) if m else None


def _int(v) -> int | None:
    if v is None:
        return None
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    return int(v)
