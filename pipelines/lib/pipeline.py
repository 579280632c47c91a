"""The pipeline's steps as plain functions over the work database, one per Python asset.

Each step reads the tables its asset declares as dependencies and replaces the tables it owns in one
transaction (declared in fazhi_dbt/models/sources.yml). Dagster assets (pipelines/defs) call exactly
these; tests may call them without Dagster. The marts are dbt models (fazhi_dbt/).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date

import duckdb
import pandas as pd
import pyarrow as pa

from pipelines.lib import fingerprints, ingest, progress, reference
from pipelines.lib.faults import crashpoint
from pipelines.lib.names import UnitRegistry
from pipelines.lib.rulebook import Rulebook
from pipelines.lib.staging import (
    common,
    filings,
    inputs,
    meetings,
    normative_docs,
    other_files,
    rectifications,
    score_sheets,
    units,
)
from pipelines.lib.warehouse import Paths, Published, one_row, publish, transaction, utc_now, work_connection


class InputError(ValueError):
    """Wrong arguments or inputs (a raw folder that does not exist …): one Chinese sentence."""


class PublicationBlocked(RuntimeError):
    """The marts are not fit to publish: the served warehouse stays as it was."""


def _replace_all(
    con,
    frames: Mapping[str, common.StagedTable],
    stamp: str | None = None,
    context: str | None = None,
    files: list[str] | None = None,
) -> dict[str, int]:
    """Replace these tables' rows in one transaction (given `files`, only those files' rows); given
    `stamp`, mark them as made from inputs with that fingerprint, in that `context`
    (pipelines/lib/fingerprints.py)."""
    with transaction(con):
        counts = {table: common.replace(con, table, frame, files) for table, frame in frames.items()}
        if stamp is not None:
            fingerprints.record(con, frames, stamp, context=context)
        crashpoint("staging.write")
    return counts if files is None else _rows(con, frames)


def _rows(con, tables: Iterable[str]) -> dict[str, int]:
    """Each table's rows: what a step reports when it keeps its tables as they are."""
    return {t: one_row(con, f"select count(*) from {t}")[0] for t in tables}


def scan_raw_files(paths: Paths) -> dict[str, int]:
    """raw_files, file_hashes, removed_files: what data/raw holds now, by content."""
    if not paths.raw_dir.is_dir():
        raise InputError(f"报送文件目录不存在：{paths.raw_dir}。请检查路径（--raw 或 FAZHI_RAW_DIR）。")
    with work_connection(paths) as con:
        listed = ingest.hash_files(con, paths.raw_dir, ingest.listing(paths.raw_dir))
        with transaction(con):
            ingest.record_raw_files(con, listed)
            crashpoint("ingest.listed")
    return {"files": listed.num_rows, "inputs": listed.num_rows - listed["kind"].null_count}


def parse_raw_files(paths: Paths, workers: int = 2) -> dict[str, int]:
    """The parse cache: every (content, kind) of the listing parsed once, in isolated processes."""
    with work_connection(paths) as con:
        stats = ingest.refresh_parse_cache(con, paths.raw_dir, workers=workers)
    return {
        "files_parsed": stats.files_parsed,
        "files_cached": stats.files_cached,
        "files_parsed_ahead": stats.files_parsed_ahead,
        "rows_parsed": stats.rows_parsed,
    }


def write_rulebook(paths: Paths, rules: Rulebook) -> dict[str, int]:
    """The rulebook's tables, written again only when another rulebook, or other code, would write them."""
    made_from = f"{fingerprints.code_version()}\x1e{rules.id}\x1e{rules.fingerprint}"
    stamp = hashlib.sha256(made_from.encode()).hexdigest()
    with work_connection(paths) as con:
        if fingerprints.unchanged(con, reference.RULEBOOK_TABLES, stamp):
            return _rows(con, reference.RULEBOOK_TABLES)
        return _replace_all(con, reference.rulebook_tables(rules), stamp)


def write_run_context(paths: Paths, as_of: date) -> date:
    """The date the in-year figures are computed as of (warnings, overdue days, rectification status)."""
    frame = pd.DataFrame({"as_of": [as_of], "computed_at": [utc_now()]})
    with work_connection(paths) as con:
        # The same date as the last run: the row stays, so what was computed for it need not be again.
        if con.execute("select as_of from run_context").fetchall() != [(as_of,)]:
            _replace_all(con, {"run_context": frame})
    return as_of


