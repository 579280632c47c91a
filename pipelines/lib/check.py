"""Check a submission before it is stored, and store it without ever overwriting one.

A check is the ingestion's own work on one file: the same parsers in the same bounded child processes
(`parsing.parse_one` through `isolation.map_isolated`), then the same staging (`pipeline.STAGERS`) in
an in-memory work database holding only this file, against the unit registry and the evidence of the
PUBLISHED warehouse (read-only, so a check never waits for the pipeline's run lock). What it says a
file will count as is what the next run will make of it.

Storing writes the checked bytes under `data/raw/<year>/<kind folder>/` with a name made from the
original one (never a path: no separator, no leading dot, no Windows device name) plus a time stamp,
linked into place atomically so that an earlier submission of the same name is never replaced.
The background recomputation is `fazhi run` in a detached process (`start_recompute`).
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import tempfile
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from pipelines.lib import ingest, parsing
from pipelines.lib.isolation import map_isolated
from pipelines.lib.names import Unit, UnitRegistry
from pipelines.lib.records import ERROR, Issue, ParsedFile
from pipelines.lib.rulebook import Rulebook, RulebookError, load_rulebook
from pipelines.lib.staging.common import int_or_none
from pipelines.lib.staging.ledgers import DATE_COLUMN
from pipelines.lib.warehouse import Paths, one_row, read_only, utc_now

ROOT = Path(__file__).resolve().parents[2]
SCORE_SHEET = "score_sheet"
KIND_UNKNOWN = "kind_unknown"  # the check's own code: no parser could read the file as its kind
_CRASHES = ("crash", "timeout", "exception")


# -- kinds ---------------------------------------------------------------------------------------


def upload_kinds() -> list[str]:
    """The kinds a submission may be: every parser's, except the registry (not a unit's submission).
    Read at each call, so a kind added to the ingestion is offered without a change here."""
    return [k for k in parsing.PARSERS if k != "units" and folder_of(k) is not None]


def folder_of(kind: str) -> str | None:
    """The folder a kind is stored in: its ASCII name in the input convention (score_sheets …)."""
    names = [f for f, k in ingest.KIND_FOLDERS.items() if k == kind]
    return next((f for f in names if f.isascii()), names[0] if names else None)


def kind_name(kind: str | None) -> str:
    """A kind's Chinese word: its Chinese folder name (打分表, 会议台账 …), else its code."""
    if kind is None:
        return "未识别"
    return next((f for f, k in ingest.KIND_FOLDERS.items() if k == kind and not f.isascii()), kind)


def kind_from_text(text: str) -> str | None:
    """A kind named as a user would: its code (score_sheet) or any of its folder names (打分表)."""
    if text in upload_kinds():
        return text
    kind = ingest.KIND_FOLDERS.get(text)
    return kind if kind in upload_kinds() else None


# -- what a check compares with ------------------------------------------------------------------


@dataclass
class Reference:
    """The published registry, the rulebook in force, and where the published evidence is."""

    warehouse: Path
    units: list[Unit]
    rules: Rulebook
    published_at: datetime | None
    has_evidence: bool  # marts.task_evidence is published

    @classmethod
    def load(cls, warehouse: Path, rulebook: str | None = None) -> Reference:
        """Raises FileNotFoundError when nothing is published yet, RulebookError for a bad rulebook."""
        if not warehouse.exists():
            raise FileNotFoundError(str(warehouse))
        with read_only(warehouse) as con:
            rows = con.execute(
                "select unit_id, unit_name, unit_type, role, region, aliases from marts.units"
            ).fetchall()
            pub = con.execute("select * from marts.publication").df()
            has_evidence = bool(
                one_row(
                    con,
                    "select count(*) from duckdb_tables() where schema_name = 'marts' "
                    "and table_name = 'task_evidence'",
                )[0]
            )
        info = pub.iloc[0].to_dict() if len(pub) else {}
        units = [
            Unit(a, b, c, d, e, tuple(x for x in (f or "").split("、") if x)) for a, b, c, d, e, f in rows
        ]
        return cls(
            warehouse,
            units,
            _rulebook(rulebook, info.get("rulebook_id")),
            info.get("published_at"),
            has_evidence,
        )

    def registry(self, region: str | None = None) -> UnitRegistry:
        return UnitRegistry([u for u in self.units if region is None or u.region == region])


