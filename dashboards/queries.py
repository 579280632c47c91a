"""The dashboard's questions to the published marts, one named query each.

Every figure a page shows is read or computed here (score and rank changes, ties, duty score rates, the
tasks and requirements lost most, met rates, filing rates …), never in a page: a page asks for what it
draws and draws it. Each query returns a DataFrame through `data.query` (cached per publication) and takes
the sidebar's `Filters` where the filters apply. Roles are never named: which roles exist and which of
them form a region's score come from the rulebook in force (`data.roles()`, the mart `rulebook_roles`).
"""

from __future__ import annotations

import pandas as pd

from dashboards import data
from dashboards.filters import Filters
from pipelines.lib import notices

# The region ranking's score of the role in each region position (`rulebook_roles.region_position`):
# the mart's columns, named after the default rulebook's roles.
REGION_SCORE_COLUMNS = {1: "party_score", 2: "government_score"}


def _in_regions(column: str) -> str:
    return f"(len($regions) = 0 or list_contains($regions, {column}))"


def _rows(offset: int, limit: int | None) -> str:
    """The clause reading `limit` rows from the `offset`-th on (every row when `limit` is None)."""
    return "" if limit is None else f" limit {int(limit)} offset {int(offset)}"


def _count(sql: str, **params) -> int:
    """How many rows `sql` reads."""
    return int(data.query(f"select count(*) as n from ({sql})", **params)["n"].iloc[0])


def _matching(*columns: str) -> str:
    """Rows any of whose `columns` holds the text `$search` (every row when it is empty), ignoring case."""
    held = " or ".join(f"contains(lower({c}), lower($search))" for c in columns)
    return f"($search = '' or {held})"


# --------------------------------------------------------------------------------------------------
# Regions and units: ranking, scores, changes


def region_score_columns() -> dict[str, str]:
    """Column of `region_ranking` → the role whose score it holds, for the positions the rulebook fills."""
    roles = data.roles()
    placed = roles[roles["in_region_score"].fillna(False).astype(bool) & roles["region_position"].notna()]
    return {
        REGION_SCORE_COLUMNS[int(p)]: r
        for r, p in zip(placed["role"], placed["region_position"], strict=False)
        if int(p) in REGION_SCORE_COLUMNS
    }


def region_ranking(f: Filters) -> pd.DataFrame:
    """The regions of the year and filter, best first (unranked last): score, the score of each region role,
    rank, last year's rank, rank change (places up, positive) and score change from the mart, 末位, the
    mart's status (ranked, 待审 pending, 缺报 missing) and note, `tie`: whether another region shown holds
    the same rank (并列); and from `rank_stability` the band (`p05`–`p95`), tier, whether the change is
    inside the band (`stable_change`) and whether the place is distinguishable from the one above."""
    return data.query(
        f"""
        select g.region, g.rank, g.score, g.party_score, g.government_score, g.prev_rank, g.rank_change,
               g.score_change, coalesce(g.is_bottom, false) as is_bottom, g.status, g.note,
               g.rank is not null and count(*) over (partition by g.rank) > 1 as tie,
               s.p05, s.p95, s.median, s.tier, s.tier_name, s.stable_change, s.distinct_from_above,
               s.p_below_above
        from marts.region_rankings g
        left join marts.rank_stability s on s.year = g.year and s.scope = 'region' and s.subject = g.region
        where {f.where(role=False, alias="g")} order by g.rank nulls last, g.region""",
        **f.params,
    )


def stability_draws(year: int) -> int:
    """How many simulated re-rankings the year's bands come from."""
    n = data.query("select max(draws) as n from marts.rank_stability where year = $year", year=year)[
        "n"
    ].iloc[0]
    return 0 if pd.isna(n) else int(n)


def region_coverage(year: int) -> tuple[int, int]:
    """(ranked, in total) regions of the year: "8/9 县区参与排名" (the whole city, whatever the filters)."""
    row = data.query(
        "select count(rank) as ranked, count(*) as total from marts.region_rankings where year = $year",
        year=year,
    ).iloc[0]
    return int(row["ranked"]), int(row["total"])


def unit_coverage(year: int) -> dict[str, tuple[int, int]]:
    """Role → (ranked, in total) units of the year."""
    rows = data.query(
        """select role, count(rank) as ranked, count(*) as total from marts.unit_scores where year = $year
           group by role""",
        year=year,
    )
    return {r: (int(k), int(n)) for r, k, n in zip(rows["role"], rows["ranked"], rows["total"], strict=True)}


def region_summary(f: Filters) -> dict:
    """The headline over the regions of the filters: `regions` in the ranking, `ranked` of them, and the
    `mean_score` of the ranked (None when no region is ranked)."""
    regions = region_ranking(f)
    ranked = regions.loc[regions["rank"].notna(), "score"]
    return {
        "regions": len(regions),
        "ranked": len(ranked),
        "mean_score": ranked.mean() if len(ranked) else None,
    }


def region_role_units(f: Filters) -> pd.DataFrame:
    """The units whose scores form their region's score (the rulebook's region roles), by region and role:
    what the ranking offers to open."""
    return data.query(
        f"""
        select region, role, unit_id, unit_name from marts.unit_scores
        where {f.where(role=False)} and list_contains($region_roles, role) order by region, role""",
        **f.params,
        region_roles=list(data.region_roles()),
    )