# What the unit registry is made from: the registry files, their parsed rows and issues, and the files
# that lie in no year's folder (reported with the registry).
REGISTRY_READS = {
    "raw_files": "where kind = 'units' or (kind is null and folder_year is null)",
    "parsed_files": "where kind = 'units'",
    "parsed_units": "",
    "parsed_issues": "where kind = 'units'",
}


def stage_registry(paths: Paths, rules: Rulebook) -> dict[str, int]:
    """stg_units and stg_registry_issues; nothing is done when what they are made from is what they
    were last made from (at nation scale, remaking them took 0.4 s of every run)."""
    owns = ["stg_units", "stg_registry_issues"]
    with work_connection(paths) as con:
        stamp = fingerprints.fingerprint(con, REGISTRY_READS, f"rulebook={rules.fingerprint}")
        if fingerprints.unchanged(con, owns, stamp):
            return _rows(con, owns)
        return _replace_all(con, units.stage_units(con, rules), stamp)


# The tables of files and their parsed rows: one kind's staging reads only that kind's rows of them.
FILE_TABLES = {"raw_files", "parsed_files", "parsed_issues", *ingest.RECORD_TABLES.values()}
# What a kind's stamp reads of them: a content's parsed rows and issues are written with its
# parsed_files row and replaced only with it, by a parser of another version and at another time
# (ingest.store_parsed, the parse cache's only writer), so that row stands for them. Hashing the
# record tables took 0.10 s of a nation run's 0.27 s of fingerprints (the score sheets' 0.035 s).
STAMPED_FILE_TABLES = {"raw_files", "parsed_files"}

StageKind = Callable[..., Mapping[str, common.StagedTable]]
STAGERS: dict[str, StageKind] = {
    "score_sheets": score_sheets.stage_score_sheets,
    "meetings": meetings.stage_meetings,
    "filings": filings.stage_filings,
    "normative_docs": normative_docs.stage_normative_docs,
    "rectifications": rectifications.stage_rectifications,
}


@dataclass(frozen=True)
class Restaging:
    """How a kind stages changed files alone (pipelines/lib/staging/inputs.py)."""

    inputs: str  # the table of what the kind's tables were made from, file by file
    groups: str | None = None  # the table whose rows say which group each file's rows are in
    columns: tuple[str, ...] = ()  # a group: the rows a row is weighed against; none: no other file's


RESTAGING = {
    # a sheet is weighed against the other sheets of its unit, role and year: the newest counts
    "score_sheets": Restaging("stg_score_sheet_inputs", "stg_score_sheet_files", ("year", "unit_id", "role")),
    # a meeting against the meetings of its unit counted in the same year: a repeat counts once
    "meetings": Restaging("stg_meeting_inputs", "stg_meetings", ("year", "unit_id")),
    "filings": Restaging("stg_filing_inputs"),
    "normative_docs": Restaging("stg_normative_doc_inputs"),
    # not rectifications: a problem several ledgers list counts once, as the newest states it, and a
    # ledger whose rows all lost is in no staged table, so what it is weighed against cannot be read
}


# A ledger's issues and the staged rows they name: an issue of a loaded row is its row's unit's.
ROWS_NAMED = {
    "stg_meeting_issues": "stg_meetings",
    "stg_filing_issues": "stg_filings",
    "stg_normative_doc_issues": "stg_normative_docs",
    "stg_rectification_issues": "stg_rectifications",
}


