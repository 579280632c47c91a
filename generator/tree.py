"""The `data/raw` tree: per year and unit, plan what it submits, lay the files out, put the mess in
and write them; then the registers of each group, the unit registry and the summary.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from generator.draws import choice_w, frac, in_year_time, seeded, submission_time, today_in_china
from generator.ledger_layouts import (
    csv_rows,
    filing_table,
    ledger_table,
    normative_table,
    rectification_table,
    table_sheet,
)
from generator.messiness import (
    CSV_ENCODINGS,
    ISSUE_KINDS,
    LEDGER_RATES,
    NO_PROBLEM_LIST,
    RECTIFICATION_RATES,
    RECTIFICATION_REGISTER_SHARE,
    SHEET_RATES,
    pick,
    truncate,
    year_flags,
)
from generator.plans import (
    TaskScore,
    docs_as_of,
    evidence,
    fall_behind,
    filings_as_of,
    inspected,
    leader,
    plan_docs,
    plan_filings,
    plan_meetings,
    plan_rectifications,
    plan_scores,
    quality,
    requirement_counts,
)
from generator.registry import Group, Unit, build_registry
from generator.sheet_layouts import score_sheet
from generator.vocabulary import RECTIFICATION_SOURCES, ROLE_FILE_LABELS, ROLE_UNIT_TYPES, person
from generator.writers import FileWriter, csv_bytes, set_mtime, workbook_bytes, xlsx_bytes
from pipelines.lib import progress
from pipelines.lib.rulebook import Rulebook, Template, load_rulebook

KINDS = ("score_sheets", "meetings", "filings", "normative_docs", "rectifications")
FIRST_YEAR = 2021  # default years: FIRST_YEAR through the as-of date's year
# The filing whose report comes with the problem list of the self-inspection (rulebook id).
SELF_INSPECTION = "self_inspection_report"
# Units behind on a meeting requirement in the running year, so that in-year warnings show.
BEHIND_RATES = {"behind_current_period": 0.08, "behind_past_period": 0.06}
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
    as_of: date
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
    years: Iterable[int] | None = None,
    seed: int = 0,
    rulebook: Rulebook | str | Path | None = None,
    as_of: date | None = None,
) -> dict:
    """Write a synthetic data/raw tree under `out` as it stands on `as_of` and return a summary.

    Layout: out/units.csv and out/<year>/{score_sheets,meetings,filings,normative_docs,
    rectifications}/<file>. Files left in those year folders by an earlier run are removed first
    (the tree is the generator's); nothing else under `out` is touched.

    `as_of` (default: today in Beijing) is the day the tree is generated on; `years` default to
    FIRST_YEAR through its year. Years before it are complete. Its own year, the running year, holds
    only what exists by then: meetings held, reports filed, documents issued and rectification items
    raised up to a few days before `as_of`, a few units behind on a meeting requirement, and no score
    sheets (they are sent after the year ends). A year after `as_of` is refused.

    Summary: files by kind and format, units (by type), regions, rows by kind, anomalies by code and
    anomaly_files (file, code, detail) listing every problem and variant that was put in on purpose
    (see messiness.EXPECTED_ISSUES for the ones the pipeline should report), so tests of the
    pipeline can check that each was found; `rectifications` (counts of the rectification items,
    see `_rectification_summary`) and `in_year` (what the running year holds, or None).
    """
    rb = rulebook if isinstance(rulebook, Rulebook) else load_rulebook(rulebook or "default")
    as_of = as_of or today_in_china()
    years = sorted({int(y) for y in (range(FIRST_YEAR, as_of.year + 1) if years is None else years)})
    later = [y for y in years if y > as_of.year]
    if later:
        raise ValueError(f"years after the as-of date {as_of.isoformat()}: {later}")
    out = Path(out)
    registry = build_registry(scale, seed)
    units = registry.units
    summary: dict[str, Any] = {
        "out": str(out),
        "scale": scale,
        "seed": seed,
        "years": years,
        "as_of": as_of.isoformat(),
        "units": len(units),
        "regions": len(registry.regions),
        "units_by_type": dict(Counter(ROLE_UNIT_TYPES[u.role] for u in units)),
        "files": Counter(),
        "files_by_format": Counter(),
        "rows": Counter(),
        "rectifications": _rectification_summary(),
        "in_year": None,
    }
    writer = FileWriter(out, summary)
    known = {n for u in units for n in (u.name, u.place, *u.aliases)}
    ctx = _Ctx(rb, seed, writer, known, as_of)
    out.mkdir(parents=True, exist_ok=True)
    _write_units(out, units, seed)
    summary["files"]["units"] += 1
    summary["files_by_format"]["csv"] += 1

    for year in years:
        progress.begin(f"生成 {year} 年的报送材料（按单位）", total=len(units))
        for kind in KINDS:
            folder = out / str(year) / kind
            if folder.is_dir():
                for old in folder.iterdir():
                    if old.is_file():
                        old.unlink()
            folder.mkdir(parents=True, exist_ok=True)
        running = year == as_of.year
        if running:
            summary["in_year"] = {
                "year": year,
                "as_of": as_of.isoformat(),
                "units_behind": 0,
                "filings_overdue": 0,
                "normative_not_yet_filed": 0,
            }
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
        behind = (
            year_flags(
                BEHIND_RATES, [u.name for u in units], year, seed, "in_year", exclusive=tuple(BEHIND_RATES)
            )
            if running
            else {}
        )
        rect_flags = _rectification_flags(registry.groups, year, seed)
        no_list = pick(
            NO_PROBLEM_LIST,
            [
                u.name
                for u in units
                if SELF_INSPECTION in rb.filing_requirements
                and u.role in rb.filing_requirements[SELF_INSPECTION].roles
            ],
            year,
            seed,
            "no_problem_list",
            "rectification",
        )
        for group in registry.groups:
            # In the running year a group's registers are compiled on one day shortly before as_of.
            group_time = (
                in_year_time(seeded(seed, year, group.label, "as_of"), year, as_of) if running else None
            )
            plans = {}
            for unit in group.units:
                plans[unit.name] = _unit_year(
                    ctx,
                    unit,
                    year,
                    sheet_flags.get(unit.name, set()),
                    ledger_flags.get(unit.name, set()),
                    behind.get(unit.name, set()),
                    unit.name in no_list,
                )
                progress.advance()
            if running and group_time is None:
                continue  # the year has only just begun: nothing compiled yet
            _write_registers(ctx, group, year, plans, group_time)
            _write_rectifications(ctx, group, year, plans, rect_flags, group_time)
        progress.end()
    summary["files"] = dict(summary["files"])
    summary["files_by_format"] = dict(summary["files_by_format"])
    summary["rows"] = dict(summary["rows"])
    summary["rectifications"] = _finish_rectification_summary(summary["rectifications"])
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


def _unit_year(
    ctx: _Ctx,
    unit: Unit,
    year: int,
    sflags: set[str],
    lflags: set[str],
    behind: set[str],
    no_problem_list: bool,
) -> dict:
    rb, seed, writer = ctx.rb, ctx.seed, ctx.writer
    q = quality(seed, unit, year)
    meetings = plan_meetings(
        rb, unit, year, q, seeded(seed, year, unit.name, "meetings"), leader(seed, unit, year)
    )
    filings = plan_filings(rb, unit, year, q, seeded(seed, year, unit.name, "filings"))
    docs = plan_docs(unit, year, q, seeded(seed, year, unit.name, "docs"))
    self_check = filings.get(SELF_INSPECTION, ("missing", None))
    rectifications = plan_rectifications(
        unit,
        year,
        q,
        seeded(seed, year, unit.name, "rectifications"),
        self_check[1] if self_check[0] != "missing" else None,
        not no_problem_list,
        inspected(seed, unit, year),
    )
    plan = {
        "filings": filings,
        "docs": docs,
        "rectifications": rectifications,
        "no_problem_list": no_problem_list,
    }
    # The running year: the ledger as sent a few days before as_of, with what was held by then.
    in_year = None
    behind_notes: list[tuple[str, str]] = []
    if year == ctx.as_of.year:
        in_year = in_year_time(seeded(seed, year, unit.name, "ledger", "as_of"), year, ctx.as_of)
        if in_year is None:
            return plan
        cut = in_year.date()
        for which in sorted(behind):
            meetings, note = fall_behind(
                rb,
                unit,
                meetings,
                cut,
                which.split("_")[1],
                seeded(seed, year, unit.name, which),
                ctx.classify,
            )
            if note:
                behind_notes.append((which, note))
        meetings = [m for m in meetings if m.day <= cut]
        if not meetings:
            return plan

    # Ledger first: its row-level mess (undatable rows) changes what the records show.
    rng = seeded(seed, year, unit.name, "ledger")
    fmt = "xls" if "legacy_xls" in lflags else "xlsx" if "xlsx" in lflags else "csv"
    encoding = choice_w(rng, CSV_ENCODINGS)
    log: list[tuple[str, str]] = []
    table = ledger_table(
        unit, year, meetings, lflags, rng, log, fmt == "csv" and encoding == "gb18030", ctx.known
    )
    when = submission_time(rng, year, 1, 3, 20)
    if in_year is not None:
        when = in_year
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
    if in_year is not None:
        writer.note(rel, behind_notes)
        writer.summary["in_year"]["units_behind"] += bool(behind_notes)
        return plan  # score sheets are sent after the year ends

    template = rb.templates.get(unit.role)
    if template is not None:
        counts = requirement_counts(rb, meetings, year, ctx.classify)
        links = evidence(rb, unit.role, counts, filings, docs, year)
        scores = plan_scores(template, q, seeded(seed, year, unit.name, "scores"), links)
        _write_score_sheet(ctx, unit, template, year, scores, sflags)
    return plan


def _write_score_sheet(
    ctx: _Ctx, unit: Unit, template: Template, year: int, scores: list[TaskScore], flags: set[str]
) -> None:
    rb, seed, writer = ctx.rb, ctx.seed, ctx.writer
    rng = seeded(seed, year, unit.name, "sheet")
    verified = inspected(seed, unit, year)
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


def _write_registers(
    ctx: _Ctx, group: Group, year: int, plans: dict[str, dict], in_year: datetime | None
) -> None:
    """The group's filing and normative-document registers; in the running year (`in_year`: when
    they were compiled) only what was filed or issued by then."""
    rb, seed, writer = ctx.rb, ctx.seed, ctx.writer
    deadline = rb.normative_deadline_days
    cut = in_year.date() if in_year else None
    if cut is not None:
        plans = {
            name: {
                **plan,
                "filings": filings_as_of(rb, plan["filings"], year, cut),
                "docs": docs_as_of(plan["docs"], cut),
            }
            for name, plan in plans.items()
        }
        stats = writer.summary["in_year"]
        for plan in plans.values():
            stats["filings_overdue"] += sum(s == "missing" for s, _ in plan["filings"].values())
            stats["normative_not_yet_filed"] += sum(d.filed is None for d in plan["docs"])
    for kind, build in (
        ("filings", lambda r, log: filing_table(group, year, plans, rb, r, log)),
        (
            "normative_docs",
            lambda r, log: normative_table(group, year, plans, r, log, deadline, cut),
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
        if in_year is not None:
            when = in_year
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


# --- rectification ledgers ------------------------------------------------------------------------


def _sends_register(seed: int, group: Group) -> bool:
    """Whether the group's office compiles one register for its units (else each unit sends its
    own file): a habit of the office, the same every year."""
    kind = "department" if all(u.role == "department" for u in group.units) else "region"
    return frac(seed, "rectification_register", group.label) < RECTIFICATION_REGISTER_SHARE[kind]


def _rectification_flags(groups: list[Group], year: int, seed: int) -> dict[str, set[str]]:
    """File key (a group's label for a register, else a unit's name) → the mess its file gets."""
    keys = [k for g in groups for k in ([g.label] if _sends_register(seed, g) else [u.name for u in g.units])]
    flags = year_flags(
        {k: v for k, v in RECTIFICATION_RATES.items() if k != "corrupt_file"},
        keys,
        year,
        seed,
        "rectification",
        exclusive=("legacy_xls", "xlsx"),
    )
    xlsx = sorted(k for k, f in flags.items() if "xlsx" in f)
    rate = RECTIFICATION_RATES["corrupt_file"] / RECTIFICATION_RATES["xlsx"]
    for key in pick(rate, xlsx, year, seed, "corrupt_file", "rectification"):
        flags[key].add("corrupt_file")
    return flags


def _write_rectifications(
    ctx: _Ctx,
    group: Group,
    year: int,
    plans: dict[str, dict],
    flags_by_key: dict[str, set[str]],
    in_year: datetime | None,
) -> None:
    """The group's rectification ledgers: one register, or a file per unit that has items. A past
    year's is compiled in January after it (statuses as of then); the running year's on `in_year`."""
    seed, writer = ctx.seed, ctx.writer
    stats = writer.summary["rectifications"]
    register = _sends_register(seed, group)
    files = [(group.label, group.units)] if register else [(u.name, [u]) for u in group.units]
    for key, units in files:
        rng = seeded(seed, year, key, "rectifications")
        flags = flags_by_key.get(key, set())
        when = in_year or submission_time(rng, year, 1, 5, 20)
        on = when.date()
        entries = [(u, [i for i in plans[u.name]["rectifications"] if i.raised <= on]) for u in units]
        entries = [(u, items) for u, items in entries if items]
        folder = f"{year}/rectifications/"
        no_list = [
            u.name
            for u in units
            if plans[u.name]["no_problem_list"]
            and (filed := plans[u.name]["filings"].get(SELF_INSPECTION, ("missing", None))[1]) is not None
            and filed <= on
        ]
        if not entries:
            writer.note(folder, [("rectification_no_problem_list", n) for n in no_list])
            _count_no_list(stats, year, no_list)
            continue
        fmt = "xls" if "legacy_xls" in flags else "xlsx" if "xlsx" in flags else "csv"
        encoding = choice_w(rng, CSV_ENCODINGS)
        label = group.label if register else _file_label(units[0], rng)
        upto = f"（截至{on.month}月{on.day}日）" if in_year else ""
        title = (
            f"{label}{year}年度法治建设问题整改台账{upto}"
            if rng.random() < 0.5
            else f"{label}{year}年履行推进法治建设第一责任人职责问题整改清单{upto}"
        )
        subtitle = f"填报单位（盖章）：{label}    填报日期：{on.year}年{on.month}月{on.day}日"
        log: list[tuple[str, str]] = []
        table = rectification_table(entries, on, title, subtitle, flags, rng, log, ctx.known)
        if register:
            stem = rng.choice((f"{label}_{year}年整改台账汇总", f"{year}年{label}问题整改台账"))
        else:
            stem = rng.choice(
                (
                    f"{label}_{year}年整改台账",
                    f"{year}年{label}问题整改清单",
                    f"{label}督察问题整改台账（{year}年）",
                )
            )
        if in_year is not None and rng.random() < 0.5:
            stem += f"_截至{on.month}月{on.day}日"
        serial = "serial_dates" in flags
        if fmt == "csv":
            data = csv_bytes(csv_rows(table, rng, serial, with_title=rng.random() < 0.15), encoding)
        else:
            sheet = table_sheet(
                table,
                rng,
                serial,
                with_title=rng.random() < 0.6,
                name=rng.choice(("Sheet1", "整改台账", "问题清单", f"{year}年")),
            )
            data = workbook_bytes(
                fmt, [sheet], when, person(rng), rng.choice(("Microsoft Excel", "WPS 表格"))
            )
        codes = [("legacy_xls", "")] if fmt == "xls" else []
        codes += [(k, "") for k in ("serial_dates", "blank_rows", "footer") if k in flags]
        if fmt == "csv":
            codes.append((f"encoding_{encoding}", ""))
        if "corrupt_file" in flags:
            data = truncate(data, LEDGER_TRUNCATED)
            codes.append(("corrupt_file", "truncated"))
        rel = f"{year}/rectifications/{stem}.{fmt}"
        writer.write(rel, data, when, "rectifications", fmt)
        writer.note(rel, log + codes + [("rectification_no_problem_list", n) for n in no_list])
        _count_no_list(stats, year, no_list)
        items = [(u, i) for u, unit_items in entries for i in unit_items]
        writer.summary["rows"]["rectifications"] += len(items)
        stats["files"] += 1
        stats["registers" if register else "unit_files"] += 1
        stats["units_with_items"] += len(entries)
        codes_by = Counter(code for code, _ in log)
        by_year = stats["by_year"].setdefault(year, Counter())
        for _, item in items:
            status = item.status(on)
            overdue = status != "已完成" and item.deadline is not None and item.deadline < ctx.as_of
            stats["by_source"][RECTIFICATION_SOURCES[item.source]] += 1
            stats["by_status"][status] += 1
            stats["overdue"] += overdue
            by_year["items"] += 1
            by_year["overdue"] += overdue
        stats["items"] += len(items)
        stats["items_in_corrupt_files"] += len(items) if "corrupt_file" in flags else 0
        for code, key in RECTIFICATION_CODES.items():
            stats[key] += codes_by[code]


# anomaly code → the summary's count of it
RECTIFICATION_CODES = {
    "rectification_late": "completed_late",
    "rectification_on_deadline": "completed_on_deadline",
    "rectification_done_no_date": "completed_without_date",
    "rectification_bad_date": "completed_bad_date",
    "rectification_no_measure": "without_measure",
    "rectification_long_term": "long_term",
}


def _rectification_summary() -> dict[str, Any]:
    """The counts a test can check against what the pipeline reads. items: rows written (with those
    in truncated files, also counted apart); by_status as the files say; overdue: not 已完成 with a
    整改时限 before the as-of date; units_without_problem_list: filed a self-inspection report but
    listed no self-check (自查) problem."""
    return {
        "items": 0,
        "items_in_corrupt_files": 0,
        "by_source": Counter(),
        "by_status": Counter(),
        "overdue": 0,
        **dict.fromkeys(RECTIFICATION_CODES.values(), 0),
        "units_with_items": 0,
        "units_without_problem_list": 0,
        "files": 0,
        "registers": 0,
        "unit_files": 0,
        "by_year": {},
    }


def _count_no_list(stats: dict, year: int, names: list[str]) -> None:
    stats["units_without_problem_list"] += len(names)
    stats["by_year"].setdefault(year, Counter())["units_without_problem_list"] += len(names)


def _finish_rectification_summary(stats: dict) -> dict:
    by_year = {
        y: {k: c[k] for k in ("items", "overdue", "units_without_problem_list")}
        for y, c in sorted(stats["by_year"].items())
    }
    return {
        **stats,
        "by_source": dict(stats["by_source"]),
        "by_status": dict(stats["by_status"]),
        "by_year": by_year,
    }


KIND_NAMES = {
    "units": "单位名册",
    "score_sheets": "打分表",
    "meetings": "会议学法台账",
    "filings": "报送登记",
    "normative_docs": "规范性文件登记",
    "rectifications": "整改台账",
}
ROW_NAMES = {
    "meetings": "会议",
    "score_tasks": "打分任务",
    "filings": "报送",
    "normative_docs": "规范性文件",
    "rectifications": "整改事项",
}


def format_summary(summary: dict) -> str:
    """A few Chinese lines for the command line (the summary's anomaly_files list is for tests)."""
    years = summary["years"]
    span = f"{years[0]}–{years[-1]}" if len(years) > 1 else str(years[0]) if years else "-"
    by_type = "、".join(f"{k} {v}" for k, v in summary["units_by_type"].items())
    files = "，".join(f"{KIND_NAMES.get(k, k)} {v:,}" for k, v in summary["files"].items())
    formats = "，".join(f"{k} {v:,}" for k, v in sorted(summary["files_by_format"].items()))
    rows = "；".join(f"{ROW_NAMES.get(k, k)} {v:,}" for k, v in summary["rows"].items())
    planted = "，".join(f"{k} {v}" for k, v in summary["anomalies"].items() if k in ISSUE_KINDS)
    rect = summary["rectifications"]
    status = "，".join(f"{k} {v:,}" for k, v in rect["by_status"].items())
    lines = [
        f"已生成到 {summary['out']}（{summary['scale']} 规模，种子 {summary['seed']}，{span} 年，截至 {summary['as_of']}）",
        f"县区 {summary['regions']:,} 个，单位 {summary['units']:,} 个（{by_type}）",
        f"文件：{files}（{formats}）",
        f"数据行：{rows}",
        f"整改事项 {rect['items']:,} 项（{status}）：截至 {summary['as_of']} 逾期未完成 {rect['overdue']:,} 项，"
        f"报了自查报告却没有问题清单的单位 {rect['units_without_problem_list']:,} 个",
        f"有意加入的问题（应在“数据质量”中看到）：{planted}",
    ]
    in_year = summary["in_year"]
    if in_year:
        lines.append(
            f"{in_year['year']} 年为当年（截至 {in_year['as_of']}，尚无打分表）："
            f"会议学习落后的单位 {in_year['units_behind']} 个，逾期未报送 {in_year['filings_overdue']} 份，"
            f"规范性文件尚未报备 {in_year['normative_not_yet_filed']} 件"
        )
    return "\n".join(lines)
