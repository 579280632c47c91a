"""Normative-document registers: each document of the year with its filing and compliance."""

from __future__ import annotations

from datetime import datetime

import duckdb
import pandas as pd

from pipelines.lib.names import UnitRegistry
from pipelines.lib.rulebook import Rulebook
from pipelines.lib.schema import source_tables
from pipelines.lib.staging.common import Report, concat_rows
from pipelines.lib.staging.ledgers import stage_ledger

COLUMNS = source_tables()["stg_normative_docs"].column_names


def stage_normative_docs(
    con: duckdb.DuckDBPyConnection,
    rules: Rulebook,
    registry: UnitRegistry,
    years: list[int],
    loaded_at: datetime,
) -> dict[str, pd.DataFrame]:
    def stage_rows(report: Report, year: int, rows: pd.DataFrame, staged: list[pd.DataFrame]) -> pd.Series:
        ok = rows[~rows["rejected"] & (rows["row_year"] == year)].copy()
        if not ok.empty:
            ok["year"] = year
            staged.append(ok[COLUMNS])
        return pd.Series(False, index=rows.index)

    report, staged = stage_ledger(con, "normative_docs", registry, years, loaded_at, stage_rows)
    return {
        "stg_normative_docs": concat_rows(staged, COLUMNS),
        "stg_normative_doc_files": report.files_frame(),
        "stg_normative_doc_issues": report.issues_frame(),
    }
