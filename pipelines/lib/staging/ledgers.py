"""What the ledgers share: their rows resolved to registered units, counted in the year of
their date (or 年度 column), and each file of a year folder accounted for whole."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import duckdb
import pandas as pd

from pipelines.lib.ingest import RECORD_TABLES
from pipelines.lib.names import UnitRegistry
from pipelines.lib.records import ERROR
from pipelines.lib.staging.common import Report, file_frame, int_or_none, parse_issues, query_frame

# kind → the column whose date decides a row's year (None: the row's 年度 column, else its folder's)
DATE_COLUMN = {"meetings": "date", "filings": None, "normative_docs": "issued_date", "rectifications": None}
# Only the columns staging uses: at nation scale a year holds millions of meeting rows.
UNUSED_COLUMNS = {"meetings": ", host, led_by_principal, attendees"}

# (report, year, rows of the year's ledgers, the staged rows so far) → rows rejected by the kind's own rules
RowStager = Callable[[Report, int, pd.DataFrame, list[pd.DataFrame]], pd.Series]


def stage_ledger(
    con: duckdb.DuckDBPyConnection,
    kind: str,
    registry: UnitRegistry,
    years: list[int],
    loaded_at: datetime,
    stage_rows: RowStager,
) -> tuple[Report, list[pd.DataFrame]]:
    report = Report(loaded_at)
    staged: list[pd.DataFrame] = []
    files = file_frame(con, kind)
    if files.empty:
        return report, staged
    date_col = DATE_COLUMN[kind]
    row_year = (
        f"coalesce(year(t.{date_col}), r.folder_year)" if date_col else "coalesce(t.year, r.folder_year)"
    )
    for year in years:
        rows = query_frame(
            con,
            f"select r.path as file, r.folder_year, {row_year} as row_year, "
            f"t.* exclude (sha256, kind{UNUSED_COLUMNS.get(kind, '')}) "
            f"from raw_files r join {RECORD_TABLES[kind]} t on t.sha256 = r.sha256 and t.kind = r.kind "
            f"where r.kind = ? and (r.folder_year = ? or {row_year} = ?) "
            # what comes first is decided here (a repeated meeting counts at its first listing), not by
            # the order a parallel scan happens to return
            'order by r.path, t.sheet nulls first, t."row"',
            [kind, year, year],
        )
        _year(con, report, kind, registry, files, year, rows, staged, stage_rows)
    return report, staged


def _year(
    con: duckdb.DuckDBPyConnection,
    report: Report,
    kind: str,
    registry: UnitRegistry,
    files: pd.DataFrame,
    year: int,
    rows: pd.DataFrame,
    staged: list[pd.DataFrame],
    stage_rows: RowStager,
) -> None:
    for col in ("file", "sheet"):  # repeated on every row of a file
        rows[col] = rows[col].astype("category")
    mine = files[files["folder_year"] == year]
    f: Any  # a frame row: its fields have the table's column types, which the checker cannot see
    for f in mine.itertuples(index=False):
        if f.error_code:
            report.issue(year, f.file, None, None, None, ERROR, f.error_code, f.error_message)
            report.file(year, f.file, f.sha256, kind, 0, 0, "rejected", f.error_message, mtime_ns=f.mtime_ns)
    path_of: dict[str, list[str]] = {}
    for f in mine.itertuples(index=False):
        path_of.setdefault(f.sha256, []).append(f.file)
    report.parse_issues(year, parse_issues(con, list(path_of), kind), path_of)
    if rows.empty:
        for f in mine.itertuples(index=False):
            if not f.error_code:
                report.file(
                    year, f.file, f.sha256, kind, 0, 0, "loaded", "文件中没有数据行。", mtime_ns=f.mtime_ns
                )
        return

    # Resolve each distinct unit text once.
    res = {u: registry.resolve(u) for u in rows["unit"].dropna().unique()}
    rows["unit_id"] = rows["unit"].map({u: r.unit.unit_id for u, r in res.items() if r.unit})
    unknown = rows["unit_id"].isna() & ~rows["parse_rejected"]
    r: Any  # a frame row, as `f`
    for r in rows[unknown & (rows["folder_year"] == year)].itertuples(index=False):
        msg = res[r.unit].message(r.unit) if r.unit in res else "本行未填写单位名称。"
        report.issue(year, r.file, r.sheet, int_or_none(r.row), r.unit, ERROR, "unknown_unit", msg)
    rows["rejected"] = rows["parse_rejected"] | unknown
    rows.loc[stage_rows(report, year, rows, staged), "rejected"] = True

    own = rows[rows["folder_year"] == year]
    counts = {
        file: (int(n), int(rej))
        for file, n, rej in own.groupby("file", observed=True)
        .agg(n=("row", "size"), rej=("rejected", "sum"))
        .itertuples()
    }
    # the file's unit when all its loaded rows name the same one
    per_file = (
        own.dropna(subset=["unit_id"]).groupby("file", observed=True)["unit_id"].agg(["nunique", "first"])
    )
    unit_of = {file: first if n == 1 else None for file, n, first in per_file.itertuples()}
    for f in mine.itertuples(index=False):
        if f.error_code:
            continue
        n, rej = counts.get(f.file, (0, 0))
        status = "loaded" if rej == 0 else ("rejected" if rej == n and n else "partially_loaded")
        report.file(
            year,
            f.file,
            f.sha256,
            kind,
            n,
            rej,
            status,
            None,
            unit_of.get(f.file),
            None,
            None,
            None,
            f.mtime_ns,
        )


def unit_columns(registry: UnitRegistry, frame: pd.DataFrame) -> pd.DataFrame:
    """role and region of each row's unit, from the registry."""
    units = [registry.by_id[u] for u in frame["unit_id"].unique()]
    frame["role"] = frame["unit_id"].map({u.unit_id: u.role for u in units})
    frame["region"] = frame["unit_id"].map({u.unit_id: u.region for u in units})
    return frame