def unit_ranking(f: Filters, search: str = "") -> pd.DataFrame:
    """Every unit of the filters with its rank among the units of its role, score, score rate, self and
    verified scores, status, 末位, last year's rank and score, and the changes: `score_change` (points since
    last year), `rank_change` (places up since last year, positive when the unit moved up) and `tie`
    (another unit of its role holds the same rank); and its band, tier and stability (`rank_stability`).
    With `search`, only the units whose name or region holds that text (ranks and ties stay those among all
    the units of the filters)."""
    return data.query(
        f"""
        with ranked as (
            select u.unit_id, u.unit_name, u.region, u.role, u.rank, u.rank_total, u.score, u.score_rate,
                   u.scaled_score, u.applicable_max, u.max_score, u.self_score, u.verified_score,
                   u.score_source, u.status, coalesce(u.is_bottom, false) as is_bottom, u.prev_rank,
                   u.prev_score, u.score - u.prev_score as score_change, u.prev_rank - u.rank as rank_change,
                   u.rank is not null and count(*) over (partition by u.role, u.rank) > 1 as tie,
                   s.p05, s.p95, s.tier, s.tier_name, s.stable_change, s.distinct_from_above,
                   s.p_below_above
            from marts.unit_scores u
            left join marts.rank_stability s
                   on s.year = u.year and s.scope = u.role and s.subject = u.unit_id
            where {f.where(alias="u")})
        select * from ranked where {_matching("unit_name", "region")}
        order by role, rank nulls last, unit_name""",
        **f.params,
        search=search,
    )


def unit_status_counts(f: Filters) -> dict[str, int]:
    """Units of the filters by status (scored, incomplete, missing)."""
    counts = data.query(
        f"""
        select status, count(*) as n from marts.unit_scores where {f.where()} group by status""",
        **f.params,
    )
    return {s: int(n) for s, n in zip(counts["status"], counts["n"], strict=False)}


def rejected_files(year: int) -> int:
    """Files of the year the pipeline refused as a whole."""
    return int(
        data.query(
            """select count(*) as n from marts.submissions where year = $year and status = 'rejected'""",
            year=year,
        )["n"].iloc[0]
    )


def unit_choices(
    f: Filters,
    also: str | None = None,
    search: str = "",
    limit: int | None = None,
    keep: str | None = None,
) -> pd.DataFrame:
    """The units of the filters (id, name, region, role), by region, role and name; with `search`, those whose
    name or region holds that text; with `limit`, the first that many, and `keep` first among them when the
    filters allow it (the unit chosen before). With `also`, that unit first even when the filters hide it (a
    unit opened from another page or a shared link)."""
    units = data.query(
        f"""
        select unit_id, unit_name, region, role from marts.unit_scores
        where {f.where()} and ({_matching("unit_name", "region")} or unit_id = $keep)
        order by unit_id = $keep desc, region, role, unit_name, unit_id"""
        + _rows(0, limit),
        **f.params,
        search=search,
        keep=keep or "",
    )
    if also and also not in set(units["unit_id"]):
        units = pd.concat(
            [
                data.query(
                    """select unit_id, unit_name, region, role from marts.unit_scores
                                         where year = $year and unit_id = $unit""",
                    year=f.year,
                    unit=also,
                ),
                units,
            ]
        )
    return units


def unit_total(f: Filters, search: str = "") -> int:
    """How many units `unit_choices` finds (not counting `also`)."""
    return _count(
        f"select unit_id from marts.unit_scores where {f.where()} and {_matching('unit_name', 'region')}",
        **f.params,
        search=search,
    )


def unit_score(year: int, unit_id: str) -> pd.Series:
    """One unit's year: every column of `unit_scores`, with `score_change` and `rank_change` since last year,
    `tie` (another unit of its role holds the same rank), and its band and tier (`rank_stability`)."""
    return data.query(
        """
        select u.*, u.score - u.prev_score as score_change, u.prev_rank - u.rank as rank_change,
               (select count(*) from marts.unit_scores p
                where p.year = u.year and p.role = u.role and p.rank = u.rank) > 1 as tie,
               s.p05, s.p95, s.tier_name, s.stable_change, s.distinct_from_above
        from marts.unit_scores u
        left join marts.rank_stability s on s.year = u.year and s.scope = u.role and s.subject = u.unit_id
        where u.year = $year and u.unit_id = $unit""",
        year=year,
        unit=unit_id,
    ).iloc[0]


def unit_sheet(year: int, unit_id: str) -> pd.DataFrame:
    """A unit's score sheet task by task: duty, task text, points possible, self-assessed, verified and
    counted, points lost, what its records allow (evidence points of evidence max), flags, and where each
    row was read (file, sheet, row)."""
    return data.query(
        """
        select s.duty_no, k.duty, s.task_no, k.text, s.max_points, s.self_points, s.verified_points, s.points,
               s.lost_points, s.evidence_points, s.evidence_max, s.flag, s.flag_note, s.file, s.sheet, s."row"
        from marts.task_scores s join marts.score_sheet_tasks k using (role, duty_no, task_no)
        where s.year = $year and s.unit_id = $unit order by s.task_no""",
        year=year,
        unit=unit_id,
    )


def unit_meetings(year: int, unit_id: str) -> pd.DataFrame:
    """A unit's meetings and study sessions of the year, by date: as written, the meeting types they count
    as, study, hours, duplicates, and where each was read."""
    return data.query(
        """
        select date, type_text, topic, array_to_string(meeting_types, '、') as types, is_study, hours, is_duplicate,
               file, sheet, "row"
        from marts.meetings where year = $year and unit_id = $unit order by date""",
        year=year,
        unit=unit_id,
    )


def unit_history(unit_id: str) -> pd.DataFrame:
    """A unit's score and rank, year by year."""
    return data.query(
        """select year, score, rank from marts.unit_scores where unit_id = $unit order by year""",
        unit=unit_id,
    )


