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
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import duckdb

from pipelines.lib.faults import crashpoint

DEFAULT_RAW = Path("data/raw")
DEFAULT_WAREHOUSE = Path("data/marts/fazhi.duckdb")


@dataclass(frozen=True)
class Paths:
    raw_dir: Path
    warehouse: Path

    @classmethod
    def from_env(cls, raw: str | Path | None = None, warehouse: str | Path | None = None) -> Paths:
        return cls(
            Path(raw or os.environ.get("FAZHI_RAW_DIR") or DEFAULT_RAW).resolve(),
            Path(warehouse or os.environ.get("FAZHI_WAREHOUSE") or DEFAULT_WAREHOUSE).resolve(),
        )

    @property
    def work_db(self) -> Path:
        return self.warehouse.parent / ".work" / f"{self.warehouse.stem}_work.duckdb"


WORK_DB_MEMORY_LIMIT = "1500MB"

# Rows in a row group of the tables a run writes, in the work database and the warehouse it publishes
# (DuckDB's default is 122,880). DuckDB runs a query on as many threads as the tables it reads have
# row groups: a province's marts and their inputs (mostly under 100,000 rows) were read on one core.
# Publication copies the marts into a file written with the same size, so that each row group is
# written as it is read (copied into larger ones, a nation's marts took 1.4–2.0 s longer).
ROW_GROUP_SIZE = 16384


def _attach_written(con: duckdb.DuckDBPyConnection, path: Path, name: str) -> None:
    """Attach the database file a run writes (the work database, or the warehouse it publishes) as
    `name`, its tables written in row groups of ROW_GROUP_SIZE rows."""
    con.execute(f"attach {sql_text(str(path))} as {name} (row_group_size {ROW_GROUP_SIZE})")


def utc_now() -> datetime:
    """Naive UTC: every timestamp the pipeline writes (the dashboard shows Beijing time)."""
    return datetime.now(UTC).replace(tzinfo=None)


BEIJING = timezone(timedelta(hours=8))


def today() -> date:
    """The office's date (Beijing time), whatever the machine's time zone."""
    return datetime.now(BEIJING).date()


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


_created: set[tuple[str, int]] = set()  # (work database, inode) whose tables this process created
_creating = threading.Lock()  # staging opens connections from several threads at once


@contextmanager
def work_connection(paths: Paths) -> Iterator[duckdb.DuckDBPyConnection]:
    """The work database, read-write, with every table the Python assets write (sources.yml)."""
    from pipelines.lib.schema import create_tables

    paths.work_db.parent.mkdir(parents=True, exist_ok=True)
    # Bounded: DuckDB spills to disk beyond this instead of growing with the year being built.
    con = _connect(paths.work_db)
    try:
        key = (str(paths.work_db), paths.work_db.stat().st_ino)
        with _creating:
            if key not in _created:
                with transaction(con):
                    con.execute("create schema if not exists marts")
                    create_tables(con)
                _created.add(key)
        yield con
    finally:
        con.close()


def _connect(path: Path) -> duckdb.DuckDBPyConnection:
    """Read-write: a connection to the database a run holds (`held`), or the file opened."""
    holder = _held.get(path)
    if holder is not None:
        return holder.cursor()
    return _waiting_out_locks(
        lambda: duckdb.connect(str(path), config={"memory_limit": WORK_DB_MEMORY_LIMIT})
    )


def _waiting_out_locks(
    open_: Callable[[], duckdb.DuckDBPyConnection], wait_seconds: float = 120
) -> duckdb.DuckDBPyConnection:
    """The run lock keeps other runs out; a dbt process a killed run left behind may still hold the
    file for a few seconds, so a lock conflict is waited out, not fatal."""
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            return open_()
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                raise
            time.sleep(0.5)


# Where a run holds the work database open, its name: the catalog the dbt project's compiled SQL
# names (fazhi_dbt/profiles.yml), so that the marts build runs on the same open database.
WORK_CATALOG = "work"


def attached(path: Path, memory_limit: str = WORK_DB_MEMORY_LIMIT) -> duckdb.DuckDBPyConnection:
    """A connection on which the work database is the catalog `WORK_CATALOG`: the held one, or one of
    its own (an in-memory database with the file attached)."""
    holder = _held.get(path)
    if holder is not None:
        return holder.cursor()
    con = _attach(path, memory_limit)
    con.execute(f"use {WORK_CATALOG}")
    return con


