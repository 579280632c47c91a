"""Meeting and study ledgers: each meeting classified by the rulebook's meeting types, repeats counted once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from pipelines.lib.names import UnitRegistry
from pipelines.lib.records import WARNING
from pipelines.lib.rulebook import Rulebook
from pipelines.lib.schema import source_tables
from pipelines.lib.staging.common import Report, concat_rows, int_or_none
from pipelines.lib.staging.ledgers import stage_ledger

COLUMNS = source_tables()["stg_meetings"].column_names


def stage_meetings(
    con: duckdb.DuckDBPyConnection,
    rules: Rulebook,
    registry: UnitRegistry,
    years: list[int],
    loaded_at: datetime,
) -> dict[str, pd.DataFrame]:
    study_types = {m.id for m in rules.meeting_types.values() if m.study}

    def stage_rows(report: Report, year: int, rows: pd.DataFrame, staged: list[pd.DataFrame]) -> pd.Series:
        ok = rows[~rows["rejected"] & (rows["row_year"] == year)].copy()
        none = pd.Series(False, index=rows.index)
        if ok.empty:
            return none
        ok["type_text"] = ok["type_text"].fillna("")
        ok["topic"] = ok["topic"].fillna("")
        # Classified once per distinct (type, topic); millions of rows share a few thousand pairs.
        codes, pairs = pd.factorize(ok["type_text"] + "\x1f" + ok["topic"])
        kinds = [rules.classify_meeting(*pair.split("\x1f", 1)) for pair in pairs]
        ok["is_study"] = np.array([any(t in study_types for t in ts) for ts in kinds], dtype=bool)[codes]
        unclassified = pd.Series(np.array([not ts for ts in kinds], dtype=bool)[codes], index=ok.index)
        labelled = [ts or ["other"] for ts in kinds]
        ok["meeting_types"] = [labelled[c] for c in codes.tolist()]
        own = ok["folder_year"] == year  # rows dated here from another year's folder: their file reports them
        other = own & unclassified
        report.issue_rows(
            year,
            ok[other],
            WARNING,
            "meeting_type_other",
            "会议“"
            + ok.loc[other, "type_text"]
            + " "
            + ok.loc[other, "topic"]
            + "”无法归入任何规定的会议/学法类型，已记为“其他”，不计入履职频次。",
        )
        ok["is_duplicate"] = ok.duplicated(subset=["unit_id", "date", "type_text", "topic"], keep="first")
        dup = own & ok["is_duplicate"]
        shown = ok.loc[dup, "topic"].where(ok.loc[dup, "topic"] != "", ok.loc[dup, "type_text"])
        report.issue_rows(
            year,
            ok[dup],
            WARNING,
            "duplicate_meeting",
            pd.to_datetime(ok.loc[dup, "date"]).dt.strftime("%Y-%m-%d")
            + "“"
            + shown
            + "”与已登记的会议重复（同一单位、日期、类型、主题），只计一次。",
        )
        dated_elsewhere = rows[~rows["rejected"] & (rows["folder_year"] == year) & (rows["row_year"] != year)]
        r: Any  # a frame row: its fields have the table's column types, which the checker cannot see
        for r in dated_elsewhere.itertuples(index=False):
            report.issue(
                year,
                r.file,
                r.sheet,
                int_or_none(r.row),
                r.unit,
                WARNING,
                "date_outside_year",
                f"会议日期{r.date:%Y-%m-%d}不在{year}年度内，计入{int(r.row_year)}年度。",
            )
        ok["date"] = pd.to_datetime(ok["date"])
        ok["quarter"] = ok["date"].dt.quarter
        ok["half"] = (ok["quarter"] + 1) // 2
        ok["year"] = year
        staged.append(ok[COLUMNS])
        return none

    report, staged = stage_ledger(con, "meetings", registry, years, loaded_at, stage_rows)
    return {
        "stg_meetings": concat_rows(staged, COLUMNS),
        "stg_meeting_files": report.files_frame(),
        "stg_meeting_issues": report.issues_frame(),
    }
