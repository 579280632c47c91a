"""Discover the files in data/raw, hash them, and parse each new content once.

The parse cache lives in the work database and is keyed by (sha256, kind, parser version): an
unchanged file is never parsed again, whatever its name or how often the pipeline runs. Parsing
runs in child processes (pipelines.lib.isolation) because a hostile workbook can abort or exhaust
a process; such a file becomes one error for that file and every other file still loads.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import re
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from pipelines.lib import progress
from pipelines.lib.faults import crashpoint
from pipelines.lib.isolation import Outcome, map_isolated, map_isolated_until
from pipelines.lib.parsing import file_sha256, parse_ahead_one, parse_one
from pipelines.lib.records import ERROR, Issue, ParsedFile
from pipelines.lib.schema import source_tables
from pipelines.lib.warehouse import transaction, utc_now

# Bump when any parser's output changes: cached results of older parsers are then re-parsed.
PARSER_VERSION = 5

KIND_FOLDERS = {
    "score_sheets": "score_sheet",
    "打分表": "score_sheet",
    "meetings": "meetings",
    "会议台账": "meetings",
    "学法台账": "meetings",
    "filings": "filings",
    "报送登记": "filings",
    "normative_docs": "normative_docs",
    "规范性文件": "normative_docs",
    "rectifications": "rectifications",
    "整改台账": "rectifications",
}
RECORD_TABLES = {
    "score_sheet": "parsed_score_rows",
    "meetings": "parsed_meetings",
    "filings": "parsed_filings",
    "normative_docs": "parsed_normative_docs",
    "rectifications": "parsed_rectifications",
    "units": "parsed_units",
}
# Columns of each kind's parsed rows besides the key (declared in fazhi_dbt/models/sources.yml).
RECORD_COLUMNS = {
    kind: [
        c
        for c in source_tables()[table].column_names
        if c not in ("sha256", "kind", "sheet", "row", "parse_rejected")
    ]
    for kind, table in RECORD_TABLES.items()
}
_YEAR_DIR = re.compile(r"^(19|20)\d{2}$")

LOG = logging.getLogger("fazhi.ingest")


@dataclass
class RawFile:
    path: str  # relative to the raw folder, with forward slashes
    kind: str | None  # None: not an input the pipeline knows where to put
    folder_year: int | None
    size: int
    mtime_ns: int
    sha256: str = ""
    note: str | None = None  # why a file is ignored


def discover(raw_dir: Path) -> list[RawFile]:
    """Every file under raw_dir with the kind and year its location implies."""
    found: list[RawFile] = []
    root = str(raw_dir)
    # Plain strings, not Path objects: a nation-scale year is ~100,000 files.
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        folder = os.path.relpath(dirpath, root)
        folders = [] if folder == "." else folder.split(os.sep)
        for name in sorted(filenames):
            if name.startswith(".") or name == ".gitkeep":
                continue
            stat = os.stat(os.path.join(dirpath, name))
            parts = [*folders, name]
            stem = os.path.splitext(name)[0]
            kind = year = note = None
            if name.startswith("~$"):
                note = "office_lock_file"
            elif len(parts) == 1 and stem.lower() in ("units", "单位名册"):
                kind = "units"
            elif len(parts) >= 3 and _YEAR_DIR.match(parts[0]) and parts[1] in KIND_FOLDERS:
                kind, year = KIND_FOLDERS[parts[1]], int(parts[0])
            else:
                note = "unknown_location"
            found.append(RawFile("/".join(parts), kind, year, stat.st_size, stat.st_mtime_ns, note=note))
    return found


def hash_files(con: duckdb.DuckDBPyConnection, raw_dir: Path, files: list[RawFile]) -> None:
    """Fill sha256, re-reading only files whose size or mtime changed since the last run."""
    known = {
        (p, s, m): h
        for p, s, m, h in con.execute("select path, size, mtime_ns, sha256 from file_hashes").fetchall()
    }
    fresh = []
    for f in files:
        h = known.get((f.path, f.size, f.mtime_ns))
        if h is None:
            h = file_sha256(raw_dir / f.path)
            fresh.append((f.path, f.size, f.mtime_ns, h))
        f.sha256 = h
    if fresh:
        frame = pd.DataFrame(fresh, columns=["path", "size", "mtime_ns", "sha256"])  # noqa: F841 (read by name in SQL)
        with transaction(con):
            con.execute("delete from file_hashes where path in (select path from frame)")
            con.execute("insert into file_hashes by name select * from frame")
    crashpoint("ingest.hashed")


PARSE_BATCH_FILES = 5000

# Parsing ahead. A command that is about to run the pipeline spends its first seconds on one core,
# importing Dagster and dbt and listing and hashing the files; one parse worker can use the other
# core meanwhile. What it parses is only kept in memory, keyed by content: the parse step
# (`refresh_parse_cache`, the only writer of the parse cache) takes what matches the contents it is
# asked for and parses the rest. A result the step does not ask for is dropped.
PARSE_AHEAD_TIMEOUT_S = 5.0  # a file slower than this is left to the parse step (its timeout: 60 s)


class ParseAhead:
    """Files being parsed ahead (`parse_ahead`)."""

    def __init__(self, raw_dir: Path, known: set[tuple[str, int, int]], cached: set[tuple[str, str]]):
        self.stop = threading.Event()
        self.results: dict[tuple[str, str], bytes] = {}  # (sha256, kind) → pickled ParsedFile
        self._thread = threading.Thread(
            target=self._run, args=(raw_dir, known, cached), name="parse-ahead", daemon=True
        )
        self._thread.start()

    def _run(self, raw_dir: Path, known: set[tuple[str, int, int]], cached: set[tuple[str, str]]) -> None:
        try:
            jobs = [
                (str(raw_dir / f.path), f.kind)
                for f in discover(raw_dir)
                if f.kind and (f.path, f.size, f.mtime_ns) not in known
            ]
            outcomes = map_isolated_until(
                parse_ahead_one, jobs, self.stop, workers=1, timeout_s=PARSE_AHEAD_TIMEOUT_S
            )
        except Exception:  # parsing ahead only saves time: the parse step does all that is left
            LOG.info("parsing ahead stopped", exc_info=True)
            return
        for outcome in outcomes.values():
            if outcome.ok and isinstance(outcome.value, tuple):  # None: the file changed meanwhile
                sha, kind, blob = outcome.value
                if (sha, kind) not in cached:
                    self.results[(sha, kind)] = blob

    def finished(self, timeout: float | None = None) -> bool:
        """Wait up to `timeout` seconds for every file to be parsed; whether they are."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def take(self) -> dict[tuple[str, str], bytes]:
        """Stop, and the results so far (a file being parsed is finished first)."""
        self.stop.set()
        self._thread.join()
        return self.results