def _attach(path: Path, memory_limit: str) -> duckdb.DuckDBPyConnection:
    """An in-memory database with the work database attached as `WORK_CATALOG`."""
    con = duckdb.connect(config={"memory_limit": memory_limit})
    try:
        _attach_written(con, path, WORK_CATALOG)
    except BaseException:
        con.close()
        raise
    return con


class _Holder:
    """The work database opened once for a run's steps (`held`): each step's connection is a cursor of
    it, publication's too (it attaches the new warehouse beside it)."""

    def __init__(self, path: Path):
        self.path = path
        self.database: duckdb.DuckDBPyConnection | None = None
        self.lock = threading.Lock()  # staging's threads open connections at once

    def cursor(self) -> duckdb.DuckDBPyConnection:
        with self.lock:
            if self.database is None:
                self.database = _waiting_out_locks(lambda: _attach(self.path, WORK_DB_MEMORY_LIMIT))
            con = self.database.cursor()
        con.execute(f"use {WORK_CATALOG}")
        return con

    def let_go(self) -> None:
        """Close the file (DuckDB writes its checkpoint); the next connection opens it again."""
        with self.lock:
            if self.database is not None:
                database, self.database = self.database, None
                database.execute(f"detach {WORK_CATALOG}")
                database.close()


_held: dict[Path, _Holder] = {}


def is_held(work_db: Path) -> bool:
    """Whether the work database is held (`held`) in this process."""
    return work_db in _held


@contextmanager
def held(work_db: Path) -> Iterator[None]:
    """While inside, the work database stays open for every connection to it in this process: a run's
    steps each opened and closed it, reading its catalog and writing a checkpoint each time (0.15–0.25 s
    of a corrected file's run). The caller holds the run lock: no other process writes the file."""
    if work_db in _held:  # held already, by the run this is part of
        yield
        return
    _held[work_db] = holder = _Holder(work_db)
    try:
        yield
    finally:
        del _held[work_db]
        holder.let_go()


@dataclass(frozen=True)
class Published:
    path: Path
    copied: tuple[str, ...]  # marts written from the work database
    kept: tuple[str, ...]  # marts kept as the served file holds them: the same columns and rows
    patched: tuple[str, ...] = ()  # of those written, the ones whose changed rows alone were replaced
    by_change: tuple[str, ...] = ()  # of those patched, the ones found by the keys their build changed


# The new warehouse's catalog while publication writes it, beside the work database's.
NEW_CATALOG = "published"

# What publication writes itself, not a copy of a mart (restatements.py, rulebook_history.py).
PUBLICATION_TABLES = ("publication", "restatements", "rulebook_snapshots", "rulebook_years")


def publish(
    paths: Paths,
    source_files: int,
    rulebook_id: str = "",
    rulebook_fingerprint: str = "",
    ranking_policy: str = "",
) -> Published:
    """Copy the work database's marts into a new file and atomically replace the served one.

    The new file starts as a copy of the served one when it can (`_start_from_served`): a mart that
    holds what the served copy holds (its columns and rows, as the table's comment records them:
    pipelines/lib/fingerprints.py) is kept; the others are written again, each by replacing only the
    rows that changed where it can (`patch_table`). A corrected file changes some marts, and a few units'
    rows of each; a re-run none: copying the whole warehouse was most of a re-run.

    The new file is attached beside the work database as the run holds it (`attached`), not the work
    database to a database of its own: closing the work database first wrote its checkpoint before
    the new warehouse could be served (0.08–0.13 s of a corrected file's run); it is written when the run
    lets it go, after the swap."""
    from pipelines.lib import restatements, rulebook_history
    from pipelines.lib.fingerprints import recorded_holds

    target = paths.warehouse
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_files(target)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    now = utc_now()
    con = attached(paths.work_db)
    try:
        try:
            _start_from_served(con, target, tmp)
            con.execute("create schema if not exists marts")
            for table in PUBLICATION_TABLES:
                con.execute(f"drop table if exists marts.{table}")
            wanted, served = _mart_comments(con, WORK_CATALOG), _mart_comments(con, NEW_CATALOG)
            for table in sorted(served.keys() - wanted.keys()):  # a mart the project no longer has
                con.execute(f"drop table marts.{table}")
            kept = [
                table
                for table, comment in wanted.items()
                if (held := recorded_holds(comment)) is not None
                and table in served
                and recorded_holds(served[table]) == held
            ]
            copied = [table for table in wanted if table not in kept]
            patched, by_change = _copy_marts(
                con, {table: wanted[table] for table in copied}, served, _changes(con)
            )
            con.execute(
                "create or replace table marts.publication as select ?::timestamp as published_at, "
                "?::integer as source_files, ?::varchar as work_db, ?::varchar as rulebook_id, "
                "?::varchar as rulebook_fingerprint, ?::varchar as ranking_policy",
                [now, source_files, str(paths.work_db), rulebook_id, rulebook_fingerprint, ranking_policy],
            )
            rulebook_history.record(con, target, now)  # reads the work database's rulebook tables
            restatements.record(con, target, now)
            con.execute(f"checkpoint {NEW_CATALOG}")
        finally:  # the held work database outlives the publication: the new file is closed here
            con.execute(f"use {WORK_CATALOG}")
            con.execute(f"detach database if exists {NEW_CATALOG}")
    finally:
        con.close()
    crashpoint("publish.before_swap")
    os.replace(tmp, target)
    Path(f"{tmp}.wal").unlink(missing_ok=True)  # checkpointed above; DuckDB may leave an empty one
    return Published(target, tuple(copied), tuple(kept), tuple(sorted(patched)), tuple(sorted(by_change)))