# --------------------------------------------------------------------------------------------------
# Weak spots


def duty_score_rates(f: Filters, role: str) -> pd.DataFrame:
    """Score rate per region and duty group of one role's sheet: points counted over points possible, over
    the units of the region (filtered by region); `region_rate`, the region's mean over its duty groups."""
    return data.query(
        f"""
        select region, duty_no, any_value(duty) as duty,
               sum(points) / nullif(sum(applicable_max), 0) as rate,
               avg(sum(points) / nullif(sum(applicable_max), 0)) over (partition by region) as region_rate
        from marts.duty_scores
        where year = $year and role = $role and {_in_regions("region")}
        group by region, duty_no""",
        year=f.year,
        regions=list(f.regions),
        role=role,
    )


def improvement_path(year: int, scope: str, subject: str, limit: int = 10) -> pd.DataFrame:
    """What it would take (`improvement_paths`): a unit's (scope `unit`, subject its id) or a region's items,
    easiest first, with the score and rank each step reaches and whether it is in the smallest set that
    lifts the subject one place; the first `limit` steps and every step of that set."""
    return data.query(
        """
        select step, item, kind, action, due_date, points, cum_points, score, score_after, rank, rank_after,
               in_smallest_lift
        from marts.improvement_paths
        where year = $year and scope = $scope and subject = $subject and (step <= $limit or in_smallest_lift)
        order by step""",
        year=year,
        scope=scope,
        subject=subject,
        limit=limit,
    )


def improvement_totals(year: int, scope: str, subject: str) -> dict:
    """The whole path in figures: `items`, `points` recoverable, and the `lift` set's size and points."""
    row = data.query(
        """
        select count(*) as items, coalesce(sum(points), 0) as points,
               count(*) filter (where in_smallest_lift) as lift_items,
               coalesce(sum(points) filter (where in_smallest_lift), 0) as lift_points
        from marts.improvement_paths where year = $year and scope = $scope and subject = $subject""",
        year=year,
        scope=scope,
        subject=subject,
    ).iloc[0]
    return {k: row[k] for k in ("items", "points", "lift_items", "lift_points")}


def duty_tasks(year: int, role: str, region: str, duty_no: int) -> pd.DataFrame:
    """The units and tasks behind one heatmap cell (a region's duty group on one role's sheet), points lost
    first."""
    return data.query(
        """
        select s.unit_id, u.unit_name, s.task_no, k.text, s.max_points, s.points, s.lost_points, s.flag_note
        from marts.task_scores s join marts.units u using (unit_id, role)
        join marts.score_sheet_tasks k using (role, duty_no, task_no)
        where s.year = $year and s.role = $role and u.region = $region and s.duty_no = $duty_no
        order by s.lost_points desc, s.task_no""",
        year=year,
        role=role,
        region=region,
        duty_no=duty_no,
    )


def tasks_lost_most(f: Filters, limit: int = 15) -> pd.DataFrame:
    """The tasks most units lost points on (then most points lost): role, task, units losing of units
    assessed (`losing`, `units`, `units_losing` as "3/12") and the points lost in all."""
    return data.query(
        f"""
        select s.role, s.task_no, any_value(k.text) as text, count(*) filter (where s.lost_points > 0) as losing,
               count(*) as units, losing || '/' || units as units_losing, sum(s.lost_points) as lost
        from marts.task_scores s join marts.units u using (unit_id, role)
        join marts.score_sheet_tasks k using (role, duty_no, task_no)
        where s.year = $year and list_contains($roles, s.role) and {_in_regions("u.region")}
        group by s.role, s.task_no having losing > 0 order by losing desc, lost desc limit {int(limit)}""",
        **f.params,
    )


def requirements_missed_most(f: Filters) -> pd.DataFrame:
    """The rulebook's requirements most often not met, over units and periods: times missed of times due
    (`missed`, `total`, `units_losing` as "3/12") and the met rate."""
    return data.query(
        f"""
        select r.name, count(*) filter (where not c.met) as missed, count(*) as total,
               missed || '/' || total as units_losing, avg(c.met::int) as met_rate
        from marts.requirement_compliance c join marts.rulebook_requirements r using (requirement_id)
        where {f.where("c")} group by all having missed > 0 order by missed desc""",
        **f.params,
    )


def weak_spot_findings(f: Filters) -> pd.DataFrame:
    """The year's findings, most severe first, each following the filters it can: a region's by its region,
    a unit's by its region and role, a task's by its role (the part of its id before '-'). `subject` is the
    unit's name for a unit, the id otherwise; `task_no` is a task's number."""
    return data.query(
        f"""
        with found as (
            select w.scope, w.scope_id, w.item, w.severity, w.note,
                   case w.scope when 'unit' then u.region when 'region' then w.scope_id end as region,
                   case w.scope when 'unit' then u.role when 'task' then split_part(w.scope_id, '-', 1) end as role,
                   case w.scope when 'task' then split_part(w.scope_id, '-', 2) end as task_no,
                   coalesce(u.unit_name, w.scope_id) as subject
            from marts.weak_spots w left join marts.units u on w.scope = 'unit' and u.unit_id = w.scope_id
            where w.year = $year)
        select * from found
        where (region is null or {_in_regions("region")}) and (role is null or list_contains($roles, role))
        order by case severity when 'high' then 0 when 'medium' then 1 else 2 end, scope, scope_id""",
        **f.params,
    )


# --------------------------------------------------------------------------------------------------
# Meetings and study


def _unit_label(name: str, role: str) -> str:
    """A unit as the matrices name it: 濮阳县委（县（区）党委）, the role in the words `$role_ids` → `$role_words`
    give (its code when they give none)."""
    return (
        f"{name} || '（' || coalesce(list_extract($role_words, list_position($role_ids, {role})), {role}) "
        "|| '）'"
    )


