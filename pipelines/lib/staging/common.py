"""What every kind's staging shares: the files and issues it reports, the parse cache it reads, the
years it covers, and how its tables are replaced."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.lib import fingerprints
from pipelines.lib.names import Unit, UnitRegistry
from pipelines.lib.schema import source_tables

ISSUE_COLUMNS = source_tables()["stg_meeting_issues"].column_names
# An issue's units, which `with_unit_ids` and `with_row_units` find: its own and its staged row's.
UNIT_COLUMNS = ("unit_id", "row_unit_id")
# An issue as a stager writes it: every column but its units.
_ARROW_TYPES: dict[str, pa.DataType] = {"integer": pa.int32(), "varchar": pa.string()}
ISSUE_SCHEMA = pa.schema(
    [
        (c.name, _ARROW_TYPES[c.data_type])
        for c in source_tables()["stg_meeting_issues"].columns
        if c.name not in UNIT_COLUMNS
    ]
)
FILE_COLUMNS = source_tables()["stg_meeting_files"].column_names
# A stg_* table's rows as a stager hands them over: DuckDB reads either as is.
StagedTable = pd.DataFrame | pa.Table
IGNORED_MESSAGES = {
    "office_lock_file": "这是Excel/WPS打开文件时生成的临时锁定文件，已忽略。",
    "unknown_location": "文件不在约定目录（data/raw/<年度>/score_sheets|meetings|filings|normative_docs|rectifications/）中，未读取。请移到对应目录。",
}


def issue(year, file, sheet, row, unit, severity, code, message) -> dict:
    return {
        "year": year,
        "file": file,
        "sheet": sheet,
        "row": row,
        "unit": unit,
        "severity": severity,
        "code": code,
        "message": message,
    }


def int_or_none(v) -> int | None:
    if v is None:
        return None
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    return int(v)


class Report:
    """The files of one kind and the issues found in them, across years."""

    def __init__(self, loaded_at: datetime):
        self.loaded_at = loaded_at
        self.files: list[dict] = []
        self.issues: list[dict] = []
        self.issue_tables: list[pa.Table] = []

    def issue(self, year, file, sheet, row, unit, severity, code, message) -> None:
        self.issues.append(issue(year, file, sheet, row, unit, severity, code, message))

    def add_issues(self, table: pa.Table, units: bool = False) -> None:
        """Row issues for many rows at once (a large ledger year has hundreds of thousands), in the issue
        table's columns but its units. With `units`, the table's `unit_id` is the registered unit of the
        row each issue is about, a row staged with that unit: the issue's unit and its row's, which are
        then not looked up again (a nation year's 670,000 meeting issues took 0.6–0.8 s to look up)."""
        if table.num_rows:
            known = table.column("unit_id").cast(pa.string()) if units else None
            self.issue_tables.append(_with_units(table.select(ISSUE_SCHEMA.names).cast(ISSUE_SCHEMA), known))

    def file(
        self,
        year,
        file,
        sha,
        kind,
        rows_read,
        rows_rejected,
        status,
        reason=None,
        unit_id=None,
        role=None,
        sheet=None,
        superseded_by=None,
        mtime_ns=None,
    ) -> None:
        self.files.append(
            {
                "year": year,
                "file": file,
                "sha256": sha,
                "kind": kind,
                "sheet": sheet,
                "unit_id": unit_id,
                "role": role,
                "rows_read": rows_read,
                "rows_loaded": rows_read - rows_rejected,
                "rows_rejected": rows_rejected,
                "status": status,
                "status_reason": reason,
                "superseded_by": superseded_by,
                "mtime": pd.Timestamp(mtime_ns, unit="ns") if mtime_ns else None,
                "loaded_at": self.loaded_at,
            }
        )

    def parse_issues(
        self,
        year: int,
        records: list[dict[str, Any]],
        path_of: dict[str, list[str]],
        unit_of: dict[tuple[str, str], str] | None = None,
    ) -> None:
        """Issues the parser found (`parse_issues`), once per file holding that content; unit_of fills
        the unit a score sheet names when the parser's issue has none."""
        for rec in records:
            unit = (
                rec["unit"] if rec["unit"] is not None else (unit_of or {}).get((rec["sha256"], rec["sheet"]))
            )
            for path in path_of.get(rec["sha256"], ()):
                self.issue(
                    year, path, rec["sheet"], rec["row"], unit, rec["severity"], rec["code"], rec["message"]
                )

    def files_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.files, columns=FILE_COLUMNS)

    def issues_table(self) -> pa.Table:
        """Every issue, in the issue table's columns; its units null where not known yet
        (`with_unit_ids`, `with_row_units` find them)."""
        return pa.concat_tables(
            [_with_units(pa.Table.from_pylist(self.issues, schema=ISSUE_SCHEMA)), *self.issue_tables]
        )


