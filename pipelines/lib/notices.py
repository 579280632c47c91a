"""反馈通知: the notice a clerk forwards to a unit about its year's material, from `marts.feedback_items`.

One Word document per unit, in the office's usual form: title, the unit addressed, what was received (each
file with its status and rows), a table of the problems (file, sheet, row, problem, what to do), the deadline
to resubmit, the office and the date. All units with problems: one zip, one notice per unit. The command line
(`fazhi notices`) and the dashboard's data-quality page both build them here; each hands in its own way of
reading the published marts (`Read`), so a viewer scoped to one region gets that region's units only.

Text from the data goes into the documents as text runs, never as markup; characters XML cannot hold are
dropped rather than aborting a document.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd
from docx import Document
from docx.enum.section import WD_ORIENT
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Pt
from docx.table import Table

from pipelines.lib.documents import Read, failed, no_warehouse, published_tables, reader, say

OFFICE = "市委全面依法治市委员会办公室"
TITLE = "关于报送材料问题的反馈通知"
ZIP_NAME = "{year}年度反馈通知.zip"

CATEGORY_ORDER = ["rejected_file", "missing_submission", "error", "evidence_shortfall", "warning"]
CATEGORY_LABELS = {
    "rejected_file": "文件未采用",
    "missing_submission": "未报送",
    "error": "错误（未采用）",
    "evidence_shortfall": "自评与记录不符",
    "warning": "提示（已采用，请核对）",
}
KIND_LABELS = {
    "score_sheet": "打分表",
    "meetings": "会议学法台账",
    "filings": "报送登记",
    "normative_docs": "规范性文件登记",
}
STATUS_LABELS = {
    "loaded": "已采用",
    "partially_loaded": "部分采用",
    "rejected": "未采用",
    "superseded": "已被新文件替代",
    "ignored": "未读取",
}

ITEMS_SQL = """
    select year, unit_id, unit_name, region, unit_text, category, severity, file, sheet, "row", is_summary,
           rows_affected, example_rows, code, message, action, resubmit_by
    from marts.feedback_items
    where year = $year"""
SUBMISSIONS_SQL = """
    select file, kind, sheet, unit_id, status, rows_read, rows_loaded, rows_rejected
    from marts.submissions
    where year = $year
    order by file, sheet"""
UNITS_SQL = "select unit_id, unit_name, region, role, aliases from marts.units order by region, unit_name"

# XML 1.0 cannot hold these; python-docx would refuse the whole document.
_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
# Characters no file name may hold on Windows or Linux, and control characters.
_UNSAFE_NAME = re.compile(r'[\\/:*?"<>|\x00-\x1f\x7f]+')


def _text(value: object, missing: str = "—") -> str:
    """A value as the document shows it: text as written, whole numbers without a decimal point."""
    if value is None or value is pd.NA or value is pd.NaT:
        return missing
    if isinstance(value, float):
        if value != value:  # NaN
            return missing
        if value.is_integer():
            return str(int(value))
    return _ILLEGAL.sub("", str(value))


def example_rows(value: object) -> list[int]:
    """A summarised item's example rows as a list (the frame holds a list, an array or nothing)."""
    if value is None or isinstance(value, (str, float)) or not hasattr(value, "__len__"):
        return []
    return [int(r) for r in value]  # type: ignore[attr-defined]


