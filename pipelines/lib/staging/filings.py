"""Filing registers: each row's report type mapped to a rulebook filing requirement by its keywords."""

from __future__ import annotations

from datetime import datetime

import duckdb
import pandas as pd

from pipelines.lib.names import UnitRegistry
from pipelines.lib.records import ERROR
from pipelines.lib.rulebook import Rulebook
from pipelines.lib.schema import source_tables
from pipelines.lib.staging.common import Report, concat_rows, int_or_none
from pipelines.lib.staging.ledgers import stage_ledger

COLUMNS = source_tables()["stg_filings"].column_names


def stage_filings(
    con: duckdb.DuckDBPyConnection,
    rules: Rulebook,
    registry: UnitRegistry,
    years: list[int],
    loaded_at: datetime,
) -> dict[str, pd.DataFrame]:
    names = "、".join(f.name for f in rules.filing_requirements.values())

    def stage_rows(report: Report, year: int, rows: pd.DataFrame, staged: list[pd.DataFrame]) -> pd.Series:
        report_type = {t: rules.classify_report(t) for t in rows["report_type_text"].dropna().unique()}
        rows["report_type"] = rows["report_type_text"].map(report_type.get)
        unknown = ~rows["rejected"] & rows["report_type"].isna()
        for r in rows[unknown & (rows["folder_year"] == year)].itertuples(index=False):
            report.issue(
                year,
                r.file,
                r.sheet,
                int_or_none(r.row),
                r.unit,
                ERROR,
                "report_type_unknown",
                f"报告类型“{r.report_type_text}”无法对应到规定的报告（{names}），本行未计入。",
            )
        ok = rows[~rows["rejected"] & ~unknown & (rows["row_year"] == year)].copy()
        if not ok.empty:
            ok["year"] = year
            staged.append(ok[COLUMNS])
        return unknown

    report, staged = stage_ledger(con, "filings", registry, years, loaded_at, stage_rows)
    return {
        "stg_filings": concat_rows(staged, COLUMNS),
        "stg_filing_files": report.files_frame(),
        "stg_filing_issues": report.issues_frame(),
    }
