"""Discover the files in data/raw, hash them, and parse each new content once.

The parse cache lives in the work database and is keyed by (sha256, kind, parser version): an
unchanged file is never parsed again, whatever its name or how often the pipeline runs. Parsing
runs in child processes (pipelines.lib.isolation) because a hostile workbook can abort or exhaust
a process; such a file becomes one error for that file and every other file still loads.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import queue
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.lib import progress, raw_tree
from pipelines.lib.faults import crashpoint
from pipelines.lib.isolation import Outcome, map_isolated, map_isolated_until
from pipelines.lib.parsing import (
    RECORD_TABLES,
    ParsedBatch,
    file_sha256,
    parse_ahead_batch,
    parse_batch,
    parsed_batch,
)
from pipelines.lib.records import Issue, ParsedFile
from pipelines.lib.warehouse import attached, is_held, one_row, transaction, utc_now

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


# Folders a year's kinds take (their directories' sizes, about 70 bytes a name) from which two parse
# workers list them, by halves (`discover`), when nothing else keeps the interpreter busy: a nation's
# 119,424 files in 0.34–0.39 s against 0.48–0.78 s in one process; below this (a province year, 0.04–0.06
# s in one process), handing them over costs more than it saves (a served province correction 0.05 s).
TWO_PROCESSES_BYTES = 1 << 20


def discover(raw_dir: Path, workers_from: int | None = None) -> pa.Table:
    """Every file under raw_dir with the kind and year its location implies, in order of folder, then
    name (a folder's files before its subfolders): path, kind, folder_year, size, mtime_ns, note.
    Hidden files and folders, and folders reached through a link, are not looked at; a file removed
    while the folder is listed is not listed; a raw_dir that is no folder lists nothing
    (pipelines/lib/raw_tree.py). `workers_from`: the years' kinds are listed by two parse workers, by
    halves, when their folders take at least this many bytes (a run, whose parse workers' server is
    up); None: in this process. The columns are made as lists, not an object per file."""
    paths: list[str] = []
    kinds: list[str | None] = []
    years: list[int | None] = []
    sizes: list[int] = []
    mtimes: list[int] = []
    notes: list[str | None] = []
    for folder in _folders(raw_dir, workers_from):
        folders, files = folder.parts, folder.names
        sizes.extend(folder.sizes)
        mtimes.extend(folder.mtimes)
        prefix = "".join(f"{f}/" for f in folders)
        if len(folders) >= 2 and _YEAR_DIR.match(folders[0]) and folders[1] in KIND_FOLDERS:
            kind, year, note = KIND_FOLDERS[folders[1]], int(folders[0]), None
        else:
            kind, year, note = None, None, "unknown_location"
        top = not folders
        if not top and not any(name.startswith("~$") for name in files):  # the folder says it all
            paths.extend([prefix + name for name in files])
            kinds.extend([kind] * len(files))
            years.extend([year] * len(files))
            notes.extend([note] * len(files))
        else:
            for name in files:
                if name.startswith("~$"):
                    paths.append(prefix + name)
                    kinds.append(None)
                    years.append(None)
                    notes.append("office_lock_file")
                elif top and os.path.splitext(name)[0].lower() in ("units", "单位名册"):
                    paths.append(name)
                    kinds.append("units")
                    years.append(None)
                    notes.append(None)
                else:
                    paths.append(prefix + name)
                    kinds.append(kind)
                    years.append(year)
                    notes.append(note)
    return pa.table(
        {
            "path": pa.array(paths, pa.string()),
            "kind": pa.array(kinds, pa.string()),
            "folder_year": pa.array(years, pa.int64()),
            "size": pa.array(sizes, pa.int64()),
            "mtime_ns": pa.array(mtimes, pa.int64()),
            "note": pa.array(notes, pa.string()),
        }
    )


def _folders(raw_dir: Path, workers_from: int | None) -> list[raw_tree.Folder]:
    """data/raw's folders in order (`raw_tree.walk`); the years' kinds listed by two parse workers, in
    two halves by their folders' sizes, when these reach `workers_from`. Not by a thread: each name
    looked at lets go of the interpreter, which the thread then waits to have back while the run's own
    thread holds it (listing a nation's files beside a busy thread took 75–80 s)."""
    if workers_from is None:
        return raw_tree.walk(str(raw_dir))
    folders = raw_tree.walk(str(raw_dir), leave_kinds=True)
    deferred = {folder.parts: folder.size for folder in folders if folder.elsewhere}
    halves: list[list[tuple[str, ...]]] = [[], []]
    if deferred and sum(deferred.values()) >= workers_from:
        load = [0, 0]
        for parts in sorted(deferred, key=lambda p: -deferred[p]):  # the largest first, to the lighter half
            half = load.index(min(load))
            halves[half].append(parts)
            load[half] += deferred[parts]
        listed = _listed_by_workers(raw_dir, [half for half in halves if half])
    else:
        listed = dict(zip(deferred, raw_tree.listed_folders((str(raw_dir), list(deferred))), strict=True))
    return [part for folder in folders for part in (listed[folder.parts] if folder.elsewhere else [folder])]


def _listed_by_workers(
    raw_dir: Path, halves: list[list[tuple[str, ...]]]
) -> dict[tuple[str, ...], list[raw_tree.Folder]]:
    """Each half of these folders listed by a parse worker, or here should it fail."""
    listed: dict[tuple[str, ...], list[raw_tree.Folder]] = {}
    outcomes = map_isolated(raw_tree.listed_folders, [(str(raw_dir), half) for half in halves], workers=2)
    for half, outcome in zip(halves, outcomes, strict=True):
        folders = outcome.value if outcome.ok and isinstance(outcome.value, list) else None
        if folders is None:
            LOG.info("listing by a worker failed (%s): %s", outcome.error_kind, outcome.error)
            folders = raw_tree.listed_folders((str(raw_dir), half))
        listed.update(zip(half, folders, strict=True))
    return listed


def _rows_table(columns: list[str], rows: list[tuple]) -> pa.Table:
    """Rows for DuckDB to read by name (inserted `by name`: the table's own types, by cast). Arrow, not
    pandas: a run's parse workers start before pandas is imported (pipelines/cli.py)."""
    return pa.table({name: [row[i] for row in rows] for i, name in enumerate(columns)})


def files_under(raw_dir: Path) -> str:
    """What a listed file's path (relative, with forward slashes) is put after to open it: joined as
    text, not as a Path (3 µs a file, about 0.4 s for each pass over a nation's 119,424 files)."""
    return os.path.join(raw_dir, "")


def hash_files(con: duckdb.DuckDBPyConnection, raw_dir: Path, listed: pa.Table) -> pa.Table:
    """The listing (`discover`), with each file's sha256: looked up by path, size and mtime in
    file_hashes, and read again only for the files whose size or mtime changed since the last run. In
    DuckDB: a nation's 119,424 files looked up in Python (a copy of each listed file to fill in, a
    dictionary of every known hash) cost about 0.5 s of every run."""
    positions = pa.array(range(listed.num_rows), pa.int64())
    con.register("listed", listed.append_column("position", positions))
    try:
        known = con.sql(
            "select h.sha256 from listed l left join file_hashes h "
            "on h.path = l.path and h.size = l.size and h.mtime_ns = l.mtime_ns order by l.position"
        ).to_arrow_table()["sha256"]
    finally:
        con.unregister("listed")
    unknown = known.is_null()
    missing = pc.indices_nonzero(unknown)
    under = files_under(raw_dir)
    fresh = [
        (path, size, mtime_ns, file_sha256(under + path))
        for path, size, mtime_ns in zip(
            *(listed[c].take(missing).to_pylist() for c in ("path", "size", "mtime_ns")), strict=True
        )
    ]
    if fresh:
        frame = _rows_table(["path", "size", "mtime_ns", "sha256"], fresh)  # noqa: F841 (read by name in SQL)
        with transaction(con):
            con.execute("delete from file_hashes where path in (select path from frame)")
            con.execute("insert into file_hashes by name select * from frame")
        # filled in where unknown, in order, without turning a nation's hashes into Python text and back
        known = pc.replace_with_mask(
            known.combine_chunks(), unknown.combine_chunks(), pa.array([f[3] for f in fresh], pa.string())
        )
    crashpoint("ingest.hashed")
    return listed.append_column("sha256", known)


PARSE_BATCH_FILES = 5000  # files stored in one transaction
# A worker parses a group of files as one item, their tables built once, in the worker: up to this
# many files, and this many bytes, so that a large file (slow to parse) goes with few others or alone
# and a group stays far within the timeout, which counts per item.
PARSE_ITEM_FILES = 64
PARSE_ITEM_BYTES = 2 << 20

# Parsing ahead. A command that is about to run the pipeline spends its first seconds on one core,
# importing Dagster and dbt and listing and hashing the files; one parse worker can use the other
# core meanwhile. What it parses is only kept in memory, keyed by content: the parse step
# (`refresh_parse_cache`, the only writer of the parse cache) takes what matches the contents it is
# asked for and parses the rest. A result the step does not ask for is dropped.
PARSE_AHEAD_TIMEOUT_S = 5.0  # a group slower than this is left to the parse step (its timeout: 60 s)
PARSE_AHEAD_ITEM_FILES = 16  # small groups: a stop waits for the group being parsed


class ParseAhead:
    """Files being parsed ahead (`parse_ahead`). Listing data/raw begins at once; the files are chosen
    once it is listed, by the work database's known files, read then: the listing need not wait for
    them (0.085 s of a nation run), nor the command (0.12 s of a corrected province sheet's 2 s)."""

    def __init__(self, raw_dir: Path, work_db: Path | None, workers_from: int):
        self.stop = threading.Event()
        self.results: list[ParsedBatch] = []
        self.listing: pa.Table | None = None  # what data/raw held as the run started (`discover`)
        self.listed = threading.Event()  # set once the listing is made, or could not be
        self._thread = threading.Thread(
            target=self._run, args=(raw_dir, work_db, workers_from), name="parse-ahead", daemon=True
        )
        self._thread.start()

    def _run(self, raw_dir: Path, work_db: Path | None, workers_from: int) -> None:
        # pyarrow imports pandas at its first conversion of Python values (the listing's columns below):
        # imported now, while the server starts the listing's workers, not once they are done, the worker
        # parsing ahead starts 0.2–0.3 s sooner at nation scale. The command's definitions import it anyway.
        import pandas  # noqa: F401

        try:
            try:
                self.listing = discover(raw_dir, workers_from=workers_from)  # the parse workers' server is up
            finally:
                self.listed.set()
            known = _known_files(work_db)
            if known is None or self.stop.is_set():
                return
            inputs = self.listing.filter(pc.is_valid(self.listing["kind"]))
            listed = inputs.select(["path", "size", "mtime_ns"]).append_column(
                "i", pa.array(range(inputs.num_rows), pa.int64())
            )
            # in Arrow: a nation's 119,424 known files as a set of Python tuples took 0.15 s more
            unknown = listed.join(known, keys=["path", "size", "mtime_ns"], join_type="left anti")["i"]
            new = inputs.take(unknown.take(pc.sort_indices(unknown)))  # in the listing's order
            under = files_under(raw_dir)
            jobs = [
                (under + str(path), str(kind))
                for path, kind in zip(new["path"].to_pylist(), new["kind"].to_pylist(), strict=True)
            ]
            items = [
                jobs[i : i + PARSE_AHEAD_ITEM_FILES] for i in range(0, len(jobs), PARSE_AHEAD_ITEM_FILES)
            ]
            outcomes = map_isolated_until(
                parse_ahead_batch, items, self.stop, workers=1, timeout_s=PARSE_AHEAD_TIMEOUT_S
            )
        except Exception:  # parsing ahead only saves time: the parse step does all that is left
            LOG.info("parsing ahead stopped", exc_info=True)
            return
        # in the order of the files; a group that failed is left to the parse step
        for _, outcome in sorted(outcomes.items()):
            if outcome.ok and isinstance(outcome.value, ParsedBatch):
                self.results.append(outcome.value)

    def finished(self, timeout: float | None = None) -> bool:
        """Wait up to `timeout` seconds for every file to be parsed; whether they are."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def take(self) -> list[ParsedBatch]:
        """Stop, and the results so far (a group being parsed is finished first)."""
        self.stop.set()
        self._thread.join()
        return self.results


def _known_files(work_db: Path | None) -> pa.Table | None:
    """The files (path, size, mtime_ns) whose contents the work database has parsed by this parser (none
    for no work database yet); None when it cannot be read (an older or damaged one: the run itself
    will say so). Read through the run's own connection (`warehouse.held`)."""
    if work_db is None:
        return pa.table(
            {
                "path": pa.array([], pa.string()),
                "size": pa.array([], pa.int64()),
                "mtime_ns": pa.array([], pa.int64()),
            }
        )
    try:
        con = attached(work_db)
        try:
            return con.sql(
                "select path, size::bigint as size, mtime_ns::bigint as mtime_ns from file_hashes h where exists "
                "(select 1 from parsed_files p where p.sha256 = h.sha256 and p.parser_version = ?)",
                params=[PARSER_VERSION],
            ).to_arrow_table()
        finally:
            con.close()
    except duckdb.Error:
        return None


_AHEAD: dict[Path, ParseAhead] = {}  # by raw folder; at most one at a time


def parse_ahead(raw_dir: Path, work_db: Path, importing: bool = False) -> ParseAhead:
    """List data/raw, and start parsing, on one worker, the files the work database does not know by
    path, size and modification time, until the parse step takes the results (or
    `stop_parsing_ahead`); the listing is kept for `listing` whatever becomes of the parsing. Call it
    holding the run lock and the work database (`warehouse.held`): the known files are read on the run's
    own connection, beside what the run does meanwhile. `importing`: the command imports Dagster
    meanwhile, which holds the interpreter, so the parse workers list even a small year (a province's
    8,130 files beside the imports took 0.74–1.28 s here, while the worker parsing ahead waited)."""
    if not is_held(work_db):
        raise RuntimeError("parse_ahead: the work database is not held")
    stop_parsing_ahead()
    ahead = _AHEAD[raw_dir] = ParseAhead(
        raw_dir, work_db if work_db.exists() else None, 0 if importing else TWO_PROCESSES_BYTES
    )
    return ahead


def listing(raw_dir: Path) -> pa.Table:
    """What data/raw holds: the listing made as this run started, by the files parsed ahead under the
    same run lock, or a new one. Listing a nation's 118,000 files takes a second."""
    ahead = _AHEAD.get(raw_dir)
    if ahead is not None:
        ahead.listed.wait()
        if ahead.listing is not None:
            return ahead.listing
    return discover(raw_dir)


def stop_parsing_ahead() -> None:
    """Stop parsing ahead and drop its results (the run ended, or failed before its parse step)."""
    while _AHEAD:
        _AHEAD.popitem()[1].take()


def _parsed_ahead(raw_dir: Path, todo: set[tuple[str, str]]) -> ParsedBatch:
    """What was parsed ahead of the contents in `todo` (which it empties of them), each once. A batch
    wanted whole is taken as it is: filtering each of a province's 256 batches took 0.19 s, while no
    worker parsed; and `todo` is not copied for each (a nation's 119,424 contents, 533 times: 1.6 s)."""
    ahead = _AHEAD.pop(raw_dir, None)
    taken: list[ParsedBatch] = []
    for batch in ahead.take() if ahead is not None else ():
        contents = batch.contents()
        keys = todo.intersection(contents)
        if keys:
            taken.append(batch if len(keys) == len(contents) else batch.only(keys))
            todo.difference_update(keys)
    return ParsedBatch.joined(taken)


@dataclass
class ParseStats:
    files_seen: int = 0
    files_parsed: int = 0
    files_cached: int = 0
    files_parsed_ahead: int = 0  # of files_parsed
    rows_parsed: int = 0


def refresh_parse_cache(con: duckdb.DuckDBPyConnection, raw_dir: Path, workers: int = 2) -> ParseStats:
    """Parse every (content, kind) of the listing (raw_files) not yet in the cache; store records,
    issues and file meta. The contents to parse are found in SQL: a nation's 119,424 files made into
    Python objects to find the few not parsed yet cost 0.5 s of every run."""
    seen, contents = one_row(
        con, "select count(*), count(distinct (sha256, kind)) from raw_files where kind is not null"
    )
    stats = ParseStats(files_seen=seen)
    todo = {  # a content under several names: read from its last name
        (sha, kind): RawFile(path, kind, year, size, mtime, sha)
        for path, kind, year, size, mtime, sha in con.execute(
            "select path, kind, folder_year, size, mtime_ns, sha256 from raw_files r where kind is not null "
            "and not exists (select 1 from parsed_files p where p.sha256 = r.sha256 and p.kind = r.kind "
            "and p.parser_version = ?) order by path",
            [PARSER_VERSION],
        ).fetchall()
    }
    stats.files_cached = contents - len(todo)
    unchanged = f"（另有 {stats.files_cached} 个未变，不再解析）" if stats.files_cached else ""
    progress.expect(len(todo), f"解析文件{unchanged}")
    ready = _parsed_ahead(raw_dir, set(todo))
    if not todo:
        return stats
    taken = set(ready.contents())
    rest = [f for key, f in todo.items() if key not in taken]
    stats.files_parsed_ahead = ready.files.num_rows
    if ready.files.num_rows:
        progress.advance(ready.files.num_rows)
    # In batches: the parsed rows of a whole nation-scale year held at once would take gigabytes. The
    # workers parse on while a batch is stored (what was parsed ahead first), so neither waits idle.
    batches = parsed_in_batches(raw_dir, rest, workers, progress.advance) if rest else None
    try:
        for parsed in itertools.chain([ready] if ready.files.num_rows else [], batches or ()):
            with transaction(con):  # a content is in the cache with all its rows and issues, or not at all
                store_parsed(con, parsed)
            stats.files_parsed += parsed.files.num_rows
            stats.rows_parsed += int(pc.sum(parsed.files["rows_read"]).as_py() or 0)
    finally:
        if batches is not None:
            batches.close()
    return stats


class _Left(BaseException):
    """The batches' reader is gone: the workers stop (raised through `map_isolated`)."""


def parsed_in_batches(
    raw_dir: Path,
    files: list[RawFile],
    workers: int = 2,
    on_done: Callable[[int], None] | None = None,
    parse: Callable[[list[tuple[str, str, str]]], ParsedBatch] = parse_batch,
    batch_files: int | None = None,
) -> ParsedBatches:
    """These files' rows of the parse cache, about `batch_files` files at a time (PARSE_BATCH_FILES), in
    order, parsed by `parse` in isolated worker processes, a group of files an item (`file_groups`). One
    set of workers parses them all, on a thread of its own, a batch ahead of the one read: a pair of
    workers per batch of 5,000 files left a core idle as each batch ended, and started each pair with
    nothing remembered of the workbook parts seen before. The workers start at once; closing the
    batches (`ParsedBatches.close`) stops them.

    A group that fails (a file aborted, hung or exhausted its worker, or a parser raised) is parsed
    again one file an item, once the others are: the file that fails alone gets a file error a clerk
    can forward, every other file its rows, in a last batch (a file that hangs is waited for twice,
    once in its group and once alone). `on_done`: files parsed."""
    groups = file_groups(files)
    under = files_under(raw_dir)
    items = [[(under + f.path, str(f.kind), f.sha256) for f in group] for group in groups]
    batches: list[range] = []  # each batch's items, about `batch_files` files
    start, size, most = 0, 0, batch_files or PARSE_BATCH_FILES
    for i, group in enumerate(groups):
        size += len(group)
        if size >= most or i == len(groups) - 1:
            batches.append(range(start, i + 1))
            start, size = i + 1, 0
    handed: queue.Queue[tuple[str, object]] = queue.Queue(maxsize=1)
    left = threading.Event()
    done: dict[int, Outcome] = {}  # the outcomes of the batches not handed over yet
    failed: list[int] = []  # items to parse again, one file an item

    def hand(kind: str, value: object) -> None:
        while not left.is_set():
            with contextlib.suppress(queue.Full):
                handed.put((kind, value), timeout=0.1)
                return
        raise _Left

    def settled(i: int, outcome: Outcome) -> None:
        if left.is_set():
            raise _Left
        done[i] = outcome
        while batches and all(j in done for j in batches[0]):  # the next batch is whole
            outcomes = {j: done.pop(j) for j in batches.pop(0)}
            failed.extend(j for j, o in outcomes.items() if not o.ok)
            ok = [o.value for o in outcomes.values() if o.ok and isinstance(o.value, ParsedBatch)]
            if ok:
                hand("batch", ParsedBatch.joined(ok))

    def run() -> None:
        try:
            weights = [len(i) for i in items]
            map_isolated(
                parse,
                items,
                workers=workers,
                chunksize=1,
                on_done=on_done,
                weights=weights,
                on_outcome=settled,
            )
            again = [[job] for i in failed for job in items[i]]
            if again:
                hand("batch", _parsed_alone(parse, again, workers))
            hand("end", None)
        except _Left:
            pass
        except BaseException as exc:  # raised to the reader
            with contextlib.suppress(_Left):
                hand("error", exc)

    parser = threading.Thread(target=run, name="parse", daemon=True)
    parser.start()
    return ParsedBatches(handed, left, parser)


class ParsedBatches(Iterator[ParsedBatch]):
    """The batches of `parsed_in_batches`, as its thread hands them over. The workers are started when
    it is made, not when the first batch is asked for: the parse step stores what was parsed ahead
    meanwhile (at nation scale about 7,000 files' rows, about 0.75 s in which no worker parsed). The last
    batch read, or `close`, stops the thread and its workers."""

    def __init__(
        self, handed: queue.Queue[tuple[str, object]], left: threading.Event, parser: threading.Thread
    ):
        self._handed, self._left, self._parser = handed, left, parser

    def __next__(self) -> ParsedBatch:
        if self._left.is_set():
            raise StopIteration
        kind, value = self._handed.get()
        if kind == "batch":
            return value  # type: ignore[return-value]
        self.close()
        if kind == "error":
            raise value  # type: ignore[misc]
        raise StopIteration

    def close(self) -> None:
        self._left.set()
        self._parser.join()


def _parsed_alone(
    parse: Callable[[list[tuple[str, str, str]]], ParsedBatch],
    again: list[list[tuple[str, str, str]]],
    workers: int,
) -> ParsedBatch:
    """The files of groups that failed, parsed one file an item: a file that fails alone gets its error."""
    parsed: list[ParsedBatch] = []
    failed: list[tuple[str, ParsedFile]] = []
    for [(path, kind, sha)], outcome in zip(again, map_isolated(parse, again, workers=workers), strict=True):
        if outcome.ok and isinstance(outcome.value, ParsedBatch):
            parsed.append(outcome.value)
        else:
            # The clerk gets a sentence; the reader's own words only reach a log an administrator turns on.
            LOG.info("parsing %s failed (%s): %s", path, outcome.error_kind, outcome.error)
            failed.append((sha, ParsedFile(kind, file_error=_crash_issue(outcome.error_kind))))
    if failed:
        parsed.append(parsed_batch(failed))
    return ParsedBatch.joined(parsed)


def file_groups(files: list[RawFile]) -> list[list[RawFile]]:
    """The files in order, in groups of at most PARSE_ITEM_FILES files and PARSE_ITEM_BYTES bytes (a
    larger file alone)."""
    groups: list[list[RawFile]] = []
    size = 0
    for f in files:
        if not groups or len(groups[-1]) >= PARSE_ITEM_FILES or size + f.size > PARSE_ITEM_BYTES:
            groups.append([])
            size = 0
        groups[-1].append(f)
        size += f.size
    return groups


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


def store_parsed(con: duckdb.DuckDBPyConnection, parsed: ParsedBatch) -> None:
    """Put these files' rows into the parse cache (inside the caller's transaction)."""
    # A content stored before (by an older parser) is replaced. Its rows are written with its
    # parsed_files row, in one transaction: when no key is there, no other table holds it either,
    # and the deletes (each a scan of a table that grows to millions of rows) are skipped.
    keys = parsed.files.select(["sha256", "kind"])
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
    files = parsed.files  # noqa: F841 (read by name in SQL)
    con.execute(
        "insert into parsed_files by name select *, $version as parser_version, $now as parsed_at from files",
        {"version": PARSER_VERSION, "now": utc_now()},
    )
    crashpoint("ingest.parse_batch")
    tables = {"parsed_issues": parsed.issues} | {RECORD_TABLES[k]: t for k, t in parsed.records.items()}
    for table, rows in tables.items():
        if rows.num_rows:
            con.register("parsed_rows", rows)
            try:
                con.execute(f"insert into {table} by name select * from parsed_rows")
            finally:
                con.unregister("parsed_rows")


def record_raw_files(con: duckdb.DuckDBPyConnection, frame: pa.Table) -> None:
    """The current listing of data/raw (`hash_files`' table) replaces the previous one; files that left
    it are remembered."""
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
    # Only the rows that changed are written: a nation's 119,424 rows written again took 0.3 s of
    # every run, and their checkpoint as much again, when a corrected file changes one of them.
    same = " and ".join(f"f.{c} is not distinct from r.{c}" for c in frame.column_names)
    con.execute(f"delete from raw_files r where not exists (select 1 from frame f where {same})")
    con.execute(
        "insert into raw_files by name select * from frame where path not in (select path from raw_files)"
    )
