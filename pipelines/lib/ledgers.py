"""Parsers for the tabular ledgers offices send: meetings, filings, normative documents,
rectifications, units.

Each `parse_<kind>(path)` turns one .csv/.xlsx/.xls file into a ParsedFile. The header row is found
by column aliases (offices put title lines above it and word the columns their own way); every
non-blank row below it is either a record or a rejected row with exactly one error Issue, so that
rows_read == len(records) + len(rejected_rows). Problems that do not stop a row from being used are
warnings. Nothing here knows the unit registry or the rulebook: units stay as written.

Speed: at national scale this reads ~2.5 M meeting rows a year, so column positions are resolved
once per sheet and each row is converted by one small function working on list indexes.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pipelines.lib.dates import parse_date
from pipelines.lib.excel import read_file, read_workbook, sniff_binary
from pipelines.lib.records import ERROR, WARNING, FileRejected, Issue, ParsedFile
from pipelines.lib.text import (
    clean_cell,
    decode_text,
    other_encoding,
    parse_number,
    to_halfwidth,
    unknown_encoding,
)

# The file is already in memory; the csv module's default 128 KiB field cap would turn one huge
# cell into an exception mid-file. Oversized values are rejected per row instead (MAX_TEXT_LEN).
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))

HEADER_SCAN_ROWS = 15  # the header must be within the first rows; titles sit above it
MAX_CSV_BYTES = 256 * 1024 * 1024
MAX_TEXT_LEN = 2000  # longer than any real unit name, topic or title: garbage, not data
MAX_HOURS = 1000.0
MAX_ATTENDEES = 100_000
MIN_YEAR, MAX_YEAR = 1990, 2100
_RAW_SHOWN = 60  # raw values quoted in messages are cut to this many characters

_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # .xls, and encrypted .xlsx
_WORKBOOK_SUFFIXES = {".xlsx", ".xlsm", ".xls"}
_TEXT_SUFFIXES = {".csv", ".txt", ".tsv"}


# --------------------------------------------------------------------------------------------
# Column specifications


@dataclass(frozen=True)
class _Field:
    name: str
    aliases: tuple[str, ...]  # normalised header texts, most specific first (wins on conflict)


@dataclass(frozen=True)
class _KindSpec:
    kind: str
    title: str  # Chinese name of the ledger, for messages
    fields: tuple[_Field, ...]
    # The header row must contain at least one field of every anchor set.
    anchors: tuple[frozenset[str], ...]
    # Columns that must be present once the header is found; "unit" may instead come from a
    # title line such as "填报单位：清丰县".
    required: tuple[str, ...]
    expected: str  # Chinese list of the expected columns, for header_not_found
    convert: Callable[..., dict[str, Any]]


def _f(name: str, *aliases: str) -> _Field:
    return _Field(name, aliases)


# --------------------------------------------------------------------------------------------
# Header detection

_BRACKETED = re.compile(r"\([^)]*\)|\[[^\]]*\]|【[^】]*】|<[^>]*>|《[^》]*》")
_HEADER_STRIP = re.compile(r"[\s*※:：#]+")


def _header_key(v: object) -> str:
    """Header text as compared with aliases: '学时（小时）' → '学时', '* 单位名称：' → '单位名称'."""
    s = to_halfwidth(clean_cell(v))
    if not s:
        return ""
    s = _BRACKETED.sub("", s)
    return _HEADER_STRIP.sub("", s)


@dataclass
class _Header:
    index: int  # 0-based index of the header row in the sheet's rows
    width: int
    columns: dict[str, int]  # field → column index
    labels: dict[str, str]  # field → header text as written, for messages
    keys: list[str]  # normalised header texts, to spot a repeated header row
    duplicates: list[str]  # header texts of ignored second columns for an already mapped field


def _alias_table(spec: _KindSpec) -> dict[str, tuple[str, int]]:
    table: dict[str, tuple[str, int]] = {}
    for field in spec.fields:
        for prio, alias in enumerate(field.aliases):
            table.setdefault(_header_key(alias), (field.name, prio))
    return table


def _match_header(row: Sequence[object], spec: _KindSpec, aliases: dict[str, tuple[str, int]]):
    keys = [_header_key(v) for v in row]
    best: dict[str, tuple[int, int]] = {}  # field → (alias priority, column)
    duplicates: list[str] = []
    for col, key in enumerate(keys):
        hit = aliases.get(key)
        if hit is None:
            continue
        name, prio = hit
        prev = best.get(name)
        if prev is None or prio < prev[0]:
            best[name] = (prio, col)
        elif prio == prev[0]:
            duplicates.append(clean_cell(row[col]))
    if not all(anchor & best.keys() for anchor in spec.anchors):
        return None
    columns = {name: col for name, (_, col) in best.items()}
    labels = {name: clean_cell(row[col]) for name, col in columns.items()}
    return keys, columns, labels, duplicates


def _find_header(rows: Sequence[Sequence[object]], spec: _KindSpec, aliases) -> _Header | None:
    for i, row in enumerate(rows[:HEADER_SCAN_ROWS]):
        m = _match_header(row, spec, aliases)
        if m is not None:
            keys, columns, labels, duplicates = m
            return _Header(i, len(row), columns, labels, keys, duplicates)
    return None


# Facts written in title lines above the header ("填报单位：清丰县", "2024年度会议台账").
_META_UNIT_RE = re.compile(
    r"(?<!计量)(?:填报单位|报送单位|被考核单位|单位名称|单位)\s*(?:\([^)]*\))?\s*:\s*([^\s:]+)"
)
_META_YEAR_RES = (
    re.compile(r"年度\s*:\s*((?:19|20)\d{2})"),
    re.compile(r"((?:19|20)\d{2})\s*年度"),
    re.compile(r"((?:19|20)\d{2})\s*年(?!\s*\d{1,2}\s*月)"),  # "2024年台账", not a date
)


def _title_meta(rows: Sequence[Sequence[object]]) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    for row in rows:
        for v in row:
            if v is None or v == "":
                continue
            s = to_halfwidth(clean_cell(v))
            if "unit" not in meta:
                m = _META_UNIT_RE.search(s)
                if m:
                    meta["unit"] = m.group(1)
            if "year" not in meta:
                for rx in _META_YEAR_RES:
                    m = rx.search(s)
                    if m:
                        meta["year"] = int(m.group(1))
                        break
    return meta


# --------------------------------------------------------------------------------------------
# Row context and messages


class _RowError(Exception):
    """This row cannot be used; carries the one error issue it gets."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def _shown(v: object) -> str:
    s = clean_cell(v)
    return s if len(s) <= _RAW_SHOWN else s[:_RAW_SHOWN] + "…"


