"""The scoring policy, in one place: which task of the template a sheet's row is, which score of it
counts, and what a blank, invalid, above-maximum, not-applicable or missing score is worth. It reads
the rulebook's templates, its exemptions (`not_applicable`) and its score basis.

Every scored sheet of a year is scored at once, in DuckDB over the parse cache's rows: a nation's
year has about a million task rows, which one Python call each made the largest part of staging
(docs/performance.md). What a unit is told about a row is said here too, in the same words.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from pipelines.lib.records import ERROR, WARNING
from pipelines.lib.rulebook import Rulebook
from pipelines.lib.score_sheets import NOT_APPLICABLE_WORDS
from pipelines.lib.text import to_halfwidth

COLUMN_NAMES = {"self": "自评分", "verified": "核定分"}
# A row without a task number is the task whose text begins with its first characters.
PREFIX_CHARS = 10


@dataclass(frozen=True)
class Sheet:
    """A score sheet to score: the newest of its unit, role and year."""

    year: int
    unit_id: str
    role: str
    file: str
    sheet: str
    sha256: str
    label: str  # the unit as the sheet names it, in what the unit is told


@dataclass
class Scored:
    tasks: pa.Table  # stg_task_scores' rows: per sheet its rows in row order, then its missing tasks
    issues: pa.Table  # year, file, sheet, row, unit, severity, code, message
    rejected: dict[int, int]  # sheet (its place in the list scored) → rows not scored


class Templates:
    """The rulebook's templates and exemptions as the tables the scoring query joins."""

    def __init__(self, rules: Rulebook, exempt: Mapping[tuple[str, int], frozenset[str] | None]):
        tasks = [(t, n) for template in rules.templates.values() for n, t in enumerate(template.tasks)]
        self.tasks = pa.table(
            {
                "role": [t.role for t, _ in tasks],
                "task_no": pa.array([t.task_no for t, _ in tasks], pa.int32()),
                "duty_no": pa.array([t.duty_no for t, _ in tasks], pa.int32()),
                "points": pa.array([t.points for t, _ in tasks], pa.float64()),
                "points_text": [f"{t.points:g}" for t, _ in tasks],
                "text_start": [t.text[:20] for t, _ in tasks],
                "ordinal": pa.array([n for _, n in tasks], pa.int32()),
            }
        )
        # one task per beginning: of tasks that begin alike, the last in the template
        prefixes = {
            (role, to_halfwidth(t.text)[:PREFIX_CHARS]): t.task_no
            for role, template in rules.templates.items()
            for t in template.tasks
        }
        self.prefixes = pa.table(
            {
                "role": [role for role, _ in prefixes],
                "prefix": [prefix for _, prefix in prefixes],
                "task_no": pa.array(list(prefixes.values()), pa.int32()),
            }
        )
        # (role, task) → the units exempt from it; a null unit: every unit of the role
        rows = [(role, no, unit) for (role, no), units in exempt.items() for unit in (units or [None])]
        self.exempt = pa.table(
            {
                "role": pa.array([r for r, _, _ in rows], pa.string()),
                "task_no": pa.array([n for _, n, _ in rows], pa.int32()),
                "unit_id": pa.array([u for _, _, u in rows], pa.string()),
            }
        )
        self.names = {role: template.name for role, template in rules.templates.items()}
        self.basis = rules.ranking.score_basis


# The sheets' rows, each with the task it is (null: none) and whether it counts.
_MATCHED = """
create temp table scoring_matched as
with sheet_rows as (
    select s.pos, s.role, s.unit_id, r."row", r.task_no as written_no, r.task_no_text, r.task_text,
           r.max_points_text, r.self_raw, r.self_points, r.verified_raw, r.verified_points
    from scoring_sheets s
    join parsed_score_rows r on r.kind = 'score_sheet' and r.sha256 = s.sha256 and r.sheet = s.sheet
), matched as (
    -- the task a row's number names; a row without one, the task its text begins with
    select w.*, coalesce(n.task_no, p.task_no) as task_no
    from sheet_rows w
    left join scoring_tasks n on w.written_no is not null and n.role = w.role and n.task_no = w.written_no
    left join scoring_prefixes p
      on w.written_no is null and p.role = w.role and p.prefix = left(coalesce(w.task_text, ''), $prefix_chars)
)
-- a task's first row counts; a repeat of it does not
select *, task_no is not null and row_number() over (partition by pos, task_no order by "row") = 1 as counted
from matched
"""

