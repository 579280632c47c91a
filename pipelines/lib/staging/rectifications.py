"""Rectification ledgers (整改台账): one row per problem a unit must fix. Units resend their ledger as
the work goes on, so a problem (same unit, source and description) that several files list counts
once, as the most recently sent file states it."""

from __future__ import annotations

from datetime import datetime

import duckdb
import pyarrow as pa

from pipelines.lib.names import UnitRegistry
from pipelines.lib.rulebook import Rulebook
from pipelines.lib.schema import source_tables
from pipelines.lib.staging.common import Report, StagedTable
from pipelines.lib.staging.ledgers import stage_ledger, text_table
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
) -> dict[str, StagedTable]:
    keys: dict[str, str] = {}  # description → its key, over every year

    def stage_rows(con: duckdb.DuckDBPyConnection, report: Report, year: int) -> pa.Table:
        texts = [
            d
            for (d,) in con.execute(
                "select distinct description from ledger_rows where counted and not rejected"
            ).fetchall()
        ]
        for text in texts:
            if text is not None and text not in keys:
                keys[text] = _item_key(text)
        con.register("item_keys", text_table(description=texts, item_key=[keys.get(t) for t in texts]))
        try:
            # the most recently sent file's row of each problem, with how many rows state it
            return con.sql(
                f"""select {", ".join(COLUMNS)} from (
                      select l.*, count(*) over problem as versions,
                             row_number() over (problem order by r.mtime_ns desc, l.file desc,
                                                l.sheet asc nulls last, l."row" asc) as pick
                      from ledger_rows l
                      left join item_keys k on k.description is not distinct from l.description
                      join raw_files r on r.path = l.file and r.kind = 'rectifications'
                      where l.counted and not l.rejected
                      window problem as (partition by l.unit_id, l.source, k.item_key))
                    where pick = 1
                    order by file, sheet nulls last, "row"
                """
            ).to_arrow_table()
        finally:
            con.unregister("item_keys")

    report, staged = stage_ledger(con, "rectifications", registry, years, loaded_at, stage_rows, COLUMNS)
    return {
        "stg_rectifications": staged,
        "stg_rectification_files": report.files_frame(),
        "stg_rectification_issues": report.issues_table(),
    }