class _Ctx:
    """Per-sheet state shared by the row converters (row number, labels, warnings)."""

    __slots__ = ("issues", "labels", "prefix", "row", "sheet", "unit_default", "year")

    def __init__(self, sheet, labels, unit_default, year, issues):
        self.sheet = sheet
        self.row = 0
        self.labels = labels
        self.unit_default = unit_default
        self.year = year
        self.issues = issues
        self.prefix = f"工作表“{sheet}”" if sheet is not None else ""

    def where(self) -> str:
        return f"{self.prefix}第{self.row}行"

    def label(self, field: str, fallback: str) -> str:
        return self.labels.get(field, fallback)

    def missing(self, code: str, field: str, fallback: str, hint: str) -> _RowError:
        return _RowError(code, f"{self.where()}“{self.label(field, fallback)}”为空，{hint}")

    def bad(self, field: str, fallback: str, raw: object, what: str) -> str:
        return f"{self.where()}“{self.label(field, fallback)}”为“{_shown(raw)}”，{what}"

    def too_long(self, field: str, fallback: str, s: str) -> _RowError:
        return _RowError(
            "value_too_long",
            f"{self.where()}“{self.label(field, fallback)}”内容过长（{len(s)}字，上限{MAX_TEXT_LEN}字），"
            f"开头为“{s[:_RAW_SHOWN]}…”，请检查是否粘贴错误。",
        )

    def warn(self, code: str, message: str, unit: str | None) -> None:
        self.issues.append(Issue(code, message, WARNING, self.sheet, self.row, self.year, unit))


def _text(v: object) -> str:
    if v is None:
        return ""
    if type(v) is str:
        return " ".join(v.split()) if v else ""
    return clean_cell(v)


def _blank(v: object) -> bool:
    return v is None or (type(v) is str and not v.strip())


_YES = frozenset({"是", "有", "√", "✓", "✔", "Y", "YES", "TRUE", "1", "对"})
_NO = frozenset({"否", "无", "×", "✗", "✘", "N", "NO", "FALSE", "0", "不是"})
_COMPLIANT = _YES | {"规范", "合法", "合规", "通过", "符合", "合格"}
_NONCOMPLIANT = _NO | {"不规范", "不合法", "违法", "不合规", "不通过", "不符合", "不合格"}
# Placeholders people type in a "date filed" cell to say "not filed": treated like a blank cell.
_NOT_FILED = frozenset({"-", "--", "—", "——", "/", "无", "未报", "未报送", "未备案", "未报备", "否", "暂无"})


def _yes_no(v: object, yes: frozenset[str], no: frozenset[str]) -> bool | str | None:
    """True/False, None for blank, or the cleaned text when it is neither (caller warns)."""
    if v in yes:  # fast path for the raw "是"/"否"
        return True
    if v in no:
        return False
    if isinstance(v, bool):
        return v
    s = to_halfwidth(_text(v)).replace(" ", "").upper()
    if not s:
        return None
    if s in yes:
        return True
    if s in no:
        return False
    return s


def _optional_date(ctx: _Ctx, field: str, fallback: str, raw: object, strict: bool):
    """A date cell where blank (or a "not filed" placeholder) means None. A value that is no date
    raises a row error when strict, else returns _BAD for the caller to warn about."""
    if _blank(raw):
        return None
    d = parse_date(raw)
    if d is not None:
        return d
    if type(raw) is str and to_halfwidth(raw).strip() in _NOT_FILED:
        return None
    if strict:
        raise _RowError("bad_date", ctx.bad(field, fallback, raw, _FILED_DATE_HINT))
    return _BAD


_BAD = object()
_DATE_HINT = "无法识别为日期，请按2024-03-05格式填写。"
_FILED_DATE_HINT = "无法识别为日期，请按2024-03-05格式填写（尚未报送的请留空）。"
_YEAR_RE = re.compile(r"(\d{4})\s*(?:年度|年)?")


def _year(v: object) -> int | object | None:
    if _blank(v):
        return None
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        if not math.isfinite(v):
            return _BAD
        y = v
    else:
        m = _YEAR_RE.fullmatch(to_halfwidth(_text(v)))
        if m is None:
            return _BAD
        y = int(m.group(1))
    if y == int(y) and MIN_YEAR <= y <= MAX_YEAR:
        return int(y)
    return _BAD