def _rulebook(name: str | None, published_id: str | None) -> Rulebook:
    """The rulebook named, else the one the environment sets, else the one the marts were built with."""
    chosen = name or os.environ.get("FAZHI_RULEBOOK")
    if chosen:
        return load_rulebook(chosen)
    if published_id:
        with contextlib.suppress(RulebookError):
            return load_rulebook(published_id)
    return load_rulebook("default")


# -- the result ----------------------------------------------------------------------------------


@dataclass
class UnitSeen:
    text: str  # as the file writes it
    unit: Unit | None
    rows: int = 0  # rows naming it (ledgers); 0 for a score sheet
    problem: str | None = None  # why it is not a registered unit (Chinese, with the closest names)


@dataclass
class SheetTotal:
    sheet: str
    declared_self: float | None  # the sheet's own 合计 row
    declared_verified: float | None
    counted: float  # what the tasks count under the rulebook
    max_total: float


@dataclass
class FileCheck:
    original_name: str
    name: str  # the safe name it is checked and stored under
    sha256: str
    size: int
    kind: str | None = None
    kind_detected: bool = False
    refused: Issue | None = None  # the whole file cannot be used (same code as the ingestion's)
    year: int | None = None
    year_source: str | None = None  # "file" | "given"
    units: list[UnitSeen] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)
    rows_read: int = 0
    rows_rejected: int = 0
    totals: list[SheetTotal] = field(default_factory=list)
    contradictions: list[str] = field(default_factory=list)
    evidence_note: str | None = None  # why the records were not compared, when they were not
    replaces: list[str] = field(default_factory=list)  # earlier files of the same unit, role and year
    issues: list[Issue] = field(default_factory=list)
    task_rows: Any = field(default=None, repr=False)  # a score sheet's staged tasks (stg_task_scores)

    @property
    def rows_usable(self) -> int:
        return self.rows_read - self.rows_rejected

    @property
    def errors(self) -> int:
        return sum(1 for i in self.issues if i.severity == ERROR) + (1 if self.refused else 0)

    def store_problem(self, region: str | None = None) -> str | None:
        """Why this file may not be stored (by a viewer of `region`, if scoped), or None."""
        if self.refused is not None:
            return f"文件整体无法读取，不能存入：{self.refused.message}"
        if self.kind is None:
            return "未能确定文件类别，请选择类别后重新检查。"
        if self.year is None:
            return "文件中没有写明年度，请选择年度后重新检查。"
        if region is not None:
            mine = [u for u in self.units if u.unit is not None and u.unit.region == region]
            if not self.units or len(mine) != len(self.units):
                others = "、".join(
                    f"{u.unit.name}（{u.unit.region}）" if u.unit else f"“{u.text}”（名册中没有）"
                    for u in self.units
                    if u not in mine
                )
                return (
                    f"县区联络员只能存入本县区（{region}）单位的材料；本文件涉及"
                    f"{others or '无法确认的单位'}，不能存入。可以检查，但请交由法治办存入。"
                )
        return None


# -- checking ------------------------------------------------------------------------------------