def stage_kind(
    paths: Paths,
    rules: Rulebook,
    kind: str,
    owns: list[str],
    reads: list[str],
    registry: Callable[[duckdb.DuckDBPyConnection], UnitRegistry] = units.load_registry,
    years: list[int] | None = None,
) -> dict[str, int]:
    """One input kind's stg_* tables (`owns`), every year at once, made from the tables in `reads` (the
    asset's declared dependencies); nothing is done when those inputs, as far as they concern this kind,
    and the years present are what the tables were last made from. A kind of RESTAGING whose context
    (what it reads but the files, and the years) is the same stages only the files that changed and
    those weighed against them, and replaces their rows. `registry` gives the unit registry
    (stg_units) read through a connection; `years`, the years present (`common.years_present`), when
    known."""
    raw_kind = ingest.KIND_FOLDERS.get(kind)  # None: the files that are not read (other_files)
    with work_connection(paths) as con:
        years = common.years_present(con) if years is None else years
        kind_rows = f"where kind = '{raw_kind}'" if raw_kind else "where kind is null"
        context = fingerprints.fingerprint(
            con,
            {t: "" for t in reads if t not in FILE_TABLES},
            f"years={years}",
            f"rulebook={rules.fingerprint}",
        )
        stamp = fingerprints.fingerprint(
            con, {t: kind_rows for t in reads if t in STAMPED_FILE_TABLES}, f"context={context}"
        )
        if fingerprints.unchanged(con, owns, stamp):
            return _rows(con, owns)
        unit_registry = registry(con)
        frames: Mapping[str, common.StagedTable]
        files: list[str] | None = None  # the files whose rows are replaced; None: all
        restaging = RESTAGING.get(kind)
        changed = (
            inputs.changed_files(con, str(raw_kind), restaging.inputs)
            if restaging is not None and fingerprints.same_context(con, owns, context)
            else []
        )
        if kind == "other_files":
            frames = other_files.stage_other_files(con, years, utc_now())
        elif restaging is not None and changed:
            files = changed
            alone = None
            if restaging.groups is not None:  # a changed file's new groups: staged alone first
                alone = STAGERS[kind](con, rules, unit_registry, years, utc_now(), only=changed)
                files = inputs.weighed_with(
                    con, changed, alone[restaging.groups], restaging.groups, restaging.columns
                )
            # weighed against no other file (a corrected file, mostly): its rows as staged alone
            frames = (
                alone
                if alone is not None and set(files) == set(changed)
                else STAGERS[kind](con, rules, unit_registry, years, utc_now(), only=files)
            )
        else:  # every file: the context changed, or (the safety net) no file's signature did
            frames = STAGERS[kind](con, rules, unit_registry, years, utc_now())
        if restaging is not None:
            frames = {**frames, restaging.inputs: inputs.signatures(con, str(raw_kind), files)}
        issues = {}
        for table, frame in frames.items():
            if table.endswith("_issues"):
                assert isinstance(frame, pa.Table)  # issues always come as Arrow (Report.issues_table)
                named = common.with_unit_ids(frame, unit_registry)
                issues[table] = common.with_row_units(con, named, frames.get(ROWS_NAMED.get(table, "")))
        assert set(frames) == set(owns), f"{kind} writes {sorted(frames)}, declares {sorted(owns)}"
        return _replace_all(con, {**frames, **issues}, stamp, context, files)


# Kinds staged side by side hold at most the largest kind's parsed rows plus this many: the memory of
# staging them one at a time, and some more. A nation-scale year's score sheets (1.0 M rows) go beside
# its meetings (2.3 M), their Python work beside the meetings' SQL: staging about 0.7 s shorter, the run's
# peak 3.01–3.08 GB against 2.69–2.72 GB (docs/performance.md). Without a bound, when staging held the
# rows in Python, all kinds at once took the peak to 4.2 GB.
EXTRA_ROWS_SIDE_BY_SIDE = 1_200_000


