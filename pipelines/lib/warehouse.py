"""The work database and the published marts file.

Two DuckDB files:
- the work database (`<marts dir>/.work/<name>_work.duckdb`): the pipeline's own state — file
  hashes, the parse cache, raw_* listings, stg_* tables and the marts being built. Every group of
  writes that belongs together is one transaction (`transaction`), so a run killed at any moment
  leaves the last committed state, never half of one; a year's slice is replaced whole (delete the
  year, insert). One run at a time (pipelines.lib.runlock).
- the published warehouse (`data/marts/fazhi.duckdb`): a copy of the `marts` schema, built as a new
  file and swapped in with os.replace, so readers never see a half-written warehouse.
"""
from __future__ import annotations

import os
import re
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import duckdb

from pipelines.lib.faults import crashpoint

DEFAULT_RAW = Path("data/raw")
DEFAULT_WAREHOUSE = Path("data/marts/fazhi.duckdb")

# Public contract (SPEC §5): tables of the published `marts` schema, in publishing order.
MART_TABLES = (
    "unit_scores", "region_rankings", "task_scores", "requirement_compliance",
    "study_sessions_quarterly", "filing_rates", "normative_doc_rates", "weak_spots",
    "ingest_issues", "submissions",
)
# Extra tables published beside the contract: the registry and the rulebook in force, for tracing.
EXTRA_TABLES = ("units", "meetings", "rulebook_requirements", "score_sheet_tasks", "publication", "restatements")


@dataclass(frozen=True)
class Paths:
    raw_dir: Path
    warehouse: Path

    @classmethod
    def from_env(cls, raw: str | Path | None = None, warehouse: str | Path | None = None) -> "Paths":
        return cls(
            Path(raw or os.environ.get("FAZHI_RAW_DIR") or DEFAULT_RAW).resolve(),
            Path(warehouse or os.environ.get("FAZHI_WAREHOUSE") or DEFAULT_WAREHOUSE).resolve(),
        )

    @property
    def work_db(self) -> Path:
        return self.warehouse.parent / ".work" / f"{self.warehouse.stem}_work.duckdb"


SCHEMA_SQL = """
create schema if not exists marts;
create table if not exists file_hashes (path varchar, size bigint, mtime_ns bigint, sha256 varchar);
create table if not exists raw_files (path varchar, kind varchar, folder_year integer, size bigint,
    mtime_ns bigint, sha256 varchar, note varchar);
create table if not exists parsed_files (sha256 varchar, kind varchar, parser_version integer, meta json,
    rows_read integer, error_code varchar, error_message varchar, parsed_at timestamp);
create table if not exists parsed_issues (sha256 varchar, kind varchar, sheet varchar, "row" integer,
    severity varchar, code varchar, message varchar, year integer, unit varchar, rejects_row boolean);
create table if not exists parsed_score_rows (sha256 varchar, kind varchar, sheet varchar, "row" integer,
    parse_rejected boolean, duty_text varchar, task_no integer, task_no_text varchar, task_text varchar,
    max_points_text double, self_raw varchar, self_points double, verified_raw varchar,
    verified_points double, remark varchar);
create table if not exists parsed_meetings (sha256 varchar, kind varchar, sheet varchar, "row" integer,
    parse_rejected boolean, unit varchar, date date, type_text varchar, topic varchar, host varchar,
    led_by_principal boolean, attendees integer, hours double);
create table if not exists parsed_filings (sha256 varchar, kind varchar, sheet varchar, "row" integer,
    parse_rejected boolean, unit varchar, report_type_text varchar, year integer, filed_date date,
    due_date date, remark varchar);
create table if not exists parsed_normative_docs (sha256 varchar, kind varchar, sheet varchar,
    "row" integer, parse_rejected boolean, unit varchar, title varchar, doc_no varchar, issued_date date,
    filed_date date, compliant boolean);
create table if not exists removed_files (path varchar, sha256 varchar, kind varchar, year integer,
    removed_at timestamp);
create table if not exists year_builds (year integer primary key, started_at timestamp, completed_at timestamp);
create table if not exists parsed_units (sha256 varchar, kind varchar, sheet varchar, "row" integer,
    parse_rejected boolean, name varchar, unit_type varchar, region varchar, aliases varchar);
"""


WORK_DB_MEMORY_LIMIT = "1500MB"