def check_file(
    path: Path,
    reference: Reference,
    *,
    original_name: str | None = None,
    kind: str | None = None,
    year: int | None = None,
    region: str | None = None,
    workers: int = 2,
) -> FileCheck:
    """What `path` will count as once stored. kind/year: chosen by the user (None: from the file).
    region: the viewer's region, for a county liaison (closest names and records only from it)."""
    data_hash, size = parsing.file_sha256(path), path.stat().st_size
    original = original_name or path.name
    result = FileCheck(original, safe_name(original), data_hash, size)
    if kind is not None and kind not in upload_kinds():
        raise ValueError(f"unknown kind {kind!r}")
    result.kind, result.kind_detected, parsed = _parse(path, kind, workers)
    if parsed.file_error is not None or result.kind is None:
        result.refused = parsed.file_error
        return result
    result.year, result.year_source = (year, "given") if year else (_year_inside(result.kind, parsed), "file")
    if result.year is None:  # not staged (staging needs the year); what the parser and registry say
        result.year_source = None
        result.rows_read, result.rows_rejected = parsed.rows_read, len(set(parsed.rejected_rows))
        result.issues = list(parsed.issues)
        if result.kind != SCORE_SHEET:
            result.units = _ledger_units(parsed, reference.registry(), reference.registry(region))
        return result
    _stage(result, parsed, reference, region)
    if result.kind == SCORE_SHEET:
        _compare_with_records(result, reference, region)
        _replaced(result, reference, region)
    return result


def _outcome(outcome: Any, kind: str) -> ParsedFile:
    if outcome.ok:
        return outcome.value
    # The reader's own words never reach the user: the ingestion's sentence for a crash or timeout.
    return ParsedFile(kind, file_error=ingest._crash_issue(outcome.error_kind))


def _parse(path: Path, kind: str | None, workers: int) -> tuple[str | None, bool, ParsedFile]:
    """(kind, detected?, what its parser made of the file). Detection: the score sheet's parser first
    (its header, 工作任务 with 自评分/核定分, is the most specific); a file it cannot read goes to every
    other kind's parser, and the one that reads the most usable rows wins (ties: the ingestion's order).
    A crash or timeout ends detection: the same bytes would take any reader down."""
    if kind is not None:
        return kind, False, _outcome(map_isolated(parsing.parse_one, [(str(path), kind)], workers=1)[0], kind)
    kinds = upload_kinds()
    first = _outcome(map_isolated(parsing.parse_one, [(str(path), kinds[0])], workers=1)[0], kinds[0])
    tried = [(kinds[0], first)]
    crashed = first.file_error is not None and first.file_error.code.startswith("parse_")
    if first.file_error is None or crashed:
        return (kinds[0] if first.file_error is None else None), True, first
    rest = kinds[1:]
    outcomes = map_isolated(parsing.parse_one, [(str(path), k) for k in rest], workers=workers)
    tried += [(k, _outcome(o, k)) for k, o in zip(rest, outcomes, strict=True)]
    readable = [(k, p) for k, p in tried if p.file_error is None]
    if readable:
        best = max(
            readable, key=lambda kp: (kp[1].rows_read - len(set(kp[1].rejected_rows)), -kinds.index(kp[0]))
        )
        return best[0], True, best[1]
    errors = [p.file_error for _, p in tried if p.file_error is not None]
    if len({e.code for e in errors}) == 1:
        # Refused whatever it is (encrypted, too large, not a workbook …): the ingestion's own issue.
        common = Counter(e.message for e in errors).most_common(1)[0][0]
        return None, True, ParsedFile(kinds[0], file_error=Issue(errors[0].code, common))
    reasons = "；".join(f"作为{kind_name(k)}：{p.file_error.message}" for k, p in tried if p.file_error)
    issue = Issue(KIND_UNKNOWN, f"未能识别为任何一类报送材料，请选择类别后重新检查。{reasons}")
    return None, True, ParsedFile(kinds[0], file_error=issue)


def _year_inside(kind: str, parsed: ParsedFile) -> int | None:
    """The year the file itself states: a score sheet's 年度 line (first sheet that has one); the most
    common year of a ledger's rows (dates or 年度 column; ties: the later); else a title line's year."""
    if kind == SCORE_SHEET:
        years = [m.get("year") for m in (parsed.meta.get("sheets") or {}).values() if m.get("year")]
        return int(years[0]) if years else None
    # the column staging counts a row's year by (None: the row's 年度 column)
    column = DATE_COLUMN.get(kind) or "year"
    found: Counter[int] = Counter()
    for rec in parsed.records:
        v = rec.get(column)
        if isinstance(v, (date, datetime)):
            found[v.year] += 1
        elif isinstance(v, int):
            found[v] += 1
    if found:
        return max(found.items(), key=lambda kv: (kv[1], kv[0]))[0]
    meta_year = parsed.meta.get("year")
    return int(meta_year) if isinstance(meta_year, int) else None