# The rows that count, scored: the score the basis reads, a score above the task's maximum worth 0.
_SCORED = """
create temp table scoring_scored as
with scored as (
    select m.*, t.duty_no, t.points, t.points_text, e.role is not null as exempt,
           coalesce(m.self_raw, '') <> '' as self_filled,
           coalesce(m.verified_raw, '') <> '' as verified_filled,
           coalesce(m.self_points > t.points + 1e-9, false) as self_over,
           coalesce(m.verified_points > t.points + 1e-9, false) as verified_over
    from scoring_matched m
    join scoring_tasks t on t.role = m.role and t.task_no = m.task_no
    left join scoring_exempt e
      on e.role = m.role and e.task_no = m.task_no and (e.unit_id is null or e.unit_id = m.unit_id)
    where m.counted
), valued as (
    select *,
        case when self_over then 0.0::double else self_points end as self_value,
        case when verified_over then 0.0::double else verified_points end as verified_value,
        case when $basis in ('self', 'verified') then $basis
             when verified_filled then 'verified' else 'self' end as source
    from scored
), used as (
    select *,
        case source when 'self' then self_value else verified_value end as value,
        case source when 'self' then self_filled else verified_filled end as filled,
        case source when 'self' then self_over else verified_over end as over,
        case source when 'self' then self_raw else verified_raw end as raw
    from valued
)
-- a score the sheet gives as a word such as 不适用, spaces and brackets aside (the parser has already
-- made every run of whitespace in a cell one space)
select *, value is null and list_contains($na_words, trim(replace(coalesce(raw, ''), ' ', ''), '()（）'))
          as written_not_applicable
from used
"""

# The template's tasks a sheet does not have, and whether its unit is exempt from them.
_MISSING = """
create temp table scoring_missing as
select s.pos, t.task_no, t.duty_no, t.points, t.points_text, t.text_start, t.ordinal, e.role is not null as exempt
from scoring_sheets s
join scoring_tasks t on t.role = s.role
left join scoring_exempt e
  on e.role = t.role and e.task_no = t.task_no and (e.unit_id is null or e.unit_id = s.unit_id)
anti join scoring_scored k on k.pos = s.pos and k.task_no = t.task_no
"""

_TASKS = """
select year, unit_id, role, duty_no, task_no, max_points, self_points, verified_points, points, score_source,
       flag, file, sheet, "row"
from (
    select s.pos, 0 as missing, k."row" as place, s.year, s.unit_id, s.role, k.duty_no, k.task_no,
           k.points as max_points,
           case when k.exempt then null else k.self_value end as self_points,
           case when k.exempt then null else k.verified_value end as verified_points,
           case when k.exempt or k.written_not_applicable then null else coalesce(k.value, 0.0::double) end as points,
           case when k.exempt then null else k.source end as score_source,
           case when k.exempt or k.written_not_applicable then 'not_applicable'
                when not k.filled then 'blank_score'
                when k.value is null or k.over then 'invalid_score' end as flag,
           s.file, s.sheet, k."row"
    from scoring_scored k join scoring_sheets s on s.pos = k.pos
    union all
    -- a task the sheet does not have: 0 points, or out of the sheet when its unit is exempt from it
    select s.pos, 1, m.ordinal, s.year, s.unit_id, s.role, m.duty_no, m.task_no, m.points, null, null,
           case when not m.exempt then 0.0::double end, null,
           case when m.exempt then 'not_applicable' else 'missing_task' end,
           s.file, s.sheet, null
    from scoring_missing m join scoring_sheets s on s.pos = m.pos
)
-- each sheet's rows in row order, then its missing tasks in the template's order
order by pos, missing, place
"""