# --------------------------------------------------------------------------------------------
# Row converters: (cells, column indexes, ctx) → record dict, or raise _RowError.
# An absent column's index points at the None pad cell appended to every row.


def _row_year(ctx, raw: object, unit: str) -> int | None:
    """A row's optional 年度 column: a year it cannot be is warned about and the file's year counts."""
    year = _year(raw)
    if year is _BAD:
        ctx.warn(
            "bad_year",
            ctx.bad("year", "年度", raw, "应为四位年份（如2024），本行年度按文件所属年度处理。"),
            unit,
        )
        return None
    return year if isinstance(year, int) else None


def _unit(c, i_unit, ctx) -> str:
    unit = _text(c[i_unit]) or ctx.unit_default
    if not unit:
        raise ctx.missing("missing_unit", "unit", "单位", "请填写单位名称。")
    if len(unit) > MAX_TEXT_LEN:
        raise ctx.too_long("unit", "单位", unit)
    return unit


# A text cell with its whitespace collapsed, by the text as written: a ledger's unit, types and hosts
# come back row after row and file after file (a nation's meeting CSVs parsed in 0.227–0.241 ms each
# against 0.255–0.262 ms). Short texts only, and a bounded number of them: a hostile file's long cells
# are not kept.
_SPACED: dict[str, str] = {}
_SPACED_MAX = 50_000
_SPACED_MAX_LEN = 100


def _spaced(v: str) -> str:
    """The text with its whitespace collapsed, remembered in _SPACED (callers look there first:
    `_SPACED.get(v) or _spaced(v)`)."""
    out = " ".join(v.split())
    if len(v) <= _SPACED_MAX_LEN:
        if len(_SPACED) >= _SPACED_MAX:
            _SPACED.clear()
        _SPACED[v] = out
    return out


def _meeting_row(c, ix, ctx) -> dict[str, Any]:
    # Two and a half million rows a nation's year: the common cells (text, a count written as
    # digits, an empty cell) are read inline, anything else by the helpers.
    i_unit, i_date, i_type, i_topic, i_host, i_led, i_att, i_hours = ix
    v = c[i_unit]
    unit = (_SPACED.get(v) or _spaced(v)) if type(v) is str else _text(v)
    if not unit or len(unit) > MAX_TEXT_LEN:
        unit = _unit(c, i_unit, ctx)  # the title line's unit, or the row's error
    raw = c[i_date]
    d = parse_date(raw)
    if d is None:
        if _blank(raw):
            raise ctx.missing("missing_date", "date", "日期", "请填写会议日期（如2024-03-05）。")
        raise _RowError("bad_date", ctx.bad("date", "日期", raw, _DATE_HINT))
    v = c[i_type]
    type_text = (_SPACED.get(v) or _spaced(v)) if type(v) is str else _text(v)
    v = c[i_topic]
    topic = (_SPACED.get(v) or _spaced(v)) if type(v) is str else _text(v)
    if not type_text and not topic:
        raise _RowError(
            "missing_type_and_topic",
            f"{ctx.where()}“{ctx.label('type_text', '会议类型')}”和“{ctx.label('topic', '主题')}”都为空，"
            "无法判断是什么会议，请至少填写其中一项。",
        )
    if len(type_text) > MAX_TEXT_LEN:
        raise ctx.too_long("type_text", "会议类型", type_text)
    if len(topic) > MAX_TEXT_LEN:
        raise ctx.too_long("topic", "主题", topic)
    v = c[i_host]
    host = (_SPACED.get(v) or _spaced(v)) if type(v) is str else _text(v)
    if len(host) > MAX_TEXT_LEN:
        raise ctx.too_long("host", "主持人", host)

    led = _yes_no(c[i_led], _YES, _NO)
    if type(led) is str:
        ctx.warn(
            "bad_yes_no",
            ctx.bad("led_by_principal", "是否主要负责人主持", led, "应填“是”或“否”，本行按未填处理。"),
            unit,
        )
        led = None
    attendees = None
    raw = c[i_att]
    if type(raw) is str and raw.isdecimal() and len(raw) < 7 and int(raw) <= MAX_ATTENDEES:
        attendees = int(raw)  # a count as written, which parse_number reads as its digits
    elif type(raw) is float and 0 <= raw <= MAX_ATTENDEES and raw.is_integer():
        attendees = int(raw)
    elif raw is not None and raw != "" and not _blank(raw):
        n = parse_number(raw)
        if n is None or n < 0 or n > MAX_ATTENDEES or n != int(n):
            ctx.warn(
                "bad_attendees",
                ctx.bad("attendees", "参加人数", raw, "应为人数（整数），本行按未填处理。"),
                unit,
            )
        else:
            attendees = int(n)
    hours = None
    raw = c[i_hours]
    if raw is not None and raw != "" and not _blank(raw):
        h = parse_number(raw)
        if h is None or h < 0 or h > MAX_HOURS:
            ctx.warn(
                "bad_hours",
                ctx.bad("hours", "学时", raw, "应为学时数（如2或1.5），本行学时按未填处理。"),
                unit,
            )
        else:
            hours = h
    return {
        "sheet": ctx.sheet,
        "row": ctx.row,
        "unit": unit,
        "date": d,
        "type_text": type_text or None,
        "topic": topic or None,
        "host": host or None,
        "led_by_principal": led,
        "attendees": attendees,
        "hours": hours,
    }


