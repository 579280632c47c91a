"""Normative-document registers: each document of the year with its filing and compliance."""

from __future__ import annotations

from datetime import datetime

import duckdb
import pyarrow as pa

from pipelines.lib.names import UnitRegistry
from pipelines.lib.rulebook import Rulebook
from pipelines.lib.schema import source_tables
from pipelines.lib.staging.common import Report, StagedTable
from pipelines.lib.staging.ledgers import stage_ledger

COLUMNS = source_tables()["stg_normative_docs"].column_names


def stage_normative_docs(
    con: duckdb.DuckDBPyConnection,
    rules: Rulebook,
    registry: UnitRegistry,
    years: list[int],
    loaded_at: datetime,
    only: list[str] | None = None,
) -> dict[str, StagedTable]:
    """The tables, made from every current file, or from the files `only` names (a row is weighed
    against no other file's: a file staged alone makes the rows staging every file makes of it)."""

    def stage_rows(con: duckdb.DuckDBPyConnection, report: Report, year: int) -> pa.Table:
        return con.sql(
            f"select {', '.join(COLUMNS)} from ledger_rows where counted and not rejected order by seq"
        ).to_arrow_table()

    report, staged = stage_ledger(
        con, "normative_docs", registry, years, loaded_at, stage_rows, COLUMNS, only
    )
    return {
        "stg_normative_docs": staged,
        "stg_normative_doc_files": report.files_frame(),
        "stg_normative_doc_issues": report.issues_table(),
    }
