"""Ledger and register layouts: meeting ledgers, report filing registers and normative-document
registers (SPEC §4.2–4.4) as tables, with the column names, date forms and planted problems offices
produce, and how a table becomes CSV rows or a worksheet.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from generator.draws import choice_w
from generator.messiness import ROW_RATES, gb18030_only, misspell, name_variant, unparseable_date
from generator.plans import Meeting, Rectification
from generator.registry import Group, Unit
from generator.sheet_layouts import SheetData, points_text
from generator.vocabulary import (
    RECTIFICATION_FOOTERS,
    RECTIFICATION_REMARKS,
    RECTIFICATION_SOURCES,
    REPORT_TEXTS,
    person,
)
from pipelines.lib.rulebook import Rulebook

# Meeting-ledger columns: (key, the header names offices use for it).
LEDGER_COLUMNS = (
    ("unit", ("单位", "单位名称")),
    ("date", ("日期", "会议日期", "时间")),
    ("type", ("会议类型", "类型", "活动形式")),
    ("topic", ("主题", "内容", "学习内容")),
    ("host", ("主持人",)),
    ("principal", ("是否主要负责人主持",)),
    ("attendees", ("参加人数",)),
    ("hours", ("学时",)),
)
# Rectification-ledger columns: (key, the header names offices use for it).
RECTIFICATION_COLUMNS = (
    ("unit", ("单位", "单位名称", "整改单位", "责任单位")),
    ("source", ("问题来源", "问题类型")),
    ("problem", ("问题描述", "存在问题")),
    ("measure", ("整改措施", "整改举措")),
    ("owner", ("责任人", "责任领导")),
    ("deadline", ("整改时限", "完成时限", "整改期限")),
    ("status", ("整改状态", "整改进展", "完成情况")),
    ("done", ("完成日期", "实际完成时间", "销号日期")),
    ("remark", ("备注",)),
)
LONG_TERM = "长期坚持"  # what 整改时限 says of a problem that is never ticked off

TEXT_DATE_STYLES = (("iso", 30), ("slash", 25), ("cn", 25), ("dot", 8), ("iso_nopad", 7), ("slash_pad", 5))
CELL_DATE_STYLES = (("date_iso", 45), ("date_cn", 25), ("date_builtin", 20), ("datetime", 10))
_EXCEL_EPOCH = date(1899, 12, 30)


def excel_serial(d: date) -> int:
    """The day as Excel numbers it, as a ledger shows when its date column lost its format."""
    return (d - _EXCEL_EPOCH).days


def fmt_date(d: date, style: str) -> str:
    """A date typed as text, in one of TEXT_DATE_STYLES."""
    if style == "iso":
        return d.isoformat()
    if style == "slash":
        return f"{d.year}/{d.month}/{d.day}"
    if style == "slash_pad":
        return d.strftime("%Y/%m/%d")
    if style == "dot":
        return f"{d.year}.{d.month}.{d.day}"
    if style == "cn":
        return f"{d.year}年{d.month}月{d.day}日"
    if style == "iso_nopad":
        return f"{d.year}-{d.month}-{d.day}"
    raise ValueError(style)


@dataclass
class Table:
    """A register or ledger before it becomes .csv/.xlsx/.xls: header, rows (plain values), dates kept as date."""

    title: str | None
    header: list[str]
    rows: list[list[Any]]
    subtitle: str | None = None  # a line under the title (填报单位、填报日期), only with the title
    footer: list[str] = field(default_factory=list)  # lines under the table (填表人 …)


def _blank_rows_and_numbers(
    rows: list[list[Any]], width: int, flags: set[str], with_no: bool, rng: random.Random
) -> None:
    """The mess every ledger table shares: a blank row or two dropped in, and a 序号 column counting the
    rows that hold data."""
    if "blank_rows" in flags and rows:
        for _ in range(rng.randint(1, 2)):
            rows.insert(rng.randrange(len(rows) + 1), [None] * width)
    if with_no:
        n = 0
        for row in rows:
            if any(v is not None for v in row):
                n += 1
                row.insert(0, n)
            else:
                row.insert(0, None)


def ledger_table(
    unit: Unit,
    year: int,
    meetings: list[Meeting],
    flags: set[str],
    rng: random.Random,
    log: list[tuple[str, str]],
    gb18030: bool,
    known: set[str],
) -> Table:
    """A unit's meeting ledger: column names drawn from the aliases, the unit written its own way,
    the planted row problems (undatable, other year, duplicate, blank rows) noted in `log`."""
    cols = [(key, rng.choice(names)) for key, names in LEDGER_COLUMNS]
    if unit.role in ("party", "township_party") and not any(m.hours for m in meetings) and rng.random() < 0.5:
        cols = cols[:-1]
    with_no = rng.random() < 0.3
    header = (["序号"] if with_no else []) + [name for _, name in cols]
    if "unit_unknown" in flags:
        label = misspell(unit.name, rng, known)
        log.append(("unit_unknown", label))
    else:
        r = rng.random()
        label = unit.name if r < 0.7 else name_variant(unit, rng)
    mix_labels = rng.random() < 0.1
    rows: list[list[Any]] = []
    for m in meetings:
        host = m.host
        if gb18030 and rng.random() < 0.02:
            host = gb18030_only(host)
        fields = {
            "unit": name_variant(unit, rng) if mix_labels and rng.random() < 0.3 else label,
            "date": m.day,
            "type": m.type_text,
            "topic": m.topic,
            "host": host,
            "principal": "是" if m.principal else "否",
            "attendees": m.attendees,
            "hours": (points_text(m.hours) + "学时" if rng.random() < 0.01 else m.hours) if m.hours else None,
        }
        values = [fields[key] for key, _ in cols]
        dup = rng.random() < ROW_RATES["duplicate_row"]
        r = rng.random()
        if r < ROW_RATES["date_unparseable"]:
            text = unparseable_date(rng, year, m.day)
            values[1] = text
            log.append(("date_unparseable", text))
            m.day = date(1900, 1, 1)  # the records can no longer date it
        elif r < ROW_RATES["date_unparseable"] + ROW_RATES["date_other_year"]:
            day = (
                m.day.replace(year=year - 1)
                if not (m.day.month == 2 and m.day.day == 29)
                else date(year - 1, 2, 28)
            )
            values[1] = day
            m.day = day
            log.append(("date_other_year", day.isoformat()))
        rows.append(values)
        if dup:
            rows.append(list(values))
            log.append(("duplicate_row", m.day.isoformat()))
    _blank_rows_and_numbers(rows, len(cols), flags, with_no, rng)
    title = f"{label}{year}年度会议学法台账" if rng.random() < 0.5 else f"{year}年{label}学法及会议记录"
    return Table(title, header, rows)


def filing_table(
    group: Group,
    year: int,
    plans: dict[str, dict],
    rb: Rulebook,
    rng: random.Random,
    log: list[tuple[str, str]],
) -> Table:
    """A group's report filing register; missing reports are sometimes listed as 未报送, mostly left out."""
    with_due = rng.random() < 0.4
    with_no = rng.random() < 0.3
    header = (["序号"] if with_no else []) + [
        rng.choice(("单位", "单位名称", "报送单位")),
        rng.choice(("报告类型", "报告名称")),
        "年度",
        rng.choice(("报送日期", "报送时间")),
    ]
    header += (["应报日期"] if with_due else []) + ["备注"]
    year_style = rng.choice((str(year), f"{year}年", f"{year}年度", year))
    rows = []
    for unit in group.units:
        plan = plans[unit.name]
        label = unit.name if rng.random() < 0.75 else name_variant(unit, rng)
        for req_id, (status, filed) in plan["filings"].items():
            req = rb.filing_requirements[req_id]
            texts = REPORT_TEXTS.get(req_id, (req.name,))
            report = rng.choice(texts).format(Y=year)
            if status == "missing":
                log.append(("filing_missing", f"{unit.name}:{req_id}"))
                if rng.random() < 0.6:
                    continue
                remark = "未报送"
            elif status == "late":
                log.append(("filing_late", f"{unit.name}:{req_id}"))
                remark = rng.choice(("逾期报送", "补报", ""))
            else:
                remark = rng.choice(("", "", "", "按时报送"))
            row = (
                [label, report, year_style, filed]
                + ([req.due_date(year)] if with_due else [])
                + [remark or None]
            )
            rows.append(row)
    if with_no:
        for n, row in enumerate(rows, 1):
            row.insert(0, n)
    return Table(f"{group.label}{year}年度报告报送登记表", header, rows)