def _filing_row(c, ix, ctx) -> dict[str, Any]:
    i_unit, i_type, i_year, i_filed, i_due, i_remark = ix
    unit = _unit(c, i_unit, ctx)
    report = _text(c[i_type])
    if not report:
        raise ctx.missing("missing_report_type", "report_type_text", "报告类型", "请填写报送的是哪类报告。")
    if len(report) > MAX_TEXT_LEN:
        raise ctx.too_long("report_type_text", "报告类型", report)
    filed = _optional_date(ctx, "filed_date", "报送日期", c[i_filed], True)
    remark = _text(c[i_remark])
    if len(remark) > MAX_TEXT_LEN:
        raise ctx.too_long("remark", "备注", remark)

    year = _row_year(ctx, c[i_year], unit)
    due = _optional_date(ctx, "due_date", "应报日期", c[i_due], False)
    if due is _BAD:
        ctx.warn(
            "bad_due_date",
            ctx.bad("due_date", "应报日期", c[i_due], "无法识别为日期，本行按规则中的报送期限处理。"),
            unit,
        )
        due = None
    return {
        "sheet": ctx.sheet,
        "row": ctx.row,
        "unit": unit,
        "report_type_text": report,
        "year": year,
        "filed_date": filed,
        "due_date": due,
        "remark": remark or None,
    }


def _normative_row(c, ix, ctx) -> dict[str, Any]:
    i_unit, i_title, i_no, i_issued, i_filed, i_ok = ix
    unit = _unit(c, i_unit, ctx)
    raw = c[i_issued]
    issued = parse_date(raw)
    if issued is None:
        if _blank(raw):
            raise ctx.missing(
                "missing_date", "issued_date", "印发日期", "请填写文件印发日期（如2024-03-05）。"
            )
        raise _RowError("bad_date", ctx.bad("issued_date", "印发日期", raw, _DATE_HINT))
    filed = _optional_date(ctx, "filed_date", "报备日期", c[i_filed], True)
    title = _text(c[i_title])
    if len(title) > MAX_TEXT_LEN:
        raise ctx.too_long("title", "文件名称", title)
    doc_no = _text(c[i_no])
    if len(doc_no) > MAX_TEXT_LEN:
        raise ctx.too_long("doc_no", "文号", doc_no)
    ok = _yes_no(c[i_ok], _COMPLIANT, _NONCOMPLIANT)
    if type(ok) is str:
        ctx.warn(
            "bad_yes_no",
            ctx.bad("compliant", "是否规范", ok, "应填“是”或“否”（或“规范”/“不规范”），本行按未填处理。"),
            unit,
        )
        ok = None
    return {
        "sheet": ctx.sheet,
        "row": ctx.row,
        "unit": unit,
        "title": title or None,
        "doc_no": doc_no or None,
        "issued_date": issued,
        "filed_date": filed,
        "compliant": ok,
    }


# 问题来源 and 整改状态 as offices write them → the codes the rulebook and the marts use. Matched after
# removing spaces; the first code one of whose words the text contains wins (督察 before 自查: "督察自查"
# problems come from the inspection's feedback only when written so, rare enough to check by eye).
_SOURCE_WORDS = (
    (
        "inspection_feedback",
        ("督察反馈", "督查反馈", "督察组反馈", "督察", "督查", "反馈意见", "巡察", "巡视"),
    ),
    ("self_check", ("自查", "自纠", "自检")),
    ("shufa_review", ("述法", "评议", "述职")),
    ("other", ("其他", "其它", "上级", "审计", "信访", "群众")),
)
_STATUS_WORDS = (
    ("not_started", ("未启动", "未开始", "未整改", "尚未", "未完成")),
    ("in_progress", ("整改中", "正在", "推进中", "进行中", "持续", "部分完成", "基本完成")),
    ("done", ("已完成", "已整改", "已销号", "已办结", "完成", "销号", "办结")),
)
_ONGOING_DEADLINE = ("长期", "持续", "常态")


def _code(text: str, words: tuple[tuple[str, tuple[str, ...]], ...]) -> str | None:
    key = to_halfwidth(text).replace(" ", "")
    return next((code for code, ws in words if any(w in key for w in ws)), None)


