"""The pipeline's steps as plain functions over the work database.

Dagster assets (pipelines/defs) call exactly these; tests may call them without Dagster.
"""
from __future__ import annotations

import json

import pandas as pd

from pipelines.lib import checks, ingest, marts, staging
from pipelines.lib.faults import crashpoint
from pipelines.lib.rulebook import Rulebook
from pipelines.lib.warehouse import Paths, publish, transaction, utc_now, work_connection


class InputError(ValueError):
    """Wrong arguments or inputs (a raw folder that does not exist …): one Chinese sentence."""


def ingest_raw(paths: Paths, rules: Rulebook, workers: int = 2) -> dict:
    """Discover, hash and parse new content; stage the unit registry. Not per year: a file's year is
    only known once it has been read (the year written inside wins over its folder)."""
    if not paths.raw_dir.is_dir():
        raise InputError(f"报送文件目录不存在：{paths.raw_dir}。请检查路径（--raw 或 FAZHI_RAW_DIR）。")
    with work_connection(paths) as con:
        files = ingest.discover(paths.raw_dir)
        ingest.hash_files(con, paths.raw_dir, files)
        stats = ingest.refresh_parse_cache(con, paths.raw_dir, files, workers=workers)
        with transaction(con):
            ingest.record_raw_files(con, files)
        crashpoint("ingest.listed")
        with transaction(con):
            registry, issues = staging.stage_units(con, rules)
            con.execute("create or replace table stg_registry_issues (issue json)")
            if issues:
                con.executemany("insert into stg_registry_issues values (?)",
                                [[json.dumps(i, ensure_ascii=False)] for i in issues])
            crashpoint("ingest.registry")
            marts.publish_reference(con, rules)
    return {"files_seen": stats.files_seen, "files_parsed": stats.files_parsed, "files_cached": stats.files_cached,
            "rows_parsed": stats.rows_parsed, "units": len(registry.units), "registry_issues": len(issues)}


def years_present(paths: Paths) -> list[int]:
    """Years with any data: folder years, and years written inside score sheets and ledger rows."""
    with work_connection(paths) as con:
        rows = con.execute("""
            select distinct folder_year from raw_files where folder_year is not null
            union select distinct try_cast(unnest(json_extract(meta, '$.sheets.*.year')) as integer)
                  from parsed_files where kind = 'score_sheet' and sha256 in (select sha256 from raw_files)
        """).fetchall()
    return sorted({int(r[0]) for r in rows if r[0] is not None})


def _registry_issues(con) -> list[dict]:
    try:
        return [json.loads(r[0]) for r in con.execute("select issue from stg_registry_issues").fetchall()]
    except Exception:  # noqa: BLE001 - no registry staged yet
        return []


def stage_year(paths: Paths, rules: Rulebook, year: int) -> dict:
    """Stage a year, and note that its marts are now behind its staging until its last step is done:
    publication refuses while any year is left half rebuilt (a run killed in between)."""
    with work_connection(paths) as con, transaction(con):
        registry = staging.load_registry(con)
        stats = staging.YearStager(con, year, rules, registry, utc_now()).run()
        con.execute("insert or replace into year_builds values (?, ?, null)", [year, utc_now()])
        return stats


def build_year_marts(paths: Paths, rules: Rulebook, year: int) -> None:
    with work_connection(paths) as con, transaction(con):
        marts.build_year(con, rules, year, _registry_issues(con))


def ranking_years(paths: Paths, year: int) -> list[int]:
    """The year, and the next one when it has been built: its prev_rank and changes read this year's
    scores, so recomputing a year restates them too."""
    with work_connection(paths) as con:
        marts.ensure_marts(con)
        later = con.execute("select count(*) from marts.unit_scores where year = ?", [year + 1]).fetchone()[0]
    return [year, year + 1] if later else [year]


def build_rankings(paths: Paths, rules: Rulebook, years: list[int]) -> None:
    with work_connection(paths) as con, transaction(con):
        for year in years:
            marts.build_region_rankings(con, rules, year)
            crashpoint("marts.rankings")


