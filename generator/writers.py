"""File writers: worksheets to .xlsx with XlsxWriter (openpyxl for the share "another producer"
writes; the bulk of the score sheets with a small writer of our own, for speed: see below), to
BIFF8 .xls with xlwt, tables to CSV with the csv module in an office's encoding; and `FileWriter`,
which puts each file in the tree with its submission time and counts it.

Reproducible: the same sheets give the same bytes. XlsxWriter dates its zip entries 1980-01-01 and
takes the core properties' time from `created`; openpyxl would stamp the wall clock on both, so its
zip is one whose entries carry the submission time (`_PinnedZip`), as do our own writer's; xlwt
writes no time at all.
"""

from __future__ import annotations

import csv
import io
import os
import zipfile
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import xlsxwriter

from generator.sheet_layouts import DATE_STYLES, Formula, SheetData

CHINA_TZ = timezone(timedelta(hours=8))  # file times are an office's local time

# The look of each cell style in .xlsx; every format also takes the workbook's default font.
XLSX_FORMATS: dict[str, dict[str, Any]] = {
    "text": {"text_wrap": True, "valign": "vcenter", "border": 1},
    "num": {"align": "center", "valign": "vcenter", "border": 1},
    "header": {"bold": True, "text_wrap": True, "align": "center", "valign": "vcenter", "border": 1},
    "title": {"bold": True, "font_size": 16, "text_wrap": True, "align": "center", "valign": "vcenter"},
    "info": {"valign": "vcenter"},
    **{k: {"num_format": v, "border": 1} for k, v in DATE_STYLES.items() if k != "date_builtin"},
    "date_builtin": {
        "num_format": 14,
        "border": 1,
    },  # Excel's built-in m/d/yyyy, shown in the reader's locale
}
# Default font of a new workbook: Excel's on Chinese Windows (等线) or WPS's (宋体).
DEFAULT_FONTS = {"Microsoft Excel": "等线", "WPS 表格": "宋体"}


def xlsx_bytes(
    sheets: list[SheetData], modified: datetime, author: str = "Administrator", app: str = "Microsoft Excel"
) -> bytes:
    """The sheets as an .xlsx package (XlsxWriter): shared strings, merged cells, widths, heights, styles."""
    buf = io.BytesIO()
    font = {"font_name": DEFAULT_FONTS.get(app, "宋体"), "font_size": 11, "font_charset": 134}
    wb = xlsxwriter.Workbook(
        buf,
        {
            "in_memory": True,
            "default_format_properties": font,
            # Text is text: no formulas, links or numbers made out of strings.
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "strings_to_numbers": False,
        },
    )
    formats: dict[str | None, Any] = {None: None}

    def fmt(style: str | None) -> Any:
        f = formats.get(style)
        if f is None and style is not None and style not in formats:
            f = formats[style] = wb.add_format(XLSX_FORMATS[style])
        return f

    for sheet in sheets:
        _xlsx_sheet(wb.add_worksheet(sheet.name), sheet, fmt)
    wb.set_properties({"author": author, "created": modified})
    wb.close()
    return buf.getvalue()


def _xlsx_sheet(ws, sheet: SheetData, fmt) -> None:
    tops: dict[tuple[int, int], tuple[int, int]] = {}
    covered: set[tuple[int, int]] = set()
    for r1, c1, r2, c2 in sheet.merges:
        if (r1, c1) != (r2, c2):
            tops[(r1, c1)] = (r2, c2)
            covered.update((r, c) for r in range(r1, r2 + 1) for c in range(c1, c2 + 1))
    for i, row in enumerate(sheet.rows):
        for j, cell in enumerate(row):
            if cell is None:
                continue
            value, style = cell
            f = fmt(style)
            if (i, j) in tops:
                r2, c2 = tops.pop((i, j))
                ws.merge_range(i, j, r2, c2, value, f)  # also styles the cells it covers
            elif (i, j) in covered:
                continue
            elif value is None:
                if f is not None:
                    ws.write_blank(i, j, None, f)
            elif isinstance(value, str):
                ws.write_string(i, j, value, f)
            elif isinstance(value, Formula):
                ws.write_formula(i, j, value.expr, f, value.cached)
            elif isinstance(value, (int, float)):
                ws.write_number(i, j, value, f)
            else:
                ws.write_datetime(i, j, value, f)
    for (r1, c1), (r2, c2) in tops.items():  # a merged range whose first cell holds nothing
        ws.merge_range(r1, c1, r2, c2, None)
    for j, w in enumerate(sheet.widths):
        ws.set_column(j, j, w)
    for r, h in sheet.heights.items():
        ws.set_row(r, h)