def _rectification_row(c, ix, ctx) -> dict[str, Any]:
    i_unit, i_source, i_desc, i_measure, i_owner, i_deadline, i_status, i_done, i_remark, i_year = ix
    unit = _unit(c, i_unit, ctx)
    description = _text(c[i_desc])
    if not description:
        raise ctx.missing("missing_description", "description", "问题描述", "请写明存在的问题。")
    texts = {}
    for field, label, i in (
        ("description", "问题描述", i_desc),
        ("measure", "整改措施", i_measure),
        ("owner", "责任人", i_owner),
        ("remark", "备注", i_remark),
    ):
        texts[field] = _text(c[i])
        if len(texts[field]) > MAX_TEXT_LEN:
            raise ctx.too_long(field, label, texts[field])

    raw_deadline = c[i_deadline]
    deadline = parse_date(raw_deadline)
    long_term = False
    if deadline is None and not _blank(raw_deadline):
        if any(w in _text(raw_deadline) for w in _ONGOING_DEADLINE):
            long_term = True  # 长期坚持: an ongoing measure has no date to be late against
        else:
            raise _RowError(
                "bad_date",
                ctx.bad(
                    "deadline",
                    "整改时限",
                    raw_deadline,
                    "无法识别为日期，请按2024-09-30格式填写（长期整改的填“长期坚持”）。",
                ),
            )
    elif deadline is None:
        ctx.warn("missing_deadline", f"{ctx.where()}未填写整改时限，无法判断是否逾期，请补填。", unit)

    done = _optional_date(ctx, "done_date", "完成日期", c[i_done], False)
    if done is _BAD:
        raise _RowError(
            "bad_date",
            ctx.bad(
                "done_date",
                "完成日期",
                c[i_done],
                "无法识别为日期，请按2024-09-30格式填写（尚未完成的请留空）。",
            ),
        )
    source_text = _text(c[i_source])
    source = _code(source_text, _SOURCE_WORDS) if source_text else None
    if source is None:
        shown = f"“{_shown(source_text)}”" if source_text else "未填写"
        ctx.warn(
            "unknown_source",
            f"{ctx.where()}的问题来源{shown}，应为自查、督察反馈、述法评议或其他，本行按“其他”处理，请核对后补正。",
            unit,
        )
        source = "other"
    status_text = _text(c[i_status])
    status = _code(status_text, _STATUS_WORDS) if status_text else None
    if status is None:
        status = "done" if done else "in_progress"
        shown = f"“{_shown(status_text)}”无法识别" if status_text else "未填写"
        ctx.warn(
            "unknown_status",
            f"{ctx.where()}的整改状态{shown}，应为已完成、整改中或未启动；"
            + ("已填完成日期，按“已完成”处理" if done else "按“整改中”处理")
            + "，请核对后补正。",
            unit,
        )
    if status == "done" and done is None:
        ctx.warn(
            "missing_done_date",
            f"{ctx.where()}整改状态为已完成，但未填写完成日期，无法判断是否按期完成，请补填完成日期。",
            unit,
        )
    elif status != "done" and done is not None:
        ctx.warn(
            "done_date_not_done",
            f"{ctx.where()}填写了完成日期，但整改状态不是“已完成”，按所填状态处理，请核对整改状态。",
            unit,
        )

    year = _row_year(ctx, c[i_year], unit)
    return {
        "sheet": ctx.sheet,
        "row": ctx.row,
        "unit": unit,
        "year": year,
        "source": source,
        "source_text": source_text or None,
        "description": description,
        "measure": texts["measure"] or None,
        "owner": texts["owner"] or None,
        "deadline": deadline,
        "long_term": long_term,
        "status": status,
        "done_date": done,
        "remark": texts["remark"] or None,
    }


UNIT_TYPES = ("党委", "政府", "部门", "乡镇党委", "乡镇政府")
_UNIT_TYPE_SET = frozenset(UNIT_TYPES)
_ALIAS_SPLIT = re.compile(r"[;；、|｜]")


def _unit_row(c, ix, ctx) -> dict[str, Any]:
    i_name, i_type, i_region, i_alias = ix
    name = _text(c[i_name])
    if not name:
        raise ctx.missing("missing_unit_name", "name", "单位名称", "请填写单位名称。")
    if len(name) > MAX_TEXT_LEN:
        raise ctx.too_long("name", "单位名称", name)
    raw = c[i_type]
    unit_type = to_halfwidth(_text(raw)).replace(" ", "")
    if not unit_type:
        raise ctx.missing("missing_unit_type", "unit_type", "单位类型", f"请填写{'/'.join(UNIT_TYPES)}之一。")
    if unit_type not in _UNIT_TYPE_SET:
        raise _RowError(
            "bad_unit_type",
            ctx.bad("unit_type", "单位类型", raw, f"不是可用的单位类型，应为{'/'.join(UNIT_TYPES)}之一。"),
        )
    region = _text(c[i_region])
    if not region:
        raise ctx.missing("missing_region", "region", "所属县区", "请填写所属县区（市直部门可填“市直”）。")
    if len(region) > MAX_TEXT_LEN:
        raise ctx.too_long("region", "所属县区", region)
    aliases: list[str] = []
    alias_text = _text(c[i_alias])
    if len(alias_text) > MAX_TEXT_LEN:
        raise ctx.too_long("aliases", "别名", alias_text)
    for a in _ALIAS_SPLIT.split(alias_text):
        a = a.strip()
        if a and a not in aliases:
            aliases.append(a)
    return {
        "sheet": ctx.sheet,
        "row": ctx.row,
        "name": name,
        "unit_type": unit_type,
        "region": region,
        "aliases": aliases,
    }


# --------------------------------------------------------------------------------------------
# Kind specifications (aliases are compared after _header_key normalisation)

_MEETINGS = _KindSpec(
    kind="meetings",
    title="会议/学法台账",
    fields=(
        _f("unit", "单位名称", "单位", "填报单位", "责任单位"),
        _f("date", "会议日期", "学习日期", "日期", "活动日期", "会议时间", "学习时间", "时间"),
        _f("type_text", "会议类型", "类型", "活动形式", "形式", "会议形式", "学习形式", "会议名称"),
        _f("topic", "会议主题", "主题", "学习内容", "内容", "议题", "主要内容", "会议内容"),
        _f("host", "主持人"),
        _f("led_by_principal", "是否主要负责人主持", "主要负责人是否主持", "是否主要负责人"),
        _f("attendees", "参加人数", "参会人数", "人数", "出席人数"),
        _f("hours", "学时", "学时数", "培训学时"),
    ),
    anchors=(frozenset({"date"}), frozenset({"type_text", "topic"})),
    required=("unit",),
    expected="单位（或单位名称）、日期（或会议日期/时间/学习日期）、会议类型（或类型/活动形式/形式）"
    "或主题（或内容/学习内容/会议主题/议题）；可选：主持人、是否主要负责人主持、参加人数、学时",
    convert=_meeting_row,
)

