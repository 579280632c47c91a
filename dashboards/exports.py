"""Every file the dashboard offers for download is built here, so formula injection is handled once.

One predicate, `needs_escape(text)`, decides which strings are dangerous: those starting with
`=`, `+`, `-`, `@`, a tab or a carriage return, which Excel would otherwise read as a formula.

* CSV (`safe_text`, `table_to_csv`): a dangerous string gets a leading `'` (OWASP CSV-injection
  advice). A CSV has no cell types, so changing the text is the only defence that survives Excel.
* XLSX (`write_cell`, `table_to_xlsx`, `ranking_circular`): the text is kept and the cell is
  forced to the string type, so the file has no `<f>` element and Excel shows the text as typed.
  A quote is not needed here and would show up in the printed 通报. Every string is forced, not
  only those `needs_escape` flags, so "#N/A"-like text cannot become an error cell either. Two
  unavoidable changes: control characters XML cannot hold are dropped, and a carriage return is
  written as a line feed (XML turns it into one on reading anyway).

Only strings are neutralised, and only strings come from the data: tables hand their numbers over as
numbers (never as display text like "+2.5"), so non-string values (numbers, including negative ones,
booleans, dates, Timestamps) are written as they are, an Excel number format giving them the look they
have on screen; missing values (None, NaN, NaT, NA) become empty cells.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import unicodedata
from collections.abc import Mapping

import pandas as pd
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter

DANGEROUS_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

_THIN = Side(style="thin", color="808080")
_BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_HEADER_FILL = PatternFill("solid", fgColor="D9E1F2")
_BOTTOM_FILL = PatternFill("solid", fgColor="FFC7CE")  # light red: 末位 rows
_CENTER = Alignment(horizontal="center", vertical="center", wrap_text=True)


def needs_escape(text: object) -> bool:
    """True for a string Excel would read as a formula (or DDE payload)."""
    return isinstance(text, str) and text.startswith(DANGEROUS_PREFIXES)


def safe_text(value):
    """The CSV rule: dangerous strings get a leading `'`; every other value is returned unchanged."""
    return "'" + value if needs_escape(value) else value


def _plain(value):
    """numpy scalars to Python, missing and non-finite values to None (Excel has no NaN or inf)."""
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if hasattr(value, "item") and not isinstance(value, (str, dt.date)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_cell(ws, row: int, col: int, value):
    """The only way a value reaches a worksheet: strings are stored as text, never as formulas."""
    value = _plain(value)
    cell = ws.cell(row=row, column=col)
    if isinstance(value, str):
        # control characters openpyxl refuses would abort the whole download; a bare CR would be
        # read back as LF anyway (XML line-end normalisation), so write what a reader will get
        text = ILLEGAL_CHARACTERS_RE.sub("", value)
        cell.value = text.replace("\r\n", "\n").replace("\r", "\n")
        cell.data_type = "s"
    elif isinstance(value, dt.datetime) and value.tzinfo is not None:
        cell.value = value.replace(tzinfo=None)  # Excel has no time zones
    else:
        cell.value = value
    return cell


def _display_width(value) -> int:
    """Column width in Excel units; CJK (wide) characters take two."""
    text = "" if value is None else str(value)
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _workbook_bytes(wb: Workbook) -> bytes:
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def table_to_csv(frame: pd.DataFrame) -> bytes:
    """UTF-8 with BOM so Excel on Chinese Windows detects the encoding."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([safe_text(str(c)) for c in frame.columns])
    for row in frame.itertuples(index=False, name=None):
        writer.writerow(["" if (v := _plain(x)) is None else safe_text(v) for x in row])
    return buffer.getvalue().encode("utf-8-sig")


def table_to_xlsx(
    frame: pd.DataFrame, sheet_title: str = "数据", number_formats: dict[str, str] | None = None
) -> bytes:
    """`number_formats`: column → Excel number format for its numbers (e.g. "+0.0;-0.0;0.0")."""
    formats = {
        list(frame.columns).index(c) + 1: f for c, f in (number_formats or {}).items() if c in frame.columns
    }
    wb = Workbook()
    ws = wb.active
    assert ws is not None  # a new workbook has one sheet
    ws.title = sheet_title[:31]  # Excel's sheet-name limit
    widths = [_display_width(c) for c in frame.columns]
    for col, name in enumerate(frame.columns, start=1):
        write_cell(ws, 1, col, str(name)).font = Font(bold=True)
    for r, row in enumerate(frame.itertuples(index=False, name=None), start=2):
        for col, value in enumerate(row, start=1):
            cell = write_cell(ws, r, col, value)
            if col in formats and cell.data_type == "n":
                cell.number_format = formats[col]
            elif cell.is_date and cell.value.time() == dt.time(0):
                cell.number_format = "yyyy-mm-dd"  # a date the marts keep as midnight
            widths[col - 1] = max(widths[col - 1], _display_width(_plain(value)))
    for col, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(col)].width = min(max(width + 2, 8), 60)
    ws.freeze_panes = "A2"
    return _workbook_bytes(wb)


