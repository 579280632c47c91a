with sheet_scores as (
    select
        year,
        unit_id,
        role,
        sum(points) as score,
        -- a task that does not apply (不适用, points null) leaves the denominator
        sum(max_points) filter (where flag is distinct from 'not_applicable') as applicable_max,
        case when count(self_points) > 0 then sum(self_points) end as self_score,
        case when count(verified_points) > 0 then sum(verified_points) end as verified_score,
        case when bool_and(score_source = 'verified') then 'verified'
             when bool_and(coalesce(score_source, 'self') = 'self') then 'self'
             else 'mixed'
        end as score_source,
        bool_or(flag in ('missing_task', 'invalid_score', 'blank_score')) as has_gaps,
        any_value(file) as source_file
    from {{ source('staging', 'stg_task_scores') }}
    group by all
), unit_years as (
    -- every registry unit of a role with a score sheet template, every year
    select
        u.year,
        u.unit_id,
        u.unit_name,
        u.region,
        u.role,
        s.score,
        r.max_score,
        s.applicable_max,
        s.score / nullif(s.applicable_max, 0) as score_rate,
        -- the score on the whole sheet's scale: equal to the score when every task applies
        case when abs(s.applicable_max - r.max_score) < 1e-9 then s.score
             else s.score / nullif(s.applicable_max, 0) * r.max_score end as scaled_score,
        s.self_score,
        s.verified_score,
        s.score_source,
        make_date(u.year + i.score_sheet_due_year_offset, i.score_sheet_due_month, i.score_sheet_due_day)
            as sheet_due,
        -- no sheet: 待审 (pending) up to its due date, 缺报 (missing) after it
        case when s.unit_id is not null then (case when s.has_gaps then 'incomplete' else 'scored' end)
             when c.as_of <= make_date(u.year + i.score_sheet_due_year_offset, i.score_sheet_due_month,
                                       i.score_sheet_due_day) then 'pending'
             else 'missing'
        end as status,
        s.source_file
    from {{ ref('int_unit_years') }} u
    join {{ source('reference', 'rulebook_roles') }} r on r.role = u.role and r.max_score is not null
    cross join {{ source('reference', 'rulebook_info') }} i
    cross join {{ source('reference', 'run_context') }} c
    left join sheet_scores s on s.year = u.year and s.unit_id = u.unit_id and s.role = u.role
), ranked as (
    select
        *,
        -- within the role across the city, on the scaled score (the score rate)
        {{ ranking_columns('year, role', 'scaled_score') }},
        count(*) over (partition by year, role) as subject_total
    from unit_years
), bottom_cuts as (
    {{ bottom_cuts('ranked', 'k.year, k.role', 'scaled_score') }}
)
select
    r.year,
    r.unit_id,
    r.unit_name,
    r.region,
    r.role,
    r.score,
    r.max_score,
    r.applicable_max,
    r.score_rate,
    r.scaled_score,
    r.self_score,
    r.verified_score,
    r.score_source,
    r.rank::integer as rank,
    r.rank_total::integer as rank_total,
    r.subject_total::integer as subject_total,
    r.status,
    r.sheet_due,
    {{ is_bottom('r', 'c', 'scaled_score') }} as is_bottom,
    r.source_file,
    p.score as prev_score,
    p.rank::integer as prev_rank
from ranked r
left join bottom_cuts c on c.year = r.year and c.role = r.role
left join ranked p on p.year = r.year - 1 and p.unit_id = r.unit_id and p.role = r.role