_FILINGS = _KindSpec(
    kind="filings",
    title="报送登记表",
    fields=(
        _f("unit", "单位名称", "单位", "报送单位", "填报单位"),
        _f("report_type_text", "报告类型", "报告名称", "材料类型", "材料名称", "报送材料"),
        _f("year", "年度", "所属年度"),
        _f("filed_date", "报送日期", "报送时间", "实际报送日期"),
        _f("due_date", "应报日期", "截止日期", "报送期限", "应报送日期"),
        _f("remark", "备注", "说明"),
    ),
    anchors=(frozenset({"report_type_text"}), frozenset({"unit", "filed_date", "year"})),
    required=("unit",),
    expected="单位、报告类型（或报告名称/材料类型）、年度、报送日期（或报送时间）；可选：应报日期（或截止日期）、备注",
    convert=_filing_row,
)

_NORMATIVE = _KindSpec(
    kind="normative_docs",
    title="规范性文件备案登记表",
    fields=(
        _f("unit", "制定机关", "单位名称", "单位", "制定单位", "发文单位"),
        _f("title", "文件名称", "名称", "标题", "文件标题"),
        _f("doc_no", "文号", "发文字号", "文件编号"),
        _f("issued_date", "印发日期", "发文日期", "发布日期", "印发时间"),
        _f("filed_date", "报备日期", "备案日期", "报备时间", "备案时间"),
        _f("compliant", "是否规范", "审查结论", "审查意见", "是否合法"),
    ),
    anchors=(frozenset({"issued_date"}), frozenset({"title", "doc_no"})),
    required=("unit",),
    expected="单位（或制定机关）、文件名称、文号、印发日期（或发文日期）、报备日期（或备案日期）、是否规范（或审查结论）",
    convert=_normative_row,
)

_RECTIFICATIONS = _KindSpec(
    kind="rectifications",
    title="整改台账",
    fields=(
        _f("unit", "单位", "单位名称", "整改单位", "责任单位", "填报单位", "被督察单位"),
        _f("source", "问题来源", "问题类型", "来源", "问题类别"),
        _f("description", "问题描述", "存在问题", "问题", "具体问题", "问题表现", "主要问题", "问题内容"),
        _f("measure", "整改措施", "整改举措", "措施", "整改方案"),
        _f("owner", "责任人", "责任领导", "整改责任人", "牵头领导"),
        _f("deadline", "整改时限", "完成时限", "整改期限", "时限", "计划完成时间", "整改完成时限"),
        _f("status", "整改状态", "整改进展", "完成情况", "整改情况", "状态", "进展情况"),
        _f("done_date", "完成日期", "实际完成时间", "实际完成日期", "销号日期", "完成时间"),
        _f("remark", "备注", "说明"),
        _f("year", "年度", "所属年度"),
    ),
    anchors=(frozenset({"description"}), frozenset({"status", "deadline", "measure"})),
    required=("unit",),
    expected="单位（或整改单位/责任单位）、问题来源、问题描述（或存在问题）、整改措施、责任人、整改时限（或完成时限）、"
    "整改状态（已完成/整改中/未启动）、完成日期；可选：备注、年度",
    convert=_rectification_row,
)

_UNITS = _KindSpec(
    kind="units",
    title="单位名册",
    fields=(
        _f("name", "单位名称", "单位"),
        _f("unit_type", "单位类型", "类型"),
        _f("region", "所属县区", "县区", "所属县(区)", "所属区县", "县(区)"),
        _f("aliases", "别名", "单位别名", "简称"),
    ),
    anchors=(frozenset({"name"}), frozenset({"unit_type"})),
    required=("region",),
    expected="单位名称、单位类型（党委/政府/部门/乡镇党委/乡镇政府）、所属县区；可选：别名（用 ; 、 | 分隔）",
    convert=_unit_row,
)

_ALIASES = {
    spec.kind: _alias_table(spec) for spec in (_MEETINGS, _FILINGS, _NORMATIVE, _RECTIFICATIONS, _UNITS)
}


# --------------------------------------------------------------------------------------------
# Reading tables


def _sniff_delimiter(text: str) -> str:
    """Comma, unless the first lines hold more tabs (Excel's "Unicode text" export is tab-separated)."""
    head = text[:8192]
    return "\t" if head.count("\t") > head.count(",") else ","


@dataclass
class _Tables:
    tables: list[tuple[str | None, Sequence[Sequence[object]]]]  # (sheet name or None for CSV, rows)
    encoding: str | None = None  # the text encoding of a CSV (None for workbooks)
    sample: bytes = b""  # a CSV's first bytes, to tell its encoding when no header is found
    nul_rows: list[int] = dataclasses.field(default_factory=list)  # 1-based CSV rows that held NUL characters


