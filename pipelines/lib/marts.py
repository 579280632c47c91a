"""The marts of one year, computed in SQL from the stg_* tables (SPEC §5).

Each function deletes the year's slice of its table and inserts it again. Rules come from the
rulebook, handed to SQL as small registered tables (periods, links, policy), never as literals.
"""
from __future__ import annotations

import math

import duckdb
import pandas as pd

from pipelines.lib.faults import crashpoint
from pipelines.lib.rulebook import Rulebook

MARTS_DDL = """
create schema if not exists marts;
create table if not exists marts.units (unit_id varchar, unit_name varchar, unit_type varchar, role varchar,
    region varchar, aliases varchar);
create table if not exists marts.score_sheet_tasks (role varchar, duty_no integer, duty varchar, task_no integer,
    text varchar, responsible varchar, check_standard varchar, max_points double, evidence_rule varchar,
    evidence_max double, evidence_source varchar);
create table if not exists marts.rulebook_requirements (requirement_id varchar, kind varchar, name varchar,
    roles varchar[], period varchar, required double, measure varchar, source varchar);
create table if not exists marts.unit_scores (year integer, unit_id varchar, unit_name varchar, region varchar,
    role varchar, score double, max_score double, score_rate double, self_score double, verified_score double,
    score_source varchar, rank integer, rank_total integer, status varchar, is_bottom boolean,
    source_file varchar, prev_score double, prev_rank integer);
create table if not exists marts.region_rankings (year integer, region varchar, score double, party_score double,
    government_score double, rank integer, prev_rank integer, rank_change integer, is_bottom boolean,
    prev_score double, score_change double, rank_total integer, note varchar);
create table if not exists marts.task_scores (year integer, unit_id varchar, role varchar, duty_no integer,
    task_no integer, max_points double, self_points double, verified_points double, points double,
    lost_points double, evidence_points double, evidence_max double, flag varchar, flag_note varchar,
    score_source varchar, file varchar, sheet varchar, "row" integer);
create table if not exists marts.requirement_compliance (year integer, period varchar, unit_id varchar,
    region varchar, role varchar, requirement_id varchar, required double, actual double, met boolean);
create table if not exists marts.study_sessions_quarterly (year integer, quarter integer, unit_id varchar,
    region varchar, role varchar, sessions integer, required integer, met boolean);
create table if not exists marts.filing_rates (year integer, unit_id varchar, region varchar, role varchar,
    report_type varchar, required integer, filed integer, on_time integer, filing_rate double,
    on_time_rate double, due_date date, filed_date date, days_late integer);
create table if not exists marts.normative_doc_rates (year integer, unit_id varchar, region varchar, role varchar,
    issued integer, filed integer, filed_on_time integer, compliant integer, filing_rate double,
    timely_rate double, compliance_rate double);
create table if not exists marts.weak_spots (year integer, scope varchar, scope_id varchar, item varchar,
    metric varchar, value double, severity varchar, note varchar);
create table if not exists marts.ingest_issues (file varchar, sheet varchar, "row" integer, year integer,
    unit varchar, severity varchar, code varchar, message varchar);
create table if not exists marts.submissions (file varchar, sha256 varchar, kind varchar, year integer,
    unit_id varchar, role varchar, rows_read integer, rows_loaded integer, rows_rejected integer,
    status varchar, superseded_by varchar, loaded_at timestamp, sheet varchar, status_reason varchar,
    file_modified_at timestamp);
create table if not exists marts.meetings (year integer, unit_id varchar, region varchar, role varchar,
    date date, quarter integer, type_text varchar, topic varchar, meeting_types varchar[], is_study boolean,
    hours double, is_duplicate boolean, file varchar, sheet varchar, "row" integer);
"""