def build_weak_spots(paths: Paths, rules: Rulebook, years: list[int]) -> None:
    """The last step of a year: its build is complete once these are written."""
    with work_connection(paths) as con, transaction(con):
        for year in years:
            marts.build_weak_spots(con, rules, year)
        crashpoint("marts.weak_spots")
        con.execute("update year_builds set completed_at = ? where year = ?", [utc_now(), years[0]])


def unfinished_years(paths: Paths) -> list[int]:
    """Years whose rebuild began and did not finish (a run killed between its steps)."""
    with work_connection(paths) as con:
        return [y for (y,) in con.execute(
            "select year from year_builds where completed_at is null or completed_at < started_at order by year"
        ).fetchall()]


def run_checks(paths: Paths, year: int, layer: str) -> list[checks.CheckResult]:
    """Run a layer's data tests for a year and remember the outcome: publication reads it."""
    with work_connection(paths) as con, transaction(con):
        results = checks.staging_checks(con, year) if layer == "staging" else checks.mart_checks(con, year)
        con.execute("create table if not exists check_results (year integer, layer varchar, name varchar, "
                    "passed boolean, detail varchar, checked_at timestamp)")
        con.execute("delete from check_results where year = ? and layer = ?", [year, layer])
        frame = pd.DataFrame([(year, layer, r.name, r.passed, r.detail, utc_now()) for r in results],
                             columns=["year", "layer", "name", "passed", "detail", "checked_at"])
        con.execute("insert into check_results by name select * from frame")
        crashpoint("checks.recorded")
        return results


class PublicationBlocked(RuntimeError):
    """A year in the work database failed a blocking check: the served marts stay as they were."""


def publish_marts(paths: Paths, rules: Rulebook) -> str:
    """Publish every year of the work database, but only if each one passed its latest checks."""
    with work_connection(paths) as con:
        n = con.execute("select count(*) from raw_files").fetchone()[0]
        con.execute("create table if not exists check_results (year integer, layer varchar, name varchar, "
                    "passed boolean, detail varchar, checked_at timestamp)")
        failing = con.execute("""
            select year, string_agg(name || ': ' || detail, '; ') from check_results
            where not passed group by year order by year""").fetchall()
        unchecked = con.execute("""
            select distinct year from marts.unit_scores
            where year not in (select year from check_results where layer = 'marts') order by year""").fetchall()
    unfinished = unfinished_years(paths)
    if unfinished:
        raise PublicationBlocked(
            f"{'、'.join(map(str, unfinished))} 年度的重算上次未完成（运行中断），marts 未发布，仍为上次发布的版本。"
            "请运行 fazhi run（会一并重算这些年度），或在 Dagster 界面重算这些年度。")
    if failing or unchecked:
        detail = "；".join(f"{y} 年度：{d}" for y, d in failing)
        if unchecked:
            detail += f"；未检查的年度：{'、'.join(str(y) for (y,) in unchecked)}"
        raise PublicationBlocked(f"有阻断性检查未通过，marts 未发布，仍为上次发布的版本。{detail}")
    return str(publish(paths, n, rules.id, rules.fingerprint, rules.ranking.describe(rules.role_names)))


def summary(paths: Paths, years: list[int]) -> dict:
    """What a clerk reads after a run: files and rows by outcome, issues by code."""
    with work_connection(paths) as con:
        params = {"years": years}
        files = con.execute("""select status, count(*), sum(rows_read), sum(rows_loaded), sum(rows_rejected)
                               from marts.submissions where list_contains($years, year) group by status order by status""",
                            params).fetchall()
        issues = con.execute("""select severity, code, count(*) from marts.ingest_issues
                                where year is null or list_contains($years, year)
                                group by all order by severity, count(*) desc""", params).fetchall()
    return {"files": files, "issues": issues}


def issues_frame(paths: Paths) -> pd.DataFrame:
    with work_connection(paths) as con:
        return con.execute("select * from marts.ingest_issues").df()