def _stager(kind: str):
    from pipelines.lib import pipeline

    for key in (kind, f"{kind}s"):  # staging names kinds in the plural of the parser's (score_sheets)
        if key in pipeline.STAGERS:
            return pipeline.STAGERS[key]
    return None


def _stage(result: FileCheck, parsed: ParsedFile, reference: Reference, region: str | None) -> None:
    """Stage the file alone, as the next run will: rows used and rejected, units, issues."""
    from pipelines.lib.schema import create_tables

    assert result.kind is not None and result.year is not None
    registry = reference.registry()
    scoped = reference.registry(region) if region is not None else registry
    folder = folder_of(result.kind)
    raw = ingest.RawFile(
        f"{result.year}/{folder}/{result.name}", result.kind, result.year, result.size, 0, result.sha256
    )
    stager = _stager(result.kind)
    con = duckdb.connect(":memory:")
    try:
        create_tables(con)
        con.execute(
            "insert into raw_files (path, kind, folder_year, size, mtime_ns, sha256) values (?, ?, ?, ?, ?, ?)",
            [raw.path, raw.kind, raw.folder_year, raw.size, raw.mtime_ns, raw.sha256],
        )
        ingest.store_parsed(con, parsing.parsed_batch([(raw.sha256, parsed)]))
        if stager is None:  # a kind without staging yet: what its parser says, units from the registry
            frames: dict[str, Any] = {}
        else:
            years = sorted({result.year, *_sheet_years(parsed)})
            frames = dict(stager(con, reference.rules, registry, years, utc_now()))
    finally:
        con.close()
    files = _frame(frames, "_files")
    issues = _frame(frames, "_issues")
    if stager is None:
        result.rows_read, result.rows_rejected = parsed.rows_read, len(set(parsed.rejected_rows))
        result.issues = list(parsed.issues)
    else:
        mine = files[files["file"] == raw.path]
        result.rows_read = int(mine["rows_read"].sum())
        result.rows_rejected = int(mine["rows_rejected"].sum())
        result.issues = [
            _issue(i, registry, scoped) for i in issues[issues["file"] == raw.path].to_dict("records")
        ]
    if result.kind == SCORE_SHEET:
        result.units, result.roles = _sheet_units(parsed, files, registry, scoped, reference.rules)
        tasks: Any = frames.get("stg_task_scores")
        result.task_rows = tasks.to_pandas() if hasattr(tasks, "to_pandas") else tasks
        result.totals = _totals(parsed, result.task_rows, files, reference.rules)
    else:
        result.units = _ledger_units(parsed, registry, scoped)
        result.roles = sorted({u.unit.role for u in result.units if u.unit is not None})


def _issue(i: dict[Any, Any], registry: UnitRegistry, scoped: UnitRegistry) -> Issue:
    def text(v: Any) -> str | None:
        return None if v is None or (isinstance(v, float) and pd.isna(v)) else str(v)

    return Issue(
        str(i["code"]),
        _scoped_message(str(i["code"]), i["unit"], str(i["message"]), registry, scoped),
        str(i["severity"]),
        text(i["sheet"]),
        int_or_none(i["row"]),
        int_or_none(i["year"]),
        text(i["unit"]),
    )


def _sheet_years(parsed: ParsedFile) -> set[int]:
    """The years a score sheet's sheets state (staging counts each sheet in its own)."""
    if parsed.kind != SCORE_SHEET:
        return set()
    return {
        int(m["year"])
        for m in (parsed.meta.get("sheets") or {}).values()
        if isinstance(m, dict) and m.get("year")
    }


