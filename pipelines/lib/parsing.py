"""What the parse workers run: each kind's parser, a file's content hash, and the entry points the
fork server's children call (pipelines/lib/isolation.py), which hand back their files' results as the
tables of the parse cache hold them.

Kept apart from pipelines/lib/ingest.py, which stores the results in DuckDB: the fork server imports
the module of the function it runs before it can start a worker, and these imports take a fraction of
ingest's, so parsing begins that much sooner while the command is still importing Dagster. Arrow is
among them (about 0.07 s): the workers build each group of files' tables, so that the command only
appends them (building them from the parsers' dicts in the command cost it 0.14 ms a file, a sixth
of a nation year's parse step on the same two cores).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from pipelines.lib import ledgers
from pipelines.lib.excel import READ_BLOCK
from pipelines.lib.parse_server import WORKER_PRELOAD  # noqa: F401 (read here by the fork server)
from pipelines.lib.records import ERROR, FileRejected, Issue, ParsedFile
from pipelines.lib.schema import source_tables
from pipelines.lib.score_sheets import parse_score_sheet

# Each takes the path as text or a Path; the parse workers hand it as text (a Path costs 3 µs a file).
PARSERS: dict[str, Callable[[str], ParsedFile]] = {
    "score_sheet": parse_score_sheet,
    "meetings": ledgers.parse_meetings,
    "filings": ledgers.parse_filings,
    "normative_docs": ledgers.parse_normative_docs,
    "rectifications": ledgers.parse_rectifications,
    "units": ledgers.parse_units,
}
RECORD_TABLES = {
    "score_sheet": "parsed_score_rows",
    "meetings": "parsed_meetings",
    "filings": "parsed_filings",
    "normative_docs": "parsed_normative_docs",
    "rectifications": "parsed_rectifications",
    "units": "parsed_units",
}
_KEY = ("sha256", "kind")
# Columns of each kind's parsed rows besides the key (declared in fazhi_dbt/models/sources.yml).
RECORD_COLUMNS = {
    kind: [
        c for c in source_tables()[table].column_names if c not in (*_KEY, "sheet", "row", "parse_rejected")
    ]
    for kind, table in RECORD_TABLES.items()
}
# parsed_files without what the parse step adds when it stores them (parser_version, parsed_at)
_FILE_COLUMNS = ("sha256", "kind", "meta", "rows_read", "error_code", "error_message")

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


_FILES_SCHEMA = _arrow_schema("parsed_files", _FILE_COLUMNS)
_ISSUES_SCHEMA = _arrow_schema("parsed_issues", source_tables()["parsed_issues"].column_names)
_ROW_SCHEMAS = {  # a record table's columns as the parsers' dicts give them; the key is added per file
    kind: _arrow_schema(table, ("sheet", "row", *RECORD_COLUMNS[kind]))
    for kind, table in RECORD_TABLES.items()
}


@dataclass
class ParsedBatch:
    """What the parsers made of some files, as the parse cache's tables hold it, keyed by content and
    kind: `files` the rows of parsed_files (without parser_version and parsed_at), `issues` those of
    parsed_issues, `records` each kind's rows of its record table."""

    files: pa.Table
    issues: pa.Table
    records: dict[str, pa.Table]

    def __reduce__(self) -> tuple[Any, ...]:
        # Sent from the parse workers to the command pickled: each table as one Arrow IPC stream, not
        # Arrow's own pickling of every column's buffers (a group of 16 nation files: 0.10 ms to pickle
        # and 0.09 ms to unpickle against 0.34 and 0.21 ms, for 7,500 groups a year).
        return _unpickled, (
            _stream(self.files),
            _stream(self.issues),
            {k: _stream(t) for k, t in self.records.items()},
        )

    def contents(self) -> list[tuple[str, str]]:
        """(sha256, kind) of each file, in order."""
        return [
            (str(sha), str(kind))
            for sha, kind in zip(*self.files.select(list(_KEY)).to_pydict().values(), strict=True)
        ]

    def only(self, keys: set[tuple[str, str]]) -> ParsedBatch:
        """The same, for the files of these (sha256, kind) alone."""
        wanted = pa.array(sorted(f"{sha}\x1f{kind}" for sha, kind in keys), pa.string())

        def rows(table: pa.Table) -> pa.Table:
            key = pc.binary_join_element_wise(table["sha256"], table["kind"], "\x1f")  # type: ignore[call-overload]
            return table.filter(pc.is_in(key, value_set=wanted))

        return ParsedBatch(rows(self.files), rows(self.issues), {k: rows(t) for k, t in self.records.items()})

    @staticmethod
    def joined(batches: list[ParsedBatch]) -> ParsedBatch:
        """Several batches as one (their rows in order)."""
        kinds = sorted({kind for b in batches for kind in b.records})
        return ParsedBatch(
            pa.concat_tables([b.files for b in batches]) if batches else _FILES_SCHEMA.empty_table(),
            pa.concat_tables([b.issues for b in batches]) if batches else _ISSUES_SCHEMA.empty_table(),
            {k: pa.concat_tables([b.records[k] for b in batches if k in b.records]) for k in kinds},
        )