def utc_now() -> datetime:
    """Naive UTC: every timestamp the pipeline writes (the dashboard shows Beijing time)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """Writes that belong together: all committed, or (on an error or a kill) none."""
    con.begin()
    try:
        yield con
    except BaseException:
        con.rollback()
        raise
    con.commit()


@contextmanager
def work_connection(paths: Paths) -> Iterator[duckdb.DuckDBPyConnection]:
    paths.work_db.parent.mkdir(parents=True, exist_ok=True)
    # Bounded: DuckDB spills to disk beyond this instead of growing with the year being built.
    con = duckdb.connect(str(paths.work_db), config={"memory_limit": WORK_DB_MEMORY_LIMIT})
    try:
        con.execute(SCHEMA_SQL)
        yield con
    finally:
        con.close()


def publish(paths: Paths, source_files: int, rulebook_id: str = "", rulebook_fingerprint: str = "",
            ranking_policy: str = "") -> Path:
    """Copy the work database's marts into a new file and atomically replace the served one."""
    from pipelines.lib import restatements

    target = paths.warehouse
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_files(target)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    now = utc_now()
    con = duckdb.connect(str(tmp))
    try:
        con.execute(f"attach '{paths.work_db}' as work (read_only)")
        con.execute("create schema marts")
        tables = [r[0] for r in con.execute(
            "select table_name from duckdb_tables() where database_name = 'work' and schema_name = 'marts'"
        ).fetchall()]
        for table in tables:
            con.execute(f"create table marts.{table} as select * from work.marts.{table}")
            crashpoint("publish.copying")
        con.execute(
            "create or replace table marts.publication as select ?::timestamp as published_at, "
            "?::integer as source_files, ?::varchar as work_db, ?::varchar as rulebook_id, "
            "?::varchar as rulebook_fingerprint, ?::varchar as ranking_policy",
            [now, source_files, str(paths.work_db), rulebook_id, rulebook_fingerprint, ranking_policy],
        )
        con.execute("detach work")
        restatements.record(con, target, now)
        con.execute("checkpoint")
    finally:
        con.close()
    crashpoint("publish.before_swap")
    os.replace(tmp, target)
    Path(f"{tmp}.wal").unlink(missing_ok=True)  # checkpointed above; DuckDB may leave an empty one
    return target


_TEMP_FILE = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.tmp(\.wal)?$")


def remove_stale_files(target: Path) -> list[Path]:
    """Remove the half-written warehouse (`.<name>.<pid>.tmp`) and its write-ahead log (`….tmp.wal`)
    of an earlier publication (killed mid-publish). Publication holds the run lock, so any such file
    not of this process is stale, even if its process id has since been reused."""
    removed = []
    for stale in target.parent.glob(f".{target.name}.*.tmp*"):
        m = _TEMP_FILE.match(stale.name)
        if m and m["name"] == target.name and int(m["pid"]) != os.getpid():
            stale.unlink(missing_ok=True)
            removed.append(stale)
    return removed


@contextmanager
def read_only(warehouse: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A short-lived read-only connection to the published marts (analysts, dashboard, tests)."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        yield con
    finally:
        con.close()


def table_differences(a: Path, b: Path, ignore_types: tuple[str, ...] = ("TIMESTAMP",),
                      ignore_columns: tuple[str, ...] = ("work_db",),
                      where: dict[str, str] | None = None) -> dict[str, tuple[int, int]]:
    """Compare two published warehouses table by table, as multisets of rows (NULLs equal): per table
    that differs, (rows only in a, rows only in b). Columns of `ignore_types` (when a run happened) and
    `ignore_columns` (where it ran) are left out; `where` filters a table's rows. A table missing on
    one side counts all its rows."""
    con = duckdb.connect(":memory:")
    try:
        con.execute(f"attach '{a}' as a (read_only)")
        con.execute(f"attach '{b}' as b (read_only)")
        tables = {db: {r[0] for r in con.execute(
            "select table_name from duckdb_tables() where database_name = ? and schema_name = 'marts'", [db]
        ).fetchall()} for db in ("a", "b")}
        out: dict[str, tuple[int, int]] = {}
        for table in sorted(tables["a"] | tables["b"]):
            if table not in tables["a"] or table not in tables["b"]:
                side = "a" if table in tables["a"] else "b"
                n = con.execute(f"select count(*) from {side}.marts.{table}").fetchone()[0]
                out[table] = (n, 0) if side == "a" else (0, n)
                continue
            cols = [f'"{name}"' for name, dtype in con.execute(
                "select column_name, data_type from duckdb_columns() where database_name = 'a' "
                "and schema_name = 'marts' and table_name = ? order by column_index", [table]).fetchall()
                if not dtype.startswith(ignore_types) and name not in ignore_columns]
            filt = f"where {where[table]}" if where and table in where else ""
            sel = {db: f"select {', '.join(cols)} from {db}.marts.{table} {filt}" for db in ("a", "b")}
            only_a = con.execute(f"select count(*) from ({sel['a']} except all {sel['b']})").fetchone()[0]
            only_b = con.execute(f"select count(*) from ({sel['b']} except all {sel['a']})").fetchone()[0]
            if only_a or only_b:
                out[table] = (only_a, only_b)
        return out
    finally:
        con.close()