def normative_table(
    group: Group,
    year: int,
    plans: dict[str, dict],
    rng: random.Random,
    log: list[tuple[str, str]],
    deadline: int,
    on: date | None = None,
) -> Table:
    """A group's normative-document register: blank 报备日期 = not filed (compiled `on` a day of the
    running year: not filed yet, and not late while the deadline has not passed)."""
    with_no = rng.random() < 0.4
    header = (["序号"] if with_no else []) + [
        rng.choice(("单位", "制定机关", "单位名称")),
        "文件名称",
        "文号",
        rng.choice(("印发日期", "发文日期")),
        rng.choice(("报备日期", "备案日期")),
        "是否规范",
    ]
    rows = []
    for unit in group.units:
        for doc in plans[unit.name]["docs"]:
            label = unit.name if rng.random() < 0.8 else name_variant(unit, rng)
            if doc.filed is None and on is not None and (on - doc.issued).days <= deadline:
                log.append(("normative_pending", doc.number))
            elif doc.filed is None:
                log.append(("normative_not_filed", doc.number))
            elif (doc.filed - doc.issued).days > deadline:
                log.append(("normative_late", doc.number))
            if not doc.compliant:
                log.append(("normative_noncompliant", doc.number))
            rows.append(
                [label, doc.title, doc.number, doc.issued, doc.filed, "是" if doc.compliant else "否"]
            )
    if with_no:
        for n, row in enumerate(rows, 1):
            row.insert(0, n)
    return Table(f"{group.label}{year}年规范性文件备案登记表", header, rows)