# Marts copied side by side: DuckDB runs a small table's copy on one thread (a province's marts are
# mostly single row groups), so two copies at a time keep both cores busy; the file is swapped in
# whole afterwards, so the copies need not be one transaction.
COPY_THREADS = 2

# A table made again from a few changed files differs from what it held in a few units' rows: only the
# groups of rows that differ are replaced (`patch_table`), grouped by the first of these columns it has.
# Copying a nation's 950,000 task scores into a new warehouse took 0.45 s, patching them 0.08 s.
PATCH_KEYS = ("unit_id", "subject", "region", "file", "year")
# More than this share of a table's rows to replace (a new year, another rulebook): it is written whole.
PATCH_MAX_SHARE = 0.25


def _changes(con: duckdb.DuckDBPyConnection) -> dict[str, str | None]:
    """Each mart the work database's last build patched → the comment of its changed keys' table
    (marts_build.change_table)."""
    from pipelines.lib.marts_build import change_table

    prefix = change_table("")
    return {
        f"main.{name}"[len(prefix) :]: comment
        for name, comment in con.execute(
            "select table_name, comment from duckdb_tables() where database_name = ? and schema_name = 'main' "
            "and starts_with(table_name, ?)",
            [WORK_CATALOG, prefix.removeprefix("main.")],
        ).fetchall()
    }


def _copy_marts(
    con: duckdb.DuckDBPyConnection,
    marts: dict[str, str | None],
    served: Mapping[str, str | None],
    changes: Mapping[str, str | None],
) -> tuple[list[str], list[str]]:
    """Write these marts (name → table comment) from the attached work database, largest first: where
    the new file holds the served copy (its comment: `served`), brought to the work database's by the
    keys its build changed (`patch_by_change`) or, failing that, by comparison (`patch_table`); else
    copied whole. The ones patched, and of those the ones patched by their build's changed keys."""
    sizes = dict(
        con.execute(
            "select table_name, estimated_size from duckdb_tables() "
            "where database_name = ? and schema_name = 'marts'",
            [WORK_CATALOG],
        ).fetchall()
    )
    patched: list[str] = []
    by_change: list[str] = []

    def copy(table: str) -> None:
        with con.cursor() as cursor:
            cursor.execute(f"use {NEW_CATALOG}")  # a cursor starts in the database's own catalog
            if table in served and patch_by_change(
                cursor, table, served[table], marts[table], changes.get(table)
            ):
                patched.append(table)
                by_change.append(table)
            elif table in served and patch_table(cursor, f"marts.{table}", f"{WORK_CATALOG}.marts.{table}"):
                patched.append(table)
            else:
                cursor.execute(
                    f"create or replace table marts.{table} as select * from {WORK_CATALOG}.marts.{table}"
                )
            if (comment := marts[table]) is not None:
                cursor.execute(f"comment on table marts.{table} is {sql_text(comment)}")
        crashpoint("publish.copying")

    with ThreadPoolExecutor(COPY_THREADS) as pool:
        copies = [pool.submit(copy, table) for table in sorted(marts, key=lambda t: -sizes.get(t, 0))]
        try:
            for done in copies:
                done.result()
        except BaseException:
            pool.shutdown(cancel_futures=True)  # the publication fails: the copies not begun are not made
            raise
    return patched, by_change