def chinese_date(d: date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


@dataclass
class Notice:
    """One unit's notice for one year: the problems (feedback_items rows, in reading order) and the files."""

    year: int
    unit_id: str
    unit_name: str
    region: str | None
    role: str | None
    items: pd.DataFrame
    received: pd.DataFrame
    resubmit_by: date | None

    @property
    def file_name(self) -> str:
        return safe_file_name(f"{self.year}年度反馈通知_{self.region or ''}_{self.unit_name}") + ".docx"


def safe_file_name(text: str, limit: int = 120) -> str:
    """A file name any system accepts: no path separators or reserved characters, not hidden, bounded."""
    name = _UNSAFE_NAME.sub("_", text).strip(" ._")
    return name[:limit] or "notice"


def _first_example(value: object) -> int | None:
    rows = example_rows(value)
    return rows[0] if rows else None


def _ordered(items: pd.DataFrame) -> pd.DataFrame:
    if items.empty:
        return items
    order = {c: i for i, c in enumerate(CATEGORY_ORDER)}
    first_row = items["example_rows"].map(_first_example)
    keyed = items.assign(
        _cat=items["category"].map(lambda c: order.get(c, len(order))),
        _sheet_first=items["code"] != "missing_score_sheet",  # the score sheet before the reports
        _row=items["row"].fillna(first_row).astype("Float64"),
    )
    keyed = keyed.sort_values(
        ["_cat", "_sheet_first", "file", "sheet", "_row", "code", "message"],
        na_position="first",
        kind="stable",
    )
    return keyed.drop(columns=["_cat", "_sheet_first", "_row"]).reset_index(drop=True)


def load(read: Read, year: int) -> tuple[list[Notice], pd.DataFrame]:
    """The year's notices, one per unit with something to be told, by region and unit name; and the items
    whose unit could not be resolved (未能对应单位), which no notice can carry."""
    items = read(ITEMS_SQL, year=year)
    files = read(SUBMISSIONS_SQL, year=year)
    roles = read(UNITS_SQL).set_index("unit_id")["role"].to_dict()
    unresolved = _ordered(items[items["unit_id"].isna()])
    items = items[items["unit_id"].notna()]
    notices = []
    for unit_id, own in items.groupby("unit_id", sort=False):
        first = own.iloc[0]
        # what the unit sent: its own files, and the shared files its problems were found in
        mine = files[(files["unit_id"] == unit_id) | files["file"].isin(own["file"].dropna())]
        deadline = own["resubmit_by"].dropna()
        notices.append(
            Notice(
                year=year,
                unit_id=str(unit_id),
                unit_name=_text(first["unit_name"], ""),
                region=None if pd.isna(first["region"]) else str(first["region"]),
                role=roles.get(unit_id),
                items=_ordered(own),
                received=mine.drop_duplicates(["file", "sheet"]).reset_index(drop=True),
                resubmit_by=pd.Timestamp(deadline.iloc[0]).date() if len(deadline) else None,
            )
        )
    notices.sort(key=lambda n: (n.region or "", n.unit_name, n.unit_id))
    return notices, unresolved


def rows_text(item: pd.Series) -> str:
    """Where in the sheet: one row, or a summary's example rows and count."""
    examples = example_rows(item.get("example_rows"))
    if bool(item.get("is_summary")):
        count = int(item["rows_affected"])
        if examples:
            shown = "、".join(str(r) for r in examples)
            more = "等" if len(examples) < count else ""
            return f"第{shown}行{more}，共{count}行"
        return f"共{count}处"
    return _text(item.get("row"))


def problem_text(item: pd.Series) -> str:
    return (
        f"【{CATEGORY_LABELS.get(str(item['category']), str(item['category']))}】{_text(item['message'], '')}"
    )


# -- the Word document --------------------------------------------------------------------------------


def set_font(run, size: float | None = None, bold: bool = False, east_asian: str = "仿宋") -> None:
    run.bold = bold or None
    if size:
        run.font.size = Pt(size)
    r_pr = run._element.get_or_add_rPr()
    fonts = r_pr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = OxmlElement("w:rFonts")
        r_pr.append(fonts)
    fonts.set(qn("w:eastAsia"), east_asian)


def _paragraph(doc, text: str, *, size: float = 14, bold: bool = False, align=None, font: str = "仿宋"):
    p = doc.add_paragraph()
    if align is not None:
        p.alignment = align
    set_font(p.add_run(_ILLEGAL.sub("", text)), size, bold, font)
    return p


def _cell(cell, text: str, *, bold: bool = False, size: float = 10.5) -> None:
    cell.text = ""
    set_font(cell.paragraphs[0].add_run(_ILLEGAL.sub("", text)), size, bold, "宋体")


def _repeat_header(table: Table) -> None:
    """The heading row is printed again on every page the table runs over."""
    tr_pr = table.rows[0]._tr.get_or_add_trPr()
    header = OxmlElement("w:tblHeader")
    header.set(qn("w:val"), "true")
    tr_pr.append(header)


def _table(doc, headings: list[tuple[str, float]], rows: Iterable[list[str]]) -> Table:
    table = doc.add_table(rows=1, cols=len(headings))
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    for cell, (heading, width) in zip(table.rows[0].cells, headings, strict=True):
        _cell(cell, heading, bold=True)
        cell.width = Cm(width)
    _repeat_header(table)
    for values in rows:
        cells = table.add_row().cells
        for cell, value, (_, width) in zip(cells, values, headings, strict=True):
            _cell(cell, value)
            cell.width = Cm(width)
    return table


def notice_docx(notice: Notice, issued_on: date, office: str = OFFICE) -> bytes:
    """The notice as a Word document (.docx)."""
    doc = Document()
    section = doc.sections[0]
    section.orientation = WD_ORIENT.LANDSCAPE
    section.page_width, section.page_height = Cm(29.7), Cm(21.0)
    for side in ("left_margin", "right_margin"):
        setattr(section, side, Cm(2.0))
    section.top_margin = section.bottom_margin = Cm(2.0)

    _paragraph(doc, TITLE, size=22, bold=True, align=WD_ALIGN_PARAGRAPH.CENTER, font="黑体")
    _paragraph(doc, f"{notice.unit_name}：")
    deadline = chinese_date(notice.resubmit_by) if notice.resubmit_by else "收到本通知后尽快"
    _paragraph(
        doc,
        f"　　经核查，你单位报送的{notice.year}年度法治建设第一责任人履职材料存在下列问题。"
        f"请按“处理要求”逐项改正，于{deadline}前重新报送。",
    )

    _paragraph(doc, "一、基本情况", bold=True, font="黑体")
    _paragraph(doc, f"单位：{notice.unit_name}")
    _paragraph(doc, f"所属县区：{notice.region or '—'}")
    _paragraph(doc, f"年度：{notice.year}")

    _paragraph(doc, "二、已收到的材料", bold=True, font="黑体")
    if notice.received.empty:
        _paragraph(doc, "本年度未收到你单位报送的材料。")
    else:
        _table(
            doc,
            [
                ("文件", 9.5),
                ("类别", 3.2),
                ("工作表", 3.0),
                ("状态", 3.2),
                ("读入行", 2.2),
                ("采用行", 2.2),
                ("未采用行", 2.4),
            ],
            (
                [
                    _text(f["file"]),
                    KIND_LABELS.get(str(f["kind"]), _text(f["kind"])),
                    _text(f["sheet"]),
                    STATUS_LABELS.get(str(f["status"]), _text(f["status"])),
                    _text(f["rows_read"]),
                    _text(f["rows_loaded"]),
                    _text(f["rows_rejected"]),
                ]
                for _, f in notice.received.iterrows()
            ),
        )

    _paragraph(doc, "三、存在的问题", bold=True, font="黑体")
    _table(
        doc,
        [("序号", 1.3), ("文件", 6.0), ("工作表", 2.4), ("行", 3.0), ("问题", 8.0), ("处理要求", 5.0)],
        (
            [
                str(i),
                _text(item["file"]),
                _text(item["sheet"]),
                rows_text(item),
                problem_text(item),
                _text(item["action"], ""),
            ]
            for i, (_, item) in enumerate(notice.items.iterrows(), start=1)
        ),
    )
    summarised = notice.items["is_summary"].fillna(False).astype(bool)
    if summarised.any():
        _paragraph(
            doc,
            "注：同一文件中同类问题较多的，合并为一项，列出前几行的行号和问题总数；请对照文件逐行核对全部同类问题。",
            size=10.5,
        )

    _paragraph(doc, "四、重新报送", bold=True, font="黑体")
    _paragraph(doc, f"请于{deadline}前将改正后的材料重新报送。逾期未报送的，按已收到的材料计分。")

    _paragraph(doc, "")
    _paragraph(doc, office, align=WD_ALIGN_PARAGRAPH.RIGHT)
    _paragraph(doc, chinese_date(issued_on), align=WD_ALIGN_PARAGRAPH.RIGHT)

    buffer = io.BytesIO()
    doc.save(buffer)
    return buffer.getvalue()


def notices_zip(notices: list[Notice], issued_on: date, office: str = OFFICE) -> bytes:
    """All the notices in one zip, one .docx per unit under a name that is unique and safe everywhere."""
    buffer = io.BytesIO()
    used: set[str] = set()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for notice in notices:
            name = notice.file_name
            if name in used:  # two units of one name (different types): the id tells them apart
                name = name.removesuffix(".docx") + f"_{notice.unit_id}.docx"
            used.add(name)
            archive.writestr(name, notice_docx(notice, issued_on, office))
    return buffer.getvalue()


# -- the command line -----------------------------------------------------------------------------------


def _pick_unit(units: pd.DataFrame, text: str) -> pd.DataFrame:
    """The units a name (as the registry or its aliases write it, or as an office would) or an id names."""
    from pipelines.lib.names import normalize_name

    key = normalize_name(text)

    def names(row: pd.Series) -> set[str]:
        aliases = [] if pd.isna(row["aliases"]) else str(row["aliases"]).split("、")
        return {normalize_name(n) for n in [str(row["unit_name"]), *aliases] if n}

    return units[(units["unit_id"] == text.strip()) | units.apply(lambda r: key in names(r), axis=1)]


def notices_command(warehouse: str | None, year: int, out: str | None, unit: str | None) -> int:
    """`fazhi notices --year Y [--out DIR] [--unit NAME] [--warehouse FILE]`: writes each unit's notice
    (.docx) and, for all units, the zip of them, and says where. Exit codes: 0 written (or nothing to
    tell); 1 an unexpected failure (details in a log file); 2 no published warehouse, no such year or unit."""

    from pipelines.lib.warehouse import Paths, read_only, today

    path = Paths.from_env(None, warehouse).warehouse
    if no_warehouse(path):
        return 2
    target = Path(out) if out else path.parent / "notices" / str(year)
    try:
        with read_only(path) as con:
            if "feedback_items" not in published_tables(con):
                say(f"已发布的数据（{path}）中还没有反馈事项：请先用当前版本运行一次 fazhi run。")
                return 2

            read = reader(con)
            years = {int(y) for (y,) in con.execute("select distinct year from marts.unit_scores").fetchall()}
            if year not in years:
                shown = "、".join(str(y) for y in sorted(years)) or "无"
                say(f"已发布的数据中没有 {year} 年度（有的年度：{shown}）。")
                return 2
            notices, unresolved = load(read, year)
            units = read(UNITS_SQL)
        if unit is not None:
            chosen = _pick_unit(units, unit)
            if chosen.empty:
                say(f"单位名册中没有“{unit}”：请写单位名称、别名或单位标识（unit_id）。")
                return 2
            if len(chosen) > 1:
                say(f"“{unit}”对应多个单位（{'、'.join(chosen['unit_name'])}），请写全称或单位标识。")
                return 2
            notices = [n for n in notices if n.unit_id == chosen["unit_id"].iloc[0]]
            if not notices:
                print(f"{chosen['unit_name'].iloc[0]} {year} 年度没有需要反馈的问题，未生成通知。")
                return 0
        if not notices:
            print(f"{year} 年度没有需要反馈的问题，未生成通知。")
        else:
            issued_on = today()
            target.mkdir(parents=True, exist_ok=True)
            for notice in notices:
                (target / notice.file_name).write_bytes(notice_docx(notice, issued_on))
            print(f"已生成 {len(notices)} 份反馈通知（Word），在 {target}")
            if unit is None:
                bundle = target / ZIP_NAME.format(year=year)
                bundle.write_bytes(notices_zip(notices, issued_on))
                print(f"全部单位的通知（zip）：{bundle}")
            late = sorted({n.resubmit_by for n in notices if n.resubmit_by and n.resubmit_by < issued_on})
            if late:
                print(
                    f"注意：通知中的重新报送截止日期（{chinese_date(late[0])}）已过，"
                    "它按上次运行的计算日期算出：请重新运行 fazhi run 后再生成。"
                )
        if unit is None and len(unresolved):
            print(
                f"另有 {len(unresolved)} 项问题所在的文件无法对应到登记单位，未写入任何通知："
                "见看板“数据质量”页的“未能对应单位”，或查询 marts.feedback_items 中 unit_id 为空的行。"
            )
        return 0
    except Exception as error:  # one sentence for the person; the details for the administrator
        return failed(path, error, f"反馈通知未能生成（读取已发布的数据或写入 {target} 时出错）")