def _frame(frames: dict[str, Any], suffix: str) -> pd.DataFrame:
    found = [f for name, f in frames.items() if name.endswith(suffix)]
    if not found:
        return pd.DataFrame(
            columns=["file", "rows_read", "rows_rejected", "sheet", "unit_id", "role", "status"]
        )
    frame = found[0]
    return frame if isinstance(frame, pd.DataFrame) else frame.to_pandas()


def _scoped_message(code: str, unit: Any, message: str, registry: UnitRegistry, scoped: UnitRegistry) -> str:
    """An unknown unit's message suggests the closest names from the viewer's own region only."""
    if scoped is registry or code != "unknown_unit" or not isinstance(unit, str) or not unit:
        return message
    res = scoped.resolve(unit)
    return message if res.unit is not None else res.message(unit)


def _sheet_units(
    parsed: ParsedFile, files: pd.DataFrame, registry: UnitRegistry, scoped: UnitRegistry, rules: Rulebook
) -> tuple[list[UnitSeen], list[str]]:
    seen: list[UnitSeen] = []
    roles: list[str] = []
    by_sheet = {str(r.sheet): r for r in files.itertuples(index=False)}
    for sheet, meta in (parsed.meta.get("sheets") or {}).items():
        text = meta.get("unit_text") or ""
        row = by_sheet.get(str(sheet))
        unit = registry.by_id.get(row.unit_id) if row is not None and isinstance(row.unit_id, str) else None
        problem = None
        if unit is None:
            problem = (
                str(row.status_reason) if row is not None and isinstance(row.status_reason, str) else None
            )
            if scoped is not registry and text:
                res = scoped.resolve(text, rules.role_of_sheet_line(meta.get("role_text")))
                problem = res.message(text) if res.unit is None else problem
        role = unit.role if unit else rules.role_of_sheet_line(meta.get("role_text"))
        if role and role not in roles:
            roles.append(role)
        seen.append(UnitSeen(text or "（未写明）", unit, 0, problem))
    return seen, roles


def _ledger_units(parsed: ParsedFile, registry: UnitRegistry, scoped: UnitRegistry) -> list[UnitSeen]:
    rejected = set(parsed.rejected_rows)
    counts = Counter(
        str(r["unit"])
        for r in parsed.records
        if r.get("unit") and (r.get("sheet"), r.get("row")) not in rejected
    )
    out = []
    for text, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        res = registry.resolve(text)
        problem = None
        if res.unit is None:
            problem = (scoped.resolve(text) if scoped is not registry else res).message(text)
        out.append(UnitSeen(text, res.unit, n, problem))
    return out


def _totals(
    parsed: ParsedFile, frame: pd.DataFrame | None, files: pd.DataFrame, rules: Rulebook
) -> list[SheetTotal]:
    out = []
    for row in files.itertuples(index=False):
        if not isinstance(row.role, str) or row.role not in rules.templates:
            continue
        meta = (parsed.meta.get("sheets") or {}).get(row.sheet) or {}
        counted = 0.0
        if frame is not None and len(frame):
            counted = float(frame.loc[frame["sheet"] == row.sheet, "points"].sum())
        out.append(
            SheetTotal(
                str(row.sheet),
                meta.get("total_self"),
                meta.get("total_verified"),
                counted,
                rules.templates[row.role].max_total,
            )
        )
    return out