def _with_units(issues: pa.Table, known: pa.Array | pa.ChunkedArray | None = None) -> pa.Table:
    """Issues in the issue table's columns but their units, with their units (UNIT_COLUMNS): both the
    known unit of the staged row each is about, or null, to be looked up."""
    units = known if known is not None else pa.nulls(issues.num_rows, pa.string())
    for column in UNIT_COLUMNS:
        issues = issues.append_column(column, units)
    return issues


def with_unit_ids(issues: pa.Table, registry: UnitRegistry) -> pa.Table:
    """Each issue's registered unit: the one the unit name written with it resolves to, else the one its file
    name names (a file rejected whole says no unit inside); null when neither does. Looked up once per
    distinct name and file: a nation year's meetings have hundreds of thousands of issues. An issue whose
    unit is known already (`Report.add_issues`) keeps it."""

    def unit_ids(open_issues: pa.Table) -> pa.Array:
        by_name = _units_by_value(open_issues, "unit", lambda text: registry.resolve(text).unit)
        # the file's name only where the name written says no unit: most issues' files need no look-up
        by_file = _units_by_value(open_issues, "file", registry.in_file_name, pc.is_null(by_name))
        return pc.coalesce(by_name, by_file)

    return _filled(issues, "unit_id", unit_ids)


def _units_by_value(
    issues: pa.Table, column: str, unit_of: Callable[[str], Unit | None], wanted: pa.Array | None = None
) -> pa.Array:
    """Each issue's unit id by its value in `column`, looked up once per distinct value; given `wanted`,
    only for the issues it marks."""
    encoded = issues.column(column).combine_chunks().dictionary_encode()
    looked_up = None if wanted is None else set(pc.unique(pc.filter(encoded.indices, wanted)).to_pylist())
    ids = [
        u.unit_id
        if v is not None and (looked_up is None or i in looked_up) and (u := unit_of(v)) is not None
        else None
        for i, v in enumerate(encoded.dictionary.to_pylist())
    ]
    return pc.take(pa.array(ids, pa.string()), encoded.indices)


def with_row_units(con: duckdb.DuckDBPyConnection, issues: pa.Table, rows: StagedTable | None) -> pa.Table:
    """Each issue's `row_unit_id`: the registered unit of the staged row it names (the same file, sheet
    and row in `rows`, the kind's staged rows of the same files); null when it names none. Looked up
    here, where a corrected file's issues and rows are staged together, so that the marts need not
    look up a nation's millions of ledger rows again (feedback_items tells an issue to its row's unit).
    An issue whose row's unit is known already (`Report.add_issues`) keeps it."""

    def row_units(open_issues: pa.Table) -> pa.Array:
        if rows is None or not len(rows) or not open_issues.num_rows:
            return pa.nulls(open_issues.num_rows, pa.string())
        keys = open_issues.select(["file", "sheet", "row"]).append_column(
            "position", pa.array(range(open_issues.num_rows), pa.int64())
        )
        con.register("issue_keys", keys)
        con.register("named_rows", rows)
        try:
            found = con.sql(
                """select r.unit_id
                from issue_keys k
                left join (
                    select file, sheet, "row", min(unit_id) as unit_id
                    from named_rows
                    where ("row", file) in (select ("row", file) from issue_keys)
                    group by file, sheet, "row"
                ) r on r.file = k.file and r.sheet is not distinct from k.sheet and r."row" = k."row"
                order by k.position"""
            ).to_arrow_table()
        finally:
            con.unregister("issue_keys")
            con.unregister("named_rows")
        return found.column("unit_id").cast(pa.string())

    return _filled(issues, "row_unit_id", row_units)


def _filled(
    issues: pa.Table, column: str, find: Callable[[pa.Table], pa.Array | pa.ChunkedArray]
) -> pa.Table:
    """`issues` with `column` (appended when absent) made by `find` for the issues it is null for: `find`
    gets those issues, in order, and gives their values in that order."""
    if column not in issues.column_names:
        return issues.append_column(column, find(issues))
    known = issues.column(column).combine_chunks()
    if known.null_count == 0:
        return issues
    at = issues.schema.get_field_index(column)
    if known.null_count == len(known):
        return issues.set_column(at, column, find(issues))
    open_rows = pc.is_null(known)
    found = find(issues.filter(open_rows))
    if isinstance(found, pa.ChunkedArray):
        found = found.combine_chunks()
    return issues.set_column(at, column, pc.replace_with_mask(known, open_rows, found))


# .df() gives an integer or boolean column that holds a NULL as pandas' nullable type
_NULLABLE = {
    pa.int8(): pd.Int8Dtype(),
    pa.int16(): pd.Int16Dtype(),
    pa.int32(): pd.Int32Dtype(),
    pa.int64(): pd.Int64Dtype(),
    pa.uint8(): pd.UInt8Dtype(),
    pa.uint16(): pd.UInt16Dtype(),
    pa.uint32(): pd.UInt32Dtype(),
    pa.uint64(): pd.UInt64Dtype(),
    pa.bool_(): pd.BooleanDtype(),
}


