"""Rectification ledgers (整改台账): one row per problem a unit must fix. Units resend their ledger as
the work goes on, so a problem (same unit, source and description) that several files list counts
once, as the most recently sent file states it."""

from __future__ import annotations

from datetime import datetime

import duckdb
import pandas as pd

from pipelines.lib.names import UnitRegistry
from pipelines.lib.rulebook import Rulebook
from pipelines.lib.schema import source_tables
from pipelines.lib.staging.common import Report, concat_rows
from pipelines.lib.staging.ledgers import stage_ledger
from pipelines.lib.text import to_halfwidth

COLUMNS = source_tables()["stg_rectifications"].column_names


def _item_key(text: str) -> str:
    """The same problem written again: compared without spaces, punctuation width or case."""
    return "".join(to_halfwidth(text).lower().split())


def stage_rectifications(
    con: duckdb.DuckDBPyConnection,
    rules: Rulebook,
    registry: UnitRegistry,
    years: list[int],
    loaded_at: datetime,
) -> dict[str, pd.DataFrame]:
    sent = dict(con.execute("select path, mtime_ns from raw_files where kind = 'rectifications'").fetchall())

    def stage_rows(report: Report, year: int, rows: pd.DataFrame, staged: list[pd.DataFrame]) -> pd.Series:
        ok = rows[~rows["rejected"] & (rows["row_year"] == year)].copy()
        if not ok.empty:
            ok["year"] = year
            ok["file"] = ok["file"].astype(str)
            ok["_sent"] = ok["file"].map(sent)
            ok["_key"] = ok["description"].map(_item_key)
            ok = ok.sort_values(["_sent", "file", "sheet", "row"], ascending=[False, False, True, True])
            keys = ["unit_id", "source", "_key"]
            ok["versions"] = ok.groupby(keys, dropna=False)["row"].transform("size")
            ok = ok.drop_duplicates(keys, keep="first").sort_values(["file", "sheet", "row"])
            staged.append(ok[COLUMNS])
        return pd.Series(False, index=rows.index)

    report, staged = stage_ledger(con, "rectifications", registry, years, loaded_at, stage_rows)
    return {
        "stg_rectifications": concat_rows(staged, COLUMNS),
        "stg_rectification_files": report.files_frame(),
        "stg_rectification_issues": report.issues_frame(),
    }
