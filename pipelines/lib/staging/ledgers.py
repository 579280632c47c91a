"""What the ledgers share: their rows resolved to registered units, counted in the year of
their date (or 年度 column), and each file of a year folder accounted for whole.

A year's rows are worked on in DuckDB, not in Python: a nation's year holds millions of meeting rows,
while the things decided in Python (a unit's name, a meeting's type, a report's type) repeat over a
few thousand distinct texts. Each kind's own rules (`RowStager`) see the year's rows as the temporary
table `ledger_rows`:

- `seq`: the rows' order (path, sheet, row: what comes first is decided here, not by the order a
  parallel scan happens to return; a repeated meeting counts at its first listing);
- `year`: the year being staged; `own`: the row's file lies in that year's folder (its file reports it);
  `counted`: the row counts in that year (its date, or 年度 column, else its folder says so);
- `file`, `folder_year`, `row_year`, the parsed row's columns, and its registered `unit_id`, `role`,
  `region` (null when the unit text names no registered unit);
- `rejected`: the parser or the unit rejected it; the kind may reject more rows (an `update`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from pipelines.lib.names import Resolution, UnitRegistry
from pipelines.lib.parsing import RECORD_COLUMNS, RECORD_TABLES
from pipelines.lib.records import ERROR
from pipelines.lib.staging.common import Report, file_frame, of_files, parse_issues

# kind → the column whose date decides a row's year (None: the row's 年度 column, else its folder's)
DATE_COLUMN = {"meetings": "date", "filings": None, "normative_docs": "issued_date", "rectifications": None}
# Only the columns staging uses: at nation scale a year holds millions of meeting rows.
UNUSED_COLUMNS = {"meetings": ("host", "led_by_principal", "attendees")}

# more than a sheet's rows can be (a row number is a 32-bit integer)
ROWS_PER_BLOCK = 2**32

# (connection holding `ledger_rows`, report, year) → the year's staged rows, in the table's columns
RowStager = Callable[[duckdb.DuckDBPyConnection, Report, int], pa.Table]


def stage_ledger(
    con: duckdb.DuckDBPyConnection,
    kind: str,
    registry: UnitRegistry,
    years: list[int],
    loaded_at: datetime,
    stage_rows: RowStager,
    columns: list[str],
    only: list[str] | None = None,
) -> tuple[Report, pa.Table | pd.DataFrame]:
    """The kind's files and issues, and its staged rows of every year (`columns`, empty if none): of
    every current file, or of the files `only` names."""
    report = Report(loaded_at)
    staged: list[pa.Table] = []
    files = file_frame(con, kind, only)
    limited, params = of_files(only)
    if not files.empty:
        # Each unit text resolved once for every year; its unit, role and region joined to the rows.
        texts = [
            u
            for (u,) in con.execute(
                f"select distinct t.unit from raw_files r join {RECORD_TABLES[kind]} t "
                f"on t.sha256 = r.sha256 and t.kind = r.kind where r.kind = $kind{limited}",
                {"kind": kind, **params},
            ).fetchall()
            if u is not None
        ]
        resolved = {u: registry.resolve(u) for u in texts}
        known = {u: r.unit for u, r in resolved.items() if r.unit is not None}
        con.register(
            "ledger_units",
            text_table(
                unit=list(known),
                unit_id=[u.unit_id for u in known.values()],
                role=[u.role for u in known.values()],
                region=[u.region for u in known.values()],
            ),
        )
        try:
            for year in years:
                _year_rows(con, kind, year, only)
                try:
                    _year(con, report, kind, files, year, stage_rows, resolved, staged)
                finally:
                    con.execute("drop table if exists ledger_rows")
        finally:
            con.unregister("ledger_units")
    if not staged:
        return report, pd.DataFrame(columns=columns)
    return report, pa.concat_tables(staged) if len(staged) > 1 else staged[0]


def row_issues(
    con: duckdb.DuckDBPyConnection,
    report: Report,
    year: int,
    severity: str,
    code: str,
    message: str,
    where: str,
    source: str = "ledger_rows",
    staged: bool = False,
    **values: str,
) -> None:
    """One issue for each row of `source` (a table with `seq`, `file`, `sheet`, `row`, `unit`) that
    `where` selects, its message the SQL expression `message` (`$year` is the year, `$name` each of
    `values`). `staged`: the rows are staged with the unit in their `unit_id` column, which is then the
    issue's unit and its row's (`Report.add_issues`)."""
    report.add_issues(
        con.sql(
            f'select $year as year, file, sheet, "row", unit, $severity as severity, $code as code, '
            f"{message} as message{', unit_id' if staged else ''} from {source} where {where} order by seq",
            params={**values, "year": year, "severity": severity, "code": code},
        ).to_arrow_table(),
        units=staged,
    )


def text_table(**columns: list) -> pa.Table:
    """A table of text columns (a kind's lookups of distinct texts, joined to `ledger_rows`)."""
    return pa.table(columns, schema=pa.schema([(c, pa.string()) for c in columns]))


def _year_rows(con: duckdb.DuckDBPyConnection, kind: str, year: int, only: list[str] | None = None) -> None:
    """`ledger_rows` for one year: the rows of its folder and the rows dated in it from other folders
    (of the files `only` names, if given)."""
    date_col = DATE_COLUMN[kind]
    row_year = (
        f"coalesce(year(t.{date_col}), r.folder_year)" if date_col else "coalesce(t.year, r.folder_year)"
    )
    parsed = ", ".join(
        f't."{c}"'
        for c in ("sheet", "row", "parse_rejected", *RECORD_COLUMNS[kind])
        if c != "year" and c not in UNUSED_COLUMNS.get(kind, ())
    )
    limited, params = of_files(only)
    # `seq` numbers the (file, sheet) blocks in order and adds the row: the order of a sort by path,
    # sheet and row without sorting the rows themselves (a second at nation scale). `kind_rows` is read
    # twice, not kept: keeping it spilled to disk at nation scale (0.75 → 0.57 s for the meetings).
    # The units are joined in `kind_rows`: joined to its result, DuckDB built its hash table on a
    # nation's 2.3 M meeting rows, not on the 52,000 units (1.9–2.1 s against 0.80–0.88 s).
    con.execute(
        f"""create or replace temp table ledger_rows as
        with kind_rows as not materialized (
            select r.path as file, r.folder_year, {row_year} as row_year, {parsed}, u.unit_id, u.role, u.region
            from raw_files r join {RECORD_TABLES[kind]} t on t.sha256 = r.sha256 and t.kind = r.kind
            left join ledger_units u on u.unit = t.unit
            where r.kind = $kind and (r.folder_year = $year or {row_year} = $year){limited}),
        blocks as (
            select file, sheet, row_number() over (order by file, sheet nulls first) as block
            from (select distinct file, sheet from kind_rows))
        select b.block * {ROWS_PER_BLOCK} + k."row" as seq, $year as year, k.folder_year = $year as own,
               k.row_year = $year as counted, k.*, k.parse_rejected or k.unit_id is null as rejected
        from kind_rows k
        join blocks b on b.file = k.file and b.sheet is not distinct from k.sheet""",
        {"year": year, "kind": kind, **params},
    )


def _year(
    con: duckdb.DuckDBPyConnection,
    report: Report,
    kind: str,
    files: pd.DataFrame,
    year: int,
    stage_rows: RowStager,
    resolved: dict[str, Resolution],
    staged: list[pa.Table],
) -> None:
    """One year's files and issues, and its staged rows; `resolved` says why a unit text names no
    registered unit."""
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

    # a message names the closest registered names: looked for only for the units told
    told = "own and unit_id is null and not parse_rejected"
    texts = [u for (u,) in con.execute(f"select distinct unit from ledger_rows where {told}").fetchall() if u]
    con.register("unit_messages", text_table(unit=texts, message=[resolved[u].message(u) for u in texts]))
    try:
        row_issues(
            con,
            report,
            year,
            ERROR,
            "unknown_unit",
            "coalesce(m.message, '本行未填写单位名称。')",
            told,
            "ledger_rows left join unit_messages m using (unit)",
        )
    finally:
        con.unregister("unit_messages")
    year_rows = stage_rows(con, report, year)
    if year_rows.num_rows:
        staged.append(year_rows)

    counts = {
        file: (n, rej, unit_id)
        for file, n, rej, unit_id in con.execute(
            # the file's unit when all its loaded rows name the same one
            "select file, count(*), count(*) filter (rejected), "
            "if(count(distinct unit_id) = 1, min(unit_id), null) "
            "from ledger_rows where own group by file"
        ).fetchall()
    }
    for f in mine.itertuples(index=False):
        if f.error_code:
            continue
        if f.file not in counts:
            report.file(
                year, f.file, f.sha256, kind, 0, 0, "loaded", "文件中没有数据行。", mtime_ns=f.mtime_ns
            )
            continue
        n, rej, unit_id = counts[f.file]
        status = "loaded" if rej == 0 else ("rejected" if rej == n else "partially_loaded")
        report.file(year, f.file, f.sha256, kind, n, rej, status, None, unit_id, None, None, None, f.mtime_ns)