def _role_words(words: dict[str, str]) -> dict[str, list[str]]:
    return {"role_ids": list(words), "role_words": list(words.values())}


def requirement_units(f: Filters, requirement_id: str, role_words: dict[str, str]) -> int:
    """How many units (by their label in `role_words`) of the filters one meeting requirement applies to."""
    return int(
        data.query(
            f"""
            select count(distinct {_unit_label("u.unit_name", "c.role")}) as n
            from marts.requirement_compliance c join marts.units u using (unit_id, role)
            where {f.where("c")} and c.requirement_id = $requirement""",
            **f.params,
            requirement=requirement_id,
            **_role_words(role_words),
        )["n"].iloc[0]
    )


def requirement_matrix(
    f: Filters, requirement_id: str, role_words: dict[str, str], limit: int
) -> pd.DataFrame:
    """One meeting requirement, period by period (required, actual, met), for the `limit` units of the filters
    that met it least often: `label` (the unit's name and role in `role_words`) and `unit_met_rate` (the
    share of its periods it met). Weakest first, then by label."""
    return data.query(
        f"""
        with shown as (
            select c.period, c.unit_id, u.unit_name, c.role, c.required, c.actual, c.met,
                   avg(c.met::int) over (partition by c.unit_id) as unit_met_rate,
                   {_unit_label("u.unit_name", "c.role")} as label
            from marts.requirement_compliance c join marts.units u using (unit_id, role)
            where {f.where("c")} and c.requirement_id = $requirement),
        labels as (select label, min(unit_met_rate) as rate from shown group by label),
        weakest as (select label, rate from labels order by rate, label limit $limit)
        select s.* from shown s join weakest w using (label) order by w.rate, w.label, s.period""",
        **f.params,
        requirement=requirement_id,
        limit=int(limit),
        **_role_words(role_words),
    )


_GAP_UNITS = """
    select c.unit_id, any_value(u.unit_name) as unit_name, any_value(u.region) as region,
           any_value(c.role) as role, min([c.requirement_id, c.period]) as first_gap
    from marts.requirement_compliance c join marts.units u using (unit_id, role)
    where {where} and not c.met and {matching}
    group by c.unit_id"""


def gap_units(f: Filters, search: str = "", limit: int | None = None) -> pd.DataFrame:
    """The units of the filters that missed a meeting requirement in some period (unit_id, unit_name, region,
    role), by name (then by their first gap); with `search`, those whose name or region holds that text; with
    `limit`, the first that many."""
    return data.query(
        _GAP_UNITS.format(where=f.where("c"), matching=_matching("u.unit_name", "u.region"))
        + " order by unit_name, first_gap, unit_id"
        + _rows(0, limit),
        **f.params,
        search=search,
    )


def gap_unit_total(f: Filters, search: str = "") -> int:
    """How many units `gap_units` finds."""
    return _count(
        _GAP_UNITS.format(where=f.where("c"), matching=_matching("u.unit_name", "u.region")),
        **f.params,
        search=search,
    )


def unit_gaps(f: Filters, unit_id: str) -> pd.DataFrame:
    """One unit's periods that missed a meeting requirement: requirement, period, required and actual."""
    return data.query(
        f"""
        select c.requirement_id, r.name as requirement, c.period, c.required, c.actual
        from marts.requirement_compliance c join marts.rulebook_requirements r using (requirement_id)
        where {f.where("c")} and c.unit_id = $unit and not c.met order by c.requirement_id, c.period""",
        **f.params,
        unit=unit_id,
    )


def requirement_met_rates(f: Filters) -> pd.DataFrame:
    """Per requirement, over the units and periods of the filters: the met rate, the times missed of the
    times due (`missed`, `total`, `units_losing` as "3/12"); lowest met rate first."""
    return data.query(
        f"""
        select c.requirement_id, r.name as requirement, avg(c.met::int) as met_rate,
               count(*) filter (where not c.met) as missed, count(*) as total, missed || '/' || total as units_losing
        from marts.requirement_compliance c
        join marts.units u using (unit_id, role)
        join marts.rulebook_requirements r using (requirement_id)
        where {f.where("c")} group by c.requirement_id, r.name order by met_rate, c.requirement_id, r.name""",
        **f.params,
    )


def study_matrix(f: Filters, role_words: dict[str, str], limit: int = 40) -> pd.DataFrame:
    """Study sessions per quarter against the rulebook's requirement (sessions, required, met) for the `limit`
    units of the filters that met it least often: `label` (the unit's name and role in `role_words`) and
    `unit_met_rate` (the share of quarters it met). Weakest first, then by label."""
    return data.query(
        f"""
        with shown as (
            select q.quarter, q.unit_id, u.unit_name, q.role, q.sessions, q.required, q.met,
                   avg(q.met::int) over (partition by q.unit_id) as unit_met_rate,
                   {_unit_label("u.unit_name", "q.role")} as label
            from marts.study_sessions_quarterly q join marts.units u using (unit_id, role)
            where {f.where("q")}),
        labels as (select label, min(unit_met_rate) as rate from shown group by label),
        weakest as (select label, rate from labels order by rate, label limit $limit)
        select s.* from shown s join weakest w using (label) order by w.rate, w.label, s.quarter""",
        **f.params,
        limit=int(limit),
        **_role_words(role_words),
    )


# --------------------------------------------------------------------------------------------------
# Filings


