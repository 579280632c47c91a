"""What the ledgers share: their rows resolved to registered units, counted in the year of
their date (or 年度 column), and each file of a year folder accounted for whole."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from pipelines.lib.ingest import RECORD_TABLES
from pipelines.lib.names import Resolution, UnitRegistry
from pipelines.lib.records import ERROR
from pipelines.lib.staging.common import Report, file_frame, parse_issues, query_frame

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
    rows_of_kind = (
        f"from raw_files r join {RECORD_TABLES[kind]} t on t.sha256 = r.sha256 and t.kind = r.kind "
    )
    # Each unit text resolved once for every year; its unit, role and region joined to the rows in SQL
    # (a pandas lookup over a nation year's millions of rows cost seconds).
    texts = [
        u
        for (u,) in con.execute(f"select distinct t.unit {rows_of_kind} where r.kind = ?", [kind]).fetchall()
        if u is not None
    ]
    resolved = {u: registry.resolve(u) for u in texts}
    known = {u: r.unit for u, r in resolved.items() if r.unit is not None}
    ledger_units = pa.table(
        {
            "unit": list(known),
            "unit_id": [u.unit_id for u in known.values()],
            "role": [u.role for u in known.values()],
            "region": [u.region for u in known.values()],
        },
        schema=pa.schema([(c, pa.string()) for c in ("unit", "unit_id", "role", "region")]),
    )
    con.register("ledger_units", ledger_units)
    try:
        for year in years:
            rows = query_frame(
                con,
                f"select r.path as file, r.folder_year, {row_year} as row_year, "
                f"t.* exclude (sha256, kind{UNUSED_COLUMNS.get(kind, '')}), u.unit_id, u.role, u.region "
                f"{rows_of_kind} left join ledger_units u on u.unit = t.unit "
                f"where r.kind = ? and (r.folder_year = ? or {row_year} = ?) "
                # what comes first is decided here (a repeated meeting counts at its first listing), not
                # by the order a parallel scan happens to return
                'order by r.path, t.sheet nulls first, t."row"',
                [kind, year, year],
            )
            _year(con, report, kind, files, year, rows, staged, stage_rows, resolved)
    finally:
        con.unregister("ledger_units")
    return report, staged


def _year(
    con: duckdb.DuckDBPyConnection,
    report: Report,
    kind: str,
    files: pd.DataFrame,
    year: int,
    rows: pd.DataFrame,
    staged: list[pd.DataFrame],
    stage_rows: RowStager,
    resolved: dict[str, Resolution],
) -> None:
    """One year's rows: `rows` come with their unit (unit_id, role, region), null when the unit text
    names no registered unit (`resolved` says why)."""
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

    unknown = rows["unit_id"].isna() & ~rows["parse_rejected"]
    told = rows[unknown & (rows["folder_year"] == year)]
    # a message names the closest registered names: looked for only for the units told
    messages = {u: resolved[u].message(u) for u in told["unit"].dropna().unique()}
    report.issue_rows(
        year,
        told,
        ERROR,
        "unknown_unit",
        told["unit"].map(messages).astype(object).where(told["unit"].notna(), "本行未填写单位名称。"),
    )
    rows["rejected"] = rows["parse_rejected"] | unknown
    rows.loc[stage_rows(report, year, rows, staged), "rejected"] = True

    own = rows.loc[rows["folder_year"] == year, ["file", "row", "rejected", "unit_id"]]
    counts = {
        file: (int(n), int(rej))
        for file, n, rej in own.groupby("file", observed=True)
        .agg(n=("row", "size"), rej=("rejected", "sum"))
        .itertuples()
    }
    # the file's unit when all its loaded rows name the same one
    per_file = (
        own.loc[own["unit_id"].notna(), ["file", "unit_id"]]
        .groupby("file", observed=True)["unit_id"]
        .agg(["nunique", "first"])
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