def patch_by_change(
    con: duckdb.DuckDBPyConnection, table: str, served: str | None, wanted: str | None, change: str | None
) -> bool:
    """Bring the new file's copy of a mart (`table`, as served: its comment `served`) to the work
    database's (`wanted`) by the keys the work database's last build made again (`change`: the comment
    of marts_build.change_table), when that build turned exactly what is served into what is wanted.
    True when the copy then holds what the work database's table holds; False, perhaps with rows
    replaced, when not (the copy is then patched by comparison, or written whole)."""
    from pipelines.lib.fingerprints import holds, recorded_change, recorded_holds
    from pipelines.lib.marts_build import change_table

    before, after = recorded_holds(served), recorded_holds(wanted)
    if after is None or recorded_change(change) != (before, after):
        return False
    keys = f"{WORK_CATALOG}.{change_table(table)}"
    match = " and ".join(
        f"t.{sql_name(c)} is not distinct from k.{sql_name(c)}"
        for c in con.sql(f"select * from {keys} limit 0").columns
    )
    con.execute(f"delete from marts.{table} t where exists (select 1 from {keys} k where {match})")
    con.execute(
        f"insert into marts.{table} select * from {WORK_CATALOG}.marts.{table} t "
        f"where exists (select 1 from {keys} k where {match})"
    )
    return holds(con, f"marts.{table}")[0] == after


def patch_table(con: duckdb.DuckDBPyConnection, target: str, source: str) -> bool:
    """Make `target` hold `source`'s rows by replacing each group of its rows (by the first of
    PATCH_KEYS the table has, NULL a group too) whose rows differ: in count or in order-free hash
    (DuckDB's row hash, summed, as fingerprints.py compares tables). False, with `target` unchanged, when
    the two differ in columns or types, have no column of PATCH_KEYS, or more than PATCH_MAX_SHARE of
    their rows would be replaced. The rows deleted and inserted are counted against the groups' counts:
    False when a patch did not replace exactly them (`target` is then to be written whole)."""
    shapes = [con.sql(f"select * from {relation} limit 0") for relation in (target, source)]
    columns = [list(zip(shape.columns, map(str, shape.types), strict=True)) for shape in shapes]
    key = next((c for c in PATCH_KEYS if c in shapes[0].columns), None)
    if key is None or columns[0] != columns[1]:
        return False
    group_rows = (
        "select {} as k, count(*) as n, sum(hash(patched_row)::hugeint) as h from {} patched_row group by all"
    )
    con.execute(
        f"""create or replace temp table patch_groups as
        select coalesce(s.k, t.k) as k, coalesce(t.n, 0) as old, coalesce(s.n, 0) as new,
               s.n is distinct from t.n or s.h is distinct from t.h as changed
        from ({group_rows.format(sql_name(key), source)}) s
        full join ({group_rows.format(sql_name(key), target)}) t on s.k is not distinct from t.k"""
    )
    try:
        before, after, old, new = one_row(
            con,
            "select coalesce(sum(old), 0), coalesce(sum(new), 0), coalesce(sum(old) filter (changed), 0), "
            "coalesce(sum(new) filter (changed), 0) from patch_groups",
        )
        if old + new > PATCH_MAX_SHARE * (before + after):
            return False
        changed = (
            f"{sql_name(key)} in (select k from patch_groups where changed and k is not null) "
            f"or ({sql_name(key)} is null and exists (select 1 from patch_groups where changed and k is null))"
        )
        (deleted,) = one_row(con, f"delete from {target} where {changed}")
        (inserted,) = one_row(con, f"insert into {target} select * from {source} where {changed}")
        return bool(deleted == old and inserted == new)
    finally:
        con.execute("drop table patch_groups")


# A served file more than this share free space (the blocks of marts replaced since it was last
# written whole) is not copied: the new one is written whole, so the file never keeps growing.
MAX_FREE_SHARE = 0.5