# columns of the 通报 table, with the Chinese header used when the caller gives none
_CIRCULAR_COLUMNS = {
    "rank": ("排名", 10),
    "region": ("地区", 16),
    "score": ("总得分", 10),
    "party_score": ("党委得分", 11),
    "government_score": ("政府得分", 11),
    "band": ("名次区间", 11),
    "tier": ("梯队", 11),
    "rank_change": ("名次变化", 11),
    "score_change": ("得分变化", 11),
    "note": ("备注", 30),
}


def _label(columns: Mapping[str, str | None], key: str, default: str) -> str:
    """The text `columns` gives a label key, else the Chinese default (None heads only score columns)."""
    text = columns.get(key)
    return default if text is None else text


def _rank_text(rank, tie: bool, columns: Mapping[str, str | None]):
    rank = _plain(rank)
    if rank is None:
        return _label(columns, "not_ranked_label", "不排名")
    return f"{int(rank)}（{_label(columns, 'tie_label', '并列')}）" if tie else int(rank)


def _change_text(change) -> str:
    change = _plain(change)
    if change is None or change == 0:
        return "—"
    # rank_change = prev_rank − rank: positive means the region moved up
    return f"↑{int(change)}" if change > 0 else f"↓{-int(change)}"


def ranking_circular(
    rows: pd.DataFrame,
    *,
    year: int,
    title: str,
    issued_on: dt.date,
    policy_note: str,
    columns: Mapping[str, str | None],
) -> bytes:
    """The printed 排名通报: title, year/date line, bordered table, 末位 rows in red, rule footnote.

    `columns` heads the table (key → heading; a key it leaves out keeps the Chinese default); a score column
    headed None is left out (a rulebook with a single role forming a region's score has no second score);
    the rank band and tier are there when the rows carry them (`band`, `tier_name`)."""
    keys = [
        k
        for k in _CIRCULAR_COLUMNS
        if (k not in columns or columns[k] is not None)
        and (k not in ("band", "tier") or k in rows.columns or (k == "tier" and "tier_name" in rows.columns))
    ]
    last = len(keys)
    wb = Workbook()
    ws = wb.active
    assert ws is not None  # a new workbook has one sheet
    ws.title = str(year)

    write_cell(ws, 1, 1, title).font = Font(bold=True, size=16)
    ws.cell(1, 1).alignment = _CENTER
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=last)
    ws.row_dimensions[1].height = 42
    meta = (
        f"{_label(columns, 'year_label', '年度')}：{year}　　"
        f"{_label(columns, 'date_label', '日期')}：{issued_on.isoformat()}"
    )
    write_cell(ws, 2, 1, meta).alignment = Alignment(horizontal="center")
    ws.merge_cells(start_row=2, start_column=1, end_row=2, end_column=last)

    for col, key in enumerate(keys, start=1):
        label, width = _CIRCULAR_COLUMNS[key]
        cell = write_cell(ws, 3, col, columns.get(key, label))
        cell.font, cell.fill, cell.border, cell.alignment = Font(bold=True), _HEADER_FILL, _BORDER, _CENTER
        ws.column_dimensions[get_column_letter(col)].width = width

    r = 3
    for r, rec in enumerate(rows.to_dict("records"), start=4):
        bottom = bool(_plain(rec.get("is_bottom")))
        note = "" if _plain(rec.get("note")) is None else str(_plain(rec.get("note")))
        bottom_label = _label(columns, "bottom_label", "末位")
        if bottom and bottom_label not in note:  # readable on a black-and-white print too
            note = f"{bottom_label}；{note}" if note else bottom_label
        values = {
            "rank": _rank_text(rec.get("rank"), bool(_plain(rec.get("tie"))), columns),
            "region": rec.get("region"),
            "score": rec.get("score"),
            "party_score": rec.get("party_score"),
            "government_score": rec.get("government_score"),
            "band": rec.get("band") or "—",
            "tier": rec.get("tier_name") if isinstance(_plain(rec.get("tier_name")), str) else "—",
            "rank_change": _change_text(rec.get("rank_change")),
            "score_change": "—" if _plain(rec.get("score_change")) is None else rec["score_change"],
            "note": note,
        }
        for col, key in enumerate(keys, start=1):
            cell = write_cell(ws, r, col, values[key])
            cell.border = _BORDER
            cell.alignment = Alignment(
                horizontal="left" if key == "note" else "center", vertical="center", wrap_text=True
            )
            if key in ("score", "party_score", "government_score"):
                cell.number_format = "0.0"
            elif key == "score_change" and not isinstance(cell.value, str):
                cell.number_format = "+0.0;-0.0;0.0"
            if bottom:
                cell.fill = _BOTTOM_FILL

    foot = r + 2  # one empty row after the table
    text = f"{_label(columns, 'policy_label', '排名规则：')}{policy_note}"
    write_cell(ws, foot, 1, text).alignment = Alignment(wrap_text=True, vertical="top")
    ws.merge_cells(start_row=foot, start_column=1, end_row=foot, end_column=last)
    # merged cells do not auto-grow; size the row for the wrapped text
    line_width = sum(_CIRCULAR_COLUMNS[k][1] for k in keys)
    lines = sum(max(1, math.ceil(_display_width(p) / line_width)) for p in text.split("\n"))
    ws.row_dimensions[foot].height = 16 * lines

    ws.freeze_panes = "A4"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    ws.page_setup.fitToPage = True
    ws.print_title_rows = "1:3"
    ws.print_options.horizontalCentered = True
    return _workbook_bytes(wb)