# ---------------------------------------------------------------------------------------------
# The bulk of the score sheets: a small .xlsx writer of our own (zipfile + string templates:
# shared strings, merged cells, widths, heights, a handful of styles). Kept for speed alone:
# XlsxWriter takes 3-5 times as long a score sheet, and with every .xlsx through it generation
# took 1.6-2.1 times as long as with this writer (bench/generate.py, docs/performance.md), at or
# over the twice a maintained writer may cost. Ledgers and registers, a fifth of the .xlsx files,
# go through XlsxWriter (tree.SHEET_XLSX_WRITER switches the score sheets too).
# ---------------------------------------------------------------------------------------------
_STYLE_IDS = {
    None: 0,
    "text": 1,
    "num": 2,
    "header": 3,
    "title": 4,
    "date_iso": 5,
    "date_cn": 6,
    "datetime": 7,
    "date_builtin": 8,
    "info": 9,
}
_COLS = [chr(65 + i) for i in range(26)] + [f"A{chr(65 + i)}" for i in range(26)]
_EPOCH = date(1899, 12, 30)
_XML_ESC = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"})
_NS_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_NS_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_NS_PKG = "http://schemas.openxmlformats.org/package/2006/relationships"
_NS_CORE = "http://schemas.openxmlformats.org/package/2006/metadata/core-properties"
_CT_SML = "application/vnd.openxmlformats-officedocument.spreadsheetml"
_CT_PKG = "application/vnd.openxmlformats-package"
_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_FONT = '<name val="宋体"/><family val="3"/><charset val="134"/></font>'
_THIN = "".join(
    f'<{side} style="thin"><color auto="1"/></{side}>' for side in ("left", "right", "top", "bottom")
)
# cellXfs in _STYLE_IDS order: (numFmtId, fontId, borderId, alignment attributes)
_XFS = (
    (0, 0, 0, ""),
    (0, 0, 1, 'vertical="center" wrapText="1"'),
    (0, 0, 1, 'horizontal="center" vertical="center"'),
    (0, 2, 1, 'horizontal="center" vertical="center" wrapText="1"'),
    (0, 1, 0, 'horizontal="center" vertical="center" wrapText="1"'),
    (176, 0, 1, ""),
    (177, 0, 1, ""),
    (178, 0, 1, ""),
    (14, 0, 1, ""),
    (0, 0, 0, 'vertical="center"'),
)


def _xf(num: int, font: int, border: int, align: str) -> str:
    applied = (
        (' applyNumberFormat="1"' if num else "")
        + (' applyFont="1"' if font else "")
        + (' applyBorder="1"' if border else "")
        + (' applyAlignment="1"' if align else "")
    )
    body = f"<alignment {align}/></xf>" if align else "/>"
    return f'<xf numFmtId="{num}" fontId="{font}" fillId="0" borderId="{border}" xfId="0"{applied}' + (
        ">" + body if align else body
    )


