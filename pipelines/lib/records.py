"""Records passed between the parsers and the warehouse.

A parser turns one file's bytes into a ParsedFile and nothing else: it never sees the unit registry
or the rulebook, so its result depends only on the file's content and can be cached by sha256.
Unit resolution, scoring and classification happen later, in staging.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

ERROR = "error"
WARNING = "warning"


@dataclass
class Issue:
    """One problem found in a file: what a clerk forwards to the submitting unit."""

    code: str  # stable machine code, e.g. "score_not_number"
    message: str  # Chinese, self-contained, names the cell or value concerned
    severity: str = ERROR  # "error" (row or file not used) or "warning" (used, but look)
    sheet: str | None = None
    row: int | None = None  # 1-based row number as the office suite shows it
    year: int | None = None
    unit: str | None = None  # the unit name as written in the file

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class FileRejected(Exception):
    """The whole file cannot be used. Carries exactly one issue.

    message is what the unit reads (Chinese, what the file is and what to do); detail is the reader's
    own account for a developer (English, internals) and never reaches the unit.
    """

    def __init__(self, code: str, message: str, detail: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.detail = detail


@dataclass
class ParsedFile:
    """What one parser made of one file.

    kind: "score_sheet" | "meetings" | "filings" | "normative_docs" | "units"
    meta: facts written inside the file (year, unit text, role text, ...)
    records: one dict per data row that was read; every record has "sheet" and "row"
    rows_read: data rows seen (blank rows and header/title rows are not data rows)
    rejected_rows: row keys (sheet, row) that the parser itself could not use; each has an error issue
    """

    kind: str
    meta: dict[str, Any] = field(default_factory=dict)
    records: list[dict[str, Any]] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    rows_read: int = 0
    rejected_rows: list[tuple[str | None, int]] = field(default_factory=list)
    file_error: Issue | None = None  # set when the whole file was rejected