def filing_rates(f: Filters) -> pd.DataFrame:
    """Per report, over the units of the filters: required, filed and on time in all, the filing rate and the
    on-time rate (both over required; none when nothing was required)."""
    return data.query(
        f"""
        select coalesce(r.name, f.report_type) as report, sum(f.required)::bigint as required,
               sum(f.filed)::bigint as filed, sum(f.on_time)::bigint as on_time,
               sum(f.filed) / nullif(sum(f.required), 0) as filing_rate,
               sum(f.on_time) / nullif(sum(f.required), 0) as on_time_rate
        from marts.filing_rates f join marts.units u using (unit_id, role)
        left join marts.rulebook_requirements r on r.requirement_id = f.report_type
        where {f.where("f")} group by all order by report""",
        **f.params,
    )


def overdue_filings(f: Filters) -> pd.DataFrame:
    """The filings not made, or made late: most days late first (not filed at all first of those)."""
    return data.query(
        f"""
        select coalesce(r.name, f.report_type) as report, f.report_type, f.unit_id, u.unit_name, f.region, f.role,
               f.required, f.filed, f.on_time, f.due_date, f.filed_date, f.days_late
        from marts.filing_rates f join marts.units u using (unit_id, role)
        left join marts.rulebook_requirements r on r.requirement_id = f.report_type
        where {f.where("f")} and (f.filed < f.required or f.on_time < f.filed)
        order by f.days_late desc nulls first, u.unit_name""",
        **f.params,
    )


def normative_docs(f: Filters) -> pd.DataFrame:
    """Normative documents per unit: issued, filed, filed on time, compliant and the unit's rates; least
    timely first."""
    return data.query(
        f"""
        select n.unit_id, u.unit_name, n.region, n.role, n.issued, n.filed, n.filed_on_time, n.compliant,
               n.filing_rate, n.timely_rate, n.compliance_rate
        from marts.normative_doc_rates n join marts.units u using (unit_id, role)
        where {f.where("n")} order by n.timely_rate nulls last, n.filing_rate nulls last""",
        **f.params,
    )


def normative_totals(f: Filters) -> pd.Series:
    """Normative documents over the units of the filters, with the mart's denominators: filing and timely
    rates over documents issued, the compliance rate over documents filed (none over nothing)."""
    return data.query(
        f"""
        select sum(n.filed) / nullif(sum(n.issued), 0) as filing_rate,
               sum(n.filed_on_time) / nullif(sum(n.issued), 0) as timely_rate,
               sum(n.compliant) / nullif(sum(n.filed), 0) as compliance_rate
        from marts.normative_doc_rates n join marts.units u using (unit_id, role)
        where {f.where("n")}""",
        **f.params,
    ).iloc[0]


# --------------------------------------------------------------------------------------------------
# Data quality

# A file is in scope when its unit passes the filters. Ledgers carry no role of their own: their unit's
# region and role decide. A file with no known unit (a register for many units, a name nobody could match)
# stays visible whatever the filters: no filter can apply to it, and it is what the clerk must chase.
_FILES_IN_SCOPE = """
    select s.file, s.kind, s.unit_id, u.unit_name, u.region, coalesce(s.role, u.role) as role, s.rows_read,
           s.rows_loaded, s.rows_rejected, s.status, s.status_reason, s.superseded_by, s.loaded_at
    from marts.submissions s left join marts.units u on u.unit_id = s.unit_id
    where s.year = $year
      and (u.region is null or len($regions) = 0 or list_contains($regions, u.region))
      and (coalesce(s.role, u.role) is null or list_contains($roles, coalesce(s.role, u.role)))"""

# The year's issues (and those of no year) of the files in scope, and of files that are no submission of the
# year (the registry, stray files).
_ISSUES_IN_SCOPE = f"""
    with scope as ({_FILES_IN_SCOPE})
    select i.file, i.sheet, i."row", i.unit, i.severity, i.code, i.message
    from marts.ingest_issues i
    where (i.year = $year or i.year is null)
      and (i.file is null or i.file in (select file from scope)
           or i.file not in (select file from marts.submissions where year = $year and file is not null))"""


def submissions(f: Filters, offset: int = 0, limit: int | None = None) -> pd.DataFrame:
    """The files of the year in scope of the filters, by status and name: kind, unit, rows read, loaded and
    rejected, status and why, what superseded it, when it was loaded (UTC); with `limit`, that many of them
    from the `offset`-th on."""
    return data.query(
        _FILES_IN_SCOPE + " order by s.status, s.file, s.kind, s.unit_id" + _rows(offset, limit), **f.params
    )


def submission_totals(f: Filters) -> dict[str, int]:
    """The files of `submissions(f)` in figures: `files` in all, how many of each status (`loaded`,
    `partially_loaded`, `superseded`, `rejected` …), and the rows `rows_read`, `rows_loaded` and
    `rows_rejected` over them."""
    by_status = data.query(
        f"""
        with shown as ({_FILES_IN_SCOPE})
        select status, count(*) as files, coalesce(sum(rows_read), 0) as rows_read,
               coalesce(sum(rows_loaded), 0) as rows_loaded, coalesce(sum(rows_rejected), 0) as rows_rejected
        from shown group by status""",
        **f.params,
    )
    totals = {k: int(by_status[k].sum()) for k in ("files", "rows_read", "rows_loaded", "rows_rejected")}
    return totals | {str(k): int(n) for k, n in zip(by_status["status"], by_status["files"], strict=True)}


def submission_file(f: Filters, file: str) -> pd.DataFrame:
    """The file of the year `file` names, as `submissions(f)` lists it (none when out of scope)."""
    return data.query(
        _FILES_IN_SCOPE + " and s.file = $file order by s.status, s.kind", **f.params, file=file
    )