_AHEAD: dict[Path, ParseAhead] = {}  # by raw folder; at most one at a time


def parse_ahead(raw_dir: Path, work_db: Path) -> ParseAhead | None:
    """Start parsing, on one worker, the files the work database does not know by path, size and
    modification time, until the parse step takes the results (or `stop_parsing_ahead`). Call it
    holding the run lock: it reads the work database, which must not be open for writing yet."""
    stop_parsing_ahead()
    known: set[tuple[str, int, int]] = set()
    cached: set[tuple[str, str]] = set()
    if work_db.exists():
        try:
            with duckdb.connect(str(work_db), read_only=True) as con:
                cached = set(
                    con.execute(
                        "select sha256, kind from parsed_files where parser_version = ?", [PARSER_VERSION]
                    ).fetchall()
                )
                known = set(
                    con.execute(
                        "select path, size, mtime_ns from file_hashes h where exists "
                        "(select 1 from parsed_files p where p.sha256 = h.sha256 and p.parser_version = ?)",
                        [PARSER_VERSION],
                    ).fetchall()
                )
        except duckdb.Error:  # an older or damaged work database: the run itself will say so
            return None
    ahead = _AHEAD[raw_dir] = ParseAhead(raw_dir, known, cached)
    return ahead


def stop_parsing_ahead() -> None:
    """Stop parsing ahead and drop its results (the run ended, or failed before its parse step)."""
    while _AHEAD:
        _AHEAD.popitem()[1].take()


