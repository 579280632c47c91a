"""Filing registers: each row's report type mapped to a rulebook filing requirement by its keywords."""

from __future__ import annotations

from datetime import datetime

import duckdb
import pyarrow as pa

from pipelines.lib.names import UnitRegistry
from pipelines.lib.records import ERROR
from pipelines.lib.rulebook import Rulebook
from pipelines.lib.schema import source_tables
from pipelines.lib.staging.common import Report, StagedTable
from pipelines.lib.staging.ledgers import row_issues, stage_ledger, text_table

COLUMNS = source_tables()["stg_filings"].column_names


def stage_filings(
    con: duckdb.DuckDBPyConnection,
    rules: Rulebook,
    registry: UnitRegistry,
    years: list[int],
    loaded_at: datetime,
    only: list[str] | None = None,
) -> dict[str, StagedTable]:
    """The tables, made from every current file, or from the files `only` names (a row is weighed
    against no other file's: a file staged alone makes the rows staging every file makes of it)."""
    names = "、".join(f.name for f in rules.filing_requirements.values())

    def stage_rows(con: duckdb.DuckDBPyConnection, report: Report, year: int) -> pa.Table:
        texts = [
            t for (t,) in con.execute("select distinct report_type_text from ledger_rows").fetchall() if t
        ]
        con.register(
            "report_types",
            text_table(report_type_text=texts, report_type=[rules.classify_report(t) for t in texts]),
        )
        try:
            unknown = "not rejected and report_type is null"
            known = "ledger_rows left join report_types using (report_type_text)"
            row_issues(
                con,
                report,
                year,
                ERROR,
                "report_type_unknown",
                "'报告类型“' || coalesce(report_type_text, '') || '”无法对应到规定的报告（' || $names || '），本行未计入。'",
                f"own and {unknown}",
                known,
                names=names,
            )
            con.execute(
                "update ledger_rows set rejected = true where seq in "
                f"(select seq from {known} where {unknown})"
            )
            return con.sql(
                f"select {', '.join(COLUMNS)} from {known} where counted and not rejected order by seq"
            ).to_arrow_table()
        finally:
            con.unregister("report_types")

    report, staged = stage_ledger(con, "filings", registry, years, loaded_at, stage_rows, COLUMNS, only)
    return {
        "stg_filings": staged,
        "stg_filing_files": report.files_frame(),
        "stg_filing_issues": report.issues_table(),
    }