_ISSUES_SHOWN = f"""
    with found as ({_ISSUES_IN_SCOPE})
    select * from found
    where (severity = 'error' or not $errors_only) and (len($codes) = 0 or list_contains($codes, code))"""


def issues(
    f: Filters,
    errors_only: bool = False,
    codes: tuple[str, ...] = (),
    offset: int = 0,
    limit: int | None = None,
) -> pd.DataFrame:
    """The ingest issues of the files in scope (see `_ISSUES_IN_SCOPE`), by severity, file and row: file,
    sheet, row, unit as written, severity, code and message; only the errors with `errors_only`, only those
    of `codes` when given; with `limit`, that many of them from the `offset`-th on."""
    return data.query(
        _ISSUES_SHOWN
        + """ order by severity, file, "row", sheet, code, message, unit"""
        + _rows(offset, limit),
        **f.params,
        errors_only=errors_only,
        codes=list(codes),
    )


def issue_total(f: Filters, errors_only: bool = False, codes: tuple[str, ...] = ()) -> int:
    """How many issues `issues` lists (counted from `issue_counts`)."""
    counts = issue_counts(f)
    listed = (counts["severity"] == "error") | (not errors_only)
    if codes:
        listed &= counts["code"].isin(codes)
    return int(counts.loc[listed, "n"].sum())


def issue_counts(f: Filters) -> pd.DataFrame:
    """The issues of `issues(f)` counted by severity and code."""
    return data.query(
        f"""
        with shown as ({_ISSUES_IN_SCOPE})
        select severity, code, count(*) as n from shown group by severity, code order by severity, code""",
        **f.params,
    )


def issue_totals(f: Filters) -> dict[str, int]:
    """The issues of `issues(f)` in figures: `issues` in all, `errors` among them."""
    counts = issue_counts(f)
    return {
        "issues": int(counts["n"].sum()),
        "errors": int(counts.loc[counts["severity"] == "error", "n"].sum()),
    }


# The year's feedback items (`marts.feedback_items`) of the units of the filters, as the notices carry them
# (pipelines/lib/notices.py): a unit's by its region and its role in `marts.units`; items no unit could be
# found for are no unit's notice.
_FEEDBACK_IN_SCOPE = """
    select i.*, u.role
    from marts.feedback_items i join marts.units u on u.unit_id = i.unit_id
    where i.year = $year and list_contains($roles, u.role)
      and (len($regions) = 0 or list_contains($regions, i.region))"""


# Feedback items as a notice lists them (pipelines/lib/notices.py): by category, the missing score sheet
# first, file, sheet, row or first example row, code and message (the rest only to make the order whole).
_WITHIN_NOTICE = """
    coalesce(list_position($categories, i.category), len($categories) + 1),
    i.code is distinct from 'missing_score_sheet', i.file nulls first, i.sheet nulls first,
    coalesce(i."row", i.example_rows[1]) nulls first, i.code nulls first, i.message nulls first,
    i.rows_affected, i.action, i.resubmit_by, i.severity"""
# The notices themselves by region, unit name and unit.
_NOTICE_ORDER = " order by coalesce(i.region, ''), coalesce(i.unit_name, ''), i.unit_id, " + _WITHIN_NOTICE


def feedback_items(f: Filters, offset: int = 0, limit: int | None = None) -> pd.DataFrame:
    """The feedback items of the units of the filters (every column of `marts.feedback_items` and the unit's
    role) in the order of their notices: by region, unit name and unit, then each notice's own order (by
    category, the missing score sheet first, file, sheet, row or first example row, code, message); with
    `limit`, that many of them from the `offset`-th on."""
    return data.query(
        _FEEDBACK_IN_SCOPE + _NOTICE_ORDER + _rows(offset, limit),
        **f.params,
        categories=list(notices.CATEGORY_ORDER),
    )


def feedback_totals(f: Filters) -> dict[str, int]:
    """The feedback of `feedback_items(f)` in figures: `units` with a notice, `items`, and the `rows` they
    concern."""
    row = data.query(
        f"""
        select count(distinct unit_id) as units, count(*) as items, coalesce(sum(rows_affected), 0) as rows
        from ({_FEEDBACK_IN_SCOPE})""",
        **f.params,
    ).iloc[0]
    return {k: int(row[k]) for k in ("units", "items", "rows")}


_FEEDBACK_UNITS = f"""
    select * from (
        select unit_id, any_value(unit_name) as unit_name, any_value(region) as region, count(*) as n
        from ({_FEEDBACK_IN_SCOPE}) i where {_matching("i.unit_name", "i.region")} group by unit_id)"""


def feedback_units(f: Filters, search: str = "", limit: int | None = None) -> pd.DataFrame:
    """The units of `feedback_items(f)`, one per notice in the notices' order: id, name, region and how many
    items (`n`) its notice carries; with `search`, those whose name or region holds that text; with `limit`,
    the first that many."""
    return data.query(
        _FEEDBACK_UNITS
        + " order by coalesce(region, ''), coalesce(unit_name, ''), unit_id"
        + _rows(0, limit),
        **f.params,
        search=search,
    )


def feedback_unit_total(f: Filters, search: str = "") -> int:
    """How many units `feedback_units` finds."""
    return _count(_FEEDBACK_UNITS, **f.params, search=search)


def notice_file_name(year: int, unit_id: str, unit_name: str | None, region: str | None) -> str:
    """The file name of a unit's notice (`notices.Notice.file_name`), from its name and region alone."""
    empty = pd.DataFrame()
    unnamed = None if unit_name is None or pd.isna(unit_name) else str(unit_name)
    place = None if region is None or pd.isna(region) else str(region)
    return notices.Notice(year, unit_id, unnamed or "", place, None, empty, empty, None).file_name