def _read_tables(path: str | os.PathLike[str]) -> _Tables:
    try:
        size, data = read_file(path, MAX_CSV_BYTES)  # a larger file: its first eight bytes
    except OSError:
        raise FileRejected(
            "file_unreadable",
            "文件无法打开（可能已被移走、正被其他程序占用或没有读取权限），请确认文件完好后重新报送。",
        ) from None
    if not data:
        raise FileRejected("empty_file", "文件是空的（0字节），请重新导出后报送。")
    magic = data[:8]
    suffix = _suffix(path)
    # Content decides, not the name: a workbook renamed to .csv still reads as a workbook.
    if magic.startswith(_ZIP_MAGIC) or magic == _OLE_MAGIC or suffix in _WORKBOOK_SUFFIXES:
        # read from the bytes in hand: a ledger workbook opened and read a second time cost a nation
        # year's parse workers about 0.4 s
        return _Tables([(s.name, s.rows) for s in read_workbook(path, read=(size, data))])
    if suffix not in _TEXT_SUFFIXES:
        raise FileRejected(
            "unsupported_format",
            f"不支持的文件类型“{suffix or '无扩展名'}”：请报送.xlsx、.xls或.csv文件。",
        )
    if (size := max(size, len(data))) > MAX_CSV_BYTES:  # or grown past the limit since it was measured
        raise FileRejected(
            "file_too_large",
            f"文件过大（{size // (1024 * 1024)} MB，上限{MAX_CSV_BYTES // (1024 * 1024)} MB），请拆分后报送。",
        )
    known = sniff_binary(data[:16])  # a PDF or an old Excel file named .csv says what it is
    if known is not None:
        raise known
    text, encoding = decode_text(data)
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=_sniff_delimiter(text)))
    except csv.Error:
        raise FileRejected(
            "csv_malformed",
            "CSV文件格式错误（例如引号不成对），无法逐行读取。"
            "请用 Excel 或 WPS 打开检查后重新导出CSV，再报送。",
        ) from None
    nul_rows = _strip_nul(rows) if "\x00" in text else []
    return _Tables([(None, rows)], encoding, data[:65536], nul_rows)


def _strip_nul(rows: list[list[str]]) -> list[int]:
    """Remove NUL characters from the cells (a data problem of their rows, not of the encoding)."""
    hit = []
    for i, row in enumerate(rows):
        if any("\x00" in cell for cell in row):
            row[:] = [cell.replace("\x00", "") for cell in row]
            hit.append(i + 1)
    return hit


# --------------------------------------------------------------------------------------------
# The shared driver

# Rows below the header that are notes, signatures or totals, not data.
_FOOTER_RE = re.compile(
    r"(?:注|说明|备注|填表说明|填表人|填报人|审核人|审核|联系人|联系电话|制表人|制表|负责人)\s*\d*\s*[:：]"
    r"|(?:合计|总计|小计)"
)
_COLUMN_NUMBER_RE = re.compile(r"\d{1,2}|[甲乙丙丁戊己庚辛]")  # "栏次" row: 甲 乙 1 2 3 …


def _is_noise_row(cells: list[object], header: _Header, first_data_row: bool) -> bool:
    """A row that failed to convert but is not data: a repeated header, a footer, a column-number row."""
    texts = [clean_cell(v) for v in cells[: header.width]]
    non_empty = [t for t in texts if t]
    if not non_empty:
        return True
    if all(t == "" or _header_key(t) == k for t, k in zip(texts, header.keys, strict=False)):
        return True
    if _FOOTER_RE.match(to_halfwidth(non_empty[0])):
        return True
    return bool(first_data_row and all(_COLUMN_NUMBER_RE.fullmatch(t) for t in non_empty))


def _suffix(path: str | os.PathLike[str]) -> str:
    """A file name's suffix in lower case, as `Path.suffix` tells it ("" for ".csv" or "a."), without
    making a Path: a path arrives as text (`parsing.parse_one`), and a Path costs 3 µs a file."""
    name = os.path.basename(path)
    dot = name.rfind(".")
    return name[dot:].lower() if 0 < dot < len(name) - 1 else ""


def _parse(path: str | os.PathLike[str], spec: _KindSpec) -> ParsedFile:
    read = _read_tables(path)
    tables, encoding = read.tables, read.encoding
    aliases = _ALIASES[spec.kind]
    result = ParsedFile(kind=spec.kind)
    if encoding is not None:
        result.meta["encoding"] = encoding
    sheets_read: list[str | None] = []
    sheet_errors: list[Issue] = []
    field_names = [f.name for f in spec.fields]
    is_csv = encoding is not None

    for sheet, rows in tables:
        header = _find_header(rows, spec, aliases)
        if header is None:
            continue  # a notes or empty sheet: ignored without an issue
        meta = _title_meta(rows[: header.index])
        for k, v in meta.items():
            result.meta.setdefault(k, v)
        unit_default = meta.get("unit") or result.meta.get("unit")
        missing = [
            name
            for name in spec.required
            if name not in header.columns and not (name == "unit" and unit_default)
        ]
        where = f"工作表“{sheet}”" if sheet is not None else "文件"
        if missing:
            labels = "、".join(spec.fields[field_names.index(n)].aliases[0] for n in missing)
            sheet_errors.append(
                Issue(
                    "missing_column",
                    f"{where}的表头（第{header.index + 1}行）缺少“{labels}”列，该表未读取。"
                    f"{spec.title}应有的列：{spec.expected}。",
                    ERROR,
                    sheet,
                    header.index + 1,
                    meta.get("year"),
                    unit_default,
                )
            )
            continue
        sheets_read.append(sheet)
        for dup in header.duplicates:
            result.issues.append(
                Issue(
                    "duplicate_column",
                    f"{where}的表头中“{dup}”列出现了不止一次，只读取了第一列。",
                    WARNING,
                    sheet,
                    header.index + 1,
                    meta.get("year"),
                    unit_default,
                )
            )
        _read_rows(rows, header, spec, sheet, unit_default, result.meta.get("year"), is_csv, result)

    if not sheets_read:
        if sheet_errors:
            first = sheet_errors[0]
            raise FileRejected(first.code, first.message)
        if encoding is not None:  # no header: text that decoded may still be in another encoding
            other = other_encoding(read.sample, encoding)
            if other is not None:
                raise unknown_encoding(other)
        raise FileRejected(
            "header_not_found",
            f"未找到{spec.title}的表头：前{HEADER_SCAN_ROWS}行中没有一行包含所需的列名。"
            f"应有的列：{spec.expected}。请按模板填写表头后重新报送。",
        )
    result.issues.extend(sheet_errors)
    _warn_nul_rows(read.nul_rows, result)
    result.meta["sheets"] = sheets_read
    return result


