"""Files in a year folder that are not read (an office lock file, a file outside the kind folders)."""

from __future__ import annotations

from datetime import datetime

import duckdb

from pipelines.lib.records import ERROR, WARNING
from pipelines.lib.staging.common import IGNORED_MESSAGES, Report, StagedTable, year_in_path


def stage_other_files(
    con: duckdb.DuckDBPyConnection, years: list[int], loaded_at: datetime
) -> dict[str, StagedTable]:
    report = Report(loaded_at)
    ignored = con.execute(
        "select path, sha256, note, mtime_ns, folder_year from raw_files where kind is null order by path"
    ).fetchall()
    for path, sha, note, mtime_ns, folder_year in ignored:
        year = folder_year or year_in_path(path)
        if year not in years:
            continue
        severity = WARNING if note == "office_lock_file" else ERROR
        message = IGNORED_MESSAGES.get(note, note)
        report.issue(year, path, None, None, None, severity, note, message)
        report.file(year, path, sha, None, 0, 0, "ignored", message, mtime_ns=mtime_ns)
    return {"stg_other_files": report.files_frame(), "stg_other_file_issues": report.issues_table()}