def _stream(table: pa.Table) -> pa.Buffer:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def _unpickled(files: pa.Buffer, issues: pa.Buffer, records: dict[str, pa.Buffer]) -> ParsedBatch:
    def read(stream: pa.Buffer) -> pa.Table:
        return pa.ipc.open_stream(stream).read_all()

    return ParsedBatch(read(files), read(issues), {k: read(t) for k, t in records.items()})


def parsed_batch(parsed: list[tuple[str, ParsedFile]]) -> ParsedBatch:
    """(sha256, what its parser made of it) of some files → their rows of the parse cache."""
    files = pa.table(
        {
            "sha256": [sha for sha, _ in parsed],
            "kind": [p.kind for _, p in parsed],
            "meta": [json.dumps(p.meta, ensure_ascii=False, default=str) for _, p in parsed],
            "rows_read": [float(p.rows_read) for _, p in parsed],
            "error_code": [p.file_error.code if p.file_error else None for _, p in parsed],
            "error_message": [p.file_error.message if p.file_error else None for _, p in parsed],
        },
        schema=_FILES_SCHEMA,
    )
    issues: list[tuple] = []
    for sha, p in parsed:
        rejected = set(p.rejected_rows)
        issues.extend(
            (sha, p.kind, i.sheet, i.row, i.severity, i.code, i.message, i.year, i.unit, rejects)
            for i in p.issues
            for rejects in [(i.sheet, i.row) in rejected and i.severity == ERROR]
        )
    issue_table = pa.table(
        [
            pa.array(column, field.type)
            for column, field in zip(zip(*issues, strict=True), _ISSUES_SCHEMA, strict=True)
        ]
        if issues
        else [pa.array([], field.type) for field in _ISSUES_SCHEMA],
        schema=_ISSUES_SCHEMA,
    )
    by_kind: dict[str, list[tuple[str, ParsedFile]]] = {}
    for sha, p in parsed:
        by_kind.setdefault(p.kind, []).append((sha, p))
    return ParsedBatch(
        files, issue_table, {kind: _record_table(kind, items) for kind, items in by_kind.items()}
    )


def _record_table(kind: str, items: list[tuple[str, ParsedFile]]) -> pa.Table:
    """One kind's parsed rows as Arrow, keyed by content: the parsers' dicts are read as they are
    (Arrow's own conversion, a missing key a null), the key columns made per file, not per row."""
    rows: list[dict] = []
    shas: list[str] = []
    rejected_flags: list[bool] = []
    for sha, p in items:
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
        shas.extend([sha] * (len(rows) - len(shas)))
    if kind == "units":  # a unit's aliases: a list in the record, one text in the table
        rows = [
            {**rec, "aliases": "|".join(v)} if isinstance(v := rec.get("aliases"), (list, tuple)) else rec
            for rec in rows
        ]
    return (
        pa.Table.from_pylist(rows, schema=_ROW_SCHEMAS[kind])
        .append_column("sha256", pa.array(shas, pa.string()))
        .append_column("kind", pa.array([kind] * len(rows), pa.string()))
        .append_column("parse_rejected", pa.array(rejected_flags, pa.bool_()))
    )


def file_sha256(path: str | os.PathLike[str]) -> str:
    """A file's content hash, read in blocks (a workbook may be large) to its end: what the parse cache
    is keyed by. Read by the descriptor, not a file object: 20,000 meeting ledgers in 0.19 s against
    0.32 s (a nation's 119,424 files are hashed on a run's first listing)."""
    digest = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY)
    try:
        while block := os.read(fd, READ_BLOCK):
            digest.update(block)
    finally:
        os.close(fd)
    return digest.hexdigest()


def parse_one(job: tuple[str, str]) -> ParsedFile:
    """(path, kind) → what the kind's parser reads in the file, or the file's rejection."""
    path, kind = job
    try:
        return PARSERS[kind](path)
    except FileRejected as exc:  # the same outcome whichever parser refused the file
        return ParsedFile(kind, file_error=Issue(exc.code, exc.message))


def parse_batch(jobs: list[tuple[str, str, str]]) -> ParsedBatch:
    """(path, kind, sha256) of some files → their rows of the parse cache (the parse step's work: a
    group of files is one item for the workers, so that their tables are built once for the group).
    A file that makes this raise, abort or hang fails the whole group; the step then parses its files
    one by one to find which (ingest.parsed_in_batches)."""
    return parsed_batch([(sha, parse_one((path, kind))) for path, kind, sha in jobs])


def parse_ahead_batch(jobs: list[tuple[str, str]]) -> ParsedBatch:
    """(path, kind) of some files → the rows of those that did not change while being read, keyed by
    the content hashed here (parsing ahead, before the step has hashed anything)."""
    parsed: list[tuple[str, ParsedFile]] = []
    seen: set[tuple[str, str]] = set()
    for path, kind in jobs:
        before = os.stat(path)
        sha = file_sha256(path)
        if (sha, kind) in seen:  # the same content under two names: its rows once
            continue
        result = parse_one((path, kind))
        after = os.stat(path)
        if (before.st_size, before.st_mtime_ns) == (after.st_size, after.st_mtime_ns):
            parsed.append((sha, result))
            seen.add((sha, kind))
    return parsed_batch(parsed)