def _compare_with_records(result: FileCheck, reference: Reference, region: str | None) -> None:
    """The points a sheet claims beyond what the published records support (task_scores' flag rule:
    points > max_points − evidence_max + evidence_points)."""
    frame = result.task_rows
    if frame is None or not len(frame):
        return
    if not reference.has_evidence:
        result.evidence_note = (
            "已发布的数据中还没有记录比对表（marts.task_evidence），本次未将打分与会议、报送记录比对。"
        )
        return
    units = {u.unit.unit_id: u.unit for u in result.units if u.unit is not None}
    hidden = [u for u in units.values() if region is not None and u.region != region]
    if hidden:
        result.evidence_note = "非本县区单位，不显示其记录比对。"
        frame = frame[~frame["unit_id"].isin([u.unit_id for u in hidden])]
    if not len(frame):
        return
    keys = frame[["year", "unit_id", "role"]].drop_duplicates()
    with read_only(reference.warehouse) as con:
        con.register("keys", keys)
        evidence = con.execute(
            "select e.year, e.unit_id, e.role, e.task_no, e.evidence_max, e.evidence_points, e.detail "
            "from marts.task_evidence e join keys k using (year, unit_id, role)"
        ).df()
        published_years = {
            int(y) for (y,) in con.execute("select distinct year from marts.task_evidence").fetchall()
        }
    missing_years = sorted({int(y) for y in keys["year"]} - published_years)
    if missing_years:
        result.evidence_note = (
            f"{'、'.join(map(str, missing_years))}年度还没有已发布的会议、报送记录，该年度未比对。"
        )
    merged = frame.merge(evidence, on=["year", "unit_id", "role", "task_no"])
    merged = merged[merged["evidence_max"].notna()]
    supported = merged["max_points"] - merged["evidence_max"] + merged["evidence_points"]
    over = merged[merged["points"] > supported + 1e-9].assign(supported=supported)
    for r in over.sort_values(["year", "task_no"]).itertuples(index=False):
        column = "核定" if r.score_source == "verified" else "自评"
        result.contradictions.append(
            f"{column}第{int(r.task_no)}项{float(r.points):g}分，记录最多支持{float(r.supported):g}分：{r.detail}"
        )


def _replaced(result: FileCheck, reference: Reference, region: str | None) -> None:
    """Earlier submissions this sheet will replace (the newest of a unit, role and year counts); for a
    county liaison only its own region's (other regions' files are not its to see)."""
    pairs = {
        (u.unit.unit_id, u.unit.role)
        for u in result.units
        if u.unit is not None and (region is None or u.unit.region == region)
    }
    if not pairs or result.year is None:
        return
    with read_only(reference.warehouse) as con:
        rows = con.execute(
            "select distinct file, unit_id, role from marts.submissions where kind = ? and year = ? "
            "and status in ('loaded', 'partially_loaded') order by file",
            [SCORE_SHEET, result.year],
        ).fetchall()
    result.replaces = [f for f, u, r in rows if (u, r) in pairs]


# -- storing -------------------------------------------------------------------------------------

_WINDOWS_DEVICES = re.compile(r"^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³]|conin\$|conout\$)$", re.IGNORECASE)
_NOT_IN_NAMES = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]')
_EXTENSION = re.compile(r"^\.[A-Za-z0-9]{1,8}$")
MAX_STEM_BYTES = 120  # leaves room for the stamp within the 255 bytes a file name may have


def safe_name(original: str) -> str:
    """A plain file name from what a browser or an e-mail says a file is called: the last part of any
    path, no control or reserved characters, no leading dot or ~$ (the ingestion would skip it as
    hidden or as a lock file), no Windows device name, at most MAX_STEM_BYTES of UTF-8 before the
    extension. Never empty, never a path."""
    text = unicodedata.normalize("NFC", str(original).replace("\x00", ""))
    # no control or invisible formatting characters (an RTL override would make x.xlsx read as x.exe)
    text = "".join(ch for ch in text if unicodedata.category(ch) not in ("Cc", "Cf", "Cs") or ch in "/\\")
    base = re.split(r"[/\\]", text)[-1]
    stem, ext = os.path.splitext(base)
    if not _EXTENSION.match(ext):
        stem, ext = base, ""
    stem = _NOT_IN_NAMES.sub("_", stem).strip(" .")
    while stem.startswith(("~$", ".", "~")):
        stem = stem.lstrip(".~$").strip()
    if _WINDOWS_DEVICES.match(stem.split(".")[0]):
        stem = f"_{stem}"
    encoded = stem.encode("utf-8")[:MAX_STEM_BYTES]
    stem = encoded.decode("utf-8", errors="ignore").strip(" .") or "上传文件"
    return stem + ext.lower()


