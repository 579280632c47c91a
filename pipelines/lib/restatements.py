"""Restatements: when a publication changes a score or a rank that was already published, keep what it
was, what it is, when, and which files changed (SPEC §6; the marts are what leaders were told).

Computed while a new warehouse is built, against the one still served, so the record is published
atomically with the figures it explains and never twice.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb

from pipelines.lib.warehouse import one_row, sql_text

RESTATEMENTS_DDL = """
create table if not exists marts.restatements (restated_at timestamp, year integer, scope varchar,
    subject_id varchar, subject varchar, measure varchar, old_value double, new_value double,
    previously_published_at timestamp, reason varchar)
"""

# Scores are compared at the precision they are shown and ranked at, so float noise is no restatement.
_CHANGES_SQL = """
insert into marts.restatements
with pairs as (
    select n.year, 'region' as scope, n.region as subject_id, n.region as subject, n.region,
           o.score as old_score, n.score as new_score, o.rank as old_rank, n.rank as new_rank
    from marts.region_rankings n join served.marts.region_rankings o using (year, region)
    union all
    select n.year, 'unit', n.unit_id, n.unit_name, n.region, o.score, n.score, o.rank, n.rank
    from marts.unit_scores n join served.marts.unit_scores o using (year, unit_id)
), changed as (
    select year, scope, subject_id, subject, region, 'score' as measure, old_score as old_value,
           new_score as new_value
    from pairs where round(old_score, 4) is distinct from round(new_score, 4)
    union all
    select year, scope, subject_id, subject, region, 'rank', old_rank, new_rank
    from pairs where old_rank is distinct from new_rank
), file_changes as (
    select coalesce(n.year, o.year) as year, coalesce(n.unit_id, o.unit_id) as unit_id,
           case when o.file is null then '新增' when n.file is null then '移除' else '更正' end
               || '：' || coalesce(n.file, o.file) as change
    from marts.submissions n
    full join served.marts.submissions o on n.file = o.file and n.year = o.year
    where o.file is null or n.file is null or n.sha256 is distinct from o.sha256
), located as (
    select f.year, f.unit_id, u.region, f.change from file_changes f left join marts.units u using (unit_id)
), explained as (
    select c.*,
           coalesce(
               (select string_agg(l.change, '；' order by l.change) from located l
                where l.year = c.year and ((c.scope = 'unit' and l.unit_id = c.subject_id)
                                           or (c.scope = 'region' and l.region = c.region))),
               (select '本单位文件未变，受同年度其他文件变化影响：' || string_agg(l.change, '；' order by l.change)
                from located l where l.year = c.year)) as files
    from changed c
)
select $now, year, scope, subject_id, subject, measure, old_value, new_value, $before,
       concat_ws('；', files, case when $rules_changed then '考核规则已更新' end,
                 case when files is null and not $rules_changed
                      then '该年度文件未变（单位名册或其他年度数据变化所致）' end)
from explained
"""


def record(con: duckdb.DuckDBPyConnection, served: Path, now: datetime) -> int:
    """Into the warehouse being built on `con`: the history carried over from the served file, plus
    this publication's changes against it. Returns how many changes were added."""
    con.execute(RESTATEMENTS_DDL)
    if not served.exists():
        return 0
    con.execute(f"attach {sql_text(str(served))} as served (read_only)")
    try:
        tables = {
            r[0]
            for r in con.execute("""select table_name from duckdb_tables()
                                               where database_name = 'served' and schema_name = 'marts'""").fetchall()
        }
        if "restatements" in tables:
            con.execute("insert into marts.restatements select * from served.marts.restatements")
        if not {"region_rankings", "unit_scores", "submissions", "publication"} <= tables:
            return 0  # served by a version without these tables: nothing comparable
        before, fingerprint = one_row(
            con, "select published_at, rulebook_fingerprint from served.marts.publication"
        )
        current = one_row(con, "select rulebook_fingerprint from marts.publication")[0]
        count_before = one_row(con, "select count(*) from marts.restatements")[0]
        con.execute(_CHANGES_SQL, {"now": now, "before": before, "rules_changed": fingerprint != current})
        return one_row(con, "select count(*) from marts.restatements")[0] - count_before
    finally:
        con.execute("detach served")