_NUL_ROWS_SHOWN = 20


def _warn_nul_rows(rows: list[int], result: ParsedFile) -> None:
    for row in rows[:_NUL_ROWS_SHOWN]:
        result.issues.append(
            Issue(
                "nul_character",
                f"第{row}行含有不可见的空字符（NUL），已删除后读取，请核对该行内容是否完整。",
                WARNING,
                None,
                row,
            )
        )
    if len(rows) > _NUL_ROWS_SHOWN:
        result.issues.append(
            Issue(
                "nul_character",
                f"另有{len(rows) - _NUL_ROWS_SHOWN}行含有不可见的空字符（NUL），已删除后读取。"
                "文件可能由其他系统导出时出错，请核对后重新导出。",
                WARNING,
            )
        )


def _read_rows(
    rows, header: _Header, spec: _KindSpec, sheet, unit_default, year, is_csv, result: ParsedFile
) -> None:
    width = header.width
    ix = tuple(header.columns.get(f.name, width) for f in spec.fields)
    mapped = tuple(sorted(set(header.columns.values())))
    convert = spec.convert
    records = result.records
    rejected = result.rejected_rows
    issues = result.issues
    ctx = _Ctx(sheet, header.labels, unit_default, year, issues)
    pad = [None] * (width + 1)
    # header width without trailing empty cells: CSV writers pad or trim those freely
    used = max((j + 1 for j, k in enumerate(header.keys) if k), default=width)
    rows_read = 0
    first = header.index + 1

    for i in range(first, len(rows)):
        row = rows[i]
        n = len(row)
        # absent fields index the None pad cell at position `width`
        cells = row + pad[: width + 1 - n] if n <= width else row[:width] + pad[:1]
        for j in mapped:  # blank = nothing in any column we read (pre-numbered template rows too)
            v = cells[j]
            if v is not None and (type(v) is not str or v.strip()):
                break
        else:
            continue
        ctx.row = i + 1
        mark = len(issues)
        if is_csv and n != width and (n < used or any(not _blank(v) for v in row[width:])):
            ctx.warn(
                "column_count_mismatch",
                f"{ctx.where()}有{n}列，而表头有{used}列，"
                + ("缺少的列按空白处理" if n < used else "多出的列已忽略")
                + "，请检查该行是否错位（例如内容中含未加引号的逗号）。",
                None,
            )
        try:
            records.append(convert(cells, ix, ctx))
        except _RowError as err:
            del issues[mark:]  # a rejected row carries exactly one issue: its error
            if _is_noise_row(cells, header, i == first):
                continue
            unit = _text(cells[ix[0]]) or unit_default or None
            issues.append(
                Issue(
                    err.code,
                    err.message,
                    ERROR,
                    sheet,
                    i + 1,
                    year,
                    unit if unit and len(unit) <= MAX_TEXT_LEN else None,
                )
            )
            rejected.append((sheet, i + 1))
        rows_read += 1
    result.rows_read += rows_read


# --------------------------------------------------------------------------------------------
# Public API


def parse_meetings(path: str | os.PathLike[str]) -> ParsedFile:
    """会议/学法台账: one record per meeting (unit, date, type_text, topic, host, …)."""
    return _parse(path, _MEETINGS)


def parse_filings(path: str | os.PathLike[str]) -> ParsedFile:
    """报送登记: one record per report (unit, report_type_text, year, filed_date, due_date, remark)."""
    return _parse(path, _FILINGS)


def parse_normative_docs(path: str | os.PathLike[str]) -> ParsedFile:
    """规范性文件备案登记: one record per document (unit, title, doc_no, issued/filed date, compliant)."""
    return _parse(path, _NORMATIVE)


def parse_rectifications(path: str | os.PathLike[str]) -> ParsedFile:
    """整改台账: one record per problem (unit, source, description, measure, owner, deadline, status, …)."""
    return _parse(path, _RECTIFICATIONS)


def parse_units(path: str | os.PathLike[str]) -> ParsedFile:
    """The unit registry: one record per unit (name, unit_type, region, aliases)."""
    return _parse(path, _UNITS)


__all__ = [
    "UNIT_TYPES",
    "parse_filings",
    "parse_meetings",
    "parse_normative_docs",
    "parse_rectifications",
    "parse_units",
]