_STYLES_XML = (
    _HEAD + f'<styleSheet xmlns="{_NS_MAIN}">'
    '<numFmts count="3"><numFmt numFmtId="176" formatCode="yyyy\\-mm\\-dd"/>'
    '<numFmt numFmtId="177" formatCode="yyyy&quot;年&quot;m&quot;月&quot;d&quot;日&quot;"/>'
    '<numFmt numFmtId="178" formatCode="yyyy\\-mm\\-dd\\ hh:mm"/></numFmts>'
    f'<fonts count="3"><font><sz val="11"/>{_FONT}<font><b/><sz val="16"/>{_FONT}'
    f'<font><b/><sz val="11"/>{_FONT}</fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="2"><border><left/><right/><top/><bottom/><diagonal/></border>'
    f"<border>{_THIN}<diagonal/></border></borders>"
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    f'<cellXfs count="{len(_XFS)}">' + "".join(_xf(*x) for x in _XFS) + "</cellXfs>"
    '<cellStyles count="1"><cellStyle name="常规" xfId="0" builtinId="0"/></cellStyles></styleSheet>'
)


def _esc(s: str) -> str:
    return s.translate(_XML_ESC)


def _num(v: float) -> str:
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, int):
        return str(v)
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def _serial(v: date) -> float:
    if isinstance(v, datetime):
        return (v - datetime(1899, 12, 30)).total_seconds() / 86400
    return float((v - _EPOCH).days)


