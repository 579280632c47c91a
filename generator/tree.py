"""The `data/raw` tree: per year and unit, plan what it submits, lay the files out, put the mess in
and write them; then the registers of each group, the unit registry and the summary.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from generator.draws import choice_w, seeded, submission_time
from generator.ledger_layouts import csv_rows, filing_table, ledger_table, normative_table, table_sheet
from generator.messiness import (
    CSV_ENCODINGS,
    ISSUE_KINDS,
    LEDGER_RATES,
    SHEET_RATES,
    pick,
    truncate,
    year_flags,
)
from generator.plans import (
    VERIFIED_SHARE,
    TaskScore,
    evidence,
    leader,
    plan_docs,
    plan_filings,
    plan_meetings,
    plan_scores,
    quality,
    requirement_counts,
)
from generator.registry import Group, Unit, build_registry
from generator.sheet_layouts import score_sheet
from generator.vocabulary import ROLE_FILE_LABELS, ROLE_UNIT_TYPES, person
from generator.writers import FileWriter, csv_bytes, set_mtime, workbook_bytes, xlsx_bytes
from pipelines.lib.rulebook import Rulebook, Template, load_rulebook

KINDS = ("score_sheets", "meetings", "filings", "normative_docs")
DEFAULT_YEARS = range(2021, 2026)
# The writer of the score sheets' .xlsx files ("fast_xlsx" or "xlsx" for XlsxWriter): see writers.py.
SHEET_XLSX_WRITER = "fast_xlsx"
# How much of a truncated file is left (numerator, denominator): ledgers, score sheets.
LEDGER_TRUNCATED = (3, 5)
SHEET_TRUNCATED = (11, 20)


@dataclass
class _Ctx:
    rb: Rulebook
    seed: int
    writer: FileWriter
    known: set[str]  # every registry name, alias and place: a misspelling must match none
    classify_cache: dict = field(default_factory=dict)

    def classify(self, type_text: str, topic: str) -> set[str]:
        key = (type_text, topic)
        hit = self.classify_cache.get(key)
        if hit is None:
            hit = self.classify_cache[key] = set(self.rb.classify_meeting(type_text, topic))
        return hit


def _file_label(unit: Unit, rng: random.Random) -> str:
    return unit.name if rng.random() < 0.5 or not unit.aliases else unit.aliases[0]


def generate(
    out: Path,
    *,
    scale: str = "city",
    years: Iterable[int] | None = DEFAULT_YEARS,
    seed: int = 0,
    rulebook: Rulebook | str | Path | None = None,
) -> dict:
    """Write a synthetic data/raw tree under `out` and return a summary.

    Layout: out/units.csv and out/<year>/{score_sheets,meetings,filings,normative_docs}/<file>.
    Files left in those year folders by an earlier run are removed first (the tree is the
    generator's); nothing else under `out` is touched.

    Summary: files by kind and format, units (by type), regions, rows by kind, anomalies by code and
    anomaly_files (file, code, detail) listing every problem and variant that was put in on purpose
    (see messiness.EXPECTED_ISSUES for the ones the pipeline should report), so tests of the
    pipeline can check that each was found.
    """
    rb = rulebook if isinstance(rulebook, Rulebook) else load_rulebook(rulebook or "default")
    years = sorted({int(y) for y in (DEFAULT_YEARS if years is None else years)})
    out = Path(out)
    registry = build_registry(scale, seed)
    units = registry.units
    summary: dict[str, Any] = {
        "out": str(out),
        "scale": scale,
        "seed": seed,
        "years": years,
        "units": len(units),
        "regions": len(registry.regions),
        "units_by_type": dict(Counter(ROLE_UNIT_TYPES[u.role] for u in units)),
        "files": Counter(),
        "files_by_format": Counter(),
        "rows": Counter(),
    }
    writer = FileWriter(out, summary)
    known = {n for u in units for n in (u.name, u.place, *u.aliases)}
    ctx = _Ctx(rb, seed, writer, known)
    out.mkdir(parents=True, exist_ok=True)
    _write_units(out, units, seed)
    summary["files"]["units"] += 1
    summary["files_by_format"]["csv"] += 1

    for year in years:
        for kind in KINDS:
            folder = out / str(year) / kind
            if folder.is_dir():
                for old in folder.iterdir():
                    if old.is_file():
                        old.unlink()
            folder.mkdir(parents=True, exist_ok=True)
        sheet_units = [u.name for u in units if u.role in rb.templates]
        sheet_flags = year_flags(
            SHEET_RATES, sheet_units, year, seed, "sheet", exclusive=("legacy_xls", "openpyxl_writer")
        )
        ledger_flags = year_flags(
            {k: v for k, v in LEDGER_RATES.items() if k != "corrupt_file"},
            [u.name for u in units],
            year,
            seed,
            "ledger",
            exclusive=("legacy_xls", "xlsx"),
        )
        xlsx_ledgers = sorted(n for n, f in ledger_flags.items() if "xlsx" in f)
        for name in pick(
            LEDGER_RATES["corrupt_file"] / LEDGER_RATES["xlsx"],
            xlsx_ledgers,
            year,
            seed,
            "corrupt_file",
            "ledger",
        ):
            ledger_flags[name].add("corrupt_file")
        for group in registry.groups:
            plans = {}
            for unit in group.units:
                plans[unit.name] = _unit_year(
                    ctx, unit, year, sheet_flags.get(unit.name, set()), ledger_flags.get(unit.name, set())
                )
            _write_registers(ctx, group, year, plans)
    summary["files"] = dict(summary["files"])
    summary["files_by_format"] = dict(summary["files_by_format"])
    summary["rows"] = dict(summary["rows"])
    summary["anomalies"] = dict(sorted(writer.anomalies.items()))
    summary["anomaly_files"] = writer.anomaly_files
    return summary


def _write_units(out: Path, units: list[Unit], seed: int) -> None:
    rng = seeded(seed, "units.csv")
    rows = [["单位名称", "单位类型", "所属县区", "别名"]]
    for u in units:
        sep = choice_w(rng, ((";", 85), ("；", 7), ("、", 5), ("|", 3)))
        rows.append([u.name, ROLE_UNIT_TYPES[u.role], u.region, sep.join(u.aliases)])
    (out / "units.csv").write_bytes(csv_bytes(rows, "utf-8-sig"))  # as Excel saves "CSV UTF-8"
    set_mtime(out / "units.csv", datetime(2021, 1, 4, 9, 0))


def _unit_year(ctx: _Ctx, unit: Unit, year: int, sflags: set[str], lflags: set[str]) -> dict:
    rb, seed, writer = ctx.rb, ctx.seed, ctx.writer
    q = quality(seed, unit, year)
    meetings = plan_meetings(
        rb, unit, year, q, seeded(seed, year, unit.name, "meetings"), leader(seed, unit, year)
    )
    filings = plan_filings(rb, unit, year, q, seeded(seed, year, unit.name, "filings"))
    docs = plan_docs(unit, year, q, seeded(seed, year, unit.name, "docs"))

    # Ledger first: its row-level mess (undatable rows) changes what the records show.
    rng = seeded(seed, year, unit.name, "ledger")
    fmt = "xls" if "legacy_xls" in lflags else "xlsx" if "xlsx" in lflags else "csv"
    encoding = choice_w(rng, CSV_ENCODINGS)
    log: list[tuple[str, str]] = []
    table = ledger_table(
        unit, year, meetings, lflags, rng, log, fmt == "csv" and encoding == "gb18030", ctx.known
    )
    when = submission_time(rng, year, 1, 3, 20)
    label = _file_label(unit, rng)
    stem = f"{label}_{year}年会议学法台账" if rng.random() < 0.6 else f"{year}年{label}学法会议记录"
    serial = "serial_dates" in lflags
    if fmt == "csv":
        data = csv_bytes(csv_rows(table, rng, serial, with_title=rng.random() < 0.05), encoding)
    else:
        sheet = table_sheet(
            table,
            rng,
            serial,
            with_title=rng.random() < 0.35,
            name=rng.choice(("Sheet1", "台账", f"{year}年")),
        )
        data = workbook_bytes(fmt, [sheet], when, person(rng), "Microsoft Excel")
    fmt_codes = [("legacy_xls", "")] if fmt == "xls" else []
    fmt_codes += [("serial_dates", "")] if serial else []
    fmt_codes += [("blank_rows", "")] if "blank_rows" in lflags else []
    if fmt == "csv":
        fmt_codes.append((f"encoding_{encoding}", ""))
    if "corrupt_file" in lflags:
        data = truncate(data, LEDGER_TRUNCATED)
        fmt_codes.append(("corrupt_file", "truncated"))
    rel = f"{year}/meetings/{stem}.{fmt}"
    writer.write(rel, data, when, "meetings", fmt)  # fmt is the extension here
    writer.note(rel, log + fmt_codes)
    writer.summary["rows"]["meetings"] += sum(1 for r in table.rows if any(v is not None for v in r))

    template = rb.templates.get(unit.role)
    if template is not None:
        counts = requirement_counts(rb, meetings, year, ctx.classify)
        links = evidence(rb, unit.role, counts, filings, docs, year)
        scores = plan_scores(template, q, seeded(seed, year, unit.name, "scores"), links)
        _write_score_sheet(ctx, unit, template, year, scores, sflags)
    return {"filings": filings, "docs": docs}


def _write_score_sheet(
    ctx: _Ctx, unit: Unit, template: Template, year: int, scores: list[TaskScore], flags: set[str]
) -> None:
    rb, seed, writer = ctx.rb, ctx.seed, ctx.writer
    rng = seeded(seed, year, unit.name, "sheet")
    scope = (
        "department"
        if unit.role == "department"
        else "township"
        if unit.role.startswith("township")
        else "region"
    )
    # Inspections visit a region's party committee and government together.
    inspected_key = unit.quality_key if scope == "region" else unit.name
    verified = seeded(seed, year, "inspected", inspected_key).random() < VERIFIED_SHARE[scope]
    fmt = "xls" if "legacy_xls" in flags else "openpyxl" if "openpyxl_writer" in flags else SHEET_XLSX_WRITER
    ext = "xls" if fmt == "xls" else "xlsx"
    label = _file_label(unit, rng)
    stem = (
        f"{year}年度_{label}_{ROLE_FILE_LABELS[unit.role]}打分表"
        if rng.random() < 0.7
        else f"{label}{year}年法治建设第一责任人履职打分表"
    )
    when = submission_time(rng, year)
    author = rng.choice(("Administrator", "admin", "User", "微软用户", "lenovo", "HP", person(rng)))
    app = "Microsoft Excel" if rng.random() < 0.7 else "WPS 表格"
    content_flags = flags - {"resubmission", "corrupt_file"}
    variety = [
        (k, str(year - 1) if k == "year_mismatch" else "")
        for k in (
            "legacy_xls",
            "openpyxl_writer",
            "notes_sheet",
            "empty_sheets",
            "blank_rows",
            "fullwidth_digits",
            "score_text",
            "unit_alias",
            "total_missing",
            "year_mismatch",
        )
        if k in flags
    ]

    def build(task_scores: list[TaskScore], when: datetime) -> tuple[bytes, list[tuple[str, str]]]:
        # The same layout draws for every version of the file: a correction keeps its form.
        log: list[tuple[str, str]] = []
        layout_rng = seeded(seed, year, unit.name, "layout")
        sheets = score_sheet(
            unit, template, rb, year, task_scores, content_flags, verified, layout_rng, log, ctx.known
        )
        return workbook_bytes(fmt, sheets, when, author, app), log + variety

    rel = f"{year}/score_sheets/{stem}.{ext}"
    if "corrupt_file" in flags:
        data, _ = build(scores, when)
        writer.write(rel, truncate(data, SHEET_TRUNCATED), when, "score_sheets", ext)
        writer.note(rel, [("corrupt_file", "truncated")])
        resend = "resubmission" in flags or rng.random() < 0.5  # half the offices notice and send it again
    elif "resubmission" in flags:
        # The first version had slips the office then corrected: a few self-scores typed wrong.
        slipped = [
            TaskScore(s.task, max(0.0, s.self_points - rng.choice((0.5, 1, 2))), s.verified_points, s.remark)
            if rng.random() < 0.15
            else s
            for s in scores
        ]
        data, log = build(slipped, when)
        writer.write(rel, data, when, "score_sheets", ext)
        writer.note(rel, log)
        writer.summary["rows"]["score_tasks"] += len(scores)
        resend = True
    else:
        data, log = build(scores, when)
        writer.write(rel, data, when, "score_sheets", ext)
        writer.note(rel, log)
        writer.summary["rows"]["score_tasks"] += len(scores)
        return
    if resend:
        suffix = rng.choice(("_更正", "(修订)", "（更正）", "_修改版", "_重新报送"))
        later = when + timedelta(days=rng.randint(2, 20), hours=rng.randint(0, 5))
        rel = f"{year}/score_sheets/{stem}{suffix}.{ext}"
        data, log = build(scores, later)
        writer.write(rel, data, later, "score_sheets", ext)
        writer.note(rel, [("resubmission", suffix), *log])
        writer.summary["rows"]["score_tasks"] += len(scores)


def _write_registers(ctx: _Ctx, group: Group, year: int, plans: dict[str, dict]) -> None:
    rb, seed, writer = ctx.rb, ctx.seed, ctx.writer
    for kind, build in (
        ("filings", lambda r, log: filing_table(group, year, plans, rb, r, log)),
        (
            "normative_docs",
            lambda r, log: normative_table(group, year, plans, r, log, rb.normative_deadline_days),
        ),
    ):
        rng = seeded(seed, year, group.label, kind)
        log: list[tuple[str, str]] = []
        table = build(rng, log)
        if not table.rows:
            continue
        fmt = "xlsx" if rng.random() < 0.35 else "csv"
        # Registers are compiled after the last report is due.
        when = submission_time(rng, year, 4, 1, 20)
        stem = (
            f"{group.label}_{year}年度报告报送登记"
            if kind == "filings"
            else f"{group.label}_{year}年规范性文件备案登记"
        )
        if fmt == "csv":
            encoding = choice_w(rng, CSV_ENCODINGS)
            data = csv_bytes(csv_rows(table, rng, with_title=rng.random() < 0.05), encoding)
            log.append((f"encoding_{encoding}", ""))
        else:
            sheet = table_sheet(
                table, rng, with_title=rng.random() < 0.4, name=rng.choice(("Sheet1", "登记表"))
            )
            data = xlsx_bytes([sheet], when, person(rng))
        rel = f"{year}/{kind}/{stem}.{fmt}"
        writer.write(rel, data, when, kind, fmt)
        writer.note(rel, log)
        writer.summary["rows"][kind] += len(table.rows)


KIND_NAMES = {
    "units": "单位名册",
    "score_sheets": "打分表",
    "meetings": "会议学法台账",
    "filings": "报送登记",
    "normative_docs": "规范性文件登记",
}
ROW_NAMES = {"meetings": "会议", "score_tasks": "打分任务", "filings": "报送", "normative_docs": "规范性文件"}


def format_summary(summary: dict) -> str:
    """A few Chinese lines for the command line (the summary's anomaly_files list is for tests)."""
    years = summary["years"]
    span = f"{years[0]}–{years[-1]}" if len(years) > 1 else str(years[0]) if years else "-"
    by_type = "、".join(f"{k} {v}" for k, v in summary["units_by_type"].items())
    files = "，".join(f"{KIND_NAMES.get(k, k)} {v:,}" for k, v in summary["files"].items())
    formats = "，".join(f"{k} {v:,}" for k, v in sorted(summary["files_by_format"].items()))
    rows = "；".join(f"{ROW_NAMES.get(k, k)} {v:,}" for k, v in summary["rows"].items())
    planted = "，".join(f"{k} {v}" for k, v in summary["anomalies"].items() if k in ISSUE_KINDS)
    return "\n".join(
        [
            f"已生成到 {summary['out']}（{summary['scale']} 规模，种子 {summary['seed']}，{span} 年）",
            f"县区 {summary['regions']:,} 个，单位 {summary['units']:,} 个（{by_type}）",
            f"文件：{files}（{formats}）",
            f"数据行：{rows}",
            f"有意加入的问题（应在“数据质量”中看到）：{planted}",
        ]
    )