def query_frame(con: duckdb.DuckDBPyConnection, sql: str, params: list | dict | None = None) -> pd.DataFrame:
    """A query's rows as the DataFrame DuckDB's `.df()` gives for the column types staging reads (text,
    integers, doubles, booleans, dates, timestamps), made through Arrow: `.df()` makes a Python string
    of every text first, which for a nation year's meeting rows costs seconds more than the query."""
    table = con.sql(sql, params=params).to_arrow_table()
    frame = table.to_pandas(date_as_object=False)
    for field, column in zip(table.schema, table.columns, strict=True):
        if pa.types.is_string(field.type) and column.null_count == len(column):  # .df(): no text seen, object
            frame[field.name] = pd.Series([None] * len(frame), index=frame.index, dtype=object)
        elif pa.types.is_date(field.type):
            frame[field.name] = frame[field.name].astype("datetime64[us]")
        elif column.null_count and field.type in _NULLABLE:  # straight from Arrow: exact past 2**53
            frame[field.name] = column.to_pandas(types_mapper=_NULLABLE.get).set_axis(frame.index)
    return frame


def of_files(only: list[str] | None) -> tuple[str, dict[str, list[str]]]:
    """The condition that limits a query of `raw_files r` to the files `only` names (`and …`, with its
    parameter `$only`), or none when `only` is None: staging every file, or the changed files alone."""
    return ("", {}) if only is None else (" and r.path in (select unnest($only))", {"only": only})


def file_frame(con: duckdb.DuckDBPyConnection, kind: str, only: list[str] | None = None) -> pd.DataFrame:
    """The current files of a kind with their parse result (of the files `only` names, if given)."""
    limited, params = of_files(only)
    frame = query_frame(
        con,
        "select r.path as file, r.sha256, r.folder_year, r.mtime_ns, p.meta, p.rows_read, p.error_code, "
        "p.error_message from raw_files r join parsed_files p on p.sha256 = r.sha256 and p.kind = r.kind "
        f"where r.kind = $kind{limited} order by r.path",
        {"kind": kind, **params},
    )
    # DuckDB hands a NULL in a text column that also holds text to pandas as NaN, which is truthy:
    # without this, one unreadable file would make every other file of its kind look unreadable too.
    for col in ("meta", "error_code", "error_message"):
        frame[col] = frame[col].astype(object).where(frame[col].notna(), None)
    return frame


def parse_issues(con: duckdb.DuckDBPyConnection, shas: list[str], kind: str) -> list[dict[str, Any]]:
    """The parser's issues in these contents, a dict each (a NULL as None)."""
    return (
        con.sql(
            'select sha256, sheet, "row", unit, severity, code, message from parsed_issues '
            "where kind = ? and sha256 in (select unnest(?))",
            params=[kind, shas],
        )
        .to_arrow_table()
        .to_pylist()
    )


def years_present(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Years with any data: folder years, and years written inside score sheets (the same years the
    marts cover: fazhi_dbt/models/intermediate/int_years.sql)."""
    rows = con.execute("""
        select distinct folder_year from raw_files where folder_year is not null
        union select distinct try_cast(unnest(json_extract(meta, '$.sheets.*.year')) as integer)
              from parsed_files where kind = 'score_sheet' and sha256 in (select sha256 from raw_files)
    """).fetchall()
    return sorted({int(r[0]) for r in rows if r[0] is not None})


def replace(
    con: duckdb.DuckDBPyConnection, table: str, frame: StagedTable, files: list[str] | None = None
) -> int:
    """Replace a table's rows with `frame`; given `files`, only the rows of those files (the caller
    holds the transaction), and the rows they replace are kept beside the table with the files'
    names (`fingerprints.replaced`) until the table is replaced again."""
    rows, names = fingerprints.replaced(table)
    if files is None:
        con.execute(f"delete from {table}")
        con.execute(f"drop table if exists {rows}")
        con.execute(f"drop table if exists {names}")
    else:
        con.execute(f"create or replace table {names} as select unnest(?::varchar[]) as file", [files])
        chosen = fingerprints.of_replaced_files(names)
        con.execute(f"create or replace table {rows} as select * from {table} where {chosen}")
        con.execute(f"delete from {table} where {chosen}")
    if len(frame):
        con.register("_rows", frame)
        con.execute(f"insert into {table} by name select * from _rows")
        con.unregister("_rows")
    return len(frame)


def year_in_path(path: str) -> int | None:
    """The year folder a path lies in (`2024/…`), if any."""
    m = re.match(r"^((?:19|20)\d{2})/", path)
    return int(m.group(1)) if m else None


def sheet_meta(meta: str | None) -> dict:
    return json.loads(meta) if meta else {}