def _parsed_ahead(raw_dir: Path) -> dict[tuple[str, str], bytes]:
    ahead = _AHEAD.pop(raw_dir, None)
    return ahead.take() if ahead is not None else {}


@dataclass
class ParseStats:
    files_seen: int = 0
    files_parsed: int = 0
    files_cached: int = 0
    files_parsed_ahead: int = 0  # of files_parsed
    rows_parsed: int = 0


def refresh_parse_cache(
    con: duckdb.DuckDBPyConnection, raw_dir: Path, files: list[RawFile], workers: int = 2
) -> ParseStats:
    """Parse every (content, kind) not yet in the cache; store records, issues and file meta."""
    stats = ParseStats(files_seen=len(files))
    wanted = {(f.sha256, f.kind): f for f in files if f.kind}
    cached = set(
        con.execute(
            "select sha256, kind from parsed_files where parser_version = ?", [PARSER_VERSION]
        ).fetchall()
    )
    todo = [f for key, f in wanted.items() if key not in cached]
    stats.files_cached = len(wanted) - len(todo)
    unchanged = f"（另有 {stats.files_cached} 个未变，不再解析）" if stats.files_cached else ""
    progress.expect(len(todo), f"解析文件{unchanged}")
    ahead = _parsed_ahead(raw_dir)
    if not todo:
        return stats
    ready = [f for f in todo if (f.sha256, str(f.kind)) in ahead]
    rest = [f for f in todo if (f.sha256, str(f.kind)) not in ahead]
    stats.files_parsed_ahead = len(ready)
    # In batches: the parsed records of a whole nation-scale year held at once would take gigabytes.
    # The child processes parse the next batch while this one is stored, so neither waits idle.
    batches = [rest[i : i + PARSE_BATCH_FILES] for i in range(0, len(rest), PARSE_BATCH_FILES)]

    def parse(batch: list[RawFile]):
        return map_isolated(
            parse_one,
            [(str(raw_dir / f.path), f.kind) for f in batch],
            workers=workers,
            on_done=progress.advance,
        )

    def outcomes_by_batch(parser: ThreadPoolExecutor) -> Iterator[tuple[list[RawFile], list[Outcome]]]:
        pending = parser.submit(parse, batches[0]) if batches else None
        for i in range(0, len(ready), PARSE_BATCH_FILES):  # stored while the workers parse the rest
            batch = ready[i : i + PARSE_BATCH_FILES]
            progress.advance(len(batch))
            yield batch, [Outcome(True, pickle.loads(ahead[(f.sha256, str(f.kind))])) for f in batch]
        for k, batch in enumerate(batches):
            assert pending is not None
            outcomes = pending.result()
            if k + 1 < len(batches):
                pending = parser.submit(parse, batches[k + 1])
            yield batch, outcomes

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="parse") as parser:
        for batch, outcomes in outcomes_by_batch(parser):
            parsed: list[tuple[RawFile, ParsedFile]] = []
            for f, outcome in zip(batch, outcomes, strict=False):
                if outcome.ok:
                    assert isinstance(outcome.value, ParsedFile)
                    parsed.append((f, outcome.value))
                else:
                    assert f.kind is not None  # only files of a known kind are parsed (`wanted`)
                    # The clerk gets a sentence; the reader's own words only reach a log an administrator turns on.
                    LOG.info("parsing %s failed (%s): %s", f.path, outcome.error_kind, outcome.error)
                    parsed.append((f, ParsedFile(f.kind, file_error=_crash_issue(outcome.error_kind))))
            del outcomes
            with transaction(con):  # a content is in the cache with all its rows and issues, or not at all
                _store(con, parsed)
            stats.files_parsed += len(parsed)
            stats.rows_parsed += sum(p.rows_read for _, p in parsed)
    return stats