def unit_notice(year: int, unit_id: str) -> notices.Notice | None:
    """One unit's notice of the year, as `notices.load` makes it, reading that unit's items and units, and the
    files it sent or its items were found in (None: nothing to tell it)."""

    def read(sql: str, **params) -> pd.DataFrame:
        mine = "unit_id = $notice_unit"
        if sql == notices.SUBMISSIONS_SQL:  # the shared files its items were found in, too
            mine += """ or file in (select file from marts.feedback_items
                                    where year = $year and unit_id = $notice_unit)
                       order by file, sheet"""
        return data.query(f"select * from ({sql}) where {mine}", **params, notice_unit=unit_id)

    found, _unresolved = notices.load(read, year)
    return next((n for n in found if n.unit_id == unit_id), None)


def unresolved_feedback(year: int) -> pd.DataFrame:
    """The year's feedback items no unit could be found for (未能对应单位), which no notice carries, in the order
    a notice would list them."""
    return data.query(
        "select i.* from marts.feedback_items i where i.year = $year and i.unit_id is null order by"
        + _WITHIN_NOTICE,
        year=year,
        categories=list(notices.CATEGORY_ORDER),
    )


def year_notices(f: Filters) -> list[notices.Notice]:
    """Every notice of the year to the units of the filters (`notices.load`: slow at nation scale, so read
    only to build the download of them all)."""
    found, _unresolved = notices.load(data.query, f.year)
    return [n for n in found if n.role in f.roles and (not f.regions or n.region in f.regions)]


def nothing_submitted(f: Filters) -> pd.DataFrame:
    """The units of the filters with no file of the year at all (not a score sheet, not a ledger)."""
    return data.query(
        f"""
        select unit_name, region, role from marts.unit_scores u
        where {f.where("u")} and not exists (
            select 1 from marts.submissions s where s.year = u.year and s.unit_id = u.unit_id)
        order by region, role, unit_name""",
        **f.params,
    )


RESTATEMENT_COLUMNS = [
    "restated_at",
    "year",
    "scope",
    "subject_id",
    "subject",
    "measure",
    "old_value",
    "new_value",
    "previously_published_at",
    "reason",
    "region",
    "role",
]


def restatements(year: int) -> pd.DataFrame:
    """Published figures of `year` a later publication changed, latest first, with the region and role they
    concern (none in a warehouse from before they were kept)."""
    present = data.query("""select count(*) as n from duckdb_tables()
                            where schema_name = 'marts' and table_name = 'restatements'""")["n"].iloc[0]
    if not present:
        return pd.DataFrame(columns=RESTATEMENT_COLUMNS)
    return data.query(
        """
        select r.*, coalesce(u.region, case when r.scope = 'region' then r.subject_id end) as region, u.role
        from marts.restatements r left join marts.units u on r.scope = 'unit' and u.unit_id = r.subject_id
        where r.year = $year order by r.restated_at desc, r.scope, r.subject, r.measure""",
        year=year,
    )


def restatements_in_scope(f: Filters) -> pd.DataFrame:
    """The restatements of the year that concern the filters' regions and roles (a region's figures have no
    role and follow the region filter only)."""
    changed = restatements(f.year)
    return changed[
        (changed["region"].isin(f.regions) if f.regions else True)
        & (changed["role"].isna() | changed["role"].isin(f.roles))
    ]


# --------------------------------------------------------------------------------------------------
# The running year: early warnings, and rectification against the inspection calendar

# The warning states a leader acts on, most urgent first (marts.early_warnings.state).
ALERT_STATES = ("unmet", "overdue", "at_risk", "due_soon")


def _present(table: str) -> bool:
    """Whether the served warehouse has `table` (one published before it existed does not)."""
    return bool(
        data.query(
            """select count(*) as n from duckdb_tables() where schema_name = 'marts' and table_name = $t""",
            t=table,
        )["n"].iloc[0]
    )


def as_of() -> pd.Timestamp | None:
    """The date the published in-year figures were computed as of (`fazhi run --as-of`, default that day)."""
    if not _present("early_warnings"):
        return None
    frame = data.query("select max(as_of) as as_of from marts.early_warnings")
    return None if frame.empty or pd.isna(frame["as_of"].iloc[0]) else pd.Timestamp(frame["as_of"].iloc[0])


def warning_counts(f: Filters) -> dict[str, int]:
    """Requirement periods and filings of the filters by warning state (met, on_track, at_risk, …)."""
    if not _present("early_warnings"):
        return {}
    counts = data.query(
        f"select state, count(*) as n from marts.early_warnings where {f.where()} group by state", **f.params
    )
    return {s: int(n) for s, n in zip(counts["state"], counts["n"], strict=False)}


def warnings_by_region(f: Filters, states: tuple[str, ...] = ALERT_STATES) -> pd.DataFrame:
    """Per region: units with any warning in `states`, and the count of each state."""
    if not _present("early_warnings"):
        return pd.DataFrame(columns=["region", "units", *states])
    counts = ", ".join(f"count(*) filter (where state = '{s}') as {s}" for s in states)
    return data.query(
        f"""
        select region, count(distinct unit_id) as units, {counts}
        from marts.early_warnings where {f.where()} and list_contains($states, state)
        group by region order by units desc, region""",
        **f.params,
        states=list(states),
    )


_WARNINGS = """
    select w.region, w.unit_id, u.unit_name, w.role, w.kind, w.name, w.period, w.due_date, w.days_left,
           w.required, w.actual, w.state, w.message
    from marts.early_warnings w join marts.units u using (unit_id)
    where {where} and list_contains($states, w.state)"""


