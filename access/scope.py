"""Row-level scope: what a viewer limited to one region can read of the published marts.

Each mart declares its filter once, in its model's YAML (`config.meta.row_filter`), in SQL over the
table's own columns with three placeholders:
    {region}  the viewer's region, as a quoted literal
    {units}   the ids of the units registered in that region (a subquery)
    {files}   the files those units submitted (a subquery)
`true` means every viewer reads every row (the published ranking, the rulebook). A table without a
declared filter is not readable by a scoped viewer at all: a new table stays closed until it says who
may read it.

A scoped viewer's queries never touch the published file: `scoped_copy` builds an in-memory database
holding only the permitted rows of each table, under the same names (marts.*), and detaches the file.
So no query, widget, URL parameter or export can reach another region's rows: they are not there.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from pipelines.lib.schema import mart_tables
from pipelines.lib.warehouse import sql_text

# Tables the publication itself writes (pipelines/lib/warehouse.py, restatements.py, rulebook_history.py),
# not dbt models.
PUBLISH_ROW_FILTERS = {
    "publication": "true",
    "rulebook_years": "true",
    "rulebook_snapshots": "true",
    "restatements": "(scope = 'region' and subject_id = {region}) or (scope = 'unit' and subject_id in {units})",
}


def row_filters() -> dict[str, str]:
    filters = {name: t.row_filter for name, t in mart_tables().items() if t.row_filter}
    return {**filters, **PUBLISH_ROW_FILTERS}


def filter_sql(template: str, region: str, source: str = "src") -> str:
    units = f"(select unit_id from {source}.marts.units where region = {sql_text(region)})"
    files = f"(select file from {source}.marts.submissions where unit_id in {units})"
    return template.format(region=sql_text(region), units=units, files=files)


def scoped_copy(warehouse: Path, region: str) -> duckdb.DuckDBPyConnection:
    """An in-memory database with the rows of `warehouse` a viewer of `region` may read, file detached."""
    con = duckdb.connect(":memory:")
    try:
        con.execute(f"attach {sql_text(str(warehouse))} as src (read_only)")
        present = {
            r[0]
            for r in con.execute(
                "select table_name from duckdb_tables() where database_name = 'src' and schema_name = 'marts'"
            ).fetchall()
        }
        con.execute("create schema marts")
        for table, template in sorted(row_filters().items()):
            if table in present:
                con.execute(
                    f"create table marts.{table} as select * from src.marts.{table} "
                    f"where {filter_sql(template, region)}"
                )
        con.execute("detach src")
    except BaseException:
        con.close()
        raise
    return con