def text_value(v: Any, date_style: str) -> str:
    if v is None:
        return ""
    if isinstance(v, date):
        return fmt_date(v, date_style)
    if isinstance(v, float):
        return points_text(v)
    return str(v)


def csv_rows(
    table: Table, rng: random.Random, serial_dates: bool = False, with_title: bool = False
) -> list[list[str]]:
    """A register as CSV text: one date form throughout, or bare serial numbers; a title line sometimes."""
    style = choice_w(rng, TEXT_DATE_STYLES)
    out = []
    pad = [""] * (len(table.header) - 1)
    if with_title and table.title:
        out.append([table.title, *pad])
        if table.subtitle:
            out.append([table.subtitle, *pad])
    out.append(table.header)
    for row in table.rows:
        if serial_dates:
            row = [excel_serial(v) if isinstance(v, date) else v for v in row]
        out.append([text_value(v, style) for v in row])
    if table.footer:
        out.append(["", *pad])
        out += [[line, *pad] for line in table.footer]
    return out


def table_sheet(
    table: Table,
    rng: random.Random,
    serial_dates: bool = False,
    with_title: bool = False,
    name: str = "Sheet1",
) -> SheetData:
    """A register as a worksheet: real date cells mostly, sometimes text dates or bare serials."""
    mode = "serial" if serial_dates else rng.choices(("cell", "text"), (75, 25))[0]
    cell_style = choice_w(rng, CELL_DATE_STYLES)
    text_style = choice_w(rng, TEXT_DATE_STYLES)
    rows: list[list[Any]] = []
    merges = []
    if with_title and table.title:
        rows.append([(table.title, "title")])
        merges.append((0, 0, 0, len(table.header) - 1))
        if table.subtitle:
            rows.append([(table.subtitle, "info")])
    rows.append([(h, "header") for h in table.header])
    for row in table.rows:
        cells = []
        for v in row:
            if isinstance(v, date):
                if mode == "cell":
                    if cell_style == "datetime":
                        v = datetime.combine(v, time(rng.choice((9, 9, 10, 15)), rng.choice((0, 30))))
                    cells.append((v, cell_style))
                elif mode == "serial":
                    cells.append((excel_serial(v), None))
                else:
                    cells.append((fmt_date(v, text_style), "text"))
            else:
                cells.append((v, "text" if isinstance(v, str) else "num" if v is not None else "text"))
        rows.append(cells)
    if table.footer:
        rows.append([])
        rows += [[(line, "info")] for line in table.footer]
    widths = [
        max(
            8.0,
            min(
                60.0,
                2.2 * max((len(str(r[j])) for r in table.rows if j < len(r) and r[j] is not None), default=4),
            ),
        )
        for j in range(len(table.header))
    ]
    return SheetData(name, rows, merges, widths)