def stage_kinds(
    paths: Paths, rules: Rulebook, kinds: Mapping[str, tuple[list[str], list[str]]], workers: int = 2
) -> dict[str, int]:
    """`stage_kind` for each kind (kind → the tables it owns, the tables it reads), up to `workers`
    kinds at a time; every table's rows.

    Kinds are independent (each reads its own inputs and writes its own tables in its own transaction),
    and a kind's staging spends much of its time in DuckDB and Arrow, which run without the GIL. The
    largest kind starts first; a free thread takes the largest kind left that keeps the rows in
    progress within EXTRA_ROWS_SIDE_BY_SIDE of the largest kind's, or waits. A kind that fails does not
    stop the others; the first failure, in the order given, is raised once all have finished."""
    # Held open while the threads connect and disconnect: DuckDB shares one open database among a
    # process's connections and closes it with the last one, and a thread opening the file while
    # another closes it, or opens it too, fails ("already attached").
    with work_connection(paths) as con:
        rows = _input_rows(con, kinds)
        years = common.years_present(con)  # once for all kinds: 0.05 s apiece at nation scale
        limit = max(rows.values(), default=0) + EXTRA_ROWS_SIDE_BY_SIDE
        pending = sorted(kinds, key=lambda kind: -rows[kind])
        in_progress: list[str] = []
        changed = threading.Condition()
        counts: dict[str, dict[str, int]] = {}
        failures: dict[str, BaseException] = {}
        progress.expect(len(kinds))
        # Read once for all kinds (stg_units does not change while they are staged), from the start,
        # beside the kinds' fingerprints that tell whether any kind stages: a corrected nation score
        # sheet waited 0.15 s for its fingerprints, then 0.18 s for the registry.
        with ThreadPoolExecutor(1, thread_name_prefix="registry") as reading:  # waited for, read or not
            registry = reading.submit(_registry, paths)

            def shared_registry(_con: duckdb.DuckDBPyConnection) -> UnitRegistry:
                return registry.result()

            def take() -> str | None:
                with changed:
                    while pending:
                        busy = sum(rows[k] for k in in_progress)
                        kind = next((k for k in pending if not in_progress or busy + rows[k] <= limit), None)
                        if kind is not None:
                            pending.remove(kind)
                            in_progress.append(kind)
                            return kind
                        changed.wait()
                    return None

            def work() -> None:
                while (kind := take()) is not None:
                    owns, reads = kinds[kind]
                    try:
                        counts[kind] = stage_kind(
                            paths, rules, kind, owns=owns, reads=reads, registry=shared_registry, years=years
                        )
                    except BaseException as exc:  # raised below, once the other kinds are done
                        failures[kind] = exc
                    with changed:
                        in_progress.remove(kind)
                        changed.notify_all()
                    progress.advance()

            threads = [threading.Thread(target=work, name=f"stage-{i}") for i in range(max(1, workers))]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        for kind in kinds:
            if kind in failures:
                raise failures[kind]
        return {table: n for kind in kinds for table, n in counts[kind].items()}


def _registry(paths: Paths) -> UnitRegistry:
    with work_connection(paths) as con:
        return units.load_registry(con)


def _input_rows(con: duckdb.DuckDBPyConnection, kinds: Iterable[str]) -> dict[str, int]:
    """Each kind's parsed rows, all years (a kind that reads no parsed rows: 0)."""
    return {
        kind: one_row(con, f"select count(*) from {ingest.RECORD_TABLES[ingest.KIND_FOLDERS[kind]]}")[0]
        if kind in ingest.KIND_FOLDERS
        else 0
        for kind in kinds
    }


def years_with_data(paths: Paths, asked: Sequence[int] = ()) -> list[int]:
    """The years with data (`common.years_present`). A run stops here, before anything is staged,
    when no year has any, or a year `asked` for (`fazhi run --years`) has none."""
    with work_connection(paths) as con:
        found = common.years_present(con)
    absent = [y for y in asked if y not in found]
    if absent:
        raise InputError(
            f"{'、'.join(map(str, absent))} 年度没有任何报送数据（{paths.raw_dir}），未整理，也未发布。"
            f"有数据的年度：{'、'.join(map(str, found)) or '无'}。"
        )
    if not found:
        raise InputError(f"没有找到任何年度的数据（{paths.raw_dir}）。请先放入文件，或运行 fazhi generate。")
    return found


def publish_marts(paths: Paths, rules: Rulebook) -> Published:
    """Copy the marts (built and checked by dbt) into a new file and swap it in."""
    with work_connection(paths) as con:
        n = one_row(con, "select count(*) from raw_files")[0]
        missing = one_row(con, "select count(*) from duckdb_tables() where schema_name = 'marts'")[0] == 0
    if missing:
        raise PublicationBlocked("marts 尚未生成，未发布。请运行 fazhi run。")
    return publish(paths, n, rules.id, rules.fingerprint, rules.ranking.describe(rules.role_names))


def summary(paths: Paths, years: list[int]) -> dict:
    """What a clerk reads after a run: files and rows by outcome, issues by code."""
    with work_connection(paths) as con:
        params = {"years": years}
        files = con.execute(
            """select status, count(*), sum(rows_read), sum(rows_loaded), sum(rows_rejected)
                               from marts.submissions where list_contains($years, year) group by status order by status""",
            params,
        ).fetchall()
        issues = con.execute(
            """select severity, code, count(*) from marts.ingest_issues
                                where year is null or list_contains($years, year)
                                group by all order by severity, count(*) desc""",
            params,
        ).fetchall()
    return {"files": files, "issues": issues}