def warnings_list(
    f: Filters, states: tuple[str, ...] = ALERT_STATES, offset: int = 0, limit: int | None = None
) -> pd.DataFrame:
    """Every warning of the filters in `states`, by region, unit and due date: what is needed and by when;
    with `limit`, that many of them from the `offset`-th on."""
    if not _present("early_warnings"):
        return pd.DataFrame(columns=["region", "unit_id", "unit_name", "state", "message", "due_date"])
    return data.query(
        _WARNINGS.format(where=f.where("w"))
        + " order by w.region, u.unit_name, w.due_date, w.name, w.unit_id, w.period"
        + _rows(offset, limit),
        **f.params,
        states=list(states),
    )


def warnings_total(f: Filters, states: tuple[str, ...] = ALERT_STATES) -> int:
    """How many rows `warnings_list` holds."""
    if not _present("early_warnings"):
        return 0
    return _count(_WARNINGS.format(where=f.where("w")), **f.params, states=list(states))


def unit_warnings(year: int, unit_id: str) -> pd.DataFrame:
    """One unit's requirements and filings of the year with their state, by due date."""
    if not _present("early_warnings"):
        return pd.DataFrame(columns=["name", "period", "due_date", "state", "message"])
    return data.query(
        """select kind, name, period, due_date, required, actual, state, message from marts.early_warnings
           where year = $year and unit_id = $unit order by due_date, name""",
        year=year,
        unit=unit_id,
    )


def inspection_calendar(year: int) -> pd.DataFrame:
    """The year's inspection phases in order, with where the computation date stands (done, current, upcoming)."""
    if not _present("inspection_calendar"):
        return pd.DataFrame(columns=["phase_no", "name", "start_date", "end_date", "state", "source"])
    return data.query(
        """select phase_no, name, start_date, end_date, state, source from marts.inspection_calendar
           where year = $year order by phase_no""",
        year=year,
    )


_RECTIFICATION_ITEMS = """
    select region, unit_id, unit_name, source, description, measure, owner, deadline, status, done_date,
           is_overdue, overdue_days, on_time, flag, note, file, sheet, "row"
    from marts.rectification_items
    where {where} and (not $overdue_only or is_overdue)"""


def rectification_items(
    f: Filters, overdue_only: bool = False, offset: int = 0, limit: int | None = None
) -> pd.DataFrame:
    """The problems of the filters, overdue first (longest overdue first), then by deadline; with `limit`,
    that many of them from the `offset`-th on."""
    if not _present("rectification_items"):
        return pd.DataFrame(columns=["region", "unit_id", "unit_name", "description", "note"])
    return data.query(
        _RECTIFICATION_ITEMS.format(where=f.where())
        + """ order by is_overdue desc, overdue_days desc nulls last, deadline nulls last, region, unit_name,
                       unit_id, file, sheet, "row", description"""
        + _rows(offset, limit),
        **f.params,
        overdue_only=overdue_only,
    )


def rectification_total(f: Filters, overdue_only: bool = False) -> int:
    """How many rows `rectification_items` holds."""
    if not _present("rectification_items"):
        return 0
    return _count(_RECTIFICATION_ITEMS.format(where=f.where()), **f.params, overdue_only=overdue_only)


def rectification_by_region(f: Filters) -> pd.DataFrame:
    """Completion by region over the units of the filters: items, done, overdue, on-time rate, flags."""
    if not _present("rectification_summary"):
        return pd.DataFrame(columns=["region", "items", "done", "overdue", "on_time_rate"])
    return data.query(
        f"""
        select region, count(*) as units, sum(items)::int as items, sum(done)::int as done,
               sum(overdue)::int as overdue, sum(done_on_time)::int as done_on_time,
               sum(done_late)::int as done_late,
               sum(done_on_time) / nullif(sum(done_on_time) + sum(done_late) + sum(overdue), 0) as on_time_rate,
               sum(done) / nullif(sum(items), 0) as done_rate,
               sum(without_measure)::int as without_measure, sum(without_problem_list)::int as without_problem_list
        from marts.rectification_summary s join marts.units u using (unit_id, region)
        where s.scope = 'unit' and {f.where("s", role=False)} and list_contains($roles, u.role)
        group by region order by overdue desc, region""",
        **f.params,
    )


def rectification_flags(f: Filters) -> pd.DataFrame:
    """Units of the filters the rulebook's rectification rules flag: a self-inspection report without a
    problem list, or inspection-feedback problems without a measure."""
    if not _present("rectification_summary"):
        return pd.DataFrame(
            columns=["region", "unit_id", "unit_name", "without_problem_list", "without_measure"]
        )
    return data.query(
        f"""
        select s.region, s.unit_id, s.unit_name, s.without_problem_list, s.without_measure
        from marts.rectification_summary s join marts.units u using (unit_id, region)
        where s.scope = 'unit' and {f.where("s", role=False)} and list_contains($roles, u.role)
          and (s.without_problem_list > 0 or s.without_measure > 0)
        order by s.region, s.unit_name""",
        **f.params,
    )


def unit_rectifications(year: int, unit_id: str) -> pd.DataFrame:
    """One unit's problems of the year, overdue first."""
    if not _present("rectification_items"):
        return pd.DataFrame(columns=["description", "note"])
    return data.query(
        """select source, description, measure, owner, deadline, status, done_date, overdue_days, note, file,
                  sheet, "row"
           from marts.rectification_items where year = $year and unit_id = $unit
           order by is_overdue desc, overdue_days desc nulls last, deadline nulls last""",
        year=year,
        unit=unit_id,
    )