def rectification_table(
    entries: list[tuple[Unit, list[Rectification]]],
    on: date,
    title: str,
    subtitle: str,
    flags: set[str],
    rng: random.Random,
    log: list[tuple[str, str]],
    known: set[str],
) -> Table:
    """A rectification ledger compiled on `on`: one unit's file or a group's register. Statuses are
    as of that day; a few 已完成 rows lose their 完成日期 or get one no reader can date (noted)."""
    cols = [(key, rng.choice(names)) for key, names in RECTIFICATION_COLUMNS]
    with_no = rng.random() < 0.5
    header = (["序号"] if with_no else []) + [name for _, name in cols]
    misspelled = rng.choice(entries)[0].name if "unit_unknown" in flags else None
    rows: list[list[Any]] = []
    for unit, items in entries:
        if unit.name == misspelled:
            label = misspell(unit.name, rng, known)
            log.append(("unit_unknown", label))
        else:
            label = unit.name if rng.random() < 0.75 else name_variant(unit, rng)
        for item in items:
            status = item.status(on)
            done: Any = item.done if status == "已完成" else None
            where = f"{unit.name}:{item.problem[:12]}"
            if status == "已完成":
                r = rng.random()
                if r < ROW_RATES["done_no_date"]:
                    done = None
                    log.append(("rectification_done_no_date", where))
                elif r < ROW_RATES["done_no_date"] + ROW_RATES["done_bad_date"]:
                    assert item.done is not None
                    done = unparseable_date(rng, on.year, item.done)
                    log.append(("rectification_bad_date", done))
                elif item.deadline is not None and item.done is not None and item.done > item.deadline:
                    log.append(("rectification_late", where))
                elif item.done == item.deadline:
                    log.append(("rectification_on_deadline", where))
            elif item.overdue(on):
                log.append(("rectification_overdue", where))
            if not item.measure:
                log.append(("rectification_no_measure", where))
            if item.deadline is None:
                log.append(("rectification_long_term", where))
            late = item.done is not None and item.deadline is not None and item.done > item.deadline
            kind = (
                "long_term"
                if item.deadline is None
                else ("late" if late else "done")
                if status == "已完成"
                else "overdue"
                if item.overdue(on)
                else "open"
                if status == "整改中"
                else "not_started"
            )
            fields = {
                "unit": label,
                "source": RECTIFICATION_SOURCES[item.source],
                "problem": item.problem,
                "measure": item.measure or None,
                "owner": item.owner,
                "deadline": item.deadline or LONG_TERM,
                "status": status,
                "done": done,
                "remark": rng.choice(RECTIFICATION_REMARKS[kind]) or None,
            }
            rows.append([fields[key] for key, _ in cols])
    _blank_rows_and_numbers(rows, len(cols), flags, with_no, rng)
    footer = []
    if "footer" in flags:
        line = rng.choice(RECTIFICATION_FOOTERS)
        footer.append(line.format(p=person(rng), q=person(rng), n=rng.randint(4000000, 8999999)))
    return Table(title, header, rows, subtitle, footer)
