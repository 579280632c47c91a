"""Data tests on staging and marts: each returns (passed, what was found), like a dbt test.

They run as Dagster asset checks (blocking: a failure stops publication) and are plain functions
so that tests and `fazhi run` can call them directly.
"""
from __future__ import annotations

from dataclasses import dataclass

import duckdb


@dataclass
class CheckResult:
    name: str
    passed: bool
    failures: int
    detail: str


def _count(con, sql: str, params: dict) -> int:
    return int(con.execute(f"select count(*) from ({sql})", params).fetchone()[0])


def _check(con, name: str, sql: str, params: dict, what: str) -> CheckResult:
    n = _count(con, sql, params)
    return CheckResult(name, n == 0, n, f"{n} {what}" if n else "ok")


def unique_key(con, table: str, key: list[str], year: int) -> CheckResult:
    cols = ", ".join(f'"{k}"' for k in key)
    return _check(con, f"{table}_unique", f"select {cols} from {table} where year = $y group by all having count(*) > 1",
                  {"y": year}, f"duplicate keys ({cols})")


def staging_checks(con: duckdb.DuckDBPyConnection, year: int) -> list[CheckResult]:
    p = {"y": year}
    return [
        unique_key(con, "stg_task_scores", ["unit_id", "role", "task_no"], year),
        _check(con, "stg_task_scores_units_registered",
               "select unit_id from stg_task_scores where year = $y and unit_id not in (select unit_id from stg_units)",
               p, "task rows of units not in the registry"),
        _check(con, "stg_task_scores_points_in_bounds",
               "select * from stg_task_scores where year = $y and (points < 0 or points > max_points + 1e-9)",
               p, "task points outside 0..max"),
        _check(con, "stg_submissions_rows_reconciled",
               "select * from stg_submissions where year = $y and rows_read <> rows_loaded + rows_rejected",
               p, "files where rows read ≠ loaded + rejected"),
        _check(con, "stg_rejected_rows_have_issues", """
               select s.file from stg_submissions s
               left join (select file, count(distinct (sheet, "row")) as n from stg_issues
                          where year = $y and severity = 'error' and "row" is not null group by file) i using (file)
               where s.year = $y and s.rows_rejected > coalesce(i.n, 0)""",
               p, "files with rejected rows lacking an issue row"),
        _check(con, "stg_meetings_units_registered",
               "select unit_id from stg_meetings where year = $y and unit_id not in (select unit_id from stg_units)",
               p, "meetings of units not in the registry"),
    ]


def mart_checks(con: duckdb.DuckDBPyConnection, year: int) -> list[CheckResult]:
    p = {"y": year}
    return [
        unique_key(con, "marts.unit_scores", ["unit_id", "role"], year),
        unique_key(con, "marts.task_scores", ["unit_id", "role", "task_no"], year),
        unique_key(con, "marts.requirement_compliance", ["period", "unit_id", "requirement_id"], year),
        unique_key(con, "marts.study_sessions_quarterly", ["quarter", "unit_id"], year),
        unique_key(con, "marts.filing_rates", ["unit_id", "report_type"], year),
        unique_key(con, "marts.normative_doc_rates", ["unit_id"], year),
        unique_key(con, "marts.region_rankings", ["region"], year),
        _check(con, "unit_scores_every_unit",
               "select unit_id from marts.units where unit_id not in (select unit_id from marts.unit_scores where year = $y)",
               p, "registry units without a unit_scores row"),
        _check(con, "unit_scores_in_bounds",
               "select * from marts.unit_scores where year = $y and (score < 0 or score > max_score + 1e-9)",
               p, "scores outside 0..max"),
        _check(con, "unit_scores_status_accepted",
               "select * from marts.unit_scores where year = $y and status not in ('scored', 'incomplete', 'missing')",
               p, "unknown status values"),
        _check(con, "task_scores_relationship",
               "select * from marts.task_scores t where year = $y and not exists (select 1 from marts.unit_scores u "
               "where u.year = t.year and u.unit_id = t.unit_id and u.role = t.role)",
               p, "task rows without their unit score"),
        _check(con, "region_rankings_rank_change",
               "select * from marts.region_rankings where year = $y and rank_change is distinct from prev_rank - rank",
               p, "rank_change ≠ prev_rank − rank"),
        _check(con, "ingest_issues_severity_accepted",
               "select * from marts.ingest_issues where year = $y and severity not in ('error', 'warning')",
               p, "unknown severities"),
        _check(con, "submissions_rows_reconciled",
               "select * from marts.submissions where year = $y and rows_read <> rows_loaded + rows_rejected",
               p, "files where rows read ≠ loaded + rejected"),
    ]
