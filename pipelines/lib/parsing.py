"""What the parse workers run: each kind's parser, a file's content hash, and the two entry points
the fork server's children call (pipelines/lib/isolation.py).

Kept apart from pipelines/lib/ingest.py, which stores the results in DuckDB through pandas and
Arrow: the fork server imports the module of the function it runs before it can start a worker,
and these imports take a fraction of ingest's (about 0.05 s against 0.4 s), so parsing begins that
much sooner while the command is still importing Dagster.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from collections.abc import Callable
from pathlib import Path

from pipelines.lib import ledgers
from pipelines.lib.isolation import start_server
from pipelines.lib.records import FileRejected, Issue, ParsedFile
from pipelines.lib.score_sheets import parse_score_sheet

PARSERS: dict[str, Callable[[Path], ParsedFile]] = {
    "score_sheet": parse_score_sheet,
    "meetings": ledgers.parse_meetings,
    "filings": ledgers.parse_filings,
    "normative_docs": ledgers.parse_normative_docs,
    "rectifications": ledgers.parse_rectifications,
    "units": ledgers.parse_units,
}


def file_sha256(path: Path) -> str:
    """A file's content hash, read in blocks (a workbook may be large): what the parse cache is keyed by."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def parse_one(job: tuple[str, str]) -> ParsedFile:
    """(path, kind) → what the kind's parser reads in the file, or the file's rejection."""
    path, kind = job
    try:
        return PARSERS[kind](Path(path))
    except FileRejected as exc:  # the same outcome whichever parser refused the file
        return ParsedFile(kind, file_error=Issue(exc.code, exc.message))


def parse_ahead_one(job: tuple[str, str]) -> tuple[str, str, bytes] | None:
    """(sha256, kind, pickled ParsedFile) of one file, or None when it changed while being read.
    Kept pickled: the command's main thread, importing meanwhile, does not unpickle it."""
    path, kind = job
    before = os.stat(path)
    sha = file_sha256(Path(path))
    parsed = parse_one(job)
    after = os.stat(path)
    if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns):
        return None
    return sha, kind, pickle.dumps(parsed, pickle.HIGHEST_PROTOCOL)


def start_parsers() -> None:
    """Start the parse workers' fork server now, without waiting (isolation.start_server): a command
    about to parse calls it first, so that the workers are ready when parsing begins."""
    start_server(parse_one)