def ensure_marts(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(MARTS_DDL)
    # 6.0 → '6', 4.5 → '4.5': points as a clerk writes them in messages
    con.execute("create or replace temp macro fmt_points(x) as "
                "regexp_replace(round(x, 2)::decimal(10, 2)::varchar, '\\.?0+$', '')")


def _register(con, name: str, frame: pd.DataFrame) -> None:
    con.register(name, frame)


def publish_reference(con: duckdb.DuckDBPyConnection, rules: Rulebook) -> None:
    """Registry and rulebook tables (not per year): what the year marts refer to."""
    ensure_marts(con)
    con.execute("delete from marts.units")
    con.execute("insert into marts.units select unit_id, unit_name, unit_type, role, region, aliases from stg_units")
    links = {(l.role, l.task_no): l for l in rules.evidence_links}
    tasks = pd.DataFrame([
        (t.role, t.duty_no, t.duty, t.task_no, t.text, t.responsible, t.check_standard, t.points,
         links[(t.role, t.task_no)].rule if (t.role, t.task_no) in links else None,
         links[(t.role, t.task_no)].points if (t.role, t.task_no) in links else None,
         _evidence_source(links.get((t.role, t.task_no))))
        for tpl in rules.templates.values() for t in tpl.tasks
    ], columns=["role", "duty_no", "duty", "task_no", "text", "responsible", "check_standard", "max_points",
                "evidence_rule", "evidence_max", "evidence_source"])
    con.execute("delete from marts.score_sheet_tasks")
    con.execute("insert into marts.score_sheet_tasks by name select * from tasks")
    reqs = [(r.id, "frequency", r.name, list(r.roles), r.period, r.min, r.measure, r.source)
            for r in rules.frequency_requirements.values()]
    reqs += [(f.id, "filing", f.name, list(f.roles), f"due {f.due_year_offset:+d}y {f.due_month}-{f.due_day}",
              1.0, "report", f.source) for f in rules.filing_requirements.values()]
    frame = pd.DataFrame(reqs, columns=["requirement_id", "kind", "name", "roles", "period", "required", "measure",
                                        "source"])
    con.execute("delete from marts.rulebook_requirements")
    con.execute("insert into marts.rulebook_requirements by name select * from frame")


def _evidence_source(link) -> str | None:
    """What a task is checked against: a frequency requirement id, a filing id, or normative_documents."""
    if link is None:
        return None
    return link.requirement or link.filing or "normative_documents"


def requirement_periods(rules: Rulebook, year: int) -> pd.DataFrame:
    rows = []
    for r in rules.frequency_requirements.values():
        if r.period == "quarter":
            periods = [(f"{year}Q{q}", "quarter", q) for q in range(1, 5)]
        elif r.period == "half_year":
            periods = [(f"{year}H{h}", "half_year", h) for h in (1, 2)]
        else:
            periods = [(str(year), "year", 0)]
        for label, kind, no in periods:
            rows.append((r.id, label, kind, no, r.min, r.measure, list(r.roles), list(r.meeting_types)))
    return pd.DataFrame(rows, columns=["requirement_id", "period", "period_kind", "period_no", "required", "measure",
                                       "roles", "meeting_types"])


def study_required_per_quarter(rules: Rulebook) -> pd.DataFrame:
    """Study sessions a role needs per quarter: the strictest of its study requirements, spread over
    the quarters of its period and rounded up (e.g. 4 a year → 1; 2 a year → 1; 1 a quarter → 1)."""
    study = {m.id for m in rules.meeting_types.values() if m.study}
    share = {"quarter": 1, "half_year": 2, "year": 4}
    out = []
    for role in rules.role_names:
        needs = [r.min / share[r.period] for r in rules.frequency_requirements.values()
                 if role in r.roles and r.measure == "count" and set(r.meeting_types) <= study]
        out.append((role, int(math.ceil(max(needs))) if needs else 0))
    return pd.DataFrame(out, columns=["role", "required"])


def build_year(con: duckdb.DuckDBPyConnection, rules: Rulebook, year: int, registry_issues: list[dict]) -> None:
    ensure_marts(con)
    """A year's marts, replaced whole (the caller holds the transaction)."""
    y = year
    for table in ("unit_scores", "task_scores", "requirement_compliance", "study_sessions_quarterly",
                  "filing_rates", "normative_doc_rates", "ingest_issues", "submissions", "meetings"):
        con.execute(f"delete from marts.{table} where year = ?", [y])
    _requirement_compliance(con, rules, y)
    _study_sessions(con, rules, y)
    _filing_rates(con, rules, y)
    crashpoint("marts.year")
    _normative_rates(con, rules, y)
    _task_scores(con, rules, y)
    _unit_scores(con, rules, y)
    _meetings(con, y)
    _issues_and_submissions(con, y, registry_issues)


def _requirement_compliance(con, rules: Rulebook, y: int) -> None:
    periods = requirement_periods(rules, y)
    con.register("req_periods", periods)
    con.execute("""
        insert into marts.requirement_compliance
        with hits as (
            select p.requirement_id, p.period, m.unit_id,
                   case when any_value(p.measure) = 'hours' then coalesce(sum(m.hours), 0) else count(*) end as actual
            from stg_meetings m
            join req_periods p on list_has_any(m.meeting_types, p.meeting_types)
                and (p.period_kind = 'year'
                     or (p.period_kind = 'quarter' and m.quarter = p.period_no)
                     or (p.period_kind = 'half_year' and m.half = p.period_no))
            where m.year = $y and not m.is_duplicate
            group by all
        )
        select $y, p.period, u.unit_id, u.region, u.role, p.requirement_id, p.required,
               coalesce(h.actual, 0), coalesce(h.actual, 0) >= p.required
        from stg_units u
        join req_periods p on list_contains(p.roles, u.role)
        left join hits h on h.unit_id = u.unit_id and h.requirement_id = p.requirement_id and h.period = p.period
    """, {"y": y})
    con.unregister("req_periods")


def _study_sessions(con, rules: Rulebook, y: int) -> None:
    con.register("study_required", study_required_per_quarter(rules))
    con.execute("""
        insert into marts.study_sessions_quarterly
        with s as (
            select unit_id, quarter, count(*) as sessions from stg_meetings
            where year = $y and is_study and not is_duplicate group by all
        )
        select $y, q.quarter, u.unit_id, u.region, u.role, coalesce(s.sessions, 0), r.required,
               coalesce(s.sessions, 0) >= r.required
        from stg_units u
        cross join (select unnest([1, 2, 3, 4]) as quarter) q
        join study_required r on r.role = u.role
        left join s on s.unit_id = u.unit_id and s.quarter = q.quarter
    """, {"y": y})
    con.unregister("study_required")


def _filing_rates(con, rules: Rulebook, y: int) -> None:
    reqs = pd.DataFrame([(f.id, list(f.roles), f.due_date(y)) for f in rules.filing_requirements.values()],
                        columns=["report_type", "roles", "rule_due"])
    con.register("filing_reqs", reqs)
    con.execute("""
        insert into marts.filing_rates
        with f as (
            select unit_id, report_type, min(filed_date) as filed_date, min(due_date) as due_override
            from stg_filings where year = $y group by all
        ), j as (
            select u.unit_id, u.region, u.role, r.report_type, f.filed_date,
                   coalesce(f.due_override, r.rule_due) as due_date
            from stg_units u join filing_reqs r on list_contains(r.roles, u.role)
            left join f on f.unit_id = u.unit_id and f.report_type = r.report_type
        )
        select $y, unit_id, region, role, report_type, 1,
               (filed_date is not null)::int, (filed_date is not null and filed_date <= due_date)::int,
               (filed_date is not null)::int::double, (filed_date is not null and filed_date <= due_date)::int::double,
               due_date, filed_date,
               case when filed_date is not null then greatest(date_diff('day', due_date, filed_date), 0)
                    when due_date < current_date then date_diff('day', due_date, current_date) end
        from j
    """, {"y": y})
    con.unregister("filing_reqs")


def _normative_rates(con, rules: Rulebook, y: int) -> None:
    con.execute("""
        insert into marts.normative_doc_rates
        with d as (
            select unit_id, count(*) as issued, count(filed_date) as filed,
                   count(*) filter (where filed_date is not null and date_diff('day', issued_date, filed_date) <= $days)
                       as filed_on_time,
                   count(*) filter (where filed_date is not null and compliant) as compliant
            from stg_normative_docs where year = $y group by all
        )
        select $y, u.unit_id, u.region, u.role, coalesce(issued, 0), coalesce(filed, 0), coalesce(filed_on_time, 0),
               coalesce(compliant, 0), filed / nullif(issued, 0), filed_on_time / nullif(issued, 0),
               compliant / nullif(filed, 0)
        from stg_units u left join d using (unit_id)
    """, {"y": y, "days": rules.normative_deadline_days})


def _task_scores(con, rules: Rulebook, y: int) -> None:
    links = pd.DataFrame([
        (l.role, l.task_no, l.rule, l.points, l.requirement, l.filing, l.deduct, l.min,
         [t[0] for t in l.tiers], [t[1] for t in l.tiers])
        for l in rules.evidence_links
    ], columns=["role", "task_no", "rule", "evidence_max", "requirement_id", "filing", "deduct", "min_count",
                "tier_rates", "tier_points"])
    con.register("links", links)
    # Evidence per (unit, link): what the records allow, and which periods fall short (for the note).
    con.execute("""
        create or replace temp table evidence as
        with req as (
            select c.unit_id, l.role, l.task_no, l.rule, l.evidence_max, l.deduct, l.min_count,
                   sum(greatest(c.required - c.actual, 0)) as shortfall, sum(c.actual) as year_actual,
                   any_value(c.required) as required,
                   string_agg(case when not c.met then c.period || '实有' || c.actual::int || '次' end, '，'
                              order by c.period) as missing
            from links l join marts.requirement_compliance c
              on c.requirement_id = l.requirement_id and c.role = l.role and c.year = $y
            where l.rule in ('deduct_per_missing', 'threshold')
            group by all
        ), fil as (
            select f.unit_id, l.role, l.task_no, l.evidence_max, f.filed
            from links l join marts.filing_rates f on f.report_type = l.filing and f.role = l.role and f.year = $y
            where l.rule = 'filed'
        ), nd as (
            select n.unit_id, l.role, l.task_no, l.evidence_max, l.tier_rates, l.tier_points,
                   least(coalesce(n.filing_rate, 0), coalesce(n.timely_rate, 0), coalesce(n.compliance_rate, 0)) as worst,
                   n.issued
            from links l join marts.normative_doc_rates n on n.role = l.role and n.year = $y
            where l.rule = 'normative_rates'
        )
        select unit_id, role, task_no, evidence_max,
               case when rule = 'deduct_per_missing' then greatest(evidence_max - deduct * shortfall, 0)
                    else case when year_actual >= min_count then evidence_max else 0 end end as evidence_points,
               case when rule = 'deduct_per_missing' then missing
                    else '全年实有' || year_actual::int || '次，要求不少于' || min_count::int || '次' end as detail
        from req
        union all
        select unit_id, role, task_no, evidence_max, case when filed = 1 then evidence_max else 0 end,
               case when filed = 1 then '已报送' else '未见报送记录' end
        from fil
        union all
        select unit_id, role, task_no, evidence_max,
               coalesce((select max(p) from (select unnest(tier_points) as p, unnest(tier_rates) as r) t
                         where worst >= r - 1e-9), 0),
               case when issued = 0 then '本年度无规范性文件记录'
                    else '报备率、及时率、规范率最低为' || round(worst * 100, 1)::varchar || '%' end
        from nd
    """, {"y": y})
    con.execute("""
        insert into marts.task_scores
        select s.year, s.unit_id, s.role, s.duty_no, s.task_no, s.max_points, s.self_points, s.verified_points,
               s.points, s.max_points - s.points, e.evidence_points, e.evidence_max,
               case when e.evidence_max is not null and s.points > s.max_points - e.evidence_max + e.evidence_points + 1e-9
                    then 'evidence_shortfall' else s.flag end,
               case when e.evidence_max is not null and s.points > s.max_points - e.evidence_max + e.evidence_points + 1e-9
                    then '申报' || fmt_points(s.points) || '分，记录最多支持' ||
                         fmt_points(s.max_points - e.evidence_max + e.evidence_points) || '分：' || coalesce(e.detail, '')
                    when s.flag = 'missing_task' then '打分表缺少此项'
                    when s.flag = 'blank_score' then '未填写得分'
                    when s.flag = 'invalid_score' then '得分无效'
               end,
               s.score_source, s.file, s.sheet, s."row"
        from stg_task_scores s
        left join evidence e on e.unit_id = s.unit_id and e.role = s.role and e.task_no = s.task_no
        where s.year = $y
    """, {"y": y})
    con.unregister("links")


def _unit_scores(con, rules: Rulebook, y: int) -> None:
    maxima = pd.DataFrame([(r, t.max_total) for r, t in rules.templates.items()], columns=["role", "max_score"])
    con.register("maxima", maxima)
    bottom = rules.ranking.bottom_places
    con.execute("""
        insert into marts.unit_scores
        with sheet as (
            select unit_id, role, sum(points) as score,
                   case when count(self_points) > 0 then sum(self_points) end as self_score,
                   case when count(verified_points) > 0 then sum(verified_points) end as verified_score,
                   case when bool_and(score_source = 'verified') then 'verified'
                        when bool_and(coalesce(score_source, 'self') = 'self') then 'self' else 'mixed' end as score_source,
                   bool_or(flag in ('missing_task', 'invalid_score', 'blank_score')) as has_gaps,
                   any_value(file) as source_file
            from stg_task_scores where year = $y group by all
        ), base as (
            select u.unit_id, u.unit_name, u.region, u.role, s.score, m.max_score,
                   s.score / nullif(m.max_score, 0) as score_rate, s.self_score, s.verified_score, s.score_source,
                   case when s.unit_id is null then 'missing' when s.has_gaps then 'incomplete' else 'scored' end as status,
                   s.source_file
            from stg_units u join maxima m using (role)
            left join sheet s on s.unit_id = u.unit_id and s.role = u.role
        ), ranked as (
            select *,
                   case when score is not null then rank() over (partition by role order by score desc nulls last) end as rank,
                   count(score) over (partition by role) as rank_total,
                   row_number() over (partition by role order by score asc nulls last) as from_bottom
            from base
        ), cut as (
            -- the last `bottom` places, ties included; those tied for first are never "last"
            select role, max(score) as cut from ranked where score is not null and from_bottom <= $bottom group by role
        )
        select $y, r.unit_id, r.unit_name, r.region, r.role, r.score, r.max_score, r.score_rate, r.self_score,
               r.verified_score, r.score_source, r.rank, r.rank_total, r.status,
               coalesce(r.score <= c.cut and r.rank > 1, false), r.source_file, p.score, p.rank
        from ranked r left join cut c using (role)
        left join marts.unit_scores p on p.year = $y - 1 and p.unit_id = r.unit_id and p.role = r.role
    """, {"y": y, "bottom": bottom})
    con.unregister("maxima")


def build_region_rankings(con: duckdb.DuckDBPyConnection, rules: Rulebook, year: int) -> None:
    """Region ranking of `year` (its prev_rank reads year − 1's unit scores)."""
    ensure_marts(con)
    policy = rules.ranking
    roles = list(policy.region_roles)
    need = len(roles) if policy.require_all_region_roles else 1
    con.execute("delete from marts.region_rankings where year = ?", [year])
    con.execute("""
        insert into marts.region_rankings
        with regions as (
            select distinct region from stg_units where list_contains($roles, role)
        ), per as (
            select y.year, r.region,
                   max(s.score) filter (where s.role = 'party') as party_score,
                   max(s.score) filter (where s.role = 'government') as government_score,
                   case when count(s.score) filter (where list_contains($roles, s.role)) >= $need
                        then avg(s.score) filter (where list_contains($roles, s.role)) end as score,
                   string_agg(case when s.score is null and list_contains($roles, s.role)
                                   then s.unit_name || '未报送或未计分' end, '；') as note
            from regions r cross join (select unnest([$y - 1, $y]) as year) y
            left join marts.unit_scores s on s.region = r.region and s.year = y.year
            group by all
        ), ranked as (
            select *, case when score is not null then rank() over (partition by year order by score desc nulls last) end as rank,
                   count(score) over (partition by year) as rank_total,
                   row_number() over (partition by year order by score asc nulls last) as from_bottom
            from per
        ), cut as (
            select year, max(score) as cut from ranked where score is not null and from_bottom <= $bottom group by year
        )
        select c.year, c.region, c.score, c.party_score, c.government_score, c.rank, p.rank, p.rank - c.rank,
               coalesce(c.score <= k.cut and c.rank > 1, false), p.score, c.score - p.score, c.rank_total, c.note
        from ranked c left join cut k on k.year = c.year
        left join ranked p on p.region = c.region and p.year = c.year - 1
        where c.year = $y
    """, {"y": year, "roles": roles, "need": need, "bottom": policy.bottom_places})


def build_weak_spots(con: duckdb.DuckDBPyConnection, rules: Rulebook, year: int) -> None:
    """Findings a city leader acts on: last places, falls, tasks most often lost, unmet duties, and
    self-scores the records do not support."""
    ensure_marts(con)
    con.execute("delete from marts.weak_spots where year = ?", [year])
    names = pd.DataFrame([(r.id, r.name) for r in rules.frequency_requirements.values()],
                         columns=["requirement_id", "name"])
    con.register("req_names", names)
    con.execute("""
        insert into marts.weak_spots
        select year, 'region', region, '综合排名末位', 'rank', rank, 'high',
               region || '综合得分' || round(score, 1)::varchar || '分，第' || rank::varchar || '名（共' || rank_total::varchar || '个），列末位'
        from marts.region_rankings where year = $y and is_bottom
        union all
        select year, 'region', region, '排名下降', 'rank_change', rank_change, 'medium',
               region || '由第' || prev_rank::varchar || '名降至第' || rank::varchar || '名'
        from marts.region_rankings where year = $y and rank_change <= -3
        union all
        select $y, 'task', t.role || '-' || t.task_no::varchar, any_value(k.text), 'loss_rate',
               avg((t.lost_points > 0)::int),
               case when avg((t.lost_points > 0)::int) >= 0.75 then 'high' else 'medium' end,
               count(*) filter (where t.lost_points > 0)::varchar || '/' || count(*)::varchar || '个单位在此项失分，合计失分' ||
               round(sum(t.lost_points), 1)::varchar || '分'
        from marts.task_scores t join marts.score_sheet_tasks k on k.role = t.role and k.task_no = t.task_no
        where t.year = $y group by t.role, t.task_no having avg((t.lost_points > 0)::int) >= 0.5
        union all
        select $y, 'requirement', c.requirement_id, any_value(n.name), 'met_rate', avg(c.met::int),
               case when avg(c.met::int) < 0.5 then 'high' else 'medium' end,
               count(*) filter (where not c.met)::varchar || '个单位·期次未达标（共' || count(*)::varchar || '）'
        from marts.requirement_compliance c join req_names n using (requirement_id)
        where c.year = $y group by c.requirement_id having avg(c.met::int) < 0.8
        union all
        select $y, 'unit', t.unit_id, '第' || t.task_no::varchar || '项自评与记录不符', 'points_over_evidence',
               t.points - (t.max_points - t.evidence_max + t.evidence_points), 'high', u.unit_name || '：' || t.flag_note
        from marts.task_scores t join marts.units u using (unit_id)
        where t.year = $y and t.flag = 'evidence_shortfall'
        union all
        select $y, 'unit', unit_id, '未报送打分表', 'status', null, 'high', unit_name || '本年度没有有效的打分表'
        from marts.unit_scores where year = $y and status = 'missing'
    """, {"y": year})
    con.unregister("req_names")


def _meetings(con, y: int) -> None:
    con.execute("""
        insert into marts.meetings
        select year, unit_id, region, role, date, quarter, type_text, topic, meeting_types, is_study, hours,
               is_duplicate, file, sheet, "row" from stg_meetings where year = $y
    """, {"y": y})


def _issues_and_submissions(con, y: int, registry_issues: list[dict]) -> None:
    con.execute("""insert into marts.ingest_issues select file, sheet, "row", year, unit, severity, code, message
                   from stg_issues where year = $y""", {"y": y})
    con.execute("""
        insert into marts.ingest_issues
        select path, null, null, year, null, 'warning', 'file_removed',
               '文件已从 data/raw 中移除（' || strftime(removed_at + interval 8 hour, '%Y-%m-%d %H:%M') ||
               '，北京时间），其数据不再计入本年度结果；如属误删，请重新放回原文件。'
        from removed_files where year = $y""", {"y": y})
    con.execute("delete from marts.ingest_issues where year is null")
    if registry_issues:
        frame = pd.DataFrame(registry_issues)
        con.execute("""insert into marts.ingest_issues select file, sheet, "row", year, unit, severity, code, message
                       from frame""")
    con.execute("""
        insert into marts.submissions
        select file, sha256, kind, year, unit_id, role, rows_read, rows_loaded, rows_rejected, status, superseded_by,
               loaded_at, sheet, status_reason, mtime from stg_submissions where year = $y
    """, {"y": y})