@dataclass
class Stored:
    path: Path  # absolute
    relative: str  # under the raw folder, with forward slashes (as marts.submissions.file)
    original_name: str


def store(
    data: bytes, original_name: str, raw_dir: Path, year: int, kind: str, now: datetime | None = None
) -> Stored:
    """Write `data` under raw_dir/<year>/<kind folder>/ as `<safe name>__<time>[-n].<ext>`: written
    to a hidden temporary file in that folder, then hard-linked to a name nobody holds (the link fails
    rather than replace a file), so a reader sees the whole file or none and nothing is overwritten."""
    if kind not in upload_kinds():
        raise ValueError(f"unknown kind {kind!r}")
    if not (1900 <= int(year) <= 2099):
        raise ValueError(f"year out of range: {year!r}")
    root = Path(os.path.realpath(raw_dir))
    if not root.is_dir():
        raise FileNotFoundError(str(raw_dir))
    folder = root / str(int(year)) / str(folder_of(kind))
    # before anything is created: a year or kind folder that is a link elsewhere is refused
    if os.path.commonpath([root, os.path.realpath(folder)]) != str(root):
        raise ValueError(f"{folder} is outside {root}")
    folder.mkdir(parents=True, exist_ok=True)
    name = safe_name(original_name)
    stem, ext = os.path.splitext(name)
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    fd, tmp = tempfile.mkstemp(prefix=".upload-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        for n in range(1, 10_000):
            target = folder / f"{stem}__{stamp}{'' if n == 1 else f'-{n}'}{ext}"
            try:
                _claim(tmp, target)
            except FileExistsError:
                continue
            break
        else:
            raise FileExistsError(f"no free name for {name} in {folder}")
    finally:
        Path(tmp).unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # the new name is durable once its folder is
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return Stored(target, target.relative_to(root).as_posix(), original_name)


def _claim(tmp: str, target: Path) -> None:
    """Give the temporary file its final name only if no file has it (no overwrite, ever)."""
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise
    except OSError:  # a file system without hard links: claim the name first, then move into it
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)  # claims the name
        os.close(fd)
        os.replace(tmp, target)


# -- recomputing ---------------------------------------------------------------------------------

_children: list[subprocess.Popen] = []


def start_recompute(paths: Paths, wait_seconds: int = 1800) -> subprocess.Popen:
    """`fazhi run` for these paths in a detached process (its own session, so it outlives a page and
    never runs inside the dashboard's process), its output appended to a log beside the work database.
    A run in progress is waited for (the run lock), up to `wait_seconds`."""
    for child in list(_children):  # reap the finished ones
        if child.poll() is not None:
            _children.remove(child)
    log = paths.work_db.parent / "upload_runs.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        out.write(f"\n== {utc_now():%Y-%m-%d %H:%M:%S} UTC fazhi run（上传后重新计算）\n".encode())
        out.flush()
        child = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pipelines.cli",
                "run",
                "--raw",
                str(paths.raw_dir),
                "--warehouse",
                str(paths.warehouse),
                "--wait",
                str(wait_seconds),
            ],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _children.append(child)
    return child


def live_since(warehouse: Path, files: list[str], since: datetime) -> datetime | None:
    """When the publication holding every one of `files` (paths under the raw folder) was published,
    if it was published after `since` (naive UTC); None while it is not."""
    if not warehouse.exists():
        return None
    try:
        with read_only(warehouse) as con:
            published = one_row(con, "select max(published_at) from marts.publication")
            seen = one_row(
                con,
                "select count(distinct file) from marts.submissions where file in (select unnest(?))",
                [files],
            )
    except duckdb.Error:
        return None  # being replaced this very moment: ask again
    when = published[0]
    if when is None or when < since or seen[0] < len(set(files)):
        return None
    return when
