"""Meeting and study ledgers: each meeting classified by the rulebook's meeting types, repeats counted once."""

from __future__ import annotations

from datetime import datetime

import duckdb
import pyarrow as pa

from pipelines.lib.names import UnitRegistry
from pipelines.lib.records import WARNING
from pipelines.lib.rulebook import Rulebook
from pipelines.lib.schema import source_tables
from pipelines.lib.staging.common import Report, StagedTable
from pipelines.lib.staging.ledgers import row_issues, stage_ledger

COLUMNS = source_tables()["stg_meetings"].column_names


def stage_meetings(
    con: duckdb.DuckDBPyConnection,
    rules: Rulebook,
    registry: UnitRegistry,
    years: list[int],
    loaded_at: datetime,
    only: list[str] | None = None,
) -> dict[str, StagedTable]:
    """The meetings' tables, made from every current file, or from the files `only` names."""
    study_types = {m.id for m in rules.meeting_types.values() if m.study}

    def stage_rows(con: duckdb.DuckDBPyConnection, report: Report, year: int) -> pa.Table:
        # Classified once per distinct (type, topic): millions of rows share a few thousand pairs.
        pairs = con.execute(
            "select distinct coalesce(type_text, ''), coalesce(topic, '') from ledger_rows "
            "where counted and not rejected"
        ).fetchall()
        kinds = [rules.classify_meeting(type_text, topic) for type_text, topic in pairs]
        classes = pa.table(
            {
                "type_text": [p[0] for p in pairs],
                "topic": [p[1] for p in pairs],
                "meeting_types": [ts or ["other"] for ts in kinds],
                "is_study": [any(t in study_types for t in ts) for ts in kinds],
                "unclassified": [not ts for ts in kinds],
            },
            schema=pa.schema(
                [
                    ("type_text", pa.string()),
                    ("topic", pa.string()),
                    ("meeting_types", pa.list_(pa.string())),
                    ("is_study", pa.bool_()),
                    ("unclassified", pa.bool_()),
                ]
            ),
        )
        con.register("meeting_classes", classes)
        try:
            # a meeting repeats one listed before it: the same unit, date, type and topic at a lower seq
            # (grouped and joined back: a window over every column of millions of rows costs twice that).
            # Only keys listed more than once are joined back, found first by their hash (one number to
            # group millions of rows by; a collision only adds a key that the grouping then drops): at
            # nation scale 28,062 keys of 2.27 M, the query 1.19–1.28 s against 1.62–1.87 s.
            # `counted` is read again rather than kept, and the rows are not sorted: both held every
            # column of a nation's 2.3 M meetings at once and spilled a gigabyte to disk (3.2 s; 1.3 s
            # without). No mart reads the staged rows' order, and their fingerprint is of the rows as
            # a multiset (pipelines/lib/fingerprints.py).
            meetings = con.sql(
                """with counted as not materialized (
                       select * replace (coalesce(type_text, '') as type_text, coalesce(topic, '') as topic)
                       from ledger_rows where counted and not rejected),
                   repeated as (
                       select hash(unit_id, date, type_text, topic) as h from counted group by h having count(*) > 1),
                   firsts as (
                       select unit_id, date, type_text, topic, min(seq) as first from counted
                       where hash(unit_id, date, type_text, topic) in (select h from repeated)
                       group by all having count(*) > 1)
                   select c.year, c.unit_id, c.role, c.region, c.date, quarter(c.date) as quarter,
                          (quarter(c.date) + 1) // 2 as half, c.type_text, c.topic, k.meeting_types, k.is_study,
                          c.hours, coalesce(c.seq > f.first, false) as is_duplicate, c.file, c.sheet, c."row",
                          c.unit, c.own, k.unclassified, c.seq
                   from counted c
                   left join firsts f on f.unit_id is not distinct from c.unit_id and f.date is not distinct from c.date
                                and f.type_text = c.type_text and f.topic = c.topic
                   join meeting_classes k on k.type_text = c.type_text and k.topic = c.topic"""
            ).to_arrow_table()
        finally:
            con.unregister("meeting_classes")
        con.register("year_meetings", meetings)
        try:
            # The year's staged meetings, each with its unit: their issues' units need no look-up.
            # Rows dated here from another year's folder: their own file reports them.
            row_issues(
                con,
                report,
                year,
                WARNING,
                "meeting_type_other",
                "'会议“' || type_text || ' ' || topic || '”无法归入任何规定的会议/学法类型，已记为“其他”，不计入履职频次。'",
                "own and unclassified",
                "year_meetings",
                staged=True,
            )
            row_issues(
                con,
                report,
                year,
                WARNING,
                "duplicate_meeting",
                "strftime(date, '%Y-%m-%d') || '“' || if(topic <> '', topic, type_text) "
                "|| '”与已登记的会议重复（同一单位、日期、类型、主题），只计一次。'",
                "own and is_duplicate",
                "year_meetings",
                staged=True,
            )
        finally:
            con.unregister("year_meetings")
        row_issues(
            con,
            report,
            year,
            WARNING,
            "date_outside_year",
            "'会议日期' || strftime(date, '%Y-%m-%d') || '不在' || $year::varchar || '年度内，计入' "
            "|| row_year::varchar || '年度。'",
            "own and not counted and not rejected",
        )
        return meetings.select(COLUMNS)

    report, staged = stage_ledger(con, "meetings", registry, years, loaded_at, stage_rows, COLUMNS, only)
    return {
        "stg_meetings": staged,
        "stg_meeting_files": report.files_frame(),
        "stg_meeting_issues": report.issues_table(),
    }