def _crash_issue(kind: str | None) -> Issue:
    if kind == "timeout":
        return Issue(
            "parse_timeout", "文件读取超时（内容异常庞大或已损坏），未能读取。请检查文件后重新报送。"
        )
    if kind == "crash":
        return Issue(
            "parse_crashed",
            "文件读取时导致读取程序异常退出（文件可能已损坏或结构异常），未能读取。请重新导出后报送。",
        )
    return Issue(
        "parse_failed",
        "文件读取时出现意外错误，未能读取（文件可能已损坏，或结构不常见）。请用 Excel 或 WPS 打开，"
        "确认内容完整后“另存为”新的 Excel 工作簿（.xlsx）或 CSV UTF-8 文件再重新报送；"
        "如仍不行，请联系系统管理员。",
    )


# How each declared column type (sources.yml) travels to DuckDB as Arrow. Integers travel as
# float64, as a DataFrame of the same values sent them: DuckDB casts on insert (a parser's 3.0 is
# 3), where Arrow itself would cut a stray 3.5 to 3 without a word.
_ARROW_TYPES: dict[str, pa.DataType] = {
    "varchar": pa.string(),
    "json": pa.string(),
    "integer": pa.float64(),
    "double": pa.float64(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us"),
}


def _arrow_schema(table: str, columns: Iterable[str]) -> pa.Schema:
    """The Arrow types these columns of a source table travel as (_ARROW_TYPES)."""
    declared = {c.name: c.data_type for c in source_tables()[table].columns}
    return pa.schema([(name, _ARROW_TYPES[declared[name]]) for name in columns])


def _insert(con: duckdb.DuckDBPyConnection, table: str, columns: dict[str, list]) -> None:
    """Append rows given as column lists to a source table: Arrow built straight from the lists (a
    DataFrame of the same rows cost several times more)."""
    schema = _arrow_schema(table, columns)
    frame = pa.table(  # noqa: F841 (read by name in SQL)
        {field.name: pa.array(columns[field.name], type=field.type) for field in schema}
    )
    con.execute(f"insert into {table} by name select * from frame")


def _store(con: duckdb.DuckDBPyConnection, parsed: list[tuple[RawFile, ParsedFile]]) -> None:
    now = utc_now()
    shas, kinds = [f.sha256 for f, _ in parsed], [f.kind for f, _ in parsed]
    # A content stored before (by an older parser) is replaced. Its rows are written with its
    # parsed_files row, in one transaction: when no key is there, no other table holds it either,
    # and the deletes (each a scan of a table that grows to millions of rows) are skipped.
    keys = pa.table({"sha256": shas, "kind": kinds})
    con.register("new_keys", keys)
    try:
        stored = con.execute(
            "select count(*) from parsed_files where (sha256, kind) in (select (sha256, kind) from new_keys)"
        ).fetchall()[0][0]
        if stored:
            for table in ("parsed_files", "parsed_issues", *RECORD_TABLES.values()):
                con.execute(
                    f"delete from {table} where (sha256, kind) in (select (sha256, kind) from new_keys)"
                )
    finally:
        con.unregister("new_keys")

    _insert(
        con,
        "parsed_files",
        {
            "sha256": shas,
            "kind": kinds,
            "parser_version": [PARSER_VERSION] * len(parsed),
            "meta": [json.dumps(p.meta, ensure_ascii=False, default=str) for _, p in parsed],
            "rows_read": [p.rows_read for _, p in parsed],
            "error_code": [p.file_error.code if p.file_error else None for _, p in parsed],
            "error_message": [p.file_error.message if p.file_error else None for _, p in parsed],
            "parsed_at": [now] * len(parsed),
        },
    )
    crashpoint("ingest.parse_batch")

    issue_columns = (
        "sha256",
        "kind",
        "sheet",
        "row",
        "severity",
        "code",
        "message",
        "year",
        "unit",
        "rejects_row",
    )
    issue_rows = []
    for f, p in parsed:
        rejected = set(p.rejected_rows)
        for i in p.issues:
            issue_rows.append(
                (
                    f.sha256,
                    f.kind,
                    i.sheet,
                    i.row,
                    i.severity,
                    i.code,
                    i.message,
                    i.year,
                    i.unit,
                    (i.sheet, i.row) in rejected and i.severity == ERROR,
                )
            )
    if issue_rows:
        _insert(
            con,
            "parsed_issues",
            dict(zip(issue_columns, map(list, zip(*issue_rows, strict=True)), strict=True)),
        )

    by_kind: dict[str, list[tuple[RawFile, ParsedFile]]] = {}
    for f, p in parsed:
        assert f.kind is not None  # only files of a known kind are parsed
        by_kind.setdefault(f.kind, []).append((f, p))
    for kind, items in by_kind.items():
        parsed_rows = _record_table(kind, items)  # read by name in SQL
        if parsed_rows.num_rows:
            con.execute(f"insert into {RECORD_TABLES[kind]} by name select * from parsed_rows")


def _record_table(kind: str, items: list[tuple[RawFile, ParsedFile]]) -> pa.Table:
    """One kind's parsed rows as Arrow, keyed by content: the parsers' dicts are read as they are
    (Arrow's own conversion, a missing key a null), the key columns made per file, not per row."""
    rows: list[dict] = []
    shas: list[str] = []
    rejected_flags: list[bool] = []
    for f, p in items:
        rows.extend(p.records)
        rejected = set(p.rejected_rows)
        if rejected:
            keys = [(rec.get("sheet"), rec.get("row")) for rec in p.records]
            rejected_flags.extend(key in rejected for key in keys)
            # Rows the parser rejected without a record still count as read: keep a placeholder row.
            placeholders = rejected.difference(keys)
            rows.extend({"sheet": sheet, "row": row} for sheet, row in placeholders)
            rejected_flags.extend([True] * len(placeholders))
        else:
            rejected_flags.extend([False] * len(p.records))
        shas.extend([f.sha256] * (len(rows) - len(shas)))
    if kind == "units":  # a unit's aliases: a list in the record, one text in the table
        rows = [
            {**rec, "aliases": "|".join(v)} if isinstance(v := rec.get("aliases"), (list, tuple)) else rec
            for rec in rows
        ]
    schema = _arrow_schema(RECORD_TABLES[kind], ("sheet", "row", *RECORD_COLUMNS[kind]))
    return (
        pa.Table.from_pylist(rows, schema=schema)
        .append_column("sha256", pa.array(shas, pa.string()))
        .append_column("kind", pa.array([kind] * len(rows), pa.string()))
        .append_column("parse_rejected", pa.array(rejected_flags, pa.bool_()))
    )


def record_raw_files(con: duckdb.DuckDBPyConnection, files: list[RawFile]) -> None:
    """The current listing of data/raw replaces the previous one; files that left it are remembered."""
    frame = pd.DataFrame(
        [(f.path, f.kind, f.folder_year, f.size, f.mtime_ns, f.sha256, f.note) for f in files],
        columns=["path", "kind", "folder_year", "size", "mtime_ns", "sha256", "note"],
    )
    # Gone, unless the same bytes are still there under another name (a rename loses no data). The
    # year kept is its folder's; the marts count it in the year written inside, as they did the file.
    con.execute(
        """
        insert into removed_files
        select o.path, o.sha256, o.kind, o.folder_year, $now
        from raw_files o
        where o.kind is not null and o.path not in (select path from frame)
          and o.sha256 not in (select sha256 from frame where sha256 is not null)
          and o.path not in (select path from removed_files)""",
        {"now": utc_now()},
    )
    con.execute("delete from removed_files where path in (select path from frame)")  # sent again
    con.execute("delete from raw_files")
    if len(frame):
        con.execute("insert into raw_files by name select * from frame")