def _start_from_served(con: duckdb.DuckDBPyConnection, target: Path, tmp: Path) -> None:
    """The new file, attached as `NEW_CATALOG` and made the connection's catalog: a copy of the served
    one, or empty when there is none, when it has a write-ahead log (it was not left checkpointed by a
    publication), or when it is mostly free space."""
    if target.exists() and not Path(f"{target}.wal").exists():
        shutil.copyfile(target, tmp)
        _attach_written(con, tmp, NEW_CATALOG)
        total, free = one_row(
            con,
            "select total_blocks, free_blocks from pragma_database_size() where database_name = ?",
            [NEW_CATALOG],
        )
        if free <= MAX_FREE_SHARE * total:
            con.execute(f"use {NEW_CATALOG}")
            return
        con.execute(f"detach {NEW_CATALOG}")
        tmp.unlink()
    _attach_written(con, tmp, NEW_CATALOG)
    con.execute(f"use {NEW_CATALOG}")


def _mart_comments(con: duckdb.DuckDBPyConnection, database: str) -> dict[str, str | None]:
    """The marts of a database (without what publication writes itself) → their table comments."""
    return {
        name: comment
        for name, comment in con.execute(
            "select table_name, comment from duckdb_tables() where database_name = ? and schema_name = 'marts'",
            [database],
        ).fetchall()
        if name not in PUBLICATION_TABLES
    }


def sql_text(text: str) -> str:
    """A text as an SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def sql_name(name: str) -> str:
    """A column or table name as an SQL identifier (quoted: dbt's and the sheets' names may need it)."""
    return '"' + name.replace('"', '""') + '"'


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


def one_row(con: duckdb.DuckDBPyConnection, sql: str, params: object = None) -> tuple[Any, ...]:
    """The row of a query that always returns one (an aggregate, a one-row table). Fetched to the end:
    a result left with rows unread keeps the connection busy, and its next query through the
    relation API (`con.sql`) is refused."""
    rows = con.execute(sql, params).fetchall()
    if not rows:
        raise LookupError(f"no row from: {sql}")
    return rows[0]


def table_differences(
    a: Path,
    b: Path,
    ignore_types: tuple[str, ...] = ("TIMESTAMP",),
    ignore_columns: tuple[str, ...] = ("work_db",),
    where: dict[str, str] | None = None,
    intermediate: bool = False,
) -> dict[str, tuple[int, int]]:
    """Compare two published warehouses table by table, as multisets of rows (NULLs equal): per table
    that differs, (rows only in a, rows only in b). Columns of `ignore_types` (when a run happened) and
    `ignore_columns` (where it ran) are left out; `where` filters a table's rows. A table missing on
    one side counts all its rows. `intermediate`: two work databases, whose intermediate models'
    tables (`main.int_*`) are compared too."""
    con = duckdb.connect(":memory:")
    tables_of = "schema_name = 'marts'" + (
        " or (schema_name = 'main' and table_name like 'int\\_%' escape '\\')" if intermediate else ""
    )
    try:
        con.execute(f"attach {sql_text(str(a))} as a (read_only)")
        con.execute(f"attach {sql_text(str(b))} as b (read_only)")
        schemas = {  # table → its schema, on each side
            db: dict(
                con.execute(
                    f"select table_name, schema_name from duckdb_tables() where database_name = ? and ({tables_of})",
                    [db],
                ).fetchall()
            )
            for db in ("a", "b")
        }
        tables = {db: set(schemas[db]) for db in ("a", "b")}
        out: dict[str, tuple[int, int]] = {}
        for table in sorted(tables["a"] | tables["b"]):
            if table not in tables["a"] or table not in tables["b"]:
                side = "a" if table in tables["a"] else "b"
                n = one_row(con, f"select count(*) from {side}.{schemas[side][table]}.{table}")[0]
                out[table] = (n, 0) if side == "a" else (0, n)
                continue
            schema = schemas["a"][table]
            cols = [
                sql_name(name)
                for name, dtype in con.execute(
                    "select column_name, data_type from duckdb_columns() where database_name = 'a' "
                    "and schema_name = ? and table_name = ? order by column_index",
                    [schema, table],
                ).fetchall()
                if not dtype.startswith(ignore_types) and name not in ignore_columns
            ]
            filt = f"where {where[table]}" if where and table in where else ""
            sel = {
                db: f"select {', '.join(cols)} from {db}.{schemas[db][table]}.{table} {filt}"
                for db in ("a", "b")
            }
            only_a = one_row(con, f"select count(*) from ({sel['a']} except all {sel['b']})")[0]
            only_b = one_row(con, f"select count(*) from ({sel['b']} except all {sel['a']})")[0]
            if only_a or only_b:
                out[table] = (only_a, only_b)
        return out
    finally:
        con.close()