_ISSUES = f"""
with problems as (
    select pos, "row", 0 as ordinal, '{ERROR}' as severity, 'unknown_task' as code,
           '第' || "row" || '行任务“' || coalesce(nullif(task_no_text, ''), left(coalesce(task_text, ''), 20))
           || '”不在' || template || '打分表模板中，本行未计分。请按模板序号填写。' as message
    from scoring_matched join scoring_sheets using (pos)
    where task_no is null
    union all
    select pos, "row", 0, '{ERROR}', 'duplicate_task',
           '第' || task_no || '项任务在表中重复出现，本行未计分，以第一次出现的为准。'
    from scoring_matched where task_no is not null and not counted
    union all
    select pos, "row", 1, '{WARNING}', 'max_points_mismatch',
           '第' || task_no || '项任务表中分值为' || printf('%g', max_points_text) || '分，模板为' || points_text
           || '分，按模板计。'
    from scoring_scored where not exempt and abs(max_points_text - points) > 1e-9
    union all
    select pos, "row", 2, '{ERROR}', 'score_above_max',
           '第' || task_no || '项任务' || $self_column || '“' || self_raw || '”超过该项满分' || points_text
           || '分，按0分计。'
    from scoring_scored where not exempt and self_over
    union all
    select pos, "row", 3, '{ERROR}', 'score_above_max',
           '第' || task_no || '项任务' || $verified_column || '“' || verified_raw || '”超过该项满分'
           || points_text || '分，按0分计。'
    from scoring_scored where not exempt and verified_over
    union all
    select pos, "row", 4, '{WARNING}', 'task_not_applicable',
           '第' || task_no || '项任务' || case source when 'self' then $self_column else $verified_column end
           || '填写为不适用，该项' || points_text || '分不计入满分；规则库未规定该项不适用，请核实确属不适用。'
    from scoring_scored where not exempt and written_not_applicable
    union all
    select pos, null, 5 + ordinal, '{ERROR}', 'task_missing',
           '打分表缺少第' || task_no || '项任务（' || text_start || '…，' || points_text || '分），该项按0分计。'
    from scoring_missing where not exempt
)
select s.year, s.file, s.sheet, p."row", s.label as unit, p.severity, p.code, p.message
from problems p join scoring_sheets s on s.pos = p.pos
order by p.pos, p."row" nulls last, p.ordinal
"""

_TEMP_TABLES = ("scoring_matched", "scoring_scored", "scoring_missing")


def score(con: duckdb.DuckDBPyConnection, sheets: Iterable[Sheet], templates: Templates) -> Scored:
    """Score `sheets` (each the newest of its unit, role and year) from their parsed rows."""
    listed = list(sheets)
    registered = {
        "scoring_sheets": pa.table(
            {
                "pos": pa.array(range(len(listed)), pa.int32()),
                "year": pa.array([s.year for s in listed], pa.int32()),
                "unit_id": pa.array([s.unit_id for s in listed], pa.string()),
                "role": pa.array([s.role for s in listed], pa.string()),
                "file": pa.array([s.file for s in listed], pa.string()),
                "sheet": pa.array([s.sheet for s in listed], pa.string()),
                "sha256": pa.array([s.sha256 for s in listed], pa.string()),
                "label": pa.array([s.label for s in listed], pa.string()),
                "template": pa.array([templates.names[s.role] for s in listed], pa.string()),
            }
        ),
        "scoring_tasks": templates.tasks,
        "scoring_prefixes": templates.prefixes,
        "scoring_exempt": templates.exempt,
    }
    for name, table in registered.items():
        con.register(name, table)
    try:
        con.execute(_MATCHED, {"prefix_chars": PREFIX_CHARS})
        con.execute(_SCORED, {"basis": templates.basis, "na_words": list(NOT_APPLICABLE_WORDS)})
        con.execute(_MISSING)
        tasks = con.sql(_TASKS).to_arrow_table()
        issues = con.sql(
            _ISSUES, params={"self_column": COLUMN_NAMES["self"], "verified_column": COLUMN_NAMES["verified"]}
        ).to_arrow_table()
        rejected = dict(
            con.execute("select pos, count(*) from scoring_matched where not counted group by pos").fetchall()
        )
        return Scored(tasks, issues, rejected)
    finally:
        for temp in _TEMP_TABLES:
            con.execute(f"drop table if exists {temp}")
        for name in registered:
            con.unregister(name)