def _w3c(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _sheet_xml(sheet: SheetData, sst: dict[str, int], counter: list[int], selected: bool) -> str:
    rows = sheet.rows
    ncols = max((len(r) for r in rows), default=1) or 1
    dim = f"A1:{_COLS[ncols - 1]}{len(rows)}" if rows else "A1"
    tab = 'tabSelected="1" ' if selected else ""
    out = [
        _HEAD,
        f'<worksheet xmlns="{_NS_MAIN}" xmlns:r="{_NS_REL}"><dimension ref="{dim}"/>',
        f'<sheetViews><sheetView {tab}workbookViewId="0"/></sheetViews>',
        '<sheetFormatPr defaultRowHeight="13.5"/>',
    ]
    if sheet.widths:
        out.append(
            "<cols>"
            + "".join(
                f'<col min="{i}" max="{i}" width="{w}" customWidth="1"/>'
                for i, w in enumerate(sheet.widths, 1)
            )
            + "</cols>"
        )
    out.append("<sheetData>")
    for i, row in enumerate(rows):
        r = i + 1
        cells = []
        for j, cell in enumerate(row):
            if cell is None:
                continue
            value, style = cell
            ref = f"{_COLS[j]}{r}"
            s = _STYLE_IDS[style]
            sa = f' s="{s}"' if s else ""
            if value is None:
                if s:
                    cells.append(f'<c r="{ref}"{sa}/>')
            elif isinstance(value, str):
                idx = sst.get(value)
                if idx is None:
                    idx = sst[value] = len(sst)
                counter[0] += 1
                cells.append(f'<c r="{ref}"{sa} t="s"><v>{idx}</v></c>')
            elif isinstance(value, Formula):
                cells.append(f'<c r="{ref}"{sa}><f>{_esc(value.expr)}</f><v>{_num(value.cached)}</v></c>')
            elif isinstance(value, (int, float)):
                cells.append(f'<c r="{ref}"{sa}><v>{_num(value)}</v></c>')
            elif isinstance(value, date):
                cells.append(f'<c r="{ref}"{sa}><v>{_num(_serial(value))}</v></c>')
            else:
                raise TypeError(f"cell value {value!r}")
        ht = sheet.heights.get(i)
        ha = f' ht="{ht}" customHeight="1"' if ht else ""
        if cells or ht:
            out.append(f'<row r="{r}"{ha}>' + "".join(cells) + "</row>")
    out.append("</sheetData>")
    if sheet.merges:
        out.append(
            f'<mergeCells count="{len(sheet.merges)}">'
            + "".join(
                f'<mergeCell ref="{_COLS[c1]}{r1 + 1}:{_COLS[c2]}{r2 + 1}"/>'
                for r1, c1, r2, c2 in sheet.merges
            )
            + "</mergeCells>"
        )
    out.append(
        '<pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" footer="0.3"/></worksheet>'
    )
    return "".join(out)


def _sst_xml(sst: dict[str, int], count: int) -> str:
    parts = [_HEAD, f'<sst xmlns="{_NS_MAIN}" count="{count}" uniqueCount="{len(sst)}">']
    for s in sst:  # dicts keep insertion order = index order
        space = ' xml:space="preserve"' if s != s.strip() or "\n" in s else ""
        parts.append(f"<si><t{space}>{_esc(s)}</t></si>")
    parts.append("</sst>")
    return "".join(parts)


def _core_xml(author: str, created: datetime, modified: datetime) -> str:
    return (
        _HEAD + f'<cp:coreProperties xmlns:cp="{_NS_CORE}" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" '
        'xmlns:dcmitype="http://purl.org/dc/dcmitype/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        f"<dc:creator>{_esc(author)}</dc:creator><cp:lastModifiedBy>{_esc(author)}</cp:lastModifiedBy>"
        f'<dcterms:created xsi:type="dcterms:W3CDTF">{_w3c(created)}</dcterms:created>'
        f'<dcterms:modified xsi:type="dcterms:W3CDTF">{_w3c(modified)}</dcterms:modified></cp:coreProperties>'
    )


def fast_xlsx_bytes(
    sheets: list[SheetData], modified: datetime, author: str = "Administrator", app: str = "Microsoft Excel"
) -> bytes:
    """A complete .xlsx package from string templates; the same input gives the same bytes."""
    sst: dict[str, int] = {}
    counter = [0]
    sheet_parts = [_sheet_xml(s, sst, counter, i == 0) for i, s in enumerate(sheets)]
    n = len(sheets)
    overrides = [("/xl/workbook.xml", f"{_CT_SML}.sheet.main+xml")]
    overrides += [(f"/xl/worksheets/sheet{i}.xml", f"{_CT_SML}.worksheet+xml") for i in range(1, n + 1)]
    overrides += [
        ("/xl/styles.xml", f"{_CT_SML}.styles+xml"),
        ("/xl/sharedStrings.xml", f"{_CT_SML}.sharedStrings+xml"),
        ("/docProps/core.xml", f"{_CT_PKG}.core-properties+xml"),
        ("/docProps/app.xml", "application/vnd.openxmlformats-officedocument.extended-properties+xml"),
    ]
    ct = (
        _HEAD + '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        f'<Default Extension="rels" ContentType="{_CT_PKG}.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        + "".join(f'<Override PartName="{part}" ContentType="{kind}"/>' for part, kind in overrides)
        + "</Types>"
    )
    root_rels = (
        _HEAD + f'<Relationships xmlns="{_NS_PKG}">'
        f'<Relationship Id="rId1" Type="{_NS_REL}/officeDocument" Target="xl/workbook.xml"/>'
        f'<Relationship Id="rId2" Type="{_NS_PKG}/metadata/core-properties" Target="docProps/core.xml"/>'
        f'<Relationship Id="rId3" Type="{_NS_REL}/extended-properties" Target="docProps/app.xml"/>'
        "</Relationships>"
    )
    workbook = (
        _HEAD
        + f'<workbook xmlns="{_NS_MAIN}" xmlns:r="{_NS_REL}"><bookViews><workbookView/></bookViews>'
        + "<sheets>"
        + "".join(
            f'<sheet name="{_esc(s.name)}" sheetId="{i}" r:id="rId{i}"/>' for i, s in enumerate(sheets, 1)
        )
        + "</sheets></workbook>"
    )
    wb_rels = (
        _HEAD
        + f'<Relationships xmlns="{_NS_PKG}">'
        + "".join(
            f'<Relationship Id="rId{i}" Type="{_NS_REL}/worksheet" Target="worksheets/sheet{i}.xml"/>'
            for i in range(1, n + 1)
        )
        + f'<Relationship Id="rId{n + 1}" Type="{_NS_REL}/styles" Target="styles.xml"/>'
        f'<Relationship Id="rId{n + 2}" Type="{_NS_REL}/sharedStrings" Target="sharedStrings.xml"/>'
        "</Relationships>"
    )
    app_xml = (
        _HEAD
        + '<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties">'
        f"<Application>{_esc(app)}</Application></Properties>"
    )
    entries = [
        ("[Content_Types].xml", ct),
        ("_rels/.rels", root_rels),
        ("docProps/core.xml", _core_xml(author, modified - timedelta(days=3, hours=2), modified)),
        ("docProps/app.xml", app_xml),
        ("xl/workbook.xml", workbook),
        ("xl/_rels/workbook.xml.rels", wb_rels),
        ("xl/styles.xml", _STYLES_XML),
    ]
    entries += [(f"xl/worksheets/sheet{i}.xml", x) for i, x in enumerate(sheet_parts, 1)]
    entries.append(("xl/sharedStrings.xml", _sst_xml(sst, counter[0])))
    return _zip([(name, text.encode("utf-8")) for name, text in entries], modified)


def _zip(entries: list[tuple[str, bytes]], when: datetime) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=when.timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 0  # fixed: the default depends on the platform
            info.external_attr = 0
            zf.writestr(info, data, compresslevel=6)
    return buf.getvalue()


class _PinnedZip(zipfile.ZipFile):
    """A zip being written whose entries all carry one time (openpyxl would stamp the wall clock)."""

    def __init__(self, file, when: datetime):
        super().__init__(file, "w", zipfile.ZIP_DEFLATED)
        self._date_time = when.timetuple()[:6]

    def writestr(self, zinfo_or_arcname, data, compress_type=None, compresslevel=None):
        if not isinstance(zinfo_or_arcname, zipfile.ZipInfo):
            zinfo_or_arcname = zipfile.ZipInfo(zinfo_or_arcname, date_time=self._date_time)
            zinfo_or_arcname.compress_type = zipfile.ZIP_DEFLATED
            zinfo_or_arcname.create_system = 0  # fixed: the default depends on the platform
        super().writestr(zinfo_or_arcname, data, compress_type, compresslevel)

    def write(self, filename, arcname=None, compress_type=None, compresslevel=None):
        with open(filename, "rb") as f:
            self.writestr(arcname or os.path.basename(filename), f.read(), compress_type, compresslevel)


def openpyxl_bytes(sheets: list[SheetData], modified: datetime, author: str) -> bytes:
    """The same sheets written by openpyxl (its own styles and package layout), dated `modified`."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter
    from openpyxl.writer.excel import ExcelWriter

    wb = Workbook()
    default = wb.active
    assert default is not None  # a new workbook has one sheet
    wb.remove(default)
    wrap = Alignment(vertical="center", wrap_text=True)
    center = Alignment(horizontal="center", vertical="center", wrap_text=True)
    for sheet in sheets:
        ws = wb.create_sheet(sheet.name)
        for i, row in enumerate(sheet.rows, 1):
            for j, cell in enumerate(row, 1):
                if cell is None or cell[0] is None:
                    continue
                value, style = cell
                c = ws.cell(i, j, value.cached if isinstance(value, Formula) else value)
                if style in ("text", "info"):
                    c.alignment = wrap
                elif style in ("header", "title", "num"):
                    c.alignment = center
                    if style != "num":
                        c.font = Font(bold=True, size=16 if style == "title" else 11)
                elif style in DATE_STYLES:
                    c.number_format = DATE_STYLES[style]
        for r1, c1, r2, c2 in sheet.merges:
            ws.merge_cells(start_row=r1 + 1, start_column=c1 + 1, end_row=r2 + 1, end_column=c2 + 1)
        for j, w in enumerate(sheet.widths, 1):
            ws.column_dimensions[get_column_letter(j)].width = w
    wb.properties.creator = author
    wb.properties.created = wb.properties.modified = modified
    buf = io.BytesIO()
    # ExcelWriter rather than wb.save(), which would set `modified` to now.
    ExcelWriter(wb, _PinnedZip(buf, modified)).save()
    return buf.getvalue()


def xls_bytes(sheets: list[SheetData]) -> bytes:
    """Legacy BIFF8 .xls via xlwt (no timestamps inside)."""
    import xlwt

    wb = xlwt.Workbook(encoding="utf-8")
    border = "borders: left thin, right thin, top thin, bottom thin;"
    styles = {
        None: xlwt.XFStyle(),
        "text": xlwt.easyxf(f"align: wrap on, vert centre; {border}"),
        "num": xlwt.easyxf(f"align: horiz centre, vert centre; {border}"),
        "header": xlwt.easyxf(f"font: bold on; align: wrap on, horiz centre, vert centre; {border}"),
        "title": xlwt.easyxf("font: bold on, height 320; align: horiz centre, vert centre"),
        "info": xlwt.easyxf("align: vert centre"),
    }
    for key, fmt in DATE_STYLES.items():
        styles[key] = xlwt.easyxf(border, num_format_str=fmt)
    for sheet in sheets:
        ws = wb.add_sheet(sheet.name, cell_overwrite_ok=True)
        merged_tl = {(r1, c1): (r2, c2) for r1, c1, r2, c2 in sheet.merges}
        for i, row in enumerate(sheet.rows):
            for j, cell in enumerate(row):
                if cell is None:
                    continue
                value, style = cell
                if isinstance(value, Formula):
                    value = value.cached
                st = styles.get(style, styles[None])
                if (i, j) in merged_tl:
                    r2, c2 = merged_tl[(i, j)]
                    ws.write_merge(i, r2, j, c2, value, st)
                elif value is not None:
                    ws.write(i, j, value, st)
        for j, w in enumerate(sheet.widths):
            ws.col(j).width = int(w * 256)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def workbook_bytes(fmt: str, sheets: list[SheetData], modified: datetime, author: str, app: str) -> bytes:
    """fmt: "xlsx" (XlsxWriter), "fast_xlsx" (our own writer), "openpyxl" (.xlsx by openpyxl) or "xls" (xlwt)."""
    if fmt == "xls":
        return xls_bytes(sheets)
    if fmt == "openpyxl":
        return openpyxl_bytes(sheets, modified, author)
    if fmt == "fast_xlsx":
        return fast_xlsx_bytes(sheets, modified, author, app)
    return xlsx_bytes(sheets, modified, author, app)


def csv_bytes(rows: Iterable[list[Any]], encoding: str) -> bytes:
    """CSV as Excel saves it (CRLF, quotes where needed) in `encoding`."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    return buf.getvalue().encode(encoding)


def set_mtime(path: Path, when: datetime) -> None:
    """The file's time is when the office sent it (China time), not when it was generated."""
    ts = when.replace(tzinfo=CHINA_TZ).timestamp()
    os.utime(path, (ts, ts))


@dataclass
class FileWriter:
    """Writes the files of the tree under `out`, counts them in `summary` and notes what each holds."""

    out: Path
    summary: dict
    anomalies: Counter = field(default_factory=Counter)
    anomaly_files: list[dict] = field(default_factory=list)

    def write(self, rel: str, data: bytes, when: datetime, kind: str, ext: str) -> None:
        path = self.out / rel
        path.write_bytes(data)
        set_mtime(path, when)
        self.summary["files"][kind] += 1
        self.summary["files_by_format"][ext] += 1

    def note(self, rel: str, entries: Iterable[tuple[str, str]]) -> None:
        for code, detail in entries:
            self.anomalies[code] += 1
            self.anomaly_files.append({"file": rel, "code": code, "detail": detail})
